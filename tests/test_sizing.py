"""Trial sizes estimated up front: parameter counts agree with Keras, and a sweep whose largest
trial cannot fit in memory is refused before any data is read, naming the key to lower."""

from __future__ import annotations

from pathlib import Path

import pytest

from textsweep.config import load_sweep
from textsweep.errors import UserError
from textsweep.models import ModelInputs, build_model, resolve
from textsweep.sizing import check_fits, estimate

CASES = [
    {"model": "multihot_dense", "dense_units": 16, "dense_layers": 2},
    {"model": "embedding_flatten", "maxlen": 50, "embedding_dim": 8, "dense_layers": 1},
    {"model": "embedding_pool", "maxlen": 40, "embedding_dim": 12},
    {
        "model": "embedding_lstm",
        "maxlen": 30,
        "embedding_dim": 8,
        "lstm_units": 6,
        "lstm_layers": 2,
        "bidirectional": True,
        "dense_layers": 1,
    },
]


@pytest.mark.parametrize("values", CASES, ids=[c["model"] for c in CASES])
@pytest.mark.parametrize("classes", [2, 5])
def test_parameter_counts_agree_with_keras(values: dict, classes: int) -> None:
    resolved = resolve(values, 32)
    model = build_model(resolved, ModelInputs(num_words=300, num_classes=classes))
    assert estimate(resolved, 300, classes, 32).params == model.count_params()


SPACE = """
name: big
dataset: {{format: imdb, num_words: 10000}}
search_space:
  hyperparameters:
    model: {{type: fixed, value: embedding_lstm}}
    {line}
{extra}
"""


@pytest.mark.parametrize(
    ("line", "extra", "key"),
    [
        (
            "maxlen: {type: int, min: 10, max: 1000000000}",
            "",
            "search_space.hyperparameters.maxlen.max",
        ),
        (
            "embedding_dim: {type: choice, values: [8, 1000000]}",
            "",
            "search_space.hyperparameters.embedding_dim.values",
        ),
        (
            "lstm_units: {type: int, min: 8, max: 1000000}",
            "",
            "search_space.hyperparameters.lstm_units.max",
        ),
        ("dropout: {type: fixed, value: 0.1}", "fixed: {maxlen: 100000000}", "fixed.maxlen"),
    ],
)
def test_a_trial_that_cannot_fit_is_refused_naming_the_key(
    tmp_path: Path, line: str, extra: str, key: str
) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(SPACE.format(line=line, extra=extra), encoding="utf-8")
    with pytest.raises(
        UserError,
        match=rf"big.yaml: {key}: the largest embedding_lstm trial .* "
        rf"more than this machine's 24.0 GB of memory; lower {key}",
    ):
        check_fits(load_sweep(path), memory=24 * 2**30)


def test_the_shipped_sweeps_fit_in_8_gb() -> None:
    for path in sorted((Path(__file__).parent.parent / "sweeps").glob("*.yaml")):
        check_fits(load_sweep(path), memory=8 * 2**30)


CNN = """
from textsweep.models import COMMON_DEFAULTS, Family, compiled, register
from textsweep.models.embedding import EMBEDDING_DEFAULTS, embedding, sequence_input


def build(values, inputs):
    from keras import layers

    tokens = sequence_input(values)
    x = embedding(values, inputs)(tokens)
    x = layers.Conv1D(int(values["filters"]), 3, activation="relu")(x)
    x = layers.GlobalMaxPooling1D()(x)
    return compiled(tokens, x, values, inputs, name="sizing_cnn")


register(Family("sizing_cnn", {**COMMON_DEFAULTS, **EMBEDDING_DEFAULTS, "filters": 8},
                build=build, sequences=True))
"""


def cnn_sweep(tmp_path: Path, line: str) -> Path:
    (tmp_path / "sizing_families.py").write_text(CNN, encoding="utf-8")
    path = tmp_path / "big.yaml"
    path.write_text(
        "name: big\nfamilies: [sizing_families]\ndataset: {format: imdb, num_words: 10000}\n"
        "search_space:\n  hyperparameters:\n    model: {type: fixed, value: sizing_cnn}\n"
        f"    {line}\n",
        encoding="utf-8",
    )
    return path


def test_a_family_without_a_size_is_measured_by_building_it(tmp_path: Path) -> None:
    sweep = load_sweep(cnn_sweep(tmp_path, "filters: {type: choice, values: [4, 16]}"))
    values = resolve({"model": "sizing_cnn", "maxlen": 20, "embedding_dim": 6, "filters": 5}, 32)
    model = build_model(values, ModelInputs(num_words=300, num_classes=2))
    measured = estimate(values, 300, 2, 32)
    assert measured.params == model.count_params()
    check_fits(sweep, memory=8 * 2**30)  # fits: no error


def test_a_family_without_a_size_is_refused_by_its_embedding_before_it_is_built(
    tmp_path: Path,
) -> None:
    sweep = load_sweep(cnn_sweep(tmp_path, "embedding_dim: {type: choice, values: [8, 10000000]}"))
    key = "search_space.hyperparameters.embedding_dim.values"
    with pytest.raises(UserError, match=rf"big.yaml: {key}: the largest sizing_cnn trial"):
        check_fits(sweep, memory=24 * 2**30)

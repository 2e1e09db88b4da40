"""Sweep files: validation into frozen objects, overrides, and messages that name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from textsweep.config import apply_overrides, load_sweep, parse_override
from textsweep.errors import UserError

REPO = Path(__file__).resolve().parent.parent

GOOD = """
name: tiny
question: Does it work?
dataset: {format: imdb, num_words: 500, limit: 40, seed: 3}
search_space:
  hyperparameters:
    model: {type: choice, values: [multihot_dense, embedding_pool]}
    maxlen: {type: fixed, value: 20, when: {model: embedding_pool}}
    dense_units: {type: int, min: 8, max: 32, step: 8}
fixed: {learning_rate: 0.01}
tuner: {algorithm: grid, executions_per_trial: 2}
training: {epochs: 2, batch_size: 16}
"""


def write(tmp_path: Path, text: str, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_sweep_is_frozen_and_fixed_pins_values(tmp_path: Path) -> None:
    sweep = load_sweep(write(tmp_path, GOOD))
    assert sweep.config.dataset.limit == 40
    assert sweep.space.hyperparameters["learning_rate"].type == "fixed"
    assert sweep.space.grid_size() == 2 * 4  # maxlen only counts under embedding_pool
    with pytest.raises(ValidationError):
        sweep.config.tuner.max_trials = 3  # type: ignore[misc]


def test_overrides_set_dotted_keys_as_yaml_values(tmp_path: Path) -> None:
    sweep = load_sweep(write(tmp_path, GOOD), ["dataset.limit=100", "training.epochs=1", "tracking.uri=sqlite:///x.db"])
    assert (sweep.config.dataset.limit, sweep.config.training.epochs) == (100, 1)
    assert sweep.tracking_uri() == "sqlite:///x.db"
    assert parse_override("tuner.algorithm=random") == (["tuner", "algorithm"], "random")
    assert apply_overrides({"a": {"b": 1}}, ["a.c=[1, 2]"]) == {"a": {"b": 1, "c": [1, 2]}}


@pytest.mark.parametrize(
    "override, pattern",
    [
        ("nonsense", r"--set: expected KEY=VALUE"),
        ("name.x=1", r"cannot set name.x: name is not a mapping"),
    ],
)
def test_bad_overrides_are_user_errors(tmp_path: Path, override: str, pattern: str) -> None:
    with pytest.raises(UserError, match=pattern):
        load_sweep(write(tmp_path, GOOD), [override])


@pytest.mark.parametrize(
    "edit, pattern",
    [
        (("tuner: {algorithm: grid", "tuner: {algoritm: grid"), r"sweep.yaml: tuner.algoritm: unknown key"),
        (("epochs: 2", "epochs: two"), r"sweep.yaml: training.epochs: .*integer"),
        (("epochs: 2", "epochs: 0"), r"training.epochs: .*greater than or equal to 1"),
        (("min: 8, max: 32", "min: 32, max: 8"), r"search_space.hyperparameters.dense_units: max must be >= min \(32\); got 8"),
        (("multihot_dense, embedding_pool", "multihot_dense, transformer"), r"model must be one of .*got 'transformer'"),
        (("{learning_rate: 0.01}", "{lstm_unit: 3}"), r"fixed: unknown hyperparameter `lstm_unit`"),
        (("when: {model: embedding_pool}", "when: {family: embedding_pool}"), r"maxlen.when names `family`, which is not in this search space"),
        (("dense_units: {type: int, min: 8, max: 32, step: 8}", "dropout: {type: float, min: 0.0, max: 0.5}"), r"search_space.dropout: a grid search needs finite values, but dropout"),
        (("format: imdb", "format: excel"), r"dataset.format: Input should be 'imdb'"),
    ],
)
def test_bad_sweeps_name_file_and_key(tmp_path: Path, edit: tuple[str, str], pattern: str) -> None:
    text = GOOD.replace(*edit)
    assert text != GOOD
    with pytest.raises(UserError, match=pattern):
        load_sweep(write(tmp_path, text))


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"sweep.yaml: invalid YAML at line \d+, column \d+"):
        load_sweep(write(tmp_path, "name: x\nsearch_space: a\ndataset: {format: imdb\n"))


def test_missing_file_and_missing_space(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"nope.yaml: file not found"):
        load_sweep(tmp_path / "nope.yaml")
    with pytest.raises(UserError, match=r"search_space: search space 'absent' not found"):
        load_sweep(write(tmp_path, "name: x\nsearch_space: absent\n"))


def test_pretrained_needs_embeddings_section(tmp_path: Path) -> None:
    text = GOOD.replace("fixed: {learning_rate: 0.01}", "fixed: {learning_rate: 0.01, embedding_init: pretrained}")
    with pytest.raises(UserError, match=r"embeddings: embedding_init can be `pretrained`"):
        load_sweep(write(tmp_path, text))


def test_shipped_sweeps_and_spaces_validate() -> None:
    for path in sorted((REPO / "sweeps").glob("*.yaml")):
        sweep = load_sweep(path)
        assert sweep.config.question, f"{path.name} has no question"


def test_floats_without_a_dot_are_numbers_in_files_and_overrides(tmp_path: Path) -> None:
    text = GOOD.replace("fixed: {learning_rate: 0.01}", "fixed: {learning_rate: 1e-3}")
    sweep = load_sweep(write(tmp_path, text))
    assert sweep.space.hyperparameters["learning_rate"].value == 0.001
    sweep = load_sweep(write(tmp_path, GOOD), ["fixed.learning_rate=2e-3"])
    assert sweep.space.hyperparameters["learning_rate"].value == 0.002


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    import time

    lines = ["name: x", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    started = time.monotonic()
    with pytest.raises(UserError, match=r"bomb.yaml: the YAML expands to more than 100,000 values"):
        load_sweep(write(tmp_path, "\n".join(lines), "bomb.yaml"))
    assert time.monotonic() - started < 2


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    deep = "name: x\nquestion: " + "[" * 5000 + "]" * 5000
    with pytest.raises(UserError, match=r"deep.yaml: the YAML is nested too deeply"):
        load_sweep(write(tmp_path, deep, "deep.yaml"))
    with pytest.raises(UserError, match=r"nested more than 50 levels deep"):
        load_sweep(write(tmp_path, "name: x\nq: " + "[" * 60 + "]" * 60, "deep.yaml"))

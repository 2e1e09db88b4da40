"""Bags of n-grams: hand-made examples, the vocabulary's size, memory, and an n-gram sweep."""

from __future__ import annotations

import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from textsweep.features import BagSpec, TrialData, bags, cached_spec, fit_bags
from textsweep.vocabulary import Encoded, Ragged

# word ids: 2, 3, 4 are words; 1 is out of vocabulary
TRAIN = Ragged.from_sequences([[2, 3, 2], [3, 4]])


def test_bigram_vocabulary_ranks_by_count_then_id_and_counts_every_ngram() -> None:
    spec = fit_bags(TRAIN, ngrams=2, bag_mode="count", width=10)
    assert spec.vocabulary == ((2,), (3,), (4,), (2, 3), (3, 2), (3, 4))
    x = bags(TRAIN, spec).toarray()  # tiny: 2 x 10
    assert x.tolist() == [[0, 0, 2, 1, 0, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 0, 0, 1, 0, 0]]


def test_tf_idf_weighs_counts_by_the_training_idf() -> None:
    spec = fit_bags(TRAIN, ngrams=2, bag_mode="tf_idf", width=10)
    x = bags([[2, 2, 3]], spec).toarray()[0]
    # 2 training texts; df 0 (the OOV column: (2, 2) was never seen), 1 and 2
    zero, one, two = math.log(1 + 2 / 1), math.log(1 + 2 / 2), math.log(1 + 2 / 3)
    np.testing.assert_allclose(x[[1, 2, 3, 5]], [zero, 2 * one, two, one], rtol=1e-6)
    assert np.count_nonzero(x) == 4


def test_num_words_caps_the_ngram_vocabulary_and_the_rest_is_oov() -> None:
    spec = fit_bags(TRAIN, ngrams=2, bag_mode="count", width=4)
    assert spec.vocabulary == ((2,), (3,))
    # (4,) and (3, 4) are outside; (2, 1) and (1, 3) hold an unknown word; (1,) too
    x = bags([[3, 4], [2, 1, 3]], spec).toarray()
    assert x.tolist() == [[0, 2, 0, 1], [0, 3, 1, 1]]


def test_unigram_bags_are_the_word_ids_multi_hot() -> None:
    spec = BagSpec(ngrams=1, bag_mode="multi_hot", width=6)
    assert bags([[5, 2, 5], [9]], spec).toarray().tolist() == [
        [0, 0, 1, 0, 0, 1],
        [0, 1, 0, 0, 0, 0],  # an id past num_words counts as out of vocabulary
    ]


def test_spec_round_trips_through_json() -> None:
    spec = fit_bags(TRAIN, ngrams=3, bag_mode="tf_idf", width=20)
    assert BagSpec.from_json(spec.to_json()) == spec
    with pytest.raises(ValueError, match=r"ngrams must be 1 to 3; got 4"):
        fit_bags(TRAIN, ngrams=4, bag_mode="count", width=20)


def test_a_text_bags_the_same_alone_as_among_thousands() -> None:
    """What an exported model does with one raw text matches the training rows (chunks included)."""
    rng = np.random.default_rng(1)
    texts = [rng.integers(1, 60, rng.integers(0, 12)).tolist() for _ in range(4500)]
    spec = fit_bags(Ragged.from_sequences(texts), ngrams=3, bag_mode="tf_idf", width=300)
    together = bags(texts, spec)
    for i in (0, 1999, 2000, 4499):
        alone = bags([texts[i]], spec)
        assert (together[i] != alone).nnz == 0


def encoded(n: int = 60, seed: int = 0) -> Encoded:
    rng = np.random.default_rng(seed)
    split = lambda: Ragged.from_sequences(  # noqa: E731
        [rng.integers(1, 500, rng.integers(5, 40)).tolist() for _ in range(n)]
    )
    labels = np.arange(n) % 2
    return Encoded(split(), labels, split(), labels, split(), labels, None, None, ("a", "b"), "k")


def test_the_ngram_vocabulary_is_cached_per_dataset(tmp_path: Path) -> None:
    e = encoded()
    first = cached_spec(e, 2, "tf_idf", 300, tmp_path)
    assert (tmp_path / "k" / "bags-n2-tf_idf-w300.json").is_file()
    assert cached_spec(e, 2, "tf_idf", 300, tmp_path) == first
    assert len(first.vocabulary) == 300 - 2


def test_no_dense_n_by_v_array_is_made(tmp_path: Path) -> None:
    import textsweep.models.feed  # noqa: F401  (TensorFlow's own start-up is not what is measured)

    e, width = encoded(), 2_000_000  # a dense float32 train matrix would be 480 MB
    data = TrialData(e, cache=tmp_path)
    values = {"model": "multihot_dense", "ngrams": 2, "bag_mode": "tf_idf", "batch_size": 16}
    tracemalloc.start()
    inputs = data.inputs(values, width)
    x, y = inputs.train["x"][0]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert x.dense_shape.numpy().tolist() == [16, width] and len(y) == 16
    assert peak < 40e6  # the idf weights (8 MB) and the sparse rows, never 60 x 2M floats


@pytest.mark.slow
def test_a_bigram_sweep_runs_end_to_end(workdir: Path, tiny_imdb: Path) -> None:
    from conftest import run_sweep_file
    from mlflow import MlflowClient

    result, parent = run_sweep_file(workdir, {
        "name": "bigrams",
        "dataset": {"format": "imdb", "path": str(tiny_imdb), "num_words": 150, "seed": 1},
        "search_space": {"hyperparameters": {
            "model": {"type": "fixed", "value": "multihot_dense"},
            "ngrams": {"type": "fixed", "value": 2},
            "bag_mode": {"type": "choice", "values": ["count", "tf_idf"]},
            "dropout": {"type": "fixed", "value": 0.5},
        }},
        "tuner": {"algorithm": "grid", "seed": 1},
        "training": {"epochs": 2, "batch_size": 16},
    })  # fmt: skip
    client = MlflowClient(f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}")
    trials = client.search_runs(
        [parent.info.experiment_id], "tags.`textsweep.role` = 'trial'", max_results=10
    )
    assert sorted(t.data.params["bag_mode"] for t in trials) == ["count", "tf_idf"]
    assert {t.data.params["ngrams"] for t in trials} == {"2"}
    assert all(t.info.status == "FINISHED" and "test_accuracy" in t.data.metrics for t in trials)
    cache = list((workdir / ".textsweep" / "cache").glob("*/bags-n2-*-w150.json"))
    assert len(cache) == 2

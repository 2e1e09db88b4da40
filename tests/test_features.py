"""Bags of n-grams: hand-made examples, the vocabulary's size, memory, and an n-gram sweep."""

from __future__ import annotations

import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from textsweep.features import BagSpec, bags, fit_bags
from textsweep.trialdata import TrialData, cached_spec
from textsweep.vocabulary import Encoded, Ragged

# word ids: 2, 3, 4 are words; 1 is out of vocabulary
TRAIN = Ragged.from_sequences([[2, 3, 2], [3, 4]])


def test_bigram_vocabulary_ranks_by_count_then_id_and_counts_every_ngram() -> None:
    spec = fit_bags(TRAIN, ngrams=2, bag_mode="count", width=10)
    assert spec.grams() == ((2,), (3,), (4,), (2, 3), (3, 2), (3, 4))
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
    assert spec.grams() == ((2,), (3,))
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


def test_nb_ratios_are_the_hand_computed_log_count_ratios() -> None:
    # binarized training rows over columns 1..4: text 0 (class 1) {2, 3}, text 1 (class 0)
    # {3, 4}, text 2 (class 1) {2}; alpha 1: p = 1 + [0, 2, 1, 0] = [1, 3, 2, 1], |p| = 7;
    # q = 1 + [0, 0, 1, 1] = [1, 1, 2, 2], |q| = 6; r = log((p / 7) / (q / 6))
    train = Ragged.from_sequences([[2, 3, 2], [3, 4], [2]])
    spec = fit_bags(train, ngrams=1, bag_mode="nb", width=5, labels=np.array([1, 0, 1]))
    expected = [0.0, math.log(6 / 7), math.log(18 / 7), math.log(6 / 7), math.log(3 / 7)]
    np.testing.assert_allclose(spec.ratios, expected, rtol=1e-6)
    # a row holds each column's ratio once, however often its n-gram occurs (9: OOV, column 1)
    x = bags([[2, 2, 4, 9]], spec).toarray()[0]
    np.testing.assert_allclose(x, [0, math.log(6 / 7), math.log(18 / 7), 0, math.log(3 / 7)],
                               rtol=1e-6)  # fmt: skip


def test_nb_alpha_smooths_the_counts() -> None:
    # as above with alpha 2: p = 2 + [0, 2, 1, 0] = [2, 4, 3, 2], |p| = 11; q = [2, 2, 3, 3], 10
    train = Ragged.from_sequences([[2, 3, 2], [3, 4], [2]])
    spec = fit_bags(train, 1, "nb", 5, labels=np.array([1, 0, 1]), alpha=2.0)
    r = [math.log((p / 11) / (q / 10)) for p, q in zip([2, 4, 3, 2], [2, 2, 3, 3], strict=True)]
    np.testing.assert_allclose(spec.ratios, [0.0, *r], rtol=1e-6)
    with pytest.raises(ValueError, match=r"nb_alpha must be > 0; got 0.0"):
        fit_bags(train, 1, "nb", 5, labels=np.array([1, 0, 1]), alpha=0.0)


def test_nb_ratios_of_trigram_columns_count_each_text_once() -> None:
    # text 0 (class 1) holds 9 distinct 1..3-grams, (2, 3, 4) twice; text 1 (class 0) 6 others;
    # all 15 fit in the 38 columns: |p| = 39 * alpha + 9 = 48, |q| = 39 + 6 = 45
    train = Ragged.from_sequences([[2, 3, 4, 2, 3, 4], [4, 3, 2]])
    spec = fit_bags(train, ngrams=3, bag_mode="nb", width=40, labels=np.array([1, 0]))
    column = 2 + spec.grams().index((2, 3, 4))
    assert spec.ratios[column] == pytest.approx(math.log((2 / 48) / (1 / 45)), rel=1e-6)
    shared = 2 + spec.grams().index((3,))  # in both texts: (2 / 48) / (2 / 45)
    assert spec.ratios[shared] == pytest.approx(math.log(45 / 48), rel=1e-6)


def test_nb_ratios_come_from_the_training_split_only(tmp_path: Path) -> None:
    e = encoded()
    flipped = Encoded(e.train, e.train_labels, e.test, 1 - e.val_labels, e.val, 1 - e.test_labels,
                      None, None, ("a", "b"), "k2")  # fmt: skip
    spec = cached_spec(e, 2, "nb", 300, tmp_path)
    assert spec == fit_bags(e.train, 2, "nb", 300, labels=e.train_labels)
    assert cached_spec(flipped, 2, "nb", 300, tmp_path) == spec  # other val/test: same ratios


def test_each_nb_alpha_is_cached_apart(tmp_path: Path) -> None:
    e = encoded()
    one, three = (cached_spec(e, 2, "nb", 300, tmp_path, alpha) for alpha in (1.0, 3.0))
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == [
        "bags-n2-nb-a1-w300.json", "bags-n2-nb-a3-w300.json"
    ]  # fmt: skip
    assert three.alpha == 3.0 and not np.array_equal(one.ratios, three.ratios)
    assert cached_spec(e, 2, "nb", 300, tmp_path, 3.0) == three


def test_nb_refuses_more_than_two_classes() -> None:
    with pytest.raises(ValueError, match=r"bag_mode nb scales each column by a two-class "
                                         r"log-count ratio; the labels have 3 classes"):  # fmt: skip
        fit_bags(TRAIN, ngrams=1, bag_mode="nb", width=6, labels=np.array([0, 2]))


def test_an_nb_spec_round_trips_through_json_exactly() -> None:
    rng = np.random.default_rng(3)
    texts = Ragged.from_sequences([rng.integers(1, 50, 20).tolist() for _ in range(40)])
    spec = fit_bags(texts, ngrams=3, bag_mode="nb", width=500, labels=np.arange(40) % 2)
    again = BagSpec.from_json(spec.to_json())
    assert again == spec and again.ratios.dtype == np.float32
    assert (bags(texts, again) != bags(texts, spec)).nnz == 0


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
    x, y = next(iter(inputs.train["x"]))
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

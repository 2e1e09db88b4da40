"""Learning-curve drops inside a race (`tuner.repeats.prune`): real Keras fits on tiny data."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import yaml

from textsweep.sweep.pruning import TAG_PRUNED, CurveBook, running_best

GOOD = [(0.80, 0.85, 0.86), (0.82, 0.86, 0.87), (0.81, 0.84, 0.88)]
POOR = [(0.50, 0.52, 0.55), (0.52, 0.50, 0.53)]


def test_running_best_follows_the_objectives_direction() -> None:
    assert running_best([0.8, 0.7, 0.9], "max") == [0.8, 0.8, 0.9]
    assert running_best([0.5, 0.6, 0.4], "min") == [0.5, 0.5, 0.4]


def book_of(curves: dict[int, list[tuple[float, ...]]], direction: str = "max") -> CurveBook:
    book = CurveBook(direction)
    for key, runs in curves.items():
        for run in runs:
            book.add(key, run, epochs=3)
    return book


def test_a_curve_is_dropped_only_when_the_race_test_says_worse_at_that_epoch() -> None:
    book = book_of({0: GOOD, 1: POOR})
    assert book.worse_at(1, epoch=0, running=0.51)  # 3 good against 3 poor at epoch 1
    assert not book.worse_at(1, epoch=0, running=0.81)  # its own run may still catch up
    assert not book.worse_at(0, epoch=0, running=0.80)  # the best is never worse than itself
    # a combination with no finished run has only the running value: nothing can be said
    assert not book_of({0: GOOD}).worse_at(1, epoch=0, running=0.40)
    assert not CurveBook("max").worse_at(0, epoch=0, running=0.5)


def test_an_early_stopped_curve_is_padded_with_its_best_and_a_nan_curve_is_left_out() -> None:
    book = CurveBook("min")
    book.add(0, [0.6, 0.5], epochs=4)
    book.add(0, [0.7, float("nan")], epochs=4)
    assert book.curves == {0: [(0.6, 0.5, 0.5, 0.5)]}
    assert book.samples_at(3) == {0: [0.5]}


def test_the_callback_stops_a_real_fit_once_its_curve_is_clearly_worse() -> None:
    import keras

    from textsweep.sweep.pruning import CurvePruner

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)), rng.integers(0, 2, size=64)  # nothing to learn
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    pruner = CurvePruner(book_of({0: GOOD, 1: POOR}), 1, "val_accuracy", epochs=3)
    history = model.fit(x, y, validation_split=0.25, epochs=3, verbose=0, callbacks=[pruner])
    assert (len(history.history["val_accuracy"]), pruner.stopped_at) == (1, 1)
    # a full run of the best combination is not stopped, and its curve joins the book
    good = CurvePruner(book_of({0: GOOD, 1: POOR}), 0, "val_accuracy", epochs=3)
    model.fit(x, y, validation_split=0.25, epochs=3, verbose=0, callbacks=[good])
    assert good.stopped_at is None and len(good.values) == 3


@pytest.mark.slow
def test_a_race_with_prune_stops_the_loser_early_and_says_so(workdir: Path) -> None:
    from conftest import write_aclimdb
    from mlflow import MlflowClient

    from textsweep.config import load_sweep
    from textsweep.reporting import make_report
    from textsweep.sweep import run_sweep

    data = workdir / "data"  # 150 reviews per class: 60 validation reviews, less noisy curves
    write_aclimdb(data, per_class=150)
    sweep = {
        "name": "prune",
        "question": "Which learning rate?",
        "dataset": {"format": "imdb", "path": str(data), "num_words": 200, "seed": 1},
        "search_space": {"hyperparameters": {
            "model": {"type": "fixed", "value": "multihot_dense"},
            "dense_units": {"type": "fixed", "value": 8},
            "learning_rate": {"type": "choice", "values": [0.01, 1.0e-7]},
        }},
        "tuner": {"algorithm": "grid", "seed": 1, "repeats": {"min": 3, "max": 3, "prune": True}},
        "training": {"epochs": 4, "batch_size": 32},
        "tracking": {"uri": f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}"},
    }  # fmt: skip
    path = workdir / "prune.yaml"
    path.write_text(yaml.safe_dump(sweep), encoding="utf-8")
    out = io.StringIO()
    result = run_sweep(load_sweep(path), out=out)
    client = MlflowClient(load_sweep(path).tracking_uri())
    trials = client.search_runs(
        [result.experiment_id], f"tags.`mlflow.parentRunId` = '{result.parent_run_id}'"
    )
    pruned = [t for t in trials if TAG_PRUNED in t.data.tags]
    assert pruned, out.getvalue()
    for run in pruned:
        assert run.data.params["learning_rate"] == "1e-07"
        epochs = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert len(epochs) == int(run.data.tags[TAG_PRUNED]) < 4
        assert run.info.status == "FINISHED"  # counted at its last epoch
    assert f"t{pruned[0].data.tags['textsweep.trial_id']}: stopped after epoch" in out.getvalue()
    assert not any(
        TAG_PRUNED in t.data.tags for t in trials if t.data.params["learning_rate"] == "0.01"
    )
    report = make_report(str(path), out_dir=workdir / "out")
    values = report.json["hyperparameters"]["learning_rate"]["values"]
    assert sorted(v["n"] for v in values) == [3, 3]  # a stopped execution still counts

"""Adaptive repeats (racing): the rule on numbers, then a real raced grid in Keras Tuner."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_sweep_file

from textsweep.sweep.racing import outcome, survivors


def test_survivors_drop_only_the_clearly_worse() -> None:
    samples = {0: [0.80, 0.81, 0.80], 1: [0.60, 0.61, 0.60], 2: [0.79, 0.82, 0.80]}
    assert survivors(samples, "max") == [0, 2]
    assert outcome({0: [0.8, 0.81], 1: [0.5, 0.51]}, "max") == "decided"


def test_survivors_claim_nothing_without_variance() -> None:
    assert survivors({0: [0.8], 1: [0.5]}, "max") == [0, 1]


def _sweep(data: Path, rates: list[float]) -> dict:
    return {
        "name": "race",
        "dataset": {"format": "imdb", "path": str(data), "num_words": 200, "seed": 1},
        "search_space": {"hyperparameters": {
            "model": {"type": "fixed", "value": "multihot_dense"},
            "learning_rate": {"type": "choice", "values": rates},
        }},
        "tuner": {"algorithm": "grid", "seed": 1, "max_trials": None,
                  "repeats": {"min": 2, "max": 4}},
        "training": {"epochs": 2, "batch_size": 8},
    }  # fmt: skip


@pytest.mark.slow
def test_a_clearly_worse_value_is_dropped_after_the_first_round(
    tiny_imdb: Path, workdir: Path
) -> None:
    # 1e-7 learns nothing on the tiny reviews; 0.01 separates them
    result, parent = run_sweep_file(workdir, _sweep(tiny_imdb, [1.0e-7, 0.01]))
    assert parent.data.tags["textsweep.repeats"] == "decided"
    assert 4 <= result.completed < 8 and result.best_values["learning_rate"] == 0.01

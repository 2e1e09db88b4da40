"""Work sharing and the lease on every trial in chief/worker mode (`sweep.lease`).

The oracle tests drive a real Keras Tuner oracle as the chief's gRPC servicer would; the slow
tests run real chiefs and workers on 127.0.0.x addresses only.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import keras_tuner as kt
import pytest

from textsweep.sweep import lease

UNITS = [4, 8, 16, 32, 64, 128, 256, 512]


def grid_oracle(tmp_path: Path, seconds: float, max_trials: int | None = 10) -> Any:
    hp = kt.HyperParameters()
    hp.Choice("dense_units", UNITS)
    oracle = lease.GridOracle(
        [{"dense_units": u} for u in UNITS],
        objective=kt.Objective("val_accuracy", "max"),
        max_trials=max_trials,
        hyperparameters=hp,
        seed=1,
    )
    oracle._set_project_dir(str(tmp_path), "p")
    taken: list[lease.TakenBack] = []
    lease.hold(oracle, seconds, taken.append)
    return oracle, taken


def finish(oracle: Any, trial: Any, score: float = 0.5) -> None:
    """What a worker does at a trial's end, with its own copy of the trial (as over gRPC)."""
    oracle.update_trial(trial.trial_id, {"val_accuracy": score}, step=0)
    mine = kt.engine.trial.Trial.from_proto(trial.to_proto())
    mine.status = "COMPLETED"
    oracle.end_trial(mine)


def test_any_idle_worker_gets_any_untried_combination(tmp_path: Path) -> None:
    oracle, _ = grid_oracle(tmp_path, seconds=60)
    first = [oracle.create_trial(f"tuner{i}") for i in range(3)]
    assert [t.trial_id for t in first] == ["00", "01", "02"]
    assert [t.hyperparameters.values["dense_units"] for t in first] == [4, 8, 16]
    for trial in first:
        finish(oracle, trial)
    rest = []
    while (trial := oracle.create_trial("tuner0")).status == "RUNNING":
        rest.append(trial.hyperparameters.values["dense_units"])
        finish(oracle, trial)
    assert rest == UNITS[3:]
    assert trial.status == "STOPPED"
    assert oracle.create_trial("tuner1").status == "STOPPED"
    assert oracle.tuner_ids == {"tuner2"}  # it has not asked yet; the chief waits for it


def test_a_worker_waits_while_a_trial_runs_elsewhere(tmp_path: Path) -> None:
    oracle, _ = grid_oracle(tmp_path, seconds=60, max_trials=2)
    a, b = oracle.create_trial("tuner0"), oracle.create_trial("tuner1")
    finish(oracle, a)
    assert oracle.create_trial("tuner0").status == "IDLE"  # the budget is spent, b still runs
    assert "tuner0" in oracle.tuner_ids
    finish(oracle, b)
    assert [oracle.create_trial(t).status for t in ("tuner0", "tuner1")] == ["STOPPED"] * 2
    assert oracle.tuner_ids == set()


def test_a_silent_workers_trial_is_taken_back_and_handed_over(tmp_path: Path) -> None:
    oracle, taken = grid_oracle(tmp_path, seconds=0.6, max_trials=2)
    alive, silent = oracle.create_trial("tuner0"), oracle.create_trial("tuner1")
    deadline = time.monotonic() + 20
    while not taken and time.monotonic() < deadline:
        oracle.get_trial(alive.trial_id)  # tuner0's heartbeat
        time.sleep(0.1)
    assert [(t.trial_id, t.tuner_id) for t in taken] == [(silent.trial_id, "tuner1")]
    assert taken[0].message.startswith("lease expired: tuner1 silent for")
    assert oracle.tuner_ids == {"tuner0"}
    assert oracle.get_trial(silent.trial_id).status == "FAILED"

    finish(oracle, alive)
    again = oracle.create_trial("tuner0")  # the silent trial's values, as a new trial
    assert (again.trial_id, again.status) == ("2", "RUNNING")
    assert again.hyperparameters.values == silent.hyperparameters.values

    # tuner1 comes back late: its words about the taken-back trial change nothing
    oracle.update_trial(silent.trial_id, {"val_accuracy": 0.9}, step=0)
    finish(oracle, silent, score=0.9)
    assert oracle.get_trial(silent.trial_id).status == "FAILED"
    assert silent.trial_id not in oracle.end_order
    finish(oracle, again)
    assert oracle.create_trial("tuner0").status == "STOPPED"
    completed = [t for t in oracle.trials.values() if t.status == "COMPLETED"]
    assert len(completed) == 2

"""One "best" and the champion, on a real SQLite MLflow store and Model Registry.

The runs are written in the tracking layout a raced sweep leaves (one trial run per execution),
so the values are known exactly: A = [0.90, 0.80] and B = [0.86, 0.86] (the core issue's case).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow.entities import Metric, Param

from textsweep.config import load_sweep
from textsweep.export.registry import CHAMPION, register_champion
from textsweep.sweep.parent import summary, sweep_result
from textsweep.tracking import Tracker

NAME = "units"


def write_sweep(tmp_path: Path, uri: str) -> Path:
    path = tmp_path / "units.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": NAME,
                "question": "How many units?",
                "dataset": {"format": "imdb", "path": str(tmp_path), "limit": 500, "seed": 1},
                "search_space": {
                    "hyperparameters": {
                        "model": {"type": "fixed", "value": "multihot_dense"},
                        "dense_units": {"type": "choice", "values": [8, 64]},
                    }
                },
                "tuner": {"algorithm": "grid", "repeats": {"min": 2, "max": 4}},
                "tracking": {"uri": uri},
            }
        ),
        encoding="utf-8",
    )
    return path


def execution(tracker: Tracker, limit: int, values: dict[int, list[float]], tmp_path: Path) -> str:
    """A finished parent run whose trial runs (one per execution) hold the given objectives,
    each with a model artifact, as `tracking.log_models: best`'s keeper leaves the chosen one."""
    client = tracker.client
    exp = tracker.experiment_id
    tags = {
        "textsweep.sweep": NAME,
        "textsweep.role": "sweep",
        "textsweep.objective": "val_accuracy",
    }
    parent = client.create_run(exp, tags=tags, run_name=NAME).info.run_id
    params = {
        "objective": "val_accuracy",
        "tuner.algorithm": "grid",
        "dataset.format": "imdb",
        "dataset.limit": str(limit),
        "dataset.seed": "1",
        "dataset.validation_split": "0.2",
    }
    client.log_batch(parent, params=[Param(k, v) for k, v in params.items()])
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    (model / "MLmodel").write_text("flavors: {}\n", encoding="utf-8")
    trial = 0
    for units, objectives in values.items():
        for objective in objectives:
            tags = {
                "mlflow.parentRunId": parent,
                "textsweep.role": "trial",
                "textsweep.trial_id": f"{trial:02d}",
                "textsweep.model": "model",
            }
            run = client.create_run(exp, tags=tags, run_name=f"t{trial:02d}").info.run_id
            client.log_batch(
                run, params=[Param("model", "multihot_dense"), Param("dense_units", str(units))]
            )
            client.log_batch(
                run,
                metrics=[
                    Metric("best_val_accuracy", objective, 0, 0),
                    Metric("test_accuracy", objective - 0.01, 0, 0),
                    Metric("val_accuracy", objective, 0, 1),
                ],
            )
            client.log_artifacts(run, str(model), "model")
            client.set_terminated(run)
            trial += 1
    client.set_terminated(parent)
    return parent


@pytest.fixture
def tracker(tmp_path: Path) -> Tracker:
    return Tracker.open(f"sqlite:///{tmp_path}/mlflow.db", NAME)


def champion(tracker: Tracker) -> tuple[str, str]:
    found = tracker.reader.version_by_alias(NAME, CHAMPION)
    assert found is not None
    return found.version, found.run_id


def test_the_best_configuration_is_the_pooled_mean_not_the_luckiest_execution(
    tracker: Tracker, tmp_path: Path
) -> None:
    sweep = load_sweep(write_sweep(tmp_path, tracker.uri))
    parent = execution(tracker, 500, {8: [0.90, 0.80], 64: [0.86, 0.86]}, tmp_path)
    result = sweep_result(tracker, sweep, parent)
    assert (result.best_values["dense_units"], result.best_n) == (64, 2)
    assert result.best_objective == pytest.approx(0.86)
    registered = register_champion(tracker, sweep, result)
    assert registered is not None and registered.moved
    _, run_id = champion(tracker)
    run = tracker.get_run(run_id)
    assert run.data.params["dense_units"] == "64"  # B, not A's 0.90 execution
    assert "dense_units=64" in summary(result, sweep, 1.0)


def test_a_worse_later_execution_leaves_the_champion_and_a_better_one_moves_it(
    tracker: Tracker, tmp_path: Path
) -> None:
    sweep = load_sweep(write_sweep(tmp_path, tracker.uri))
    first = sweep_result(tracker, sweep, execution(tracker, 500, {64: [0.86, 0.86]}, tmp_path))
    register_champion(tracker, sweep, first)
    version, _ = champion(tracker)
    worse = sweep_result(tracker, sweep, execution(tracker, 500, {8: [0.70, 0.72]}, tmp_path))
    stays = register_champion(tracker, sweep, worse)
    assert stays is not None and not stays.moved and champion(tracker)[0] == version
    assert "not beaten on the same evaluation" in stays.message
    assert f"textsweep promote models:/{NAME}/{stays.version.version}" in stays.message
    better = sweep_result(tracker, sweep, execution(tracker, 500, {8: [0.90, 0.91]}, tmp_path))
    moved = register_champion(tracker, sweep, better)
    assert moved is not None and moved.moved
    assert champion(tracker) == (moved.version.version, better.best_run_id)


def test_a_champion_chosen_on_other_data_stays_and_can_be_promoted_on_purpose(
    tracker: Tracker, tmp_path: Path
) -> None:
    sweep = load_sweep(write_sweep(tmp_path, tracker.uri))
    first = sweep_result(tracker, sweep, execution(tracker, 500, {64: [0.80, 0.81]}, tmp_path))
    register_champion(tracker, sweep, first)
    version, _ = champion(tracker)
    toy = sweep_result(tracker, sweep, execution(tracker, 100, {8: [0.95, 0.96]}, tmp_path))
    stays = register_champion(tracker, sweep, toy)
    assert stays is not None and not stays.moved and champion(tracker)[0] == version
    assert "another evaluation (dataset.limit 500 there, 100 here" in stays.message
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "textsweep",
            "promote",
            f"models:/{NAME}/{stays.version.version}",
            "--tracking-uri",
            tracker.uri,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert champion(tracker)[0] == stays.version.version
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "textsweep",
            "promote",
            f"models:/{NAME}/99",
            "--tracking-uri",
            tracker.uri,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "has no model 'units' version 99" in bad.stderr

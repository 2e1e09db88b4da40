"""Keras Tuner's chief/worker mode: roles from the environment, and `run --workers` end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from textsweep.cli import main
from textsweep.errors import UserError
from textsweep.sweep import workers as distributed
from textsweep.tracking import TAG_WORKER

SPACE = {
    "hyperparameters": {
        "model": {"type": "fixed", "value": "multihot_dense"},
        "dense_units": {"type": "choice", "values": [4, 8, 16]},
        "learning_rate": {"type": "choice", "values": [0.001, 0.003, 0.01]},
    }
}


def write_sweep(folder: Path, data: Path, max_trials: int = 4) -> Path:
    sweep = {
        "name": "spread",
        "dataset": {"format": "imdb", "path": str(data), "num_words": 200, "seed": 1},
        "search_space": SPACE,
        "tuner": {"algorithm": "random", "max_trials": max_trials, "seed": 1},
        "training": {"epochs": 1, "batch_size": 16},
    }
    path = folder / "spread.yaml"
    path.write_text(yaml.safe_dump(sweep), encoding="utf-8")
    return path


def test_role_comes_from_keras_tuner_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (distributed.ORACLE_IP_ENV, distributed.ORACLE_PORT_ENV, distributed.TUNER_ID_ENV):
        monkeypatch.delenv(name, raising=False)
    assert distributed.role() is None
    monkeypatch.setenv(distributed.ORACLE_IP_ENV, "10.0.0.5")
    with pytest.raises(UserError, match="KERASTUNER_TUNER_ID is not"):
        distributed.role()
    monkeypatch.setenv(distributed.ORACLE_PORT_ENV, "8000")
    monkeypatch.setenv(distributed.TUNER_ID_ENV, "tuner1")
    assert (distributed.role(), distributed.oracle_address()) == ("worker", "10.0.0.5:8000")
    monkeypatch.setenv(distributed.TUNER_ID_ENV, "chief")
    assert distributed.role() == "chief"


def test_workers_and_resume_are_refused_together(workdir: Path, tiny_imdb: Path, capsys) -> None:
    sweep = write_sweep(workdir, tiny_imdb)
    assert main(["run", str(sweep), "--workers", "2", "--resume"]) == 2
    assert "--resume does not apply to a sweep over workers" in capsys.readouterr().err
    assert not (workdir / "mlruns").exists()


def test_a_worker_without_its_chief_says_so(workdir: Path) -> None:
    from textsweep.config import load_sweep
    from textsweep.tracking import Tracker

    sweep = load_sweep(write_sweep(workdir, workdir))
    tracker = Tracker.open(f"sqlite:///{workdir / 'mlflow.db'}", sweep.experiment)
    with pytest.raises(UserError, match=r"no RUNNING parent run of sweep 'spread' with "
                       r"textsweep.oracle=10.0.0.5:8000 .* start the chief first"):  # fmt: skip
        distributed.find_parent(tracker, sweep, "10.0.0.5:8000", wait=0)


@pytest.mark.slow
def test_run_with_two_workers_logs_every_trial_under_one_parent(
    tmp_path: Path, tiny_imdb: Path
) -> None:
    from mlflow import MlflowClient

    sweep = write_sweep(tmp_path, tiny_imdb)
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    env = {**os.environ, "TEXTSWEEP_HOME": str(tmp_path / "home"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    for name in (distributed.ORACLE_IP_ENV, distributed.TUNER_ID_ENV, distributed.PARENT_ENV):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "textsweep", "run", str(sweep), "--workers", "2",
         "--tracking-uri", uri],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "best configuration (t" in done.stdout

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("spread")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    parents = [r for r in runs if r.data.tags.get("textsweep.role") == "sweep"]
    trials = [r for r in runs if r.data.tags.get("textsweep.role") == "trial"]
    assert [(p.info.status, p.data.tags["textsweep.workers"]) for p in parents] == [
        ("FINISHED", "2")
    ]
    assert {r.data.tags["mlflow.parentRunId"] for r in trials} == {parents[0].info.run_id}
    assert [r.info.status for r in trials] == ["FINISHED"] * 4
    assert len({r.data.tags["textsweep.trial_id"] for r in trials}) == 4
    assert {r.data.tags[TAG_WORKER] for r in trials} == {"tuner0", "tuner1"}
    assert "results.csv" in {a.path for a in client.list_artifacts(parents[0].info.run_id)}
    assert not (tmp_path / "home" / "tuner" / "spread" / parents[0].info.run_id).exists()


def test_worker_restarts_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(distributed.RESTARTS_ENV, raising=False)
    assert distributed.worker_restarts() == distributed.RESTARTS
    monkeypatch.setenv(distributed.RESTARTS_ENV, "0")
    assert distributed.worker_restarts() == 0
    monkeypatch.setenv(distributed.RESTARTS_ENV, "never")
    with pytest.raises(
        UserError, match=r"TEXTSWEEP_WORKER_RESTARTS must be a whole number .*'never'"
    ):
        distributed.worker_restarts()

"""Resilience, with real processes and real signals: resume, SIGINT/SIGTERM, kill -9, failed
trials, and two sweeps writing to one SQLite store at once.

Every sweep here runs `python -m textsweep run` on a tiny aclImdb-shaped folder (multi-hot Dense
models, one or two epochs); most of each test's time is TensorFlow starting up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.slow

SPACE = {
    "hyperparameters": {
        "model": {"type": "fixed", "value": "multihot_dense"},
        "dense_units": {"type": "choice", "values": [4, 8, 16]},
        "dense_layers": {"type": "int", "min": 1, "max": 2},
        "learning_rate": {"type": "choice", "values": [0.001, 0.003]},
    }
}
GRID_SPACE = {
    "hyperparameters": {
        "model": {"type": "fixed", "value": "multihot_dense"},
        "dense_units": {"type": "choice", "values": [4, 8]},
        "learning_rate": {"type": "choice", "values": [0.001, 0.003]},
    }
}


class Sweeps:
    """A working directory with data, sweep files, a tracking store and TEXTSWEEP_HOME."""

    def __init__(self, root: Path, data: Path):
        self.root, self.data = root, data
        self.home = root / "home"
        self.uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
        self.env = {**os.environ, "TEXTSWEEP_HOME": str(self.home), "TF_CPP_MIN_LOG_LEVEL": "3"}
        self.env.pop("TEXTSWEEP_DATA_DIR", None)

    def write(self, name: str, space: dict[str, Any] = SPACE, **tuner: Any) -> Path:
        sweep = {
            "name": name,
            "dataset": {"format": "imdb", "path": str(self.data), "num_words": 200, "seed": 1},
            "search_space": space,
            "tuner": {"algorithm": "random", "max_trials": 6, "seed": 1, **tuner},
            "training": {"epochs": 1, "batch_size": 16},
        }
        path = self.root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(sweep), encoding="utf-8")
        return path

    def command(self, sweep: Path, *extra: str) -> list[str]:
        return [sys.executable, "-m", "textsweep", "run", str(sweep), "--tracking-uri", self.uri,
                *extra]  # fmt: skip

    def run(self, sweep: Path, *extra: str, timeout: float = 240) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(sweep, *extra), cwd=self.root, env=self.env, capture_output=True,
            text=True, timeout=timeout,
        )  # fmt: skip

    @contextlib.contextmanager
    def start(self, sweep: Path, *extra: str) -> Iterator[Running]:
        log = self.root / f"{sweep.stem}-{time.monotonic_ns()}.log"
        with open(log, "w") as out:
            process = subprocess.Popen(
                self.command(sweep, *extra), cwd=self.root, env=self.env, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            yield Running(process, log)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    def runs(self, experiment: str) -> list[Any]:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.uri)
        exp = client.get_experiment_by_name(experiment)
        assert exp is not None
        return client.search_runs(
            [exp.experiment_id], max_results=1000, order_by=["attributes.start_time ASC"]
        )


class Running:
    def __init__(self, process: subprocess.Popen, log: Path):
        self.process, self.log = process, log

    def wait_for(self, text: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log.read_text(errors="replace"):
                return
            if self.process.poll() is not None:
                raise AssertionError(f"process ended before {text!r}:\n{self.output()}")
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} within {timeout}s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def role(run: Any) -> str:
    return run.data.tags.get("textsweep.role", "")


def trials_of(runs: list[Any], parent: str) -> list[Any]:
    return [r for r in runs if role(r) == "trial" and r.data.tags["mlflow.parentRunId"] == parent]


def finished_ids(runs: list[Any], parent: str) -> list[str]:
    return sorted(
        r.data.tags["textsweep.trial_id"]
        for r in trials_of(runs, parent)
        if r.info.status == "FINISHED"
    )


@pytest.fixture
def sweeps(tmp_path: Path, tiny_imdb: Path) -> Sweeps:
    root = tmp_path / "work"
    root.mkdir()
    return Sweeps(root, tiny_imdb)


def test_kill_9_then_resume_finishes_every_trial_once(sweeps: Sweeps) -> None:
    sweep = sweeps.write("kill9")
    with sweeps.start(sweep) as running:
        running.wait_for("(3 of 6)")
        running.process.send_signal(signal.SIGKILL)
        running.process.wait()

    refused = sweeps.run(sweep)
    assert refused.returncode == 2
    assert "has an unfinished execution" in refused.stderr
    assert "--resume" in refused.stderr and "--fresh" in refused.stderr
    assert "Traceback" not in refused.stderr

    resumed = sweeps.run(sweep, "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming parent run" in resumed.stdout

    runs = sweeps.runs("kill9")
    parents = [r for r in runs if role(r) == "sweep"]
    assert [p.info.status for p in parents] == ["FINISHED"]
    parent = parents[0].info.run_id
    assert finished_ids(runs, parent) == ["0", "1", "2", "3", "4", "5"]
    assert all(r.info.status in ("FINISHED", "KILLED") for r in trials_of(runs, parent))
    assert not (sweeps.home / "tuner" / "kill9" / parent).exists()


@pytest.mark.parametrize("algorithm", ["grid", "hyperband"])
def test_resume_after_kill_9_keeps_the_algorithms_count(sweeps: Sweeps, algorithm: str) -> None:
    # grid: 2 x 2 combinations; hyperband, max_epochs 2 and factor 2: brackets of 2 + 1 and 2
    space, expected = (GRID_SPACE, 4) if algorithm == "grid" else (SPACE, 5)
    extra = {"max_trials": None} if algorithm == "grid" else {"max_epochs": 2, "factor": 2}
    sweep = sweeps.write(algorithm, space, algorithm=algorithm, **extra)
    with sweeps.start(sweep) as running:
        running.wait_for(f"(2 of {expected})")
        running.process.send_signal(signal.SIGKILL)
        running.process.wait()
    resumed = sweeps.run(sweep, "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    runs = sweeps.runs(algorithm)
    parent = next(r.info.run_id for r in runs if role(r) == "sweep")
    ids = finished_ids(runs, parent)
    assert len(ids) == expected and len(set(ids)) == expected


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_marks_runs_killed_and_exits_promptly(
    sweeps: Sweeps, signum: int, code: int
) -> None:
    sweep = sweeps.write("signal", max_trials=3)
    with sweeps.start(sweep, "--set", "training.epochs=2") as running:
        running.wait_for("epoch 1/2")
        sent = time.monotonic()
        running.process.send_signal(signum)
        assert running.process.wait(timeout=30) == code
        took = time.monotonic() - sent
    assert took < 15, f"took {took:.1f}s to stop"
    assert "to continue the sweep, run the same command with --resume" in running.output()
    runs = sweeps.runs("signal")
    parent = next(r for r in runs if role(r) == "sweep")
    assert parent.info.status == "KILLED"
    trial = trials_of(runs, parent.info.run_id)[-1]
    assert trial.info.status == "KILLED"
    assert signal.Signals(signum).name in trial.data.tags["textsweep.error"]

    if signum == signal.SIGTERM:
        done = sweeps.run(sweep, "--set", "training.epochs=2", "--resume")
        assert done.returncode == 0, done.stdout + done.stderr
        runs = sweeps.runs("signal")
        assert finished_ids(runs, parent.info.run_id) == ["0", "1", "2"]
    else:
        # starting afresh marks the interrupted execution abandoned and drops its tuner state
        done = sweeps.run(sweep, "--set", "training.epochs=2", "--fresh")
        assert done.returncode == 0, done.stdout + done.stderr
        runs = {r.info.run_id: r for r in sweeps.runs("signal")}
        old = runs[parent.info.run_id]
        assert old.data.tags["textsweep.state"] == "abandoned"
        new = old.data.tags["textsweep.replaced_by"]
        assert runs[new].info.status == "FINISHED"
        assert not (sweeps.home / "tuner" / "signal" / parent.info.run_id).exists()


def test_resume_without_an_unfinished_execution_is_refused(sweeps: Sweeps) -> None:
    sweep = sweeps.write("nothing")
    result = sweeps.run(sweep, "--resume")
    assert result.returncode == 2
    assert "no unfinished execution of sweep 'nothing' to resume" in result.stderr
    assert not (sweeps.root / "mlruns").exists() and not sweeps.home.exists()


def test_a_nan_loss_fails_its_trial_and_the_sweep_goes_on(sweeps: Sweeps) -> None:
    # plain SGD with a step of 1e30 turns the weights to inf and the loss to NaN at once
    space = {"hyperparameters": {**GRID_SPACE["hyperparameters"],
                                 "optimizer": {"type": "fixed", "value": "sgd"},
                                 "dense_units": {"type": "fixed", "value": 8},
                                 "learning_rate": {"type": "choice", "values": [0.01, 1.0e30]}}}  # fmt: skip
    sweep = sweeps.write("nan", space, algorithm="grid", max_trials=None)
    result = sweeps.run(sweep)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 trial completed, 1 failed" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    runs = sweeps.runs("nan")
    failed = [r for r in runs if role(r) == "trial" and r.info.status == "FAILED"]
    assert len(failed) == 1
    assert "the training loss became nan" in failed[0].data.tags["textsweep.error"]
    from mlflow import MlflowClient

    artifacts = MlflowClient(tracking_uri=sweeps.uri).list_artifacts(failed[0].info.run_id)
    assert "traceback.txt" in [a.path for a in artifacts]


def test_consecutive_failures_stop_the_sweep_with_exit_1(sweeps: Sweeps) -> None:
    # plain SGD with a step of 1e30: every trial's loss is NaN at once (a kernel too large to
    # allocate is refused before the sweep starts, see test_sizing)
    space = {"hyperparameters": {**SPACE["hyperparameters"],
                                 "optimizer": {"type": "fixed", "value": "sgd"},
                                 "learning_rate": {"type": "choice", "values": [1.0e30, 2.0e30]}}}  # fmt: skip
    sweep = sweeps.write("allfail", space, max_consecutive_failures=2)
    result = sweeps.run(sweep)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the sweep stopped after 2 failed trials in a row" in result.stderr
    assert "the training loss became nan" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    runs = sweeps.runs("allfail")
    parent = next(r for r in runs if role(r) == "sweep")
    assert (parent.info.status, parent.data.tags["textsweep.state"]) == ("FAILED", "failed")
    assert [r.info.status for r in trials_of(runs, parent.info.run_id)] == ["FAILED"] * 2
    # a sweep that failed for good is not resumable: fix it and run it again
    again = sweeps.run(sweep, "--resume")
    assert again.returncode == 2 and "no unfinished execution" in again.stderr


def test_two_sweeps_on_one_sqlite_store_both_complete(sweeps: Sweeps) -> None:
    a, b = sweeps.write("left", max_trials=3), sweeps.write("right", max_trials=3)
    with sweeps.start(a, "--epochs", "3") as one, sweeps.start(b, "--epochs", "3") as two:
        assert one.process.wait(timeout=300) == 0, one.output()
        assert two.process.wait(timeout=300) == 0, two.output()
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=sweeps.uri)
    for name in ("left", "right"):
        trials = [r for r in sweeps.runs(name) if role(r) == "trial"]
        assert [t.info.status for t in trials] == ["FINISHED"] * 3
        for trial in trials:
            for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
                steps = [m.step for m in client.get_metric_history(trial.info.run_id, metric)]
                assert sorted(steps) == [1, 2, 3], (name, metric, steps)

"""A signal always stops a sweep, wherever in a trial it lands: real `textsweep run` processes.

A signal raised while Python runs a finalizer (a weakref callback during garbage collection,
frequent while a model is being built) used to be printed as "Exception ignored" and lost, and
the sweep ran to the end with exit 0. Each offset here is measured from the trial's first line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

TRIAL_LINE = "trial t0 (1 of 2)"
# seconds after the first trial's line: model building (where raises used to be lost), the
# first batches, and later in the epoch
OFFSETS = [
    (0.0, signal.SIGINT),
    (0.05, signal.SIGTERM),
    (0.1, signal.SIGINT),
    (0.15, signal.SIGTERM),
    (0.2, signal.SIGINT),
    (0.3, signal.SIGTERM),
    (0.6, signal.SIGINT),
    (1.2, signal.SIGTERM),
]


def _sweep(root: Path, data: Path, name: str) -> Path:
    sweep = {
        "name": name,
        "dataset": {"format": "imdb", "path": str(data), "num_words": 200, "seed": 1},
        "search_space": {
            "hyperparameters": {
                "model": {"type": "fixed", "value": "multihot_dense"},
                "dense_units": {"type": "choice", "values": [4, 8, 16]},
                "learning_rate": {"type": "choice", "values": [0.001, 0.003]},
            }
        },
        "tuner": {"algorithm": "random", "max_trials": 2, "seed": 1},
        "training": {"epochs": 2, "batch_size": 16},
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(sweep), encoding="utf-8")
    return path


class _Sweeps:
    def __init__(self, root: Path, data: Path):
        self.root, self.data = root, data
        self.env = {**os.environ, "TEXTSWEEP_HOME": str(root / "home"), "TF_CPP_MIN_LOG_LEVEL": "3"}
        self.env.pop("TEXTSWEEP_DATA_DIR", None)

    def uri(self, name: str) -> str:
        return f"sqlite:///{self.root / name}.db"

    def start(self, name: str, *extra: str) -> tuple[subprocess.Popen, Path]:
        path = _sweep(self.root, self.data, name)
        log = self.root / f"{name}.log"
        with open(log, "w") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "textsweep", "run", str(path), "--tracking-uri",
                 self.uri(name), *extra],
                cwd=self.root, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return process, log

    def wait_for_trial(self, process: subprocess.Popen, log: Path) -> None:
        deadline = time.monotonic() + 120
        while TRIAL_LINE not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"no {TRIAL_LINE!r}:\n{log.read_text(errors='replace')}")
            time.sleep(0.005)

    def runs(self, name: str) -> list[Any]:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.uri(name))
        exp = client.get_experiment_by_name(name)
        assert exp is not None
        return client.search_runs([exp.experiment_id], max_results=100)


def _signal_at(sweeps: _Sweeps, offset: float, signum: int) -> tuple[int, str, list[Any]]:
    name = f"sig-{int(offset * 1000)}"
    process, log = sweeps.start(name)
    sweeps.wait_for_trial(process, log)
    time.sleep(offset)
    process.send_signal(signum)
    try:
        code = process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        code = -1
    return code, log.read_text(errors="replace"), sweeps.runs(name)


@pytest.fixture
def signal_sweeps(tmp_path: Path, tiny_imdb: Path) -> _Sweeps:
    root = tmp_path / "work"
    root.mkdir()
    return _Sweeps(root, tiny_imdb)


@pytest.mark.slow
def test_a_signal_at_any_moment_of_a_trial_stops_the_sweep(signal_sweeps: _Sweeps) -> None:
    # two at a time: the machine's cores, and each offset is taken from its own process's line
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda case: _signal_at(signal_sweeps, *case), OFFSETS))
    wrong = []
    for (offset, signum), (code, output, runs) in zip(OFFSETS, outcomes, strict=True):
        statuses = {r.data.tags.get("textsweep.role"): r.info.status for r in runs}
        trials = [r.info.status for r in runs if r.data.tags.get("textsweep.role") == "trial"]
        if (
            code != 128 + signum
            or statuses.get("sweep") != "KILLED"
            or any(status != "KILLED" for status in trials)
            or "Exception ignored" in output
        ):
            wrong.append(f"{offset}s {signal.Signals(signum).name}: exit {code}, {statuses}, "
                         f"trials {trials}\n{output}")  # fmt: skip
    assert not wrong, "\n\n".join(wrong)


# a sweep whose clean-up hangs (an MLflow server that no longer answers), in a real process
SLOW_CLEANUP = """
import sys, time
from textsweep.sweep.interrupts import Interrupts
with Interrupts() as interrupts:
    try:
        print("ready", flush=True)
        while True:
            time.sleep(0.01)
    except KeyboardInterrupt:
        with interrupts.deferred(files=sys.argv[1] == "files"):
            print("cleaning up", flush=True)
            time.sleep(float(sys.argv[2]))
        print("cleaned up", flush=True)
"""


def _second_signal(tmp_path: Path, block: str, cleanup: float) -> tuple[int, float, str]:
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_CLEANUP, block, str(cleanup)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    process.send_signal(signal.SIGINT)
    output = ""
    while "cleaning up" not in output:
        output += process.stdout.readline()
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    code = process.wait(timeout=30)
    return code, time.monotonic() - sent, output + process.stdout.read()


def test_a_second_signal_exits_at_once(tmp_path: Path) -> None:
    code, took, output = _second_signal(tmp_path, "runs", 60)
    assert (code, "SIGINT again: exiting now" in output) == (130, True), output
    assert took < 5


def test_a_second_signal_lets_a_state_file_write_finish(tmp_path: Path) -> None:
    code, took, output = _second_signal(tmp_path, "files", 1.5)
    assert code == 130, output
    assert took > 1


@pytest.mark.slow
def test_refusals_name_the_live_process_and_repeat_the_users_options(
    signal_sweeps: _Sweeps,
) -> None:
    import shlex

    options = ["--max-trials", "2", "--epochs", "1", "--set", "dataset.seed=2"]
    process, log = signal_sweeps.start("again", *options)
    signal_sweeps.wait_for_trial(process, log)
    path = signal_sweeps.root / "again.yaml"
    uri = signal_sweeps.uri("again")

    def textsweep(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "textsweep", *args], cwd=signal_sweeps.root,
                              env=signal_sweeps.env, capture_output=True, text=True, timeout=240)  # fmt: skip

    busy = textsweep("run", str(path), "--tracking-uri", uri, *options)
    assert busy.returncode == 2
    assert f"running now in process {process.pid}" in busy.stderr
    assert "gone" not in busy.stderr
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 143

    refused = textsweep("run", str(path), "--tracking-uri", uri, *options)
    assert refused.returncode == 2
    hint = refused.stderr.split("continue it with `", 1)[1].split("`", 1)[0]
    command, *words = shlex.split(hint)  # `textsweep`, or its path when PATH lacks it
    assert Path(command).name == "textsweep"
    assert words == [
        "run", str(path), "--set", "dataset.seed=2", "--set", "tuner.max_trials=2",
        "--set", "training.epochs=1", "--tracking-uri", uri, "--resume",
    ]  # fmt: skip
    resumed = textsweep(*shlex.split(hint)[1:])
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "2 trials completed" in resumed.stdout


def test_a_signal_during_a_store_call_is_raised_once_the_call_is_done(tmp_path: Path) -> None:
    # a raise inside SQLAlchemy used to leave the SQLite connection holding its lock: the
    # runs could then never be marked KILLED ("database is locked" until the retries gave up)
    from mlflow import MlflowClient

    from textsweep.sweep.interrupts import Interrupts, SweepInterrupted
    from textsweep.tracking import Tracker
    from textsweep.tracking.calls import retry_locked, shield_store_calls
    from textsweep.tracking.names import RunStatus

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker.open(uri, "signals")

    def create_run_as_the_signal_comes() -> Any:
        os.kill(os.getpid(), signal.SIGINT)  # the handler runs before the next line...
        return tracker.client.create_run(tracker.experiment_id)  # ...which still happens

    with Interrupts() as interrupts, shield_store_calls(interrupts.deferred):
        with pytest.raises(SweepInterrupted):
            retry_locked(create_run_as_the_signal_comes)
        (run,) = tracker.client.search_runs([tracker.experiment_id])
        tracker.end_run(run.info.run_id, RunStatus.KILLED)
    run = MlflowClient(tracking_uri=uri).get_run(run.info.run_id)
    assert run.info.status == "KILLED"

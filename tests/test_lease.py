"""Work sharing and the lease on every trial in chief/worker mode (`sweep.lease`).

The oracle tests drive a real Keras Tuner oracle as the chief's gRPC servicer would; the slow
tests run real chiefs and workers on 127.0.0.x addresses only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras_tuner as kt
import pytest
import yaml
from conftest import start_mlflow_server, stop_mlflow_server
from mlflow import MlflowClient

from textsweep.sweep import ktcompat, lease
from textsweep.sweep import workers as distributed

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
    ktcompat.set_project_dir(oracle, str(tmp_path), "p")
    taken: list[lease.TakenBack] = []
    lease.hold(oracle, seconds, taken.append)
    return oracle, taken


def finish(oracle: Any, trial: Any, score: float = 0.5) -> None:
    """What a worker does at a trial's end, with its own copy of the trial (as over gRPC)."""
    oracle.update_trial(trial.trial_id, {"val_accuracy": score}, step=0)
    mine = ktcompat.Trial.from_proto(trial.to_proto())
    mine.status = "COMPLETED"
    oracle.end_trial(mine)


def beat_until_taken(oracle: Any, alive: Any, taken: list[lease.TakenBack]) -> None:
    """The live worker's heartbeat, until the lease takes something back (20 s at most)."""
    deadline = time.monotonic() + 20
    while not taken and time.monotonic() < deadline:
        oracle.get_trial(alive.trial_id)
        time.sleep(0.1)


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
    beat_until_taken(oracle, alive, taken)  # tuner0's heartbeat
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


def test_a_worker_lost_while_told_to_wait_is_no_longer_waited_for(tmp_path: Path) -> None:
    from keras_tuner.src.distribute import oracle_chief

    oracle, taken = grid_oracle(tmp_path, seconds=0.6, max_trials=1)
    alive = oracle.create_trial("tuner0")
    assert oracle.create_trial("tuner1").status == "IDLE"  # then tuner1's machine is gone
    beat_until_taken(oracle, alive, taken)  # tuner0's heartbeat
    assert [(t.trial_id, t.tuner_id) for t in taken] == [("", "tuner1")]
    assert oracle.tuner_ids == {"tuner0"}
    finish(oracle, alive)
    assert oracle.create_trial("tuner0").status == "STOPPED"
    assert oracle_chief.exit_chief(oracle)  # the chief exits: it waits for nobody


def test_a_worker_lost_between_two_trials_is_no_longer_waited_for(tmp_path: Path) -> None:
    from keras_tuner.src.distribute import oracle_chief

    oracle, taken = grid_oracle(tmp_path, seconds=0.6, max_trials=3)
    alive, gone = oracle.create_trial("tuner0"), oracle.create_trial("tuner1")
    finish(oracle, gone)  # tuner1 ends its trial, then dies before asking for the next
    beat_until_taken(oracle, alive, taken)  # tuner0's heartbeat
    assert [(t.trial_id, t.tuner_id) for t in taken] == [("", "tuner1")]
    assert oracle.tuner_ids == {"tuner0"}
    finish(oracle, alive)
    last = oracle.create_trial("tuner0")
    finish(oracle, last)
    assert oracle.create_trial("tuner0").status == "STOPPED"
    assert oracle_chief.exit_chief(oracle)


def test_a_worker_between_trials_with_a_heartbeat_is_waited_for(tmp_path: Path) -> None:
    oracle, taken = grid_oracle(tmp_path, seconds=0.6, max_trials=3)
    busy, slow = oracle.create_trial("tuner0"), oracle.create_trial("tuner1")
    finish(oracle, slow)  # tuner1 is slow to ask again (MLflow, model building), beating still
    until = time.monotonic() + 2.0
    while time.monotonic() < until:
        oracle.get_trial(busy.trial_id)
        oracle.get_trial(slow.trial_id)  # the heartbeat on the trial it last ended
        time.sleep(0.1)
    assert taken == []
    assert oracle.tuner_ids == {"tuner0", "tuner1"}
    assert oracle.create_trial("tuner1").status == "RUNNING"


def test_a_request_that_raises_leaves_the_oracle_usable_by_other_threads(tmp_path: Path) -> None:
    """Keras Tuner's `synchronized` keeps its lock when the method raises: a chief whose servicer
    raised once then hung in its own "all done?" check (`exit_chief`). The lease's releases it."""
    import threading

    from keras_tuner.src.distribute import oracle_chief

    oracle, _ = grid_oracle(tmp_path, seconds=60)
    errors: list[BaseException] = []

    def bad_request() -> None:  # as the gRPC servicer's thread would call it
        try:
            oracle.update_trial("no-such-trial", {"val_accuracy": 0.5}, step=0)
        except KeyError as error:
            errors.append(error)

    thread = threading.Thread(target=bad_request, name="grpc-like")
    thread.start()
    thread.join(5)
    assert errors, "the bad request should raise"
    done: list[bool] = []
    check = threading.Thread(target=lambda: done.append(oracle_chief.exit_chief(oracle)))
    check.start()
    check.join(5)
    assert done == [True], "the chief's exit check waited on a lock a raised request kept"
    trial = oracle.create_trial("tuner0")  # and the servicer goes on
    assert trial.status == "RUNNING"


# --- real chiefs and workers, on 127.0.0.x only ---------------------------------------------


def write_grid_sweep(folder: Path, data: Path, epochs: int, lease_seconds: float) -> Path:
    sweep = {
        "name": "share",
        "dataset": {"format": "imdb", "path": str(data), "num_words": 200, "seed": 1},
        "search_space": {
            "hyperparameters": {
                "model": {"type": "fixed", "value": "multihot_dense"},
                "dense_units": {"type": "choice", "values": UNITS},
            }
        },
        "tuner": {"algorithm": "grid", "max_trials": 10, "seed": 1,
                  "lease_seconds": lease_seconds},
        "training": {"epochs": epochs, "batch_size": 16},
        "tracking": {"log_models": "none"},
    }  # fmt: skip
    path = folder / "share.yaml"
    path.write_text(yaml.safe_dump(sweep), encoding="utf-8")
    return path


def clean_env(tmp_path: Path, name: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("KERASTUNER_") and k != distributed.PARENT_ENV}  # fmt: skip
    home = tmp_path / f"home-{name}"  # no shared disk between the "machines"
    return {**env, "TEXTSWEEP_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONUNBUFFERED": "1", "KERAS_HOME": str(tmp_path / "keras")}  # fmt: skip


def trial_runs(uri: str) -> list[Any]:
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("share")
    if exp is None:
        return []
    query = "tags.`textsweep.role` = 'trial'"
    return list(client.search_runs([exp.experiment_id], query, max_results=200))


def finished_units(runs: list[Any]) -> list[int]:
    return sorted(int(r.data.params["dense_units"]) for r in runs if r.info.status == "FINISHED")


@pytest.mark.slow
def test_two_local_workers_share_a_grid(tmp_path: Path, tiny_imdb: Path) -> None:
    sweep = write_grid_sweep(tmp_path, tiny_imdb, epochs=2, lease_seconds=120)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "textsweep", "run", str(sweep), "--workers", "2",
         "--tracking-uri", uri],
        cwd=tmp_path, env=clean_env(tmp_path, "launcher"), capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = trial_runs(uri)
    assert finished_units(runs) == UNITS
    per_worker = Counter(r.data.tags["textsweep.worker"] for r in runs)
    assert set(per_worker) == {"tuner0", "tuner1"}
    assert min(per_worker.values()) >= 3, per_worker
    assert "no trials left; done" in done.stdout


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen(cmd, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


@pytest.fixture
def server_uri(tmp_path: Path) -> Iterator[str]:
    """A real `mlflow server --serve-artifacts` on 127.0.0.3, with `--allowed-hosts` as the README says."""
    (tmp_path / "server").mkdir()
    port = distributed.free_port("127.0.0.3")
    proc = start_mlflow_server(tmp_path / "server", port, host="127.0.0.3")
    try:
        yield f"http://127.0.0.3:{port}"
    finally:
        stop_mlflow_server(proc)


@pytest.mark.slow
def test_a_worker_lost_for_good_leaves_no_trial_behind(
    tmp_path: Path, tiny_imdb: Path, server_uri: str
) -> None:
    """An MLflow server on 127.0.0.3, the chief's oracle on 127.0.0.2, two workers by hand, each in
    its own home (no shared disk); tuner1 killed -9 mid-trial and never restarted."""
    sweep = write_grid_sweep(tmp_path, tiny_imdb, epochs=3, lease_seconds=10)
    uri = server_uri
    port = distributed.free_port("127.0.0.2")
    cmd = [sys.executable, "-m", "textsweep", "run", str(sweep), "--tracking-uri", uri]
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in ("chief", "tuner0", "tuner1"):
            env = {**clean_env(tmp_path, name), distributed.TUNER_ID_ENV: name,
                   distributed.ORACLE_IP_ENV: "127.0.0.2",
                   distributed.ORACLE_PORT_ENV: str(port), "TEXTSWEEP_PROCESSES": "2"}  # fmt: skip
            procs[name] = start(cmd, env, tmp_path / f"{name}.log")
        deadline = time.monotonic() + 600
        victim = None
        while victim is None and time.monotonic() < deadline:  # tuner1 in the middle of a trial
            for run in trial_runs(uri):
                tags = run.data.tags
                if tags.get("textsweep.worker") == "tuner1" and run.info.status == "RUNNING":
                    history = MlflowClient(uri).get_metric_history(run.info.run_id, "val_accuracy")
                    if history:  # at least one epoch done
                        victim = run
            time.sleep(0.5)
        assert victim is not None, (tmp_path / "tuner1.log").read_text()[-3000:]
        os.killpg(procs["tuner1"].pid, signal.SIGKILL)
        assert procs["chief"].wait(timeout=600) == 0, (tmp_path / "chief.log").read_text()[-3000:]
        assert procs["tuner0"].wait(timeout=60) == 0
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    runs = trial_runs(uri)
    assert finished_units(runs) == UNITS  # exactly the 8 combinations, each once
    killed = [r for r in runs if r.info.status == "KILLED"]
    # the trial tuner1 was in when it died: the one seen running, or, on tiny data, the next
    # one it had started by the time the kill landed
    assert len(killed) == 1 and killed[0].data.tags["textsweep.worker"] == "tuner1", killed
    assert killed[0].info.run_id == victim.info.run_id or killed[0].info.start_time >= victim.info.start_time
    assert killed[0].data.tags[lease.TAG_LEASE].startswith("lease expired: tuner1 silent for")
    assert "taken back" in (tmp_path / "chief.log").read_text()
    parent = [r for r in MlflowClient(uri).search_runs([victim.info.experiment_id],
              "tags.`textsweep.role` = 'sweep'")]  # fmt: skip
    assert [p.info.status for p in parent] == ["FINISHED"]

"""A tracking store that stops taking writes mid-sweep, or is damaged or deleted: one clear message,
trained trials never counted as failed, and `--resume` redoes what could not be logged.

Real `textsweep` processes on a real SQLite store. A read-only or full disk is made in a private
mount namespace (`unshare --mount`): the store's folder is bind-mounted and remounted read-only,
or is a small tmpfs that a file fills, once the first trial has logged its artifacts.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.slow

SPACE = {"hyperparameters": {
    "model": {"type": "fixed", "value": "multihot_dense"},
    "dense_units": {"type": "choice", "values": [4, 8, 16]},
    "learning_rate": {"type": "choice", "values": [0.001, 0.003]}}}  # fmt: skip


def _can_mount(tmp_path: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = tmp_path / "probe"
    probe.mkdir()
    script = (f"mount --bind {probe} {probe} && mount -o remount,ro,bind {probe} && "
              f"! touch {probe}/x 2>/dev/null && mount -t tmpfs -o size=1m tmpfs {probe}")  # fmt: skip
    done = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True)
    return done.returncode == 0


@pytest.fixture
def mounts(tmp_path: Path) -> None:
    if not _can_mount(tmp_path):
        pytest.skip("needs `unshare --mount`, bind and tmpfs mounts (root with CAP_SYS_ADMIN)")


def _write_sweep(root: Path, data: Path, name: str, trials: int = 3) -> Path:
    sweep = {
        "name": name,
        "dataset": {"format": "imdb", "path": str(data), "num_words": 100, "seed": 1},
        "search_space": SPACE,
        "tuner": {"algorithm": "random", "max_trials": trials, "seed": 1},
        "training": {"epochs": 1, "batch_size": 16},
        "tracking": {"uri": f"sqlite:///{root / 'store' / 'mlflow.db'}"},
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(sweep), encoding="utf-8")
    return path


def _env(root: Path) -> dict[str, str]:
    env = {**os.environ, "TEXTSWEEP_HOME": str(root / "home"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TEXTSWEEP_DATA_DIR", None)
    return env


def _textsweep(root: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "textsweep", *args], cwd=root, env=_env(root),
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def _in_namespace(root: Path, script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["unshare", "--mount", "sh", "-c", script], cwd=root, env=_env(root),
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def _after_first_trial(store: Path, then: str) -> str:
    """Shell: in the background, wait until a trial has logged its summary, then run `then`."""
    return (f"( while [ -z \"$(find {store}/artifacts -name model_summary.txt 2>/dev/null)\" ]; "
            f"do sleep 0.05; done; {then} ) &")  # fmt: skip


def _trial_runs(store: Path) -> list[Any]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}")
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string="tags.`textsweep.role` = 'trial'",
        order_by=["attributes.start_time ASC"],
    )
    return list(runs)


def _finished_and_failed(store: Path) -> tuple[list[str], list[str]]:
    runs = _trial_runs(store)
    finished = sorted(r.data.tags["textsweep.trial_id"] for r in runs if r.info.status == "FINISHED")
    failed = [r.data.tags["textsweep.trial_id"] for r in runs if r.info.status == "FAILED"]
    return finished, failed


def test_read_only_artifacts_from_trial_t1_stop_the_sweep_and_resume_redoes_it(
    tmp_path: Path, tiny_imdb: Path, mounts: None
) -> None:
    """Issue 24 case 1: the trained trial is not FAILED; one message; --resume finishes all."""
    sweep = _write_sweep(tmp_path, tiny_imdb, "rofs")
    store = tmp_path / "store"
    (store / "artifacts").mkdir(parents=True)
    art = store / "artifacts"
    command = f"{sys.executable} -m textsweep run {sweep}"
    script = (f"mount --bind {art} {art} && "
              + _after_first_trial(store, f"mount -o remount,ro,bind {art}")
              + f" exec {command}")  # fmt: skip
    ran = _in_namespace(tmp_path, script)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr
    errors = [line for line in ran.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, ran.stderr
    assert errors[0].startswith("sweep failed: the tracking store cannot be written (Read-only")
    assert str(art) in errors[0] and "--resume" in errors[0]
    finished, failed = _finished_and_failed(store)
    assert failed == [] and len(finished) == 1, _trial_runs(store)
    statuses = {r.info.status for r in _trial_runs(store)}
    assert statuses <= {"FINISHED", "RUNNING"}, statuses

    resumed = _textsweep(tmp_path, "run", str(sweep), "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "interrupted trial(s) to run again" in resumed.stdout
    finished, failed = _finished_and_failed(store)
    assert finished == ["0", "1", "2"] and failed == []
    assert "done in" in resumed.stdout and "3 trials completed, 0 failed" in resumed.stdout


def test_a_full_disk_mid_sweep_says_free_space_then_resume(
    tmp_path: Path, tiny_imdb: Path, mounts: None
) -> None:
    """Issue 24 case 5 (full disk): one message with the hint, and the hint works."""
    sweep = _write_sweep(tmp_path, tiny_imdb, "full")
    store = tmp_path / "store"
    store.mkdir()
    command = f"{sys.executable} -m textsweep run {sweep}"
    fill = f"dd if=/dev/zero of={store}/filler bs=64k >/dev/null 2>&1"
    script = (f"mount -t tmpfs -o size=48m tmpfs {store} && "
              + _after_first_trial(store, fill)
              + f" {command} > {tmp_path}/first.out 2> {tmp_path}/first.err; "
              f"echo $? > {tmp_path}/first.rc; rm -f {store}/filler; wait; rm -f {store}/filler; "
              f"exec {command} --resume")  # fmt: skip
    resumed = _in_namespace(tmp_path, script)
    first_err = (tmp_path / "first.err").read_text()
    assert (tmp_path / "first.rc").read_text().strip() == "1", first_err
    assert "Traceback" not in first_err
    errors = [line for line in first_err.splitlines() if line.strip()]
    assert len(errors) == 1, first_err
    assert errors[0].startswith("sweep failed: the disk is full"), first_err
    assert "Free space, then continue with the same `textsweep run` command and --resume" in errors[0]
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "3 trials completed, 0 failed" in resumed.stdout


def test_a_database_deleted_mid_sweep_gives_one_message(tmp_path: Path, tiny_imdb: Path) -> None:
    """Issue 24 case 5 (deleted mid-sweep): one line naming the file, no traceback wall."""
    sweep = _write_sweep(tmp_path, tiny_imdb, "gone", trials=4)
    store = tmp_path / "store"
    process = subprocess.Popen([sys.executable, "-m", "textsweep", "run", str(sweep)],
                               cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        import time

        deadline = time.monotonic() + 300
        while not list((store / "artifacts").rglob("model_summary.txt")):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        (store / "mlflow.db").unlink()
        out, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1, out + err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.strip()]
    assert len(errors) == 1, err
    assert errors[0].startswith(f"sweep failed: the tracking database {store / 'mlflow.db'} was deleted")


def _damage(db: Path) -> None:
    data = bytearray(db.read_bytes())
    data[:100] = b"this is not a database" + bytes(78)
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("command", [("report",), ("run", "--resume"), ("run",)])
def test_a_damaged_database_is_exit_2_naming_it(
    tmp_path: Path, tiny_imdb: Path, command: tuple[str, ...]
) -> None:
    """Issue 24 case 5 (damaged store): `report`, `run --resume` and `run` exit 2, name the file."""
    sweep = _write_sweep(tmp_path, tiny_imdb, "damaged", trials=1)
    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    sqlite3.connect(db).execute("CREATE TABLE runs (x)").connection.commit()
    _damage(db)
    before = db.read_bytes()
    done = _textsweep(tmp_path, command[0], str(sweep), *command[1:])
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert f"error: tracking.uri: the tracking database {db} is damaged or not an MLflow database" \
        in done.stderr  # fmt: skip
    assert "restore it from a copy" in done.stderr
    assert db.read_bytes() == before


def test_a_store_damaged_inside_is_exit_2_for_report(tmp_path: Path) -> None:
    """A real store whose pages after the first are scrambled: `report` names it, exit 2."""
    from textsweep.tracking.store import Tracker

    uri = f"sqlite:///{tmp_path / 'st' / 'mlflow.db'}"
    tracker = Tracker.open(uri, "deep")
    run = tracker.start_run("x", {"textsweep.role": "sweep", "textsweep.sweep": "deep"})
    tracker.log_metrics(run, {"a": 1.0})
    db = tmp_path / "st" / "mlflow.db"
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[2 * page :] = bytes((b * 7 + 13) % 256 for b in data[2 * page :])
    db.write_bytes(bytes(data))
    done = _textsweep(tmp_path, "report", "deep", "--tracking-uri", uri)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert f"the tracking database {db} is damaged or not an MLflow database (database disk " \
        "image is malformed)" in done.stderr  # fmt: skip


_WRITE_THEN_WAIT = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA cache_size=1")  # spill to the file: the journal holds the pages it replaced
c.execute("BEGIN")
for i in range(2000):
    c.execute("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)", (f"k{i}", "v" * 200, "x"))
print("ready", flush=True)
time.sleep(120)
"""


def test_a_store_left_mid_write_by_kill_9_opens_and_keeps_its_runs(tmp_path: Path) -> None:
    """A process killed -9 inside a write leaves a hot journal; the next opener rolls it back."""
    import signal

    from textsweep.tracking.store import Tracker

    db = tmp_path / "st" / "mlflow.db"
    uri = f"sqlite:///{db}"
    tracker = Tracker.open(uri, "killed")
    run = tracker.start_run("x", {"textsweep.role": "sweep", "textsweep.sweep": "killed"})
    writer = subprocess.Popen([sys.executable, "-c", _WRITE_THEN_WAIT, str(db)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert (tmp_path / "st" / "mlflow.db-journal").is_file()  # hot: nobody holds its lock
    again = Tracker.open(uri, "killed")  # what `run --resume` does first
    assert again.experiment_id == tracker.experiment_id
    assert not (tmp_path / "st" / "mlflow.db-journal").exists()  # rolled back
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT count(*) FROM tags WHERE run_uuid = 'x'").fetchone() == (0,)
        assert c.execute("SELECT count(*) FROM runs WHERE run_uuid = ?", (run,)).fetchone() == (1,)

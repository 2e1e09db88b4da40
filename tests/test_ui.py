"""`textsweep ui` serves the project's store with the real MLflow server on 127.0.0.1, and ends
every process it started however it is stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from textsweep.sweep.workers import free_port
from textsweep.tracking import Tracker

MARK = "TEXTSWEEP_UI_TEST_MARK"


def marked_processes(mark: str) -> list[int]:
    """Live processes whose environment carries `mark`: everything `textsweep ui` started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"{MARK}={mark}".encode() in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def wait_for(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


class UI:
    """A `textsweep ui` process, in a session of its own, with a mark in its environment."""

    def __init__(self, port: int, *args: str):
        self.port, self.mark = port, uuid.uuid4().hex
        env = {**os.environ, MARK: self.mark}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "textsweep", "ui", "--port", str(port), *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
            start_new_session=True,
        )  # fmt: skip
        self.lines: list[str] = []

    def wait_for_url(self, seconds: float = 150) -> str:
        """The first line printed, which must be the URL; it answers as soon as it is printed."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self.lines.append(line)
        assert line.startswith("MLflow UI on http://127.0.0.1:"), line + self.proc.stdout.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5) as r:
            assert r.status == 200
        return line.split()[3]

    def rest(self) -> str:
        assert self.proc.stdout is not None
        return "".join(self.lines) + self.proc.stdout.read()


@pytest.fixture
def store(workdir: Path) -> Iterator[tuple[str, str]]:
    # absolute: MLflow caches its store per URI, and every test has its own working directory
    uri = f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}"
    tracker = Tracker.open(uri, "ui-check")
    run_id = tracker.start_run("t0 units=8", {"textsweep.role": "trial"})
    tracker.log_text(run_id, "epoch,loss\n1,0.5\n", "history.csv")
    tracker.end_run(run_id)
    yield uri, run_id


@pytest.mark.slow
def test_ui_serves_the_store_and_sigterm_ends_every_process(store: tuple[str, str]) -> None:
    uri, run_id = store
    ui = UI(free_port())
    try:
        base = ui.wait_for_url()
        assert len(marked_processes(ui.mark)) >= 3  # textsweep, its guard, MLflow's server
        with urllib.request.urlopen(f"{base}/api/2.0/mlflow/experiments/search?max_results=10", timeout=10) as r:
            assert "ui-check" in {e["name"] for e in json.load(r)["experiments"]}
        with urllib.request.urlopen(f"{base}/get-artifact?path=history.csv&run_uuid={run_id}", timeout=10) as r:
            assert r.read().decode().startswith("epoch,loss")
    finally:
        ui.proc.send_signal(signal.SIGTERM)
        code = ui.proc.wait(timeout=30)
    assert code == 0 and "MLflow UI stopped (SIGTERM)" in ui.rest()
    wait_for(lambda: not marked_processes(ui.mark), 15, "MLflow's processes outlived textsweep ui")
    assert MlflowClient(uri).get_run(run_id).info.status == "FINISHED"


@pytest.mark.slow
def test_the_server_group_ends_when_textsweep_ui_is_killed(store: tuple[str, str]) -> None:
    ui = UI(free_port())
    ui.wait_for_url()
    ui.proc.kill()  # SIGKILL: textsweep ui can do nothing; its guard must notice
    ui.proc.wait(timeout=10)
    wait_for(lambda: not marked_processes(ui.mark), 20, "MLflow's processes outlived textsweep ui")


@pytest.mark.slow
def test_ctrl_c_during_start_up_ends_the_server_without_a_traceback(store: tuple[str, str]) -> None:
    ui = UI(free_port())
    # the guard and MLflow's server are starting (textsweep itself is the first marked process)
    wait_for(lambda: len(marked_processes(ui.mark)) >= 3, 60, "the MLflow server did not start")
    ui.proc.send_signal(signal.SIGINT)
    code = ui.proc.wait(timeout=30)
    out = ui.rest()
    assert code == 0, out
    assert "Traceback" not in out and "MLflow UI on" not in out
    assert "MLflow UI stopped (SIGINT)" in out
    wait_for(lambda: not marked_processes(ui.mark), 15, "MLflow's processes outlived textsweep ui")


def test_a_busy_port_exits_2_with_a_hint(workdir: Path) -> None:
    Path("mlruns").mkdir()
    Path("mlruns/mlflow.db").touch()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "textsweep", "ui", "--port", str(port)],
                              capture_output=True, text=True, timeout=30)  # fmt: skip
    assert done.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr
    assert f"pick another with --port, e.g. `textsweep ui --port {port + 1}`" in done.stderr
    assert "Traceback" not in done.stderr


def test_ui_without_a_store_is_a_clear_error(workdir: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "textsweep", "ui"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "no tracking store at mlruns/mlflow.db (looked for" in done.stderr
    assert "run a sweep first" in done.stderr


def test_a_stop_inside_a_guarded_call_still_stops() -> None:
    """SIGTERM while the comparison links are read (a store query guarded by `except Exception`,
    MLflow's imports) must end `textsweep ui`: the test above once waited 30 s on a UI that had
    swallowed it there."""
    from textsweep import ui

    def links_read_when_stopped(uri: str, url: str) -> list[tuple[str, str]]:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises here
        except Exception:  # as comparison_links guards its store query
            pass
        raise AssertionError("the stop was swallowed by `except Exception`")

    with pytest.raises(ui._Stop), ui._signals_stop():
        links_read_when_stopped("sqlite:///x.db", "http://127.0.0.1:1")

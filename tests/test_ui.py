"""`textsweep ui` serves the project's store with the real MLflow server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow import MlflowClient

from textsweep.tracking import Tracker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_ui_lists_experiments_and_serves_artifacts(workdir: Path) -> None:
    uri = "sqlite:///mlruns/mlflow.db"
    tracker = Tracker.open(uri, "ui-check")
    run_id = tracker.start_run("trial-0", {"textsweep.role": "trial"})
    tracker.log_text(run_id, "epoch,loss\n0,0.5\n", "history.csv")
    tracker.end_run(run_id)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "textsweep", "ui", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/2.0/mlflow/experiments/search?max_results=10", timeout=2) as r:
                    names = {e["name"] for e in json.load(r)["experiments"]}
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "the MLflow UI did not answer within 90 s"
                time.sleep(1)
        assert "ui-check" in names
        with urllib.request.urlopen(f"{base}/get-artifact?path=history.csv&run_uuid={run_id}", timeout=10) as r:
            assert r.read().decode().startswith("epoch,loss")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert MlflowClient(uri).get_run(run_id).info.status == "FINISHED"


def test_ui_without_a_store_is_a_clear_error(workdir: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "textsweep", "ui"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "no tracking store at mlruns/mlflow.db; run a sweep first" in done.stderr

"""An unreachable tracking server fails fast, before any work; one that goes away mid-sweep
stops the sweep resumable, after bounded retries."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import start_mlflow_server, stop_mlflow_server
from mlflow import MlflowClient

from textsweep import server
from textsweep.errors import UserError
from textsweep.sweep.workers import free_port


def write_sweep(folder: Path, data: Path, max_trials: int = 2) -> Path:
    sweep = {
        "name": "remote",
        "dataset": {"format": "imdb", "path": str(data), "num_words": 100, "seed": 1},
        "search_space": {"hyperparameters": {
            "model": {"type": "fixed", "value": "multihot_dense"},
            "dense_units": {"type": "choice", "values": [4, 8, 16]},
        }},
        "tuner": {"algorithm": "grid", "max_trials": max_trials, "seed": 1},
        "training": {"epochs": 2, "batch_size": 16},
    }  # fmt: skip
    path = folder / "remote.yaml"
    path.write_text(yaml.safe_dump(sweep), encoding="utf-8")
    return path


def test_check_reachable_names_the_uri_of_a_server_that_does_not_answer() -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(UserError, match=rf"the MLflow tracking server at {uri} does not answer"):
        server.check_reachable(uri)
    server.check_reachable("sqlite:///nowhere/mlflow.db")  # not a server: not checked


def test_bound_retries_keeps_what_the_user_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in server.RETRY_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "9")
    server.bound_retries()
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "9"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == server.RETRY_ENV["MLFLOW_HTTP_REQUEST_TIMEOUT"]


def test_lost_recognises_mlflows_error_for_a_server_that_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(Exception) as caught:
        MlflowClient(f"http://127.0.0.1:{free_port()}").get_experiment_by_name("x")
    assert server.lost(caught.value)
    assert not server.lost(ValueError("a bad value"))


@pytest.mark.parametrize("command", ["run", "report"])
def test_an_unreachable_tracking_uri_exits_2_within_10_s(workdir: Path, tiny_imdb: Path, command: str) -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "textsweep", command, str(write_sweep(workdir, tiny_imdb)), "--tracking-uri", uri],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert time.monotonic() - started < 10
    assert f"the MLflow tracking server at {uri} does not answer" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_server_lost_mid_sweep_stops_it_resumable(workdir: Path, tiny_imdb: Path) -> None:
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    sweep = str(write_sweep(workdir, tiny_imdb, max_trials=3))
    mlflow_server = start_mlflow_server(workdir, port)
    run = subprocess.Popen([sys.executable, "-m", "textsweep", "run", sweep, "--tracking-uri", uri],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert run.stdout is not None
        for line in run.stdout:  # the first trial ended: its run is in MLflow
            if line.startswith("  -> "):
                break
        stop_mlflow_server(mlflow_server)
        lost_at = time.monotonic()
        code = run.wait(timeout=180)
        waited = time.monotonic() - lost_at
    finally:
        run.kill()
    stderr = run.stderr.read() if run.stderr else ""
    assert code == 1, stderr
    assert f"the MLflow tracking server at {uri} stopped answering" in stderr
    assert "continue with the same command and --resume" in stderr
    assert waited < 100
    mlflow_server = start_mlflow_server(workdir, port)
    try:
        again = subprocess.run([sys.executable, "-m", "textsweep", "run", sweep, "--tracking-uri", uri, "--resume"],
                               capture_output=True, text=True, timeout=300)  # fmt: skip
        assert again.returncode == 0, again.stdout + again.stderr
        client = MlflowClient(uri)
        exp = client.get_experiment_by_name("remote")
        trials = client.search_runs([exp.experiment_id], "tags.`textsweep.role` = 'trial'")
        assert sorted(r.info.status for r in trials).count("FINISHED") == 3
        assert {r.data.params["dense_units"] for r in trials if r.info.status == "FINISHED"} == {"4", "8", "16"}
    finally:
        stop_mlflow_server(mlflow_server)

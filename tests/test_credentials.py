"""A tracking URI's password is never printed, logged or stored: masked in textsweep's lines,
hints and errors, silenced in MLflow's "View run" links, masked in the sweep's artifacts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import start_mlflow_server, stop_mlflow_server

from textsweep.credentials import browser_base, mask, mask_text, masked_data
from textsweep.sweep.workers import free_port
from textsweep.tracking.views import compare_url

SECRET = "S3cretPW"


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("http://alice:S3cretPW@host:5000", "http://alice:***@host:5000"),
        ("postgresql://bob:p%40ss@db/mlflow", "postgresql://bob:***@db/mlflow"),
        ("http://alice:p@ss@host/x", "http://alice:***@host/x"),
        ("https://host/store?token=abc&x=1", "https://host/store?token=***&x=1"),
        (
            "https://h/a?X-Amz-Signature=f00&api_key=k",
            "https://h/a?X-Amz-Signature=***&api_key=***",
        ),
        ("sqlite:///mlruns/mlflow.db", "sqlite:///mlruns/mlflow.db"),
        ("http://alice@host", "http://alice@host"),
    ],
)
def test_mask_hides_passwords_and_tokens(uri: str, shown: str) -> None:
    assert mask(uri) == shown


@pytest.mark.parametrize(
    ("uri", "link"),
    [
        ("http://alice:S3cretPW@host:5000/", "http://host:5000"),
        ("http://alice:p@ss@host/x", "http://host/x"),
        ("https://host/store?token=abc", "https://host/store"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ],
)
def test_browser_links_carry_no_credentials(uri: str, link: str) -> None:
    assert browser_base(uri) == link
    assert compare_url(uri, "3").startswith(f"{link}/#/experiments/3/runs?")


def test_mask_text_and_data_mask_every_uri_inside() -> None:
    text = "run at http://a:x1@h1 failed; retry at https://b:y2@h2/api"
    assert mask_text(text) == "run at http://a:***@h1 failed; retry at https://b:***@h2/api"
    assert masked_data({"tracking": {"uri": "http://a:x1@h"}, "n": [1, "s"]}) == {
        "tracking": {"uri": "http://a:***@h"},
        "n": [1, "s"],
    }


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A real MLflow tracking server (no auth: the password is only carried in the URI)."""
    port = free_port()
    process = start_mlflow_server(tmp_path, port)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop_mlflow_server(process)


@pytest.mark.slow
def test_a_password_in_the_tracking_uri_is_never_shown(
    server: str, tmp_path: Path, tiny_imdb: Path
) -> None:
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    uri = f"http://alice:{SECRET}@{server}"
    sweep = {
        "name": "cred",
        "dataset": {"format": "imdb", "path": str(tiny_imdb), "num_words": 100, "seed": 1},
        "search_space": {"hyperparameters": {
            "model": {"type": "fixed", "value": "multihot_dense"},
            "dense_units": {"type": "choice", "values": [4, 8]}}},
        "tuner": {"algorithm": "random", "max_trials": 1, "seed": 1},
        "training": {"epochs": 1, "batch_size": 16},
        "tracking": {"uri": uri},
    }  # fmt: skip
    path = tmp_path / "cred.yaml"
    path.write_text(yaml.safe_dump(sweep), encoding="utf-8")
    env = {**os.environ, "TEXTSWEEP_HOME": str(tmp_path / "home"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", None)

    def textsweep(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "textsweep", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    done = textsweep("run", str(path))
    reported = textsweep("report", str(path), "--tracking-uri", uri, "--out", str(tmp_path / "r"))
    outputs = [done, reported, textsweep("validate", str(path))]
    assert [p.returncode for p in outputs] == [0, 0, 0], [p.stdout + p.stderr for p in outputs]
    printed = "".join(p.stdout + p.stderr for p in outputs)
    assert f"http://alice:***@{server}" in printed
    assert SECRET not in printed
    assert "View run" not in printed

    client = MlflowClient(f"http://{server}")
    runs = client.search_runs([client.get_experiment_by_name("cred").experiment_id])
    stored = download_artifacts(run_id=next(
        r.info.run_id for r in runs if r.data.tags.get("textsweep.role") == "sweep"
    ), artifact_path="sweep", dst_path=str(tmp_path / "got"), tracking_uri=f"http://{server}")  # fmt: skip
    texts = [p.read_text() for p in Path(stored).rglob("*") if p.is_file()]
    assert len(texts) == 2 and all(f"alice:***@{server}" in t for t in texts)
    assert not any(SECRET in t for t in texts)
    assert not any(SECRET in str(r.data.params) + str(r.data.tags) for r in runs)


def test_an_unreachable_server_is_a_user_error_with_the_password_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from textsweep.errors import UserError
    from textsweep.tracking import Tracker

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = f"http://alice:{SECRET}@127.0.0.1:{free_port()}"
    with pytest.raises(UserError, match=r"tracking.uri: MLflow cannot use the tracking store "
                       r"http://alice:\*\*\*@127.0.0.1") as caught:  # fmt: skip
        Tracker.open(uri, "x")
    assert SECRET not in str(caught.value)

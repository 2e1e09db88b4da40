"""Shared fixtures: a tiny IMDB-shaped dataset, and a working directory with its own stores."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

# read before any fixture (`workdir` unsets it so tiny-data tests never find the real archive)
_DATA_DIR = os.environ.get("TEXTSWEEP_DATA_DIR")
_ARCHIVE = (Path(_DATA_DIR) / "aclImdb_v1.tar.gz").resolve() if _DATA_DIR else None

POSITIVE = "great wonderful superb brilliant moving loved enjoyable masterpiece fun charming".split()
NEGATIVE = "awful boring terrible dull waste poor worst bad annoying mess".split()
NEUTRAL = "the movie film plot actor scene story director it was and a of this with".split()


def review(rng: random.Random, positive: bool, length: int = 30) -> str:
    """A short synthetic review: neutral filler with a few words that give its label away."""
    cue = POSITIVE if positive else NEGATIVE
    words = [rng.choice(NEUTRAL) for _ in range(length)]
    for i in rng.sample(range(length), 4):
        words[i] = rng.choice(cue)
    return " ".join(words).capitalize() + ".<br /><br />" + rng.choice(cue) + "!"


def write_aclimdb(root: Path, per_class: int = 30, unsup: int = 10, seed: int = 0) -> Path:
    """An aclImdb/ folder in the layout of the real archive, with `per_class` reviews per class and split."""
    rng = random.Random(seed)
    base = root / "aclImdb"
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            folder = base / split / label
            folder.mkdir(parents=True)
            for i in range(per_class):
                rating = rng.randint(7, 10) if label == "pos" else rng.randint(1, 4)
                (folder / f"{i}_{rating}.txt").write_text(review(rng, label == "pos"), encoding="utf-8")
    folder = base / "train" / "unsup"
    folder.mkdir(parents=True)
    for i in range(unsup):
        (folder / f"{i}_0.txt").write_text(review(rng, rng.random() < 0.5), encoding="utf-8")
    return base


@pytest.fixture
def tiny_imdb(tmp_path: Path) -> Path:
    """A folder holding aclImdb/ with 30 reviews per class in train and in test."""
    root = tmp_path / "data"
    write_aclimdb(root)
    return root


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with its own TEXTSWEEP_HOME, so tests never touch the repo's stores."""
    home = tmp_path / "work"
    home.mkdir()
    monkeypatch.chdir(home)
    monkeypatch.setenv("TEXTSWEEP_HOME", str(home / ".textsweep"))
    monkeypatch.delenv("TEXTSWEEP_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    return home


@pytest.fixture
def real_archive() -> Path:
    """The real aclImdb_v1.tar.gz in $TEXTSWEEP_DATA_DIR (../shared/data here); skips without it."""
    if _ARCHIVE is None or not _ARCHIVE.is_file():
        pytest.skip("set TEXTSWEEP_DATA_DIR to a folder holding aclImdb_v1.tar.gz")
    return _ARCHIVE


def run_sweep_file(folder: Path, sweep: dict[str, Any]) -> tuple[Any, Any]:
    """Write `sweep` (tracking into folder/mlruns) as YAML, run it, and return (result, parent run)."""
    import io

    import yaml
    from mlflow import MlflowClient

    from textsweep.config import load_sweep
    from textsweep.sweep import run_sweep

    path = folder / f"{sweep['name']}.yaml"
    tracking = {**sweep.get("tracking", {}), "uri": f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"}
    path.write_text(yaml.safe_dump({**sweep, "tracking": tracking}), encoding="utf-8")
    loaded = load_sweep(path)
    result = run_sweep(loaded, out=io.StringIO())
    return result, MlflowClient(loaded.tracking_uri()).get_run(result.parent_run_id)


def start_mlflow_server(folder: Path, port: int, host: str = "127.0.0.1") -> subprocess.Popen[bytes]:
    """A real `mlflow server --serve-artifacts` on host:port (sqlite store and artifacts in folder),
    returned once it answers; `stop_mlflow_server` kills its process group. Off 127.0.0.1 it is
    started as the README's recipe says, with `--allowed-hosts` naming host:port (MLflow 3 refuses
    other Host headers, 127.0.0.3 included, with 403)."""
    from textsweep import server
    from textsweep.errors import UserError

    with (folder / "mlflow-server.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{folder / 'server.db'}",
             "--serve-artifacts", "--artifacts-destination", str(folder / "artifacts"), "--host", host,
             "--port", str(port), "--workers", "1",
             *([] if host == "127.0.0.1" else ["--allowed-hosts", f"{host}:{port}"])],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        )  # fmt: skip
    deadline = time.monotonic() + 120
    while True:
        try:
            server.check_reachable(f"http://{host}:{port}", timeout=2)
            return proc
        except UserError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_mlflow_server(proc)
                raise AssertionError((folder / "mlflow-server.log").read_text()[-3000:]) from None
            time.sleep(0.5)


def stop_mlflow_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()

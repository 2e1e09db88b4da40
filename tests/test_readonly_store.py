"""A store folder that cannot be written: clear messages (exit 2) instead of tracebacks, and a
report that stands without its copy in MLflow. Real processes in a private mount namespace
where the folder is mounted read-only (what a read-only share or a full quota does)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_sweep_file

pytestmark = pytest.mark.slow


def _can_mount_read_only(tmp_path: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = tmp_path / "probe"
    probe.mkdir()
    script = (
        f"mount --bind {probe} {probe} && mount -o remount,ro,bind {probe} && ! touch {probe}/x"
    )
    done = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True)
    return done.returncode == 0


def _textsweep_read_only(folder: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`textsweep ARGS` with `folder` mounted read-only for that process alone."""
    command = " ".join([sys.executable, "-m", "textsweep", *args])
    script = (f"mount --bind {folder} {folder} && mount -o remount,ro,bind {folder} && "
              f"cd {cwd} && exec {command}")  # fmt: skip
    env = {**os.environ, "TEXTSWEEP_HOME": str(cwd / "home"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(["unshare", "--mount", "sh", "-c", script], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_a_read_only_store_is_a_clear_error_and_report_still_writes(
    tmp_path: Path, tiny_imdb: Path, workdir: Path
) -> None:
    if not _can_mount_read_only(tmp_path):
        pytest.skip("needs `unshare --mount` and bind mounts (root with CAP_SYS_ADMIN)")
    sweep = {
        "name": "ro",
        "dataset": {"format": "imdb", "path": str(tiny_imdb), "num_words": 100, "seed": 1},
        "search_space": {"hyperparameters": {
            "model": {"type": "fixed", "value": "multihot_dense"},
            "dense_units": {"type": "choice", "values": [4, 8]}}},
        "tuner": {"algorithm": "random", "max_trials": 2, "seed": 1},
        "training": {"epochs": 1, "batch_size": 16},
    }  # fmt: skip
    result, _ = run_sweep_file(tmp_path, sweep)
    assert result.completed == 2
    store = tmp_path / "mlruns"

    ran = _textsweep_read_only(store, tmp_path, "run", "ro.yaml")
    assert ran.returncode == 2, ran.stderr
    assert (
        "error: tracking.uri: cannot write to the tracking store: Read-only file system"
        in ran.stderr
    )
    assert "Traceback" not in ran.stderr

    reported = _textsweep_read_only(store, tmp_path, "report", "ro.yaml", "--out", "r")
    assert reported.returncode == 0, reported.stderr
    assert "not logged to MLflow, which refused the write" in reported.stdout
    assert (tmp_path / "r" / "report.html").is_file()

    nowhere = _textsweep_read_only(tmp_path, tmp_path, "report", "ro.yaml")
    assert nowhere.returncode == 2, nowhere.stderr
    assert "error: --out: cannot write the report files to reports/ro" in nowhere.stderr

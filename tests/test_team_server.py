"""The README's team server, for real: PostgreSQL, `mlflow server --serve-artifacts` on it, and a
Keras Tuner chief and two workers logging to it (benchmarks/team_server.sh)."""

from __future__ import annotations

import glob
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "team_server.sh"


@pytest.mark.slow
def test_a_chief_and_two_workers_fill_a_postgresql_backed_server() -> None:
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        pytest.skip("no PostgreSQL server binaries: apt-get install postgresql")
    if importlib.util.find_spec("psycopg2") is None:
        pytest.skip("no psycopg2 driver: pip install -e '.[team]'")
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHON": sys.executable})  # fmt: skip
    if done.returncode == 77:
        pytest.skip(done.stderr.strip())
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "trials: 4 of 4 finished (workers tuner0, tuner1); artifacts served: history.csv" in done.stdout
    assert "View run" not in done.stdout
    assert not glob.glob("/tmp/textsweep-team-*")  # torn down

"""The commands textsweep prints in its hints run as printed, with or without an activated venv."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = "from textsweep.runtime import textsweep_command; print(textsweep_command())"
BIN = Path(sys.executable).parent  # not resolved: a venv's python is a link into the base one


def printed_command(path: str, cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, "PATH": path},
                          cwd=cwd, capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    return done.stdout.strip()


@pytest.mark.skipif(not (BIN / "textsweep").is_file(), reason="textsweep is not installed here")
@pytest.mark.parametrize("activated", [False, True])
def test_the_hinted_command_runs_as_printed_from_a_shell(tmp_path: Path, activated: bool) -> None:
    others = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p) != BIN]
    path = os.pathsep.join([str(BIN), *others] if activated else others)
    command = printed_command(path, tmp_path)
    assert command == ("textsweep" if activated else str(BIN / "textsweep"))
    done = subprocess.run(["/bin/sh", "-c", f"{command} --version"], env={**os.environ, "PATH": path},
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0 and done.stdout.startswith("textsweep "), done.stderr

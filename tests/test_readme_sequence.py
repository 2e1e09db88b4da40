"""The README's sequence as a new user runs it: the quickstart, its report, predict, then the
notebook example, which must leave the quickstart's champion and report as they were."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def notebook_example() -> str:
    """The README's Python block under "From Python (notebooks)", as written there."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## From Python (notebooks)") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


@pytest.mark.slow
def test_the_notebook_example_leaves_the_quickstarts_champion_and_report(
    tiny_imdb: Path, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    for folder in ("sweeps", "search_spaces"):
        shutil.copytree(ROOT / folder, project / folder)
    env = {
        **os.environ,
        "TEXTSWEEP_DATA_DIR": str(tiny_imdb),
        "TEXTSWEEP_HOME": str(tmp_path / "home"),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }

    def textsweep(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "textsweep", *args], cwd=project, env=env,
                              capture_output=True, text=True, timeout=900)  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    out = textsweep("run", "sweeps/quickstart.yaml", "--epochs", "1")
    assert "registered as models:/quickstart@champion (version 1" in out
    textsweep("report", "sweeps/quickstart.yaml")
    report = project / "reports" / "quickstart" / "report.html"
    before = hashlib.sha256(report.read_bytes()).hexdigest()
    labels = textsweep("predict", "sweeps/quickstart.yaml", "a wonderful, moving film")
    assert labels.split("\t")[0] in ("pos", "neg")

    done = subprocess.run([sys.executable, "-c", notebook_example()], cwd=project, env=env,
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "registered as models:/quickstart-try@champion" in done.stdout

    from textsweep.tracking import Tracker

    registry = Tracker.registry(f"sqlite:///{project / 'mlruns' / 'mlflow.db'}")
    champion = registry.reader.version_by_alias("quickstart", "champion")
    assert champion is not None and champion.version == "1"
    assert hashlib.sha256(report.read_bytes()).hexdigest() == before
    assert (project / "reports" / "quickstart-try" / "report.html").is_file()

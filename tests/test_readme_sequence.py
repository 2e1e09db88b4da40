"""The README's sequence as a new user runs it: the quickstart, its report, the UI, predict,
serve, then the notebook example, which must leave the quickstart's champion and report as they
were."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from textsweep.sweep.workers import free_port

ROOT = Path(__file__).resolve().parents[1]


def first_line_then_stop(cmd: list[str], cwd: Path, env: dict[str, str], check: str) -> str:
    """Start `cmd` (a server), read the line it prints when it answers, GET (or, for
    /invocations, POST a text to) `check` there, then SIGTERM it: it must exit 0 on its own.
    The first line and the answer."""
    log = cwd / "server.log"
    with log.open("w") as errors:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=errors,
                                text=True, start_new_session=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url is not None, line + log.read_text()[-3000:]
        request = urllib.request.Request(url.group(0) + check)
        if check == "/invocations":
            body = json.dumps({"dataframe_split": {"columns": ["text"], "data": [["a fine film"]]}})
            request = urllib.request.Request(url.group(0) + check, body.encode(),
                                             {"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=60) as r:
            answer = r.read().decode()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
        return line + answer
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


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
    ui = first_line_then_stop([sys.executable, "-m", "textsweep", "ui", "--port", str(free_port())],
                              project, env, "/health")
    assert ui.startswith("MLflow UI on http://127.0.0.1:"), ui
    labels = textsweep("predict", "sweeps/quickstart.yaml", "a wonderful, moving film")
    assert labels.split("\t")[0] in ("pos", "neg")
    served = first_line_then_stop(
        [sys.executable, "-m", "textsweep", "serve", "sweeps/quickstart.yaml", "--port",
         str(free_port())], project, env, "/invocations")
    assert served.startswith("serving quickstart version 1 (") and '"predictions"' in served, served

    done = subprocess.run([sys.executable, "-c", notebook_example()], cwd=project, env=env,
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "registered as models:/quickstart-try@champion" in done.stdout

    from textsweep.tracking import Tracker

    registry = Tracker.registry(f"sqlite:///{project / 'mlruns' / 'mlflow.db'}")
    champion = registry.reader.version_by_alias("quickstart", "champion")
    assert champion is not None and champion.version == "1"
    assert hashlib.sha256(report.read_bytes()).hexdigest() == before
    assert textsweep("predict", "sweeps/quickstart.yaml", "a wonderful, moving film") == labels
    assert (project / "reports" / "quickstart-try" / "report.html").is_file()

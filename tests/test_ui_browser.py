"""MLflow's UI in a real browser: headless Chromium, driven over the DevTools protocol, opens the
comparison view `textsweep` prints for a raced sweep and finds the trial runs grouped by their
value with the mean, and the best trial's logged model on its page."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run_sweep_file
from mlflow import MlflowClient
from test_ui import UI, free_port

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
websocket = pytest.importorskip("websocket", reason="websocket-client is not installed (dev extra)")


class Page:
    """One browser tab, spoken to over the DevTools protocol's websocket."""

    def __init__(self, ws_url: str):
        self.ws = websocket.create_connection(ws_url, timeout=30)
        self.next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return dict(message.get("result", {}))

    def text(self) -> str:
        result = self.call("Runtime.evaluate", expression="document.body.innerText", returnByValue=True)
        return str(result["result"].get("value", ""))


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Page]:
    if CHROMIUM is None:
        pytest.skip("no Chromium: install Debian's `chromium` (apt-get install chromium)")
    port = free_port()
    profile = tempfile.mkdtemp(prefix="textsweep-chromium-")
    proc = subprocess.Popen(
        [CHROMIUM, "--headless=new", f"--remote-debugging-port={port}", f"--user-data-dir={profile}",
         "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-quic", "--disable-background-networking", "--disable-component-update",
         "--disable-sync",
         "--window-size=1600,1000", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                    pages = [t for t in json.load(r) if t["type"] == "page"]
                if pages:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "Chromium did not start"
            time.sleep(0.3)
        page = Page(pages[0]["webSocketDebuggerUrl"])
        yield page
        page.ws.close()
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def test_a_raced_sweep_s_view_groups_its_runs_by_value_and_the_model_is_logged(
    workdir: Path, tiny_imdb: Path, chromium: Page
) -> None:
    space = {"hyperparameters": {"model": {"type": "fixed", "value": "multihot_dense"},
                                 "dense_units": {"type": "choice", "values": [4, 8]}}}  # fmt: skip
    result, _ = run_sweep_file(workdir, {
        "name": "browser", "question": "Which units?",
        "dataset": {"format": "imdb", "path": str(tiny_imdb), "num_words": 100, "seed": 1},
        "search_space": space,
        "tuner": {"algorithm": "grid", "seed": 1, "repeats": {"min": 2, "max": 2}},
        "training": {"epochs": 1, "batch_size": 16},
    })  # fmt: skip
    # the best trial's model is an MLflow 3 logged model of its run, and still its run artifact
    client = MlflowClient(result.tracking_uri)
    models = client.search_logged_models(experiment_ids=[result.experiment_id])
    assert [m.source_run_id for m in models] == [result.best_run_id]
    best_trial = client.get_run(result.best_run_id).data.tags["textsweep.trial_id"]
    assert models[0].name == f"model-t{best_trial}" and str(models[0].status) == "READY"
    assert "MLmodel" in {Path(f.path).name for f in client.list_artifacts(result.best_run_id, "model")}
    ui = UI(free_port(), "--tracking-uri", result.tracking_uri)
    where = Path(os.environ.get("TEXTSWEEP_SCREENSHOT", workdir / "mlflow-ui.png"))
    try:
        ui.wait_for_url()
        assert ui.proc.stdout is not None
        line = ui.proc.stdout.readline()
        assert line.startswith("  compare the trials of 'browser': http://127.0.0.1:"), line
        url = line.split(": ", 1)[1].strip()
        chromium.call("Page.enable")
        chromium.call("Page.navigate", url=url)
        # four trial runs, two executions of each value, grouped by the value with the mean
        names = ["t0 units=4 #1", "t1 units=8 #1", "t2 units=4 #2", "t3 units=8 #2"]
        text = wait_for_text(chromium, [*names, "Group: 4", "Group: 8", "(average)"])
        shoot(chromium, where)
        for expected in [*names, "Group: 4", "Group: 8", "Group by: dense_units", "(average)"]:
            assert expected in text, f"{expected!r} not on the page (screenshot {where}):\n{text[:3000]}"
        # MLflow's model-training mode, the hyperparameter before the metrics
        assert "Training runs" in text or "Runs" in text.splitlines()
        header = [line.strip() for line in text.splitlines()]
        assert header.index("dense_units") < header.index("best_val_accuracy"), text[:3000]
        # the best trial's page lists its logged model and says "Runs", not "Evaluations"
        best = client.get_run(result.best_run_id)
        page = f"{url.split('/#/')[0]}/#/experiments/{result.experiment_id}/runs/{best.info.run_id}"
        chromium.call("Emulation.setDeviceMetricsOverride", width=1600, height=2400,
                      deviceScaleFactor=1, mobile=False)  # fmt: skip
        chromium.call("Page.navigate", url=f"{page}?workflowType=machine_learning")
        model = models[0].name
        text = wait_for_text(chromium, [best.info.run_name, "Logged models (1)", model, "Ready"])
        shoot(chromium, where.with_name(where.stem + "-trial.png"))
        for expected in ("Logged models (1)", model, "Ready"):
            assert expected in text, f"{expected!r} not on the trial's page:\n{text[:3000]}"
        assert "Evaluations" not in text, text[:3000]
    finally:
        ui.proc.send_signal(15)
        ui.proc.wait(timeout=30)


def wait_for_text(page: Page, expected: list[str], seconds: float = 120) -> str:
    deadline = time.monotonic() + seconds
    text = ""
    while time.monotonic() < deadline:
        text = page.text()
        if all(e in text for e in expected):
            break
        time.sleep(1)
    return text


def shoot(page: Page, where: Path) -> None:
    shot = page.call("Page.captureScreenshot", format="png")
    where.write_bytes(base64.b64decode(shot["data"]))

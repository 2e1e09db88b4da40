"""MLflow's UI in a real browser: headless Chromium, driven over the DevTools protocol, opens the
comparison view `textsweep` prints and finds the trial runs and their values in the runs table."""

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


def test_the_comparison_view_shows_every_trial_and_its_values(workdir: Path, tiny_imdb: Path, chromium: Page) -> None:
    space = {"hyperparameters": {"model": {"type": "fixed", "value": "multihot_dense"},
                                 "dense_units": {"type": "choice", "values": [4, 8]},
                                 "learning_rate": {"type": "choice", "values": [0.001, 0.003]}}}  # fmt: skip
    result, _ = run_sweep_file(workdir, {
        "name": "browser", "question": "Which units?",
        "dataset": {"format": "imdb", "path": str(tiny_imdb), "num_words": 100, "seed": 1},
        "search_space": space, "tuner": {"algorithm": "grid", "seed": 1},
        "training": {"epochs": 1, "batch_size": 16},
    })  # fmt: skip
    ui = UI(free_port(), "--tracking-uri", result.tracking_uri)
    try:
        ui.wait_for_url()
        assert ui.proc.stdout is not None
        line = ui.proc.stdout.readline()
        assert line.startswith("  compare the trials of 'browser': http://127.0.0.1:"), line
        url = line.split(": ", 1)[1].strip()
        chromium.call("Page.enable")
        chromium.call("Page.navigate", url=url)
        names = [f"t{i:02d} dense_units={u} learning_rate={lr}" for i, (u, lr) in
                 enumerate([(4, 0.001), (4, 0.003), (8, 0.001), (8, 0.003)])]  # fmt: skip
        deadline = time.monotonic() + 90
        text = ""
        while time.monotonic() < deadline:
            text = chromium.text()
            if all(name in text for name in names) and "best_val_accuracy" in text:
                break
            time.sleep(1)
        shot = chromium.call("Page.captureScreenshot", format="png")
        where = Path(os.environ.get("TEXTSWEEP_SCREENSHOT", workdir / "mlflow-ui.png"))
        where.write_bytes(base64.b64decode(shot["data"]))
        for name in names:
            assert name in text, f"{name!r} not on the page (screenshot {where}):\n{text[:3000]}"
        # the parameter columns show each trial's values
        lines = [line.strip() for line in text.splitlines()]
        assert {"dense_units", "learning_rate", "best_val_accuracy", "test_accuracy"} <= set(lines), text[:3000]
        assert {"4", "8", "0.001", "0.003"} <= set(lines), text[:3000]
        # the same view's charts, for a person to look at (TEXTSWEEP_SCREENSHOT names the file)
        chromium.call("Page.navigate", url=url + "&compareRunsMode=CHART")
        time.sleep(8)
        shot = chromium.call("Page.captureScreenshot", format="png")
        where.with_name(where.stem + "-charts.png").write_bytes(base64.b64decode(shot["data"]))
    finally:
        ui.proc.send_signal(15)
        ui.proc.wait(timeout=30)

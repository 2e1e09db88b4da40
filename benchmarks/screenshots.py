"""Screenshots of what a person sees: MLflow's comparison view, its charts, a trial's page, the
Compare page and report.html, in headless Chromium (Debian's `chromium`).

    python benchmarks/screenshots.py --out /tmp/views/shots          # a tiny raced sweep, made here
    python benchmarks/screenshots.py --out DIR --sweep sweeps/x.yaml --tracking-uri URI  # one already run

Without `--sweep`, a raced grid (`tuner.repeats`) over a Dense layer's width runs on a small
aclImdb-shaped folder made here (a minute or two on 2 CPU cores), and its report is written.
`textsweep ui` then serves the store on 127.0.0.1, and Chromium (a fresh profile, no network
beyond 127.0.0.1) opens the link `textsweep ui` prints. Writes PNG files to `--out`; they are
for looking at, not for committing.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from textsweep.sweep.workers import free_port

HERE = Path(__file__).resolve().parent
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage", "--window-size=1600,1000"]  # fmt: skip


class Browser:
    """Headless Chromium and its first tab, spoken to over the DevTools protocol's websocket."""

    def __init__(self) -> None:
        import websocket  # websocket-client (the dev extra)

        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            raise SystemExit("no Chromium: apt-get install chromium")
        port = free_port()
        self.profile = tempfile.mkdtemp(prefix="textsweep-chromium-")
        self.proc = subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, f"--remote-debugging-port={port}",
             f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                    pages = [t for t in json.load(r) if t["type"] == "page"]
                if pages:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("Chromium did not start")
            time.sleep(0.3)
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=60)
        self.next_id = 0
        self.call("Page.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def text(self) -> str:
        return str(self.evaluate("document.body ? document.body.innerText : ''") or "")

    def open(self, url: str, wait_for: str = "", seconds: float = 60, settle: float = 3) -> str:
        """Navigate, wait until `wait_for` is in the page's text, then `settle` seconds more."""
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + seconds
        text = ""
        while time.monotonic() < deadline:
            text = self.text()
            if wait_for in text and text.strip():
                break
            time.sleep(0.5)
        time.sleep(settle)
        return self.text()

    def tall(self, height: int) -> None:
        self.call("Emulation.setDeviceMetricsOverride", width=1600, height=height,
                  deviceScaleFactor=1, mobile=False)  # fmt: skip

    def shot(self, path: Path, full_page: bool = False) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            height = int(self.evaluate("document.documentElement.scrollHeight") or 1000)
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": 1600, "height": height, "scale": 1})  # fmt: skip
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", **params)["data"]))
        print(f"  {path}  ({path.stat().st_size // 1024} KB)")
        return path

    def close(self) -> None:
        self.ws.close()
        os.killpg(self.proc.pid, 9)
        self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def tiny_raced_sweep(work: Path) -> tuple[Path, str]:
    """A raced grid over `dense_units` on a small aclImdb-shaped folder; (sweep file, store)."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    from conftest import write_aclimdb  # the tests' tiny aclImdb-shaped folder

    data = work / "data"
    if not data.exists():
        write_aclimdb(data, per_class=60)
    uri = f"sqlite:///{work / 'mlruns' / 'mlflow.db'}"
    sweep = {
        "name": "units", "question": "How many units does the Dense layer need?",
        "dataset": {"format": "imdb", "path": str(data), "num_words": 200, "seed": 1},
        "search_space": {"hyperparameters": {
            "model": {"type": "fixed", "value": "multihot_dense"},
            "dense_units": {"type": "choice", "values": [4, 16, 64]}}},
        "tuner": {"algorithm": "grid", "seed": 1, "repeats": {"min": 2, "max": 3, "margin": 0.05}},
        "training": {"epochs": 3, "batch_size": 16},
        "tracking": {"uri": uri, "experiment": "units"},
    }  # fmt: skip
    path = work / "units.yaml"
    path.write_text(yaml.safe_dump(sweep), encoding="utf-8")
    return path, uri


def textsweep(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "textsweep", *args], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/views/shots"))
    parser.add_argument("--work", type=Path, help="where the tiny sweep goes (default: a temp dir)")
    parser.add_argument("--sweep", type=Path, help="a sweep file already run (and reported)")
    parser.add_argument("--tracking-uri", help="with --sweep: its store")
    parser.add_argument("--report", type=Path, help="with --sweep: its report.html")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.sweep is None:
        work = args.work or Path(tempfile.mkdtemp(prefix="textsweep-shots-"))
        work.mkdir(parents=True, exist_ok=True)
        sweep, uri = tiny_raced_sweep(work)
        if not (work / "mlruns").exists():
            textsweep("run", str(sweep))
            textsweep("report", str(sweep), "--out", str(work / "report"))
        report = work / "report" / "report.html"
    else:
        sweep, uri = args.sweep, args.tracking_uri or "sqlite:///mlruns/mlflow.db"
        name = yaml.safe_load(sweep.read_text(encoding="utf-8"))["name"]
        report = args.report or Path("reports") / name / "report.html"
    shoot(uri, report.resolve(), args.out)
    return 0


def shoot(uri: str, report: Path, out: Path) -> None:
    from mlflow import MlflowClient

    from textsweep.tracking import views

    port = free_port()
    ui = subprocess.Popen([sys.executable, "-m", "textsweep", "ui", "--port", str(port),
                           "--tracking-uri", uri], stdout=subprocess.PIPE, text=True,
                          start_new_session=True)  # fmt: skip
    browser = Browser()
    try:
        assert ui.stdout is not None
        ui.stdout.readline()  # MLflow UI on ...
        link = ui.stdout.readline().split(": ", 1)[1].strip()  # compare the trials of ...
        print(f"comparison view: {link}")
        browser.open(link, "best_val_accuracy", settle=6)
        browser.shot(out / "view-table.png")
        browser.tall(2400)  # the whole chart view and a trial's page, past their scrolling
        browser.open(link + "&compareRunsMode=CHART", "Showing all runs", seconds=120, settle=20)
        browser.shot(out / "view-charts.png")
        client = MlflowClient(uri)
        experiment = link.split("/experiments/")[1].split("/")[0]
        trials = client.search_runs([experiment], "tags.`textsweep.role` = 'trial'")
        with_model = [r for r in trials if r.data.tags.get("textsweep.model")] or trials
        base = link.split("/#/")[0]
        run = with_model[0]
        page = f"{base}/#/experiments/{experiment}/runs/{run.info.run_id}"
        browser.open(f"{page}?{views.MODEL_TRAINING_MODE}", "Logged models (1)", seconds=120)
        browser.shot(out / "trial-page.png")
        browser.open(f"{page}/artifacts?{views.MODEL_TRAINING_MODE}", "MLmodel", settle=3)
        browser.shot(out / "trial-artifacts.png")
        browser.open(f"{base}/#/experiments/{experiment}/models?{views.MODEL_TRAINING_MODE}",
                     "model", settle=5)  # fmt: skip
        browser.shot(out / "models-tab.png")
        ids = json.dumps([r.info.run_id for r in trials[:8]])
        browser.open(f"{base}/#/compare-runs?runs={ids}&experiments=[\"{experiment}\"]"
                     f"&{views.MODEL_TRAINING_MODE}", "Parameters", settle=6)  # fmt: skip
        browser.shot(out / "compare-page.png")
        if report.is_file():
            browser.open(report.as_uri(), "", settle=2)
            browser.shot(out / "report.png", full_page=True)
        else:
            print(f"no report at {report}")
    finally:
        browser.close()
        ui.send_signal(15)
        ui.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())

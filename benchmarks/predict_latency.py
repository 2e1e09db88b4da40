"""How long `textsweep predict` takes for a few texts, and how fast `textsweep serve` answers.

    python benchmarks/predict_latency.py --sweep sweeps/quickstart.yaml \
        --tracking-uri sqlite:////tmp/predict/mlflow.db --reps 5 --requests 50

Needs a sweep that has been run (its champion registered). Measures, each `--reps` times as a
fresh process (wall time and the CPU time of the process, with the 1-minute load average):
- `predict` cold: `$TEXTSWEEP_HOME/models` removed first, so the model is downloaded;
- `predict` warm: the model folder cached by an earlier predict;
- `pyfunc` (for comparison, what `predict` did before): `mlflow.pyfunc.load_model` with
  TensorFlow from the same cached folder;
then starts `textsweep serve SWEEP --port P` (MLflow's scoring server) on 127.0.0.1 and sends
`--requests` POSTs of 1 text and as many of 100 texts to /invocations, one at a time: p50/p95.
Writes the figures as JSON (`--out`, default benchmarks/PREDICT.json) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from textsweep.sweep.workers import free_port

TEXTS = ["a wonderful, moving film", "dull and far too long"]
WORDS = ("a wonderful moving film dull far too long great acting the plot was boring and the "
         "ending superb I loved every minute waste of time brilliant awful").split()  # fmt: skip

PYFUNC = """
import sys
from textsweep.export.locate import model_files
from textsweep.export.registry import predict
from textsweep.runtime import configure_tensorflow
import mlflow.pyfunc
configure_tensorflow()
model = mlflow.pyfunc.load_model(str(model_files(sys.argv[1], sys.argv[2])))
for row in predict(model, sys.argv[3:]):
    print(f"{row.label}\\t{row.probability:.3f}\\t{row.text}")
"""


def timed(cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run `cmd` to the end: wall seconds, CPU seconds (user + system), load, output."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "load1": load, "stdout": done.stdout}


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "median_wall_s": statistics.median(r["wall_s"] for r in runs),
        "median_cpu_s": statistics.median(r["cpu_s"] for r in runs),
        "walls_s": [round(r["wall_s"], 2) for r in runs],
        "cpus_s": [round(r["cpu_s"], 2) for r in runs],
        "load1": [round(r["load1"], 1) for r in runs],
    }


def post(url: str, texts: list[str]) -> tuple[float, Any]:
    body = json.dumps({"dataframe_split": {"columns": ["text"], "data": [[t] for t in texts]}})
    request = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
    return time.perf_counter() - start, answer


def percentiles(seconds: list[float]) -> dict[str, float]:
    q = statistics.quantiles(seconds, n=100, method="inclusive")
    return {"p50_ms": 1000 * q[49], "p95_ms": 1000 * q[94], "n": len(seconds)}


def served(base: list[str], env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """Start `textsweep serve` (as the README prints it), time requests, stop it."""
    port = free_port()
    cmd = [*base, "serve", args.sweep, "--port", str(port)]
    if args.tracking_uri:
        cmd += ["--tracking-uri", args.tracking_uri]
    start = time.perf_counter()
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}/invocations"
    try:
        assert server.stdout is not None
        line = "?"
        while line and not line.startswith("serving"):  # "serving ... on URL": it answers
            line = server.stdout.readline()
        if not line:
            raise SystemExit("textsweep serve did not start")
        started = time.perf_counter() - start
        rng_texts = [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(5 + i % 30))
                     for i in range(100)]  # fmt: skip
        post(url, TEXTS[:1])  # the first request builds Keras's predict function
        post(url, rng_texts)
        one = [post(url, TEXTS[:1])[0] for _ in range(args.requests)]
        hundred = [post(url, rng_texts)[0] for _ in range(args.requests)]
        _, answer = post(url, TEXTS)
    finally:
        server.send_signal(signal.SIGTERM)  # textsweep serve ends the server's process group
        server.wait(timeout=60)
    return {"start_s": started, "1_text": percentiles(one), "100_texts": percentiles(hundred),
            "answer": answer}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", default="sweeps/quickstart.yaml")
    parser.add_argument("--tracking-uri")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/PREDICT.json"))
    parser.add_argument("--no-serve", action="store_true")
    args = parser.parse_args()

    env = dict(os.environ)
    home = Path(env.setdefault("TEXTSWEEP_HOME", ".textsweep"))
    base = [sys.executable, "-m", "textsweep"]
    uri = ["--tracking-uri", args.tracking_uri] if args.tracking_uri else []
    predict = [*base, "predict", args.sweep, *TEXTS, *uri]
    results: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "command": " ".join(predict),
    }
    cold = []
    for _ in range(args.reps):
        shutil.rmtree(home / "models", ignore_errors=True)
        cold.append(timed(predict, env))
    warm = [timed(predict, env) for _ in range(args.reps)]
    pyfunc_cmd = [sys.executable, "-c", PYFUNC, args.sweep, args.tracking_uri or "", *TEXTS]
    pyfunc = [timed(pyfunc_cmd, env) for _ in range(args.reps)]
    results["predict_cold"], results["predict_warm"] = summary(cold), summary(warm)
    results["pyfunc_warm"] = summary(pyfunc)
    results["predict_output"] = warm[-1]["stdout"].splitlines()
    results["pyfunc_output"] = pyfunc[-1]["stdout"].splitlines()
    if not args.no_serve:
        results["serve"] = served(base, env, args)
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")

    print(f"{'what':<34} {'median wall':>11} {'median CPU':>10}  walls (s)")
    for key, what in (("predict_cold", "predict, cold cache (download)"),
                      ("predict_warm", "predict, warm cache"),
                      ("pyfunc_warm", "mlflow.pyfunc + TensorFlow (before)")):  # fmt: skip
        r = results[key]
        print(f"{what:<34} {r['median_wall_s']:>10.2f}s {r['median_cpu_s']:>9.2f}s  "
              f"{r['walls_s']} load {r['load1']}")  # fmt: skip
    if "serve" in results:
        s = results["serve"]
        print(f"serve: started in {s['start_s']:.1f}s; 1 text p50 {s['1_text']['p50_ms']:.1f} ms "
              f"p95 {s['1_text']['p95_ms']:.1f} ms; 100 texts p50 {s['100_texts']['p50_ms']:.1f} "
              f"ms p95 {s['100_texts']['p95_ms']:.1f} ms ({args.requests} requests each)")  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Wall time of one grid sweep with 1 worker against 2 (`textsweep run --workers N`).

    python benchmarks/workers.py                      # 8 values of dense_units, 3 epochs, 1 round
    python benchmarks/workers.py --rounds 2 --epochs 5 --reviews 200

Each round runs the same 8-combination grid of `dense_units` on synthetic aclImdb-shaped data,
once with `--workers 1` and once with `--workers 2`, each in a fresh temporary folder with its
own sqlite store, and prints the wall times, their ratio (2 workers / 1 worker; 0.5 would be a
perfect split), how many trials each worker ran, and the load average before and after: on a
machine shared with other work the ratio is noisy, so read it with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

UNITS = [4, 8, 16, 32, 64, 128, 256, 512]


def write_data(root: Path, reviews: int) -> None:
    rng = random.Random(0)
    cues = {"pos": "great superb loved moving fun".split(),
            "neg": "awful dull boring poor mess".split()}  # fmt: skip
    filler = "the movie film plot actor scene story it was and a of".split()
    for split in ("train", "test"):
        for label, words in cues.items():
            folder = root / "aclImdb" / split / label
            folder.mkdir(parents=True)
            for i in range(reviews):
                text = [rng.choice(filler) for _ in range(60)] + rng.sample(words, 3)
                rng.shuffle(text)
                (folder / f"{i}_{8 if label == 'pos' else 2}.txt").write_text(" ".join(text))


def write_sweep(folder: Path, data: Path, epochs: int) -> Path:
    sweep = {
        "name": "workers-bench",
        "dataset": {"format": "imdb", "path": str(data), "num_words": 500, "seed": 1},
        "search_space": {"hyperparameters": {
            "model": {"type": "fixed", "value": "multihot_dense"},
            "dense_units": {"type": "choice", "values": UNITS}}},
        "tuner": {"algorithm": "grid", "max_trials": 10, "seed": 1},
        "training": {"epochs": epochs, "batch_size": 16},
        "tracking": {"log_models": "none"},
    }  # fmt: skip
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(sweep), encoding="utf-8")
    return path


def one_run(workers: int, epochs: int, reviews: int) -> dict[str, object]:
    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory(prefix="textsweep-workers-") as tmp:
        root = Path(tmp)
        write_data(root / "data", reviews)
        sweep = write_sweep(root, root / "data", epochs)
        uri = f"sqlite:///{root / 'mlflow.db'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("KERASTUNER_")}
        env |= {"TEXTSWEEP_HOME": str(root / "home"), "TF_CPP_MIN_LOG_LEVEL": "3"}
        cmd = [sys.executable, "-m", "textsweep", "run", str(sweep), "--workers", str(workers),
               "--tracking-uri", uri]  # fmt: skip
        load = os.getloadavg()[0]
        started = time.monotonic()
        done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=3600)
        seconds = time.monotonic() - started
        if done.returncode != 0:
            sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
            raise SystemExit(f"--workers {workers} failed with exit code {done.returncode}")
        client = MlflowClient(tracking_uri=uri)
        exp = client.get_experiment_by_name("workers-bench")
        assert exp is not None
        runs = client.search_runs([exp.experiment_id], "tags.`textsweep.role` = 'trial'")
        per_worker = Counter(
            r.data.tags.get("textsweep.worker", "?") for r in runs if r.info.status == "FINISHED"
        )
        return {"workers": workers, "seconds": round(seconds, 1), "trials": dict(per_worker),
                "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--reviews", type=int, default=100, help="per class and split")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    rows = []
    for round_ in range(args.rounds):
        pair = [one_run(n, args.epochs, args.reviews) for n in (1, 2)]
        ratio = float(pair[1]["seconds"]) / float(pair[0]["seconds"])  # type: ignore[arg-type]
        rows.append({"round": round_ + 1, "runs": pair, "ratio": round(ratio, 2)})
        print(f"round {round_ + 1}: 1 worker {pair[0]['seconds']}s {pair[0]['trials']}, "
              f"2 workers {pair[1]['seconds']}s {pair[1]['trials']}: ratio {ratio:.2f} "
              f"(load {pair[0]['load_before']} -> {pair[1]['load_after']}, "
              f"{os.cpu_count()} cores)", flush=True)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

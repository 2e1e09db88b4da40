"""Resident memory across the trials of one sweep: does it grow from trial to trial?

    .venv/bin/python benchmarks/memory_growth.py                 # 24 trials on synthetic reviews
    .venv/bin/python benchmarks/memory_growth.py --trials 40 --per-class 400
    .venv/bin/python benchmarks/memory_growth.py --baseline   # and a bare Keras loop after it

Runs one sweep in this process (random search over multi-hot Dense and pooled-embedding models
of varying sizes, so builds differ from trial to trial) on an aclImdb-shaped folder of synthetic
reviews in a temporary directory, with its own TEXTSWEEP_HOME and SQLite store. RSS is read
from /proc at the end of every trial. Prints the series, the growth from the first trial after
warm-up to the last, and the least-squares slope per trial over the same range.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import tempfile
from pathlib import Path

WORDS = ("the movie film plot actor scene story director it was and a of this with "
         "great wonderful superb loved fun awful boring terrible dull waste").split()  # fmt: skip


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def write_reviews(root: Path, per_class: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    for split in ("train", "test"):
        for label, cue in (("pos", WORDS[15:20]), ("neg", WORDS[20:])):
            folder = root / "aclImdb" / split / label
            folder.mkdir(parents=True)
            for i in range(per_class):
                words = [rng.choice(WORDS[:15]) for _ in range(rng.randint(40, 160))]
                words += rng.sample(cue, 3)
                rng.shuffle(words)
                (folder / f"{i}_{8 if label == 'pos' else 2}.txt").write_text(" ".join(words))


class TrialEnds(io.TextIOBase):
    """A progress stream that samples RSS whenever a trial ends (`  -> ...` lines)."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    def write(self, text: str) -> int:
        if text.lstrip().startswith("->"):
            self.samples.append(rss_mib())
        return len(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=4, help="trials left out of the growth")
    parser.add_argument(
        "--baseline", action="store_true", help="then the same number of models in a bare loop"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="textsweep-memory-") as tmp:
        root = Path(tmp)
        write_reviews(root / "data", args.per_class)
        os.environ["TEXTSWEEP_HOME"] = str(root / "home")
        from textsweep.config import sweep_from_mapping
        from textsweep.sweep import run_sweep

        sweep = sweep_from_mapping(
            {
                "name": "memory-growth",
                "dataset": {"format": "imdb", "path": str(root / "data"), "num_words": 2000},
                "search_space": {
                    "hyperparameters": {
                        "model": {"type": "choice", "values": ["multihot_dense", "embedding_pool"]},
                        "maxlen": {
                            "type": "choice",
                            "values": [64, 128],
                            "when": {"model": "embedding_pool"},
                        },
                        "embedding_dim": {
                            "type": "choice",
                            "values": [16, 32],
                            "when": {"model": "embedding_pool"},
                        },
                        "dense_units": {"type": "choice", "values": [8, 16, 32, 64]},
                        "dense_layers": {"type": "int", "min": 1, "max": 2},
                        "learning_rate": {
                            "type": "float",
                            "min": 1e-4,
                            "max": 1e-2,
                            "sampling": "log",
                        },
                    }
                },  # fmt: skip
                "tuner": {"algorithm": "random", "max_trials": args.trials, "seed": 3},
                "training": {"epochs": 2, "batch_size": 32},
            },
            None,
        )
        stream = TrialEnds()
        run_sweep(sweep, tracking_uri=f"sqlite:///{root / 'mlflow.db'}", out=stream)

    import gc

    import keras

    gc.collect()
    alive = sum(isinstance(o, keras.Model) for o in gc.get_objects())
    report("textsweep", stream.samples, args.warmup)
    print(f"Keras models still alive after the sweep: {alive}")
    if args.baseline:
        report("plain Keras loop", plain_keras(args.trials), args.warmup)


def plain_keras(models: int) -> list[float]:
    """The same number of small models built and fitted in a bare loop with clear_session."""
    import gc

    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    x = (rng.random((320, 2000)) > 0.98).astype("float32")
    y = rng.integers(0, 2, 320)
    samples = []
    for i in range(models):
        keras.backend.clear_session()
        gc.collect()
        inputs = keras.Input((2000,))
        h = inputs
        for _ in range(1 + i % 2):
            h = keras.layers.Dense([8, 16, 32, 64][i % 4], activation="relu")(h)
        model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(h))
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        model.fit(x, y, batch_size=32, epochs=2, validation_data=(x[:64], y[:64]), verbose=0)
        model.evaluate(x, y, verbose=0)
        samples.append(rss_mib())
    return samples


def report(label: str, series: list[float], warmup: int) -> None:
    print(f"{label}: RSS (MiB) after each trial:", " ".join(f"{s:.0f}" for s in series))
    tail = series[warmup:]
    if len(tail) < 2:
        print("too few trials after warm-up to measure growth")
        return
    n = len(tail)
    mean_x, mean_y = (n - 1) / 2, sum(tail) / n
    slope = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(tail)) / sum(
        (i - mean_x) ** 2 for i in range(n)
    )
    print(
        f"{label}: trials {warmup + 1}..{len(series)}: {tail[0]:.1f} -> {tail[-1]:.1f} MiB "
        f"({tail[-1] - tail[0]:+.1f} MiB over {n - 1} trials); "
        f"least-squares slope {slope:+.2f} MiB per trial; peak {max(series):.1f} MiB"
    )


if __name__ == "__main__":
    main()

"""Bigram bags in memory and time: a textsweep n-gram trial next to the plain Keras bigram script.

    flock /tmp/textsweep-heavy.lock python benchmarks/ngrams.py --data-dir /work/shared/data

Arms, each in a fresh interpreter whose peak RSS is read from `os.wait4` (the child's own
`getrusage`, not the sum of all children):

- `textsweep`: a one-trial sweep through `textsweep.sweep.run_sweep` (Keras Tuner + MLflow on
  SQLite): `multihot_dense`, `ngrams: 2`, `bag_mode: multi_hot`, Dense(16, relu), Dropout(0.5),
  sigmoid, over `num_words` bigram tokens (50,000 by default, the issue's memory target).
- `keras`: the plain Keras script of issue 12: `TextVectorization(ngrams=2, output_mode="multi_hot",
  max_tokens=20000)` mapped over a `tf.data` pipeline and `.cache()`d (dense rows), then the same
  Dense(16) -> Dropout(0.5) -> sigmoid, on the same train/validation split.

Seconds per epoch are the fit's wall time over its epochs (the first epoch of `keras` includes
vectorizing and filling its cache; `textsweep` builds its bags before fitting, reported apart).
Results go to NGRAMS.md (and .json beside it).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULT_PREFIX = "NGRAMS-RESULT "
HERE = Path(__file__).resolve().parent


def dataset(spec: dict[str, Any]) -> dict[str, Any]:
    out = {"format": "imdb", "path": spec["data_dir"], "num_words": spec["num_words"], "seed": 1}
    if spec.get("limit"):
        out["limit"] = spec["limit"]
    return out


def arm_textsweep(spec: dict[str, Any]) -> dict[str, Any]:
    import yaml
    from mlflow import MlflowClient

    from textsweep.config import load_sweep
    from textsweep.sweep import run_sweep

    work = Path(spec["work"])
    sweep = {
        "name": f"ngrams-bench-{spec['num_words']}",
        "dataset": dataset(spec),
        "search_space": {"hyperparameters": {
            "model": {"type": "fixed", "value": "multihot_dense"},
            "ngrams": {"type": "fixed", "value": 2},
            "bag_mode": {"type": "fixed", "value": "multi_hot"},
            "dense_layers": {"type": "fixed", "value": 1},
            "dense_units": {"type": "fixed", "value": 16},
            "dropout": {"type": "fixed", "value": 0.5},
            "optimizer": {"type": "fixed", "value": "rmsprop"},
        }},
        "tuner": {"algorithm": "grid", "seed": 1},
        "training": {"epochs": spec["epochs"], "batch_size": 32},
        "tracking": {"uri": f"sqlite:///{work / 'mlruns' / 'mlflow.db'}"},
    }  # fmt: skip
    path = work / "ngrams-bench.yaml"
    path.write_text(yaml.safe_dump(sweep), encoding="utf-8")
    os.environ["TEXTSWEEP_HOME"] = str(work / "home")
    started = time.perf_counter()
    result = run_sweep(load_sweep(path), out=io.StringIO())
    wall = time.perf_counter() - started
    client = MlflowClient(sweep["tracking"]["uri"])
    parent = client.get_run(result.parent_run_id)
    trial = client.search_runs(
        [parent.info.experiment_id], "tags.`textsweep.role` = 'trial'", max_results=1
    )[0]
    m = trial.data.metrics
    return {
        "seconds_per_epoch": m["train_seconds"] / spec["epochs"],
        "test_accuracy": m["test_accuracy"],
        "best_val_accuracy": m["best_val_accuracy"],
        "wall_seconds": wall,
    }


def arm_keras(spec: dict[str, Any]) -> dict[str, Any]:
    from textsweep.config import DatasetConfig
    from textsweep.data import load_dataset
    from textsweep.data.splits import stratified_split
    from textsweep.runtime import configure_tensorflow

    configure_tensorflow()
    import keras
    import numpy as np
    import tensorflow as tf

    cfg = DatasetConfig(**dataset(spec))
    data = load_dataset(cfg, "<bench>")
    keep, val = stratified_split(data.train.labels, cfg.validation_split, cfg.seed)
    texts = list(data.train.texts or [])
    test_texts = list(data.test.texts or [])
    started = time.perf_counter()
    vectorize = keras.layers.TextVectorization(
        ngrams=2, output_mode="multi_hot", max_tokens=spec["keras_max_tokens"]
    )
    vectorize.adapt(tf.data.Dataset.from_tensor_slices([texts[i] for i in keep]).batch(32))

    def pipeline(x: list[str], y: Any) -> Any:
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
        return ds.map(lambda t, lab: (vectorize(t), lab), num_parallel_calls=4).cache()

    # shuffled once, as `text_dataset_from_directory` does, then cached: the files come by label
    order = np.random.default_rng(1).permutation(keep)
    train = pipeline([texts[i] for i in order], data.train.labels[order])
    validation = pipeline([texts[i] for i in val], data.train.labels[val])
    test = pipeline(test_texts, data.test.labels)
    adapt_seconds = time.perf_counter() - started
    inputs = keras.Input(shape=(spec["keras_max_tokens"],))
    x = keras.layers.Dense(16, activation="relu")(inputs)
    x = keras.layers.Dropout(0.5)(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    started = time.perf_counter()
    history = model.fit(train, validation_data=validation, epochs=spec["epochs"], verbose=0)
    fit_seconds = time.perf_counter() - started
    _, accuracy = model.evaluate(test, verbose=0)
    return {
        "seconds_per_epoch": fit_seconds / spec["epochs"],
        "test_accuracy": float(accuracy),
        "best_val_accuracy": max(history.history["val_accuracy"]),
        "adapt_seconds": adapt_seconds,
    }


def run_child(arm: str, spec: dict[str, Any], work: Path) -> dict[str, Any]:
    """Run one arm in a fresh interpreter; its result plus its own peak RSS (MiB)."""
    log = work / f"{arm}-{spec['num_words']}.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    started = time.perf_counter()
    with log.open("w") as out:
        child = subprocess.Popen(
            [sys.executable, __file__, "--arm", arm, "--spec", json.dumps(spec)],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)  # already reaped
    wall = time.perf_counter() - started
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith(RESULT_PREFIX)]
    if child.returncode != 0 or not lines:
        raise SystemExit(f"arm {arm} failed (exit {child.returncode}); see {log}")
    result = json.loads(lines[-1][len(RESULT_PREFIX) :])
    return {**result, "peak_rss_mib": usage.ru_maxrss / 1024, "process_seconds": wall}


def render(rows: list[dict[str, Any]], spec: dict[str, Any]) -> str:
    out = [
        "# Bigram bags: textsweep next to the plain Keras script",
        "",
        f"Full IMDB unless limited (limit: {spec.get('limit') or 'none'}), 20% of train held out "
        f"for validation, {spec['epochs']} epochs, batch 32, Dense(16, relu) -> Dropout(0.5) -> "
        "sigmoid, rmsprop. Each arm in its own fresh process; peak RSS from `os.wait4`. The "
        "textsweep process starts from an empty cache, so it also reads and tokenizes IMDB "
        "and fits the bigram vocabulary; the Keras process reads IMDB and adapts "
        "TextVectorization (its first epoch vectorizes and fills the cache).",
        f"Command: `{spec['command']}`",
        "",
        "| arm | bigram tokens | peak RSS (MiB) | s/epoch | test accuracy | best val accuracy "
        "| process s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['arm']} | {r['tokens']:,} | {r['peak_rss_mib']:.0f} | "
            f"{r['seconds_per_epoch']:.1f} | {r['test_accuracy']:.4f} | "
            f"{r['best_val_accuracy']:.4f} | {r['process_seconds']:.0f} |"
        )
    target = next(r for r in rows if r["arm"] == "textsweep" and r["tokens"] == spec["num_words"])
    met = "met" if target["peak_rss_mib"] <= 1.5 * 1024 else "NOT met"
    out += [
        "",
        f"Target (one textsweep trial with V = {spec['num_words']:,} bigram tokens peaks at or "
        f"below 1.5 GB): {met} ({target['peak_rss_mib']:.0f} MiB).",
        "",
    ]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arm", choices=("textsweep", "keras"))
    parser.add_argument("--spec", help="(child) the arm's settings as JSON")
    parser.add_argument("--data-dir", default=os.environ.get("TEXTSWEEP_DATA_DIR"))
    parser.add_argument("--num-words", type=int, default=50_000)
    parser.add_argument("--keras-max-tokens", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, help="texts per split (a smoke run)")
    parser.add_argument("--out", type=Path, default=HERE / "NGRAMS.md")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    if args.arm:
        spec = json.loads(args.spec)
        result = arm_textsweep(spec) if args.arm == "textsweep" else arm_keras(spec)
        sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
        sys.stdout.flush()
        os._exit(0)  # skip TensorFlow's slow teardown; everything is written
    if not args.data_dir:
        parser.error("give --data-dir (a folder holding aclImdb_v1.tar.gz or aclImdb/)")
    work = args.work or Path(tempfile.mkdtemp(prefix="textsweep-ngrams-"))
    work.mkdir(parents=True, exist_ok=True)
    spec = {
        "data_dir": str(Path(args.data_dir).resolve()),
        "num_words": args.num_words,
        "keras_max_tokens": args.keras_max_tokens,
        "epochs": args.epochs,
        "limit": args.limit,
        "work": str(work),
        "command": "python benchmarks/ngrams.py " + " ".join(sys.argv[1:]),
    }
    rows = []
    for arm, tokens in (("textsweep", args.num_words), ("keras", args.keras_max_tokens)):
        print(f"running {arm} ({tokens:,} bigram tokens) ...", flush=True)
        row = run_child(arm, {**spec, "num_words": tokens} if arm == "textsweep" else spec, work)
        rows.append({"arm": arm, "tokens": tokens, **row})
        print(json.dumps(rows[-1]), flush=True)
    args.out.write_text(render(rows, spec), encoding="utf-8")
    args.out.with_suffix(".json").write_text(
        json.dumps({"spec": spec, "rows": rows}, indent=2) + "\n", encoding="utf-8"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""N-gram bags at the accuracy frontier: textsweep's best sweep next to NBSVM and plain Keras.

    nice -n 10 python benchmarks/ngrams.py --data-dir /work/shared/data

Arms, one after another, each in a fresh interpreter whose peak RSS is read from `os.wait4` (the
child's own `getrusage`, not the sum of all children), on the same train/validation/test split
(IMDB's 25k test reviews; validation carved from the 25k training reviews as the sweep says):

- `textsweep`: `sweeps/imdb_best.yaml` as it is (grid, Keras Tuner + MLflow on SQLite, the best
  trial's model logged and registered), from an empty cache, so it also reads and tokenizes IMDB
  and fits the n-gram vocabulary and its naive-Bayes ratios. Its figures are the best trial's
  by validation accuracy; seconds per epoch are that trial's `train_seconds` over its epochs.
- `predict`: the sweep's champion loaded through MLflow (`textsweep.export.load_best`) labels
  the raw test reviews; its accuracy must equal the best trial's test accuracy.
- `nbsvm`: NBSVM (Wang & Manning 2012) in scikit-learn: `CountVectorizer` (textsweep's tokenizer,
  binary 1..n-grams, the same number of columns), log-count ratios (alpha 1), `LinearSVC` (C 1)
  and the interpolation `w' = (1 - beta) mean|w| + beta w`, beta 0.25, as in the paper.
- `keras`: the plain Keras script at the same columns: `TextVectorization(ngrams=n,
  output_mode="multi_hot", sparse=True, max_tokens=columns)` mapped over a `tf.data` pipeline and
  `.cache()`d, then the same linear head (`Dense(1, sigmoid)`), optimizer, batch size and epochs
  as the best trial. Its first epoch also vectorizes and fills the cache.

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
SWEEP = HERE.parent / "sweeps" / "imdb_best.yaml"
ARMS = ("textsweep", "predict", "nbsvm", "keras")


def load(spec: dict[str, Any]) -> Any:
    """The sweep, with the benchmark's overrides (data folder, tracking store, `--set`)."""
    from textsweep.config import load_sweep

    work = Path(spec["work"])
    overrides = [
        f"dataset.path={spec['data_dir']}",
        f"tracking.uri=sqlite:///{work / 'mlruns' / 'mlflow.db'}",
        *spec["set"],
    ]
    return load_sweep(Path(spec["sweep"]), overrides)


def split(spec: dict[str, Any]) -> dict[str, Any]:
    """Raw texts and labels of train, validation and test, split as the sweep splits them."""
    import numpy as np

    from textsweep.data import load_dataset
    from textsweep.data.splits import stratified_split

    cfg = load(spec).config.dataset
    data = load_dataset(cfg, "<bench>")
    keep, val = stratified_split(data.train.labels, cfg.validation_split, cfg.seed)
    texts = np.asarray(data.train.texts, dtype=object)
    return {
        "train": (list(texts[keep]), data.train.labels[keep]),
        "val": (list(texts[val]), data.train.labels[val]),
        "test": (list(data.test.texts or []), data.test.labels),
        "classes": list(data.class_names),
    }


def arm_textsweep(spec: dict[str, Any]) -> dict[str, Any]:
    from mlflow import MlflowClient

    from textsweep.sweep import run_sweep

    sweep = load(spec)
    started = time.perf_counter()
    result = run_sweep(sweep, out=io.StringIO())
    wall = time.perf_counter() - started
    client = MlflowClient(sweep.config.tracking.uri)
    best = client.get_run(result.best_run_id)
    m, p = best.data.metrics, best.data.params
    epochs = len(client.get_metric_history(best.info.run_id, "val_accuracy")) or 1
    return {
        "trials": result.completed,
        "best_trial": {k: v for k, v in p.items() if "." not in k and k != "objective"},
        "columns": int(p.get("dataset.num_words", sweep.config.dataset.num_words)),
        "ngrams": int(p.get("ngrams", 1)),
        "seconds_per_epoch": m["train_seconds"] / epochs,
        "epochs": epochs,
        "test_accuracy": m["test_accuracy"],
        "best_val_accuracy": m["best_val_accuracy"],
        "wall_seconds": wall,
    }


def arm_predict(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from textsweep.export import load_best

    sweep = load(spec)
    data = split(spec)
    texts, labels = data["test"]
    started = time.perf_counter()
    model = load_best(sweep.name, tracking_uri=sweep.config.tracking.uri)
    loaded = time.perf_counter() - started
    table = model.predict(texts)
    wall = time.perf_counter() - started
    predicted = np.asarray(table.columns)[table.to_numpy().argmax(axis=1)]
    truth = np.asarray(data["classes"])[labels]
    return {
        "test_accuracy": float(np.mean(predicted == truth)),
        "load_seconds": loaded,
        "wall_seconds": wall,
        "texts": len(texts),
    }


def arm_nbsvm(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.svm import LinearSVC

    from textsweep.vocabulary import tokenize

    data = split(spec)
    (train, y), (val, y_val), (test, y_test) = data["train"], data["val"], data["test"]
    started = time.perf_counter()
    vectorize = CountVectorizer(
        tokenizer=tokenize, lowercase=False, token_pattern=None, binary=True,
        ngram_range=(1, spec["ngrams"]), max_features=spec["columns"], dtype=np.float32,
    )  # fmt: skip
    x = vectorize.fit_transform(train)
    p = 1.0 + np.asarray(x[y == 1].sum(axis=0)).ravel()
    q = 1.0 + np.asarray(x[y == 0].sum(axis=0)).ravel()
    r = np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)
    svm = LinearSVC(C=1.0, max_iter=10_000).fit(x.multiply(r).tocsr(), y)
    w = svm.coef_.ravel()
    w = (1 - 0.25) * np.abs(w).mean() + 0.25 * w  # the paper's interpolation, beta 0.25
    b = svm.intercept_[0]
    fit_seconds = time.perf_counter() - started

    def accuracy(texts: list[str], labels: Any) -> float:
        scores = vectorize.transform(texts).multiply(r).tocsr() @ w + b
        return float(np.mean((scores > 0).astype(int) == labels))

    return {
        "columns": int(x.shape[1]),
        "test_accuracy": accuracy(test, y_test),
        "best_val_accuracy": accuracy(val, y_val),
        "fit_seconds": fit_seconds,
        "wall_seconds": time.perf_counter() - started,
    }


def arm_keras(spec: dict[str, Any]) -> dict[str, Any]:
    from textsweep.runtime import configure_tensorflow

    configure_tensorflow()
    import keras
    import numpy as np
    import tensorflow as tf

    data = split(spec)
    (train, y), (val, y_val), (test, y_test) = data["train"], data["val"], data["test"]
    best = spec["best"]
    batch = int(best["batch_size"])
    started = time.perf_counter()
    vectorize = keras.layers.TextVectorization(
        ngrams=spec["ngrams"], output_mode="multi_hot", max_tokens=spec["columns"], sparse=True
    )
    vectorize.adapt(tf.data.Dataset.from_tensor_slices(train).batch(256))
    adapt_seconds = time.perf_counter() - started

    def pipeline(x: list[str], labels: Any, shuffle: bool) -> Any:
        ds = tf.data.Dataset.from_tensor_slices((x, labels.astype(np.float32)))
        if shuffle:  # the files come by label: shuffled once, as text_dataset_from_directory does
            ds = ds.shuffle(len(x), seed=1, reshuffle_each_iteration=False)
        ds = ds.batch(batch).map(lambda t, lab: (vectorize(t), lab), num_parallel_calls=4)
        return ds.cache().prefetch(tf.data.AUTOTUNE)

    keras.utils.set_random_seed(1)
    inputs = keras.Input(shape=(spec["columns"],), sparse=True)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
    optimizers = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
                  "rmsprop": keras.optimizers.RMSprop, "sgd": keras.optimizers.SGD,
                  "nadam": keras.optimizers.Nadam}  # fmt: skip
    optimizer = optimizers[best["optimizer"]](learning_rate=float(best["learning_rate"]))
    model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
    epochs = spec["epochs"]
    started = time.perf_counter()
    history = model.fit(
        pipeline(train, y, shuffle=True), validation_data=pipeline(val, y_val, False),
        epochs=epochs, verbose=0,
    )  # fmt: skip
    fit_seconds = time.perf_counter() - started
    _, accuracy = model.evaluate(pipeline(test, y_test, False), verbose=0)
    return {
        "columns": int(vectorize.vocabulary_size()),
        "seconds_per_epoch": fit_seconds / epochs,
        "test_accuracy": float(accuracy),
        "best_val_accuracy": max(history.history["val_accuracy"]),
        "adapt_seconds": adapt_seconds,
    }


def run_child(arm: str, spec: dict[str, Any], work: Path) -> dict[str, Any]:
    """Run one arm in a fresh interpreter; its result plus its own peak RSS (MiB)."""
    log = work / f"{arm}.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent / "src"),
                                                        os.environ.get("PYTHONPATH", "")]),
           "TEXTSWEEP_HOME": str(work / "home")}  # fmt: skip
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


def render(rows: dict[str, dict[str, Any]], spec: dict[str, Any]) -> str:
    ts, pr = rows["textsweep"], rows.get("predict")
    best = ts["best_trial"]
    cols = f"1-{ts['ngrams']}-grams, {ts['columns']:,} columns"
    out = [
        "# N-gram bags: textsweep's best next to NBSVM and plain Keras",
        "",
        f"Data: {'IMDB, ' + str(spec['limit']) + ' texts per split' if spec.get('limit') else 'full IMDB'}"
        f" (validation carved from the training reviews as `{Path(spec['sweep']).name}` says; "
        "the test reviews touched once per final model). Each arm in its own fresh process, one "
        "after another; peak RSS from `os.wait4`. The machine: "
        f"{spec['machine']}; the load average when it started: {spec['load']}.",
        f"Command: `{spec['command']}`",
        "",
        "| arm | features | test accuracy | validation accuracy | s/epoch | wall s | peak RSS (MiB) |",
        "|---|---|---|---|---|---|---|",
        f"| textsweep `{Path(spec['sweep']).name}`, best of {ts['trials']} trials by validation "
        f"| {cols}, {best.get('bag_mode')} | {ts['test_accuracy']:.4f} | "
        f"{ts['best_val_accuracy']:.4f} | {ts['seconds_per_epoch']:.1f} | "
        f"{ts['process_seconds']:.0f} | {ts['peak_rss_mib']:.0f} |",
    ]
    if pr:
        out.append(
            f"| its exported model through `predict` (raw test texts) | the same | "
            f"{pr['test_accuracy']:.4f} | - | - | {pr['process_seconds']:.0f} | "
            f"{pr['peak_rss_mib']:.0f} |"
        )
    if "nbsvm" in rows:
        nb = rows["nbsvm"]
        out.append(
            f"| NBSVM, scikit-learn (LinearSVC C=1, beta 0.25) | 1-{ts['ngrams']}-grams, "
            f"{nb['columns']:,} columns, binary | {nb['test_accuracy']:.4f} | "
            f"{nb['best_val_accuracy']:.4f} | - | {nb['process_seconds']:.0f} | "
            f"{nb['peak_rss_mib']:.0f} |"
        )
    if "keras" in rows:
        k = rows["keras"]
        out.append(
            f"| plain Keras, TextVectorization + the same linear head | 1-{ts['ngrams']}-grams, "
            f"{k['columns']:,} columns, multi_hot | {k['test_accuracy']:.4f} | "
            f"{k['best_val_accuracy']:.4f} | {k['seconds_per_epoch']:.1f} | "
            f"{k['process_seconds']:.0f} | {k['peak_rss_mib']:.0f} |"
        )
    out += ["", f"Best trial: {', '.join(f'`{k}` {v}' for k, v in sorted(best.items()))}.", ""]
    out += ["Targets (full IMDB only):", ""]
    for line in verdicts(rows):
        out.append(f"- {line}")
    return "\n".join(out) + "\n"


def verdicts(rows: dict[str, dict[str, Any]]) -> list[str]:
    """The issue's targets, each `met` or `NOT met` from the figures alone."""
    ts, pr, k = rows["textsweep"], rows.get("predict"), rows.get("keras")

    def say(ok: bool) -> str:
        return "met" if ok else "NOT met"

    out = [
        f"test accuracy >= 0.925: {say(ts['test_accuracy'] >= 0.925)} ({ts['test_accuracy']:.4f})",
        f"sweep wall <= 10 minutes: {say(ts['process_seconds'] <= 600)} "
        f"({ts['process_seconds'] / 60:.1f} min)",
        f"peak RSS <= 2 GB: {say(ts['peak_rss_mib'] <= 2048)} ({ts['peak_rss_mib']:.0f} MiB)",
    ]
    if pr:
        same = abs(pr["test_accuracy"] - ts["test_accuracy"]) < 0.5 / pr["texts"]
        out.append(
            f"predict's test accuracy equals the trial's: {say(same)} "
            f"({pr['test_accuracy']:.4f} against {ts['test_accuracy']:.4f})"
        )
    if k:
        out.append(
            "s/epoch no worse than plain Keras at the same columns: "
            f"{say(ts['seconds_per_epoch'] <= k['seconds_per_epoch'])} "
            f"({ts['seconds_per_epoch']:.1f} against {k['seconds_per_epoch']:.1f})"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arm", choices=ARMS)
    parser.add_argument("--spec", help="(child) the arm's settings as JSON")
    parser.add_argument("--data-dir", default=os.environ.get("TEXTSWEEP_DATA_DIR"))
    parser.add_argument("--sweep", type=Path, default=SWEEP)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an override of the sweep file, as `textsweep run --set`")  # fmt: skip
    parser.add_argument("--arms", default=",".join(ARMS), help="which arms (default: all)")
    parser.add_argument("--out", type=Path, default=HERE / "NGRAMS.md")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    if args.arm:
        spec = json.loads(args.spec)
        arm = {"textsweep": arm_textsweep, "predict": arm_predict, "nbsvm": arm_nbsvm,
               "keras": arm_keras}[args.arm]  # fmt: skip
        result = arm(spec)
        sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
        sys.stdout.flush()
        os._exit(0)  # skip TensorFlow's slow teardown; everything is written
    if not args.data_dir:
        parser.error("give --data-dir (a folder holding aclImdb_v1.tar.gz or aclImdb/)")
    work = args.work or Path(tempfile.mkdtemp(prefix="textsweep-ngrams-"))
    work.mkdir(parents=True, exist_ok=True)
    arms = [a for a in ARMS if a in args.arms.split(",")]
    if "textsweep" not in arms:
        parser.error("--arms must include textsweep (the others follow its best trial)")
    spec: dict[str, Any] = {
        "data_dir": str(Path(args.data_dir).resolve()),
        "sweep": str(args.sweep.resolve()),
        "set": args.set,
        "work": str(work),
        "limit": next((s.split("=", 1)[1] for s in args.set if s.startswith("dataset.limit=")),
                      None),
        "machine": f"{os.cpu_count()} CPUs shared with other users' work",
        "load": " ".join(f"{v:.1f}" for v in os.getloadavg()),
        "command": "python benchmarks/ngrams.py " + " ".join(sys.argv[1:]),
    }  # fmt: skip
    rows: dict[str, dict[str, Any]] = {}
    for arm in arms:
        print(f"running {arm} ...", flush=True)
        if arm != "textsweep":
            ts = rows["textsweep"]
            spec = {**spec, "columns": ts["columns"], "ngrams": ts["ngrams"],
                    "epochs": ts["epochs"], "best": ts["best_trial"]}  # fmt: skip
        rows[arm] = run_child(arm, spec, work)
        print(json.dumps(rows[arm]), flush=True)
    args.out.write_text(render(rows, spec), encoding="utf-8")
    args.out.with_suffix(".json").write_text(
        json.dumps({"spec": spec, "rows": rows}, indent=2) + "\n", encoding="utf-8"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

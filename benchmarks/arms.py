"""The measured processes of the benchmark: each arm runs in a fresh interpreter and prints its figures.

    python benchmarks/arms.py '{"arm": "plain", "family": "embedding_lstm", ...}'

- `plain`: the trial as a user writes it in plain Keras. Token ids come from textsweep's cache (so
  tokenization is equal), the model from `textsweep.models.build_model` (pure Keras, the same layers),
  then `fit` + `evaluate`; no tuner, no tracking.
- `sweep`: the same trial as a one-trial grid sweep through `textsweep.sweep.run_sweep` (Keras Tuner +
  MLflow on SQLite), exactly as `textsweep run` drives it.

Both arms time the same functions with the same wrappers (`Spans`); exclusive times add up to the
outermost wrapped call, so the sweep's wall time splits into data, TensorFlow set-up, tracking,
artifacts, Keras Tuner bookkeeping, model building, fitting and evaluating. The last stdout line is
`BENCH-RESULT <json>`.
"""

from __future__ import annotations

import time

PROCESS_START = time.perf_counter()  # before any import, so start-up time counts

import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

RESULT_PREFIX = "BENCH-RESULT "


class Spans:
    """Wall time per category, exclusive of nested wrapped calls, plus a few event timestamps."""

    def __init__(self) -> None:
        self.exclusive: dict[str, float] = defaultdict(float)
        self.inclusive: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.events: dict[str, float] = {}
        self._stack: list[float] = []

    def wrap(self, fn: Callable[..., Any], category: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            self._stack.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                nested = self._stack.pop()
                self.exclusive[category] += elapsed - nested
                self.inclusive[category] += elapsed
                self.calls[category] += 1
                if self._stack:
                    self._stack[-1] += elapsed

        timed.__wrapped__ = fn  # type: ignore[attr-defined]
        return timed

    def patch(self, owner: Any, name: str, category: str) -> None:
        setattr(owner, name, self.wrap(getattr(owner, name), category))

    def mark(self, event: str) -> None:
        """Seconds since the process started, the first time `event` happens."""
        self.events.setdefault(event, time.perf_counter() - PROCESS_START)


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dataset_config(spec: dict[str, Any]) -> Any:
    from textsweep.config import DatasetConfig

    return DatasetConfig(**spec["dataset"])


def instrument_common(spans: Spans) -> None:
    """The wrappers both arms share: data, thread set-up, model building, fit, evaluate."""
    import keras

    import textsweep.models
    import textsweep.sweep.execution
    import textsweep.vocabulary

    spans.patch(textsweep.vocabulary, "encode", "data")
    spans.patch(textsweep.vocabulary, "tokenize", "tokenize")
    spans.patch(textsweep.sweep.execution, "configure_tensorflow", "tf_setup")
    spans.patch(textsweep.models, "build_model", "build")
    spans.patch(keras.Model, "fit", "fit")
    spans.patch(keras.Model, "evaluate", "evaluate")
    spans.patch(keras.Model, "save_weights", "checkpoints")


def first_epoch_marker(spans: Spans) -> Any:
    import keras

    class FirstEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            spans.mark("first_epoch")

    return FirstEpoch()


def trial_inputs(encoded: Any, values: dict[str, Any], width: int) -> Any:
    """The same inputs `sweep.hypermodel` trains on: `trialdata.TrialData` (padded ids or sparse bags)."""
    from textsweep.trialdata import TrialData

    return TrialData(encoded).inputs(values, width)


def run_plain(spec: dict[str, Any], spans: Spans) -> dict[str, Any]:
    """The trial in plain Keras: cached token ids, `fit`, `evaluate`, nothing else."""
    import textsweep.runtime
    import textsweep.vocabulary
    from textsweep.models import ModelInputs, resolve

    instrument_common(spans)
    import keras

    import textsweep.models

    cfg = dataset_config(spec)
    spans.mark("start_work")
    encoded = textsweep.vocabulary.encode(cfg, Path(spec["home"]) / "cache")
    # the same thread pools textsweep gives a sweep, so only tuning and tracking differ
    textsweep.runtime.configure_tensorflow(
        spec.get("intra_op_threads"), spec.get("inter_op_threads")
    )
    values = resolve(spec["values"], spec["batch_size"])
    keras.utils.set_random_seed(1)
    trial_start = time.perf_counter()
    data = spans.wrap(trial_inputs, "arrays")(encoded, values, cfg.num_words)
    model = textsweep.models.build_model(values, ModelInputs(cfg.num_words, encoded.num_classes))
    model.fit(
        **data.train,
        epochs=spec["epochs"],
        validation_data=data.validation,
        callbacks=[first_epoch_marker(spans)],
        verbose=0,
    )
    _, accuracy = model.evaluate(**data.test, verbose=0)
    return {
        "trial_seconds": time.perf_counter() - trial_start,
        "test_accuracy": float(accuracy),
        "from_cache": encoded.from_cache,
    }


def run_sweep_arm(spec: dict[str, Any], spans: Spans) -> dict[str, Any]:
    """The trial as a one-trial sweep through `run_sweep`, as `textsweep run` drives it."""
    import io

    import textsweep.sweep.execution
    from textsweep.config import load_sweep

    instrument_common(spans)
    import keras_tuner

    import textsweep.sweep.hypermodel
    import textsweep.sweep.tuner
    import textsweep.tracking

    tracker = textsweep.tracking.Tracker
    for name, attr in list(vars(tracker).items()):  # every MLflow call textsweep makes
        category = "artifacts" if name in ("log_text", "log_file", "log_figure") else "tracking"
        if name.startswith("_"):
            continue
        if isinstance(attr, classmethod):
            setattr(tracker, name, classmethod(spans.wrap(attr.__func__, category)))
        elif callable(attr):
            spans.patch(tracker, name, category)
    spans.patch(textsweep.sweep.tuner, "log_history_artifacts", "artifacts")
    spans.patch(textsweep.sweep.hypermodel.TrialData, "inputs", "arrays")
    spans.patch(keras_tuner.engine.base_tuner.BaseTuner, "search", "tuner")
    spans.patch(textsweep.sweep.execution, "run_sweep", "textsweep")
    begin = textsweep.sweep.hypermodel.EpochReporter.on_epoch_begin

    def on_epoch_begin(self: Any, epoch: int, logs: Any = None) -> None:
        spans.mark("first_epoch")
        begin(self, epoch, logs)

    textsweep.sweep.hypermodel.EpochReporter.on_epoch_begin = on_epoch_begin  # type: ignore[method-assign]

    spans.mark("start_work")
    sweep = load_sweep(spec["sweep_file"])
    out = io.StringIO()
    result = textsweep.sweep.execution.run_sweep(sweep, out=out)
    run = None
    if result.best_trial_id is not None:
        from mlflow import MlflowClient

        client = MlflowClient(result.tracking_uri)
        runs = client.search_runs(
            [result.experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{result.parent_run_id}'",
        )
        run = runs[0] if runs else None
    return {
        "trial_seconds": spans.inclusive["tuner"],
        "test_accuracy": result.best_test_accuracy,
        "completed": result.completed,
        "from_cache": "data: cache hit" in out.getvalue(),
        "mlflow_train_seconds": run.data.metrics.get("train_seconds") if run else None,
        "log": out.getvalue(),
    }


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    spans = Spans()
    arm = {"plain": run_plain, "sweep": run_sweep_arm}[spec["arm"]]
    figures = arm(spec, spans)
    spans.mark("end")
    import tensorflow as tf

    figures.update(
        arm=spec["arm"],
        family=spec["family"],
        process_seconds=spans.events["end"],
        events=spans.events,
        exclusive=dict(spans.exclusive),
        inclusive=dict(spans.inclusive),
        calls=dict(spans.calls),
        peak_rss_mb=peak_rss_mb(),
        threads=[
            tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads(),
        ],
    )
    print(RESULT_PREFIX + json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

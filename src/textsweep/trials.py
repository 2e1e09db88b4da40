"""How one trial runs under Keras Tuner: the hypermodel, the tracked tuner, the callbacks.

This module imports Keras and Keras Tuner at the top; only `tuning.run_sweep` imports it, so the
CLI and `textsweep validate` stay light.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import keras_tuner as kt
import numpy as np

from textsweep.config import Sweep
from textsweep.models import (
    ModelInputs,
    build_model,
    resolve,
    summary_text,
    used_values,
    uses_sequences,
)
from textsweep.progress import Progress
from textsweep.search_space import active_values, declare
from textsweep.tracking import (
    EPOCH_METRICS,
    ROLE_EXECUTION,
    ROLE_TRIAL,
    TAG_ERROR,
    TAG_EXECUTION,
    TAG_PARENT,
    TAG_ROLE,
    TAG_SEED,
    TAG_TRIAL_ID,
    Tracker,
    log_history_artifacts,
    mean_std,
)
from textsweep.vocabulary import Encoded

FINAL_KEYS = ("best_val_accuracy", "best_val_loss", "best_epoch", "test_loss", "test_accuracy",
              "train_seconds", "params_count")  # fmt: skip


class TrialData:
    """A trial's input arrays, made from the cached token ids for its family and `maxlen`.

    Multi-hot models get each text's distinct ids (computed once); sequence models get padded
    arrays, of which only the latest `maxlen` is kept so memory does not grow across trials.
    """

    def __init__(self, encoded: Encoded):
        self.encoded = encoded
        self._bags: tuple[np.ndarray, ...] | None = None
        self._padded: tuple[int, tuple[np.ndarray, ...]] | None = None

    def arrays(self, values: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        e = self.encoded
        if not uses_sequences(values):
            if self._bags is None:
                self._bags = (e.train.bags(), e.val.bags(), e.test.bags())
            train, val, test = self._bags
            return train, val, test
        maxlen = int(values["maxlen"])
        if self._padded is None or self._padded[0] != maxlen:
            self._padded = None  # release the previous arrays before making new ones
            self._padded = (
                maxlen,
                (e.train.padded(maxlen), e.val.padded(maxlen), e.test.padded(maxlen)),
            )
        train, val, test = self._padded[1]
        return train, val, test


@dataclass
class Outcome:
    """What one execution (one training of one model) produced."""

    rows: list[dict[str, float]]
    final: dict[str, float]
    summary: str
    model_path: Path | None = None


class BestEpoch(keras.callbacks.Callback):
    """Keeps the weights of the best epoch by the sweep's objective and restores them at the end.

    Test metrics are then those of the epoch the tuner ranks the trial by.
    """

    def __init__(self, monitor: str, mode: str):
        super().__init__()
        self.monitor, self.mode = monitor, mode
        self.best: float | None = None
        self.best_epoch = -1
        self.weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(value):
            return
        if self.best is None or (value > self.best if self.mode == "max" else value < self.best):
            self.best, self.best_epoch = float(value), epoch
            self.weights = self.model.get_weights()

    def on_train_end(self, logs: Mapping[str, float] | None = None) -> None:
        if self.weights is not None:
            self.model.set_weights(self.weights)
        self.weights = None


class EpochReporter(keras.callbacks.Callback):
    """Logs each epoch's metrics to an MLflow run (step = epoch) and to the terminal."""

    def __init__(self, tracker: Tracker, run_id: str, progress: Progress, epochs: int, label: str):
        super().__init__()
        self.tracker, self.run_id, self.progress = tracker, run_id, progress
        self.epochs, self.label = epochs, label
        self.rows: list[dict[str, float]] = []
        self._t0 = time.perf_counter()
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        self._t0, self._epoch = time.perf_counter(), epoch

    def on_train_batch_end(self, batch: int, logs: Mapping[str, float] | None = None) -> None:
        self.progress.batch(self._epoch, self.epochs, batch, self.params.get("steps"))

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        row = {
            "epoch": epoch,
            **{k: float(v) for k, v in (logs or {}).items() if k in EPOCH_METRICS},
        }
        self.rows.append(row)
        self.tracker.log_curves(self.run_id, [row])
        self.progress.epoch_end(epoch, self.epochs, row, time.perf_counter() - self._t0, self.label)


class TextHyperModel(kt.HyperModel):
    """Declares the sweep's search space and builds, trains and tests one model per execution."""

    def __init__(self, sweep: Sweep, data: TrialData, inputs: ModelInputs):
        super().__init__(name="textsweep")
        self.sweep, self.data, self.inputs = sweep, data, inputs

    def declare_hyperparameters(self, hp: kt.HyperParameters) -> None:
        declare(self.sweep.space, hp)

    def values(self, hp: kt.HyperParameters) -> dict[str, Any]:
        return resolve(active_values(self.sweep.space, hp), self.sweep.config.training.batch_size)

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        return build_model(self.values(hp), self.inputs)

    def fit(self, hp: kt.HyperParameters, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
        cfg = self.sweep.config
        values = self.values(hp)
        x_train, x_val, x_test = self.data.arrays(values)
        e = self.data.encoded
        mode = self.sweep.directions()
        best = BestEpoch(cfg.objective, mode)
        callbacks = list(kwargs.pop("callbacks", [])) + [keras.callbacks.TerminateOnNaN(), best]
        if cfg.training.early_stopping is not None:
            es = cfg.training.early_stopping
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor=es.monitor, patience=es.patience, min_delta=es.min_delta
                )
            )
        started = time.perf_counter()
        history = model.fit(
            x_train,
            e.train_labels,
            batch_size=int(values["batch_size"]),
            epochs=int(kwargs.get("epochs", cfg.training.epochs)),
            initial_epoch=int(kwargs.get("initial_epoch", 0)),
            validation_data=(x_val, e.val_labels),
            callbacks=callbacks,
            verbose=0,
        )
        train_seconds = time.perf_counter() - started
        losses = history.history.get("loss", [])
        if any(not math.isfinite(v) for v in losses):
            bad = next(i for i, v in enumerate(losses) if not math.isfinite(v))
            raise kt.errors.FailedTrialError(
                f"the training loss became NaN at epoch {bad + int(kwargs.get('initial_epoch', 0))};"
                " try a smaller learning_rate"
            )
        test_loss, test_accuracy = model.evaluate(
            x_test, e.test_labels, batch_size=max(256, int(values["batch_size"])), verbose=0
        )
        hist = history.history
        final = {
            "best_val_accuracy": max(hist.get("val_accuracy", [math.nan])),
            "best_val_loss": min(hist.get("val_loss", [math.nan])),
            "best_epoch": float(best.best_epoch if best.best_epoch >= 0 else len(losses) - 1),
            "test_loss": float(test_loss),
            "test_accuracy": float(test_accuracy),
            "train_seconds": train_seconds,
            "params_count": float(model.count_params()),
        }
        model_path = None
        if cfg.training.save_model:
            model_path = Path(tempfile.mkdtemp(prefix="textsweep-model-")) / "model.keras"
            model.save(model_path)
        history.textsweep = Outcome(
            rows=[], final=final, summary=summary_text(model), model_path=model_path
        )
        return history


def execution_seed(base: int, trial_id: str, execution: int) -> int:
    """A different, reproducible seed for every execution of every trial."""
    digest = hashlib.sha256(f"{base}:{trial_id}:{execution}".encode()).digest()
    return int.from_bytes(digest[:4], "little") % (2**31 - 1)


@dataclass
class SweepContext:
    """What the tracked tuner needs beyond Keras Tuner's own arguments."""

    sweep: Sweep
    tracker: Tracker
    parent_run_id: str
    progress: Progress
    settings: dict[str, Any]
    trial_runs: dict[str, str] = field(default_factory=dict)
    extra_params: dict[str, Any] = field(default_factory=dict)


class TrackedTuner:
    """Mixed in before a Keras Tuner tuner: one MLflow run per trial (and per execution)."""

    hypermodel: TextHyperModel
    executions_per_trial: int

    def __init__(self, *args: Any, context: SweepContext, **kwargs: Any):
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self.ctx = context
        self._trial_run: str | None = None
        self._outcomes: list[Outcome] = []

    def run_trial(self, trial: kt.engine.trial.Trial, *args: Any, **kwargs: Any) -> Any:
        ctx = self.ctx
        values = used_values(self.hypermodel.values(trial.hyperparameters))
        shown = active_values(ctx.sweep.space, trial.hyperparameters)
        ctx.progress.trial_begin(trial.trial_id, shown)
        params = {**values, **ctx.settings, **ctx.extra_params, **_hyperband_params(trial)}
        tags = {TAG_PARENT: ctx.parent_run_id, TAG_ROLE: ROLE_TRIAL, TAG_TRIAL_ID: trial.trial_id}
        run_id = ctx.tracker.start_run(f"trial-{trial.trial_id}", tags, params)
        ctx.trial_runs[trial.trial_id] = run_id
        self._trial_run, self._outcomes = run_id, []
        try:
            results = super().run_trial(trial, *args, **kwargs)  # type: ignore[misc]
            self._finish_trial(trial, run_id)
        except BaseException as error:
            interrupted = isinstance(error, KeyboardInterrupt | SystemExit)
            message = (
                str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
            )
            ctx.tracker.set_tags(run_id, {TAG_ERROR: f"{type(error).__name__}: {message}"[:5000]})
            ctx.tracker.log_text(run_id, traceback.format_exc(), "traceback.txt")
            ctx.tracker.end_run(run_id, "KILLED" if interrupted else "FAILED")
            if interrupted:
                raise
            ctx.progress.trial_failed(trial.trial_id, f"{type(error).__name__}: {message}")
            raise kt.errors.FailedTrialError(f"{type(error).__name__}: {message}") from error
        return results

    def _finish_trial(self, trial: kt.engine.trial.Trial, run_id: str) -> None:
        ctx, outcomes = self.ctx, self._outcomes
        final: dict[str, float] = {}
        for key in FINAL_KEYS:
            mean, std = mean_std(o.final[key] for o in outcomes)
            final[key] = mean
            if len(outcomes) > 1:
                final[f"{key}_std"] = std
        ctx.tracker.log_metrics(run_id, final)
        if len(outcomes) > 1:
            rows = _mean_rows([o.rows for o in outcomes])
            ctx.tracker.log_curves(run_id, rows)
        else:
            rows = outcomes[0].rows
        log_history_artifacts(ctx.tracker, run_id, rows, f"{ctx.sweep.name} trial {trial.trial_id}")
        ctx.tracker.log_text(run_id, outcomes[0].summary, "model_summary.txt")
        if outcomes[0].model_path is not None:
            ctx.tracker.log_file(run_id, outcomes[0].model_path, "model")
        ctx.tracker.end_run(run_id, "FINISHED")
        objective = final[
            "best_val_accuracy" if ctx.sweep.directions() == "max" else "best_val_loss"
        ]
        ctx.progress.trial_end(trial.trial_id, objective, final["test_accuracy"])

    def _build_and_fit_model(self, trial: kt.engine.trial.Trial, *args: Any, **kwargs: Any) -> Any:
        ctx = self.ctx
        index = len(self._outcomes)
        seed = execution_seed(ctx.sweep.config.tuner.seed, trial.trial_id, index)
        keras.utils.set_random_seed(seed)
        assert self._trial_run is not None
        run_id, label = self._trial_run, ""
        if self.executions_per_trial > 1:
            label = f"execution {index + 1}/{self.executions_per_trial}  "
            tags = {TAG_PARENT: self._trial_run, TAG_ROLE: ROLE_EXECUTION,
                    TAG_EXECUTION: str(index), TAG_SEED: str(seed), TAG_TRIAL_ID: trial.trial_id}  # fmt: skip
            run_id = ctx.tracker.start_run(f"trial-{trial.trial_id}-execution-{index}", tags)
        else:
            ctx.tracker.set_tags(run_id, {TAG_SEED: str(seed)})
        epochs = int(kwargs.get("epochs", ctx.sweep.config.training.epochs))
        reporter = EpochReporter(ctx.tracker, run_id, ctx.progress, epochs, label)
        kwargs["callbacks"] = list(kwargs.get("callbacks", [])) + [reporter]
        try:
            history = super()._build_and_fit_model(trial, *args, **kwargs)  # type: ignore[misc]
        except BaseException:
            if run_id != self._trial_run:
                ctx.tracker.log_text(run_id, traceback.format_exc(), "traceback.txt")
                ctx.tracker.end_run(run_id, "FAILED")
            raise
        outcome: Outcome = history.textsweep
        outcome.rows = reporter.rows
        if run_id != self._trial_run:
            ctx.tracker.log_metrics(run_id, outcome.final)
            log_history_artifacts(
                ctx.tracker, run_id, outcome.rows, f"trial {trial.trial_id} #{index}"
            )
            ctx.tracker.end_run(run_id, "FINISHED")
        self._outcomes.append(outcome)
        return history


def _hyperband_params(trial: kt.engine.trial.Trial) -> dict[str, Any]:
    values = trial.hyperparameters.values
    names = {"tuner/epochs": "hyperband.epochs", "tuner/initial_epoch": "hyperband.initial_epoch",
             "tuner/bracket": "hyperband.bracket", "tuner/round": "hyperband.round",
             "tuner/trial_id": "hyperband.resumed_from"}  # fmt: skip
    return {new: values[old] for old, new in names.items() if old in values}


def _mean_rows(runs: list[list[dict[str, float]]]) -> list[dict[str, float]]:
    """Per-epoch means over executions, for the epochs every execution reached."""
    length = min((len(r) for r in runs), default=0)
    out = []
    for i in range(length):
        row: dict[str, float] = {"epoch": runs[0][i]["epoch"]}
        for key in EPOCH_METRICS:
            vals = [r[i][key] for r in runs if key in r[i]]
            if vals:
                row[key] = float(np.mean(vals))
        out.append(row)
    return out


def tuner_class(algorithm: str) -> type:
    base = {
        "random": kt.RandomSearch,
        "grid": kt.GridSearch,
        "bayesian": kt.BayesianOptimization,
        "hyperband": kt.Hyperband,
    }[algorithm]
    return type(f"Tracked{base.__name__}", (TrackedTuner, base), {})

"""How one trial runs under Keras Tuner: the hypermodel, the tracked tuner, the callbacks.

This module imports Keras and Keras Tuner at the top; only `tuning.run_sweep` imports it, so the
CLI and `textsweep validate` stay light.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import re
import shutil
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
from textsweep.hardware import cudnn_warning, gpu_count
from textsweep.interrupts import Interrupts
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
    TAG_ATTEMPT,
    TAG_ERROR,
    TAG_EXECUTION,
    TAG_PARENT,
    TAG_ROLE,
    TAG_SEED,
    TAG_TRIAL_ID,
    Tracker,
    log_history_artifacts,
    mean_std,
    prewarm_plotting,
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
        self.tracker.log_curves(self.run_id, [row], background=True)
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
                f"the training loss became {losses[bad]} (not finite) at epoch "
                f"{bad + int(kwargs.get('initial_epoch', 0))}; try a smaller learning_rate"
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
    interrupts: Interrupts | None = None
    resuming: bool = False
    attempts: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None


class TrackedTuner:
    """Mixed in before a Keras Tuner tuner: one MLflow run per trial (and per execution).

    A trial run is closed only after Keras Tuner has saved the trial's end, so after a crash
    its saved state says which runs were complete (see `state.close_orphan_runs`).
    """

    hypermodel: TextHyperModel
    executions_per_trial: int
    oracle: Any

    def __init__(self, *args: Any, context: SweepContext, **kwargs: Any):
        self.ctx = context
        cudnn = cudnn_warning(context.sweep.space, gpu_count())
        if cudnn is not None:  # once per sweep, before its first trial
            context.progress.say(f"warning: {cudnn}")
        self._trial_run: str | None = None
        self._trial_error: str | None = None
        self._trial_objective: tuple[float, float] | None = None
        self._outcomes: list[Outcome] = []
        folder = Path(kwargs["directory"]) / kwargs["project_name"]
        if context.resuming:
            _prepare_reload(folder)
        with contextlib.redirect_stdout(io.StringIO()):  # "Reloading Tuner from ..."
            super().__init__(*args, **kwargs)
        prewarm_plotting()
        if isinstance(self.oracle, kt.oracles.GridSearchOracle) and self.oracle.trials:
            _restore_grid_order(self.oracle)
        if context.interrupts is not None:
            _defer_signals_in_state_writes(self.oracle, context.interrupts)

    def _populate_initial_space(self) -> None:
        # declare() registers every conditional scope already; Keras Tuner's own discovery loop
        # would build a throwaway Keras model per scope
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)

    def save(self) -> None:
        interrupts = self.ctx.interrupts
        with interrupts.deferred() if interrupts else contextlib.nullcontext():
            super().save()  # type: ignore[misc]

    def run_trial(self, trial: kt.engine.trial.Trial, *args: Any, **kwargs: Any) -> Any:
        ctx = self.ctx
        values = used_values(self.hypermodel.values(trial.hyperparameters))
        shown = active_values(ctx.sweep.space, trial.hyperparameters)
        ctx.progress.trial_begin(trial.trial_id, shown)
        attempt = ctx.attempts.get(trial.trial_id, 0) + 1
        ctx.attempts[trial.trial_id] = attempt
        params = {**values, **ctx.settings, **ctx.extra_params, **_hyperband_params(trial)}
        tags = {TAG_PARENT: ctx.parent_run_id, TAG_ROLE: ROLE_TRIAL, TAG_TRIAL_ID: trial.trial_id,
                TAG_ATTEMPT: str(attempt)}  # fmt: skip
        run_id = ctx.tracker.start_run(f"trial-{trial.trial_id}", tags, params)
        self._trial_run, self._outcomes = run_id, []
        self._trial_error = self._trial_objective = None
        try:
            results = super().run_trial(trial, *args, **kwargs)  # type: ignore[misc]
            self._log_trial(trial, run_id)
        except BaseException as error:
            message = _error_text(error)
            self._record_error(run_id, message)
            if isinstance(error, KeyboardInterrupt | SystemExit):
                ctx.tracker.end_run(run_id, "KILLED")
                self._trial_run = None
                raise
            self._trial_error = message
            raise kt.errors.FailedTrialError(message) from error
        finally:
            self._outcomes = []
        return results

    def _try_run_and_update_trial(
        self, trial: kt.engine.trial.Trial, *args: Any, **kw: Any
    ) -> None:
        from keras_tuner.src import config as kt_config

        # Keras Tuner prints every failed trial's traceback while its DEBUG flag is on (the
        # default); the traceback is an artifact of the trial's run instead
        debug, kt_config.DEBUG = kt_config.DEBUG, False
        try:
            super()._try_run_and_update_trial(trial, *args, **kw)  # type: ignore[misc]
        finally:
            kt_config.DEBUG = debug

    def on_trial_end(self, trial: kt.engine.trial.Trial) -> None:
        """Keras Tuner records the trial's end and saves its state; then the run is closed."""
        ctx, run_id = self.ctx, self._trial_run
        interrupts = ctx.interrupts
        with interrupts.deferred() if interrupts else contextlib.nullcontext():
            try:
                super().on_trial_end(trial)  # type: ignore[misc]
            finally:
                if run_id is not None:
                    self._close_trial_run(trial, run_id)

    def _close_trial_run(self, trial: kt.engine.trial.Trial, run_id: str) -> None:
        ctx = self.ctx
        self._trial_run = None
        status = self.oracle.get_trial(trial.trial_id).status
        if status == kt.engine.trial.TrialStatus.COMPLETED:
            ctx.tracker.end_run(run_id, "FINISHED")
            ctx.trial_runs[trial.trial_id] = run_id
            objective, test_accuracy = self._trial_objective or (math.nan, math.nan)
            ctx.progress.trial_end(trial.trial_id, objective, test_accuracy)
            return
        error = self._trial_error
        if error is None:  # Keras Tuner rejected a trial that ran (e.g. a NaN objective)
            lines = (trial.message or "").strip().splitlines()
            error = lines[-1] if lines else f"Keras Tuner marked the trial {status}"
            self._record_error(run_id, error, with_traceback=False)
        ctx.tracker.end_run(run_id, "FAILED")
        ctx.last_error = error
        ctx.progress.trial_failed(trial.trial_id, error)

    def _record_error(self, run_id: str, message: str, with_traceback: bool = True) -> None:
        self.ctx.tracker.set_tags(run_id, {TAG_ERROR: message[:5000]})
        if with_traceback:
            self.ctx.tracker.log_text(run_id, traceback.format_exc(), "traceback.txt")

    def _log_trial(self, trial: kt.engine.trial.Trial, run_id: str) -> None:
        """Final metrics and artifacts of a trial that ran; its run stays open until KT saves."""
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
            shutil.rmtree(outcomes[0].model_path.parent, ignore_errors=True)
        objective = final[
            "best_val_accuracy" if ctx.sweep.directions() == "max" else "best_val_loss"
        ]
        self._trial_objective = (objective, final["test_accuracy"])

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
        except BaseException as error:
            if run_id != self._trial_run:
                interrupted = isinstance(error, KeyboardInterrupt | SystemExit)
                self._record_error(run_id, _error_text(error))
                ctx.tracker.end_run(run_id, "KILLED" if interrupted else "FAILED")
            raise
        outcome: Outcome = history.textsweep
        outcome.rows = reporter.rows
        # Keras Tuner keeps what this returns until the trial ends; the model need not stay alive
        history.set_model(None)
        if run_id != self._trial_run:
            ctx.tracker.log_metrics(run_id, outcome.final)
            log_history_artifacts(
                ctx.tracker, run_id, outcome.rows, f"trial {trial.trial_id} #{index}"
            )
            ctx.tracker.end_run(run_id, "FINISHED")
        self._outcomes.append(outcome)
        return history


def _error_text(error: BaseException) -> str:
    """`Type: last line of the message`, the form of the `textsweep.error` tag."""
    # TensorFlow prefixes op errors with `{{function_node ...}}`; the rest says what happened
    text = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", str(error).strip())
    return f"{type(error).__name__}: {text.splitlines()[-1]}" if text else type(error).__name__


def _prepare_reload(folder: Path) -> None:
    """Let Keras Tuner reload a project killed during its first trial.

    It reloads only when its tuner file exists, which it writes at the end of a trial; the
    oracle's own file is written when a trial starts.
    """
    tuner_file = folder / f"{os.environ.get('KERASTUNER_TUNER_ID', 'tuner0')}.json"
    if (folder / "oracle.json").is_file() and not tuner_file.is_file():
        tuner_file.write_text("{}", encoding="utf-8")


def _restore_grid_order(oracle: Any) -> None:
    """Rebuild the grid oracle's order of tried combinations, which Keras Tuner does not save.

    Without it a reloaded `GridSearchOracle` stops at once or fails on an unknown trial id. The
    order is the trials sorted by the oracle's own comparison; every trial is queued to have
    its next combination considered (already-tried ones are skipped by the oracle).
    """
    from functools import cmp_to_key

    from keras_tuner.src.tuners.gridsearch import LinkedList

    def compare(a: str, b: str) -> int:
        values = oracle.trials[a].hyperparameters.values, oracle.trials[b].hyperparameters.values
        return int(oracle._compare(*values))

    ordered: list[str] = sorted(oracle.trials, key=cmp_to_key(compare))
    oracle._ordered_ids = LinkedList()
    for trial_id in ordered:
        oracle._ordered_ids.insert(trial_id)
    oracle._populate_next = list(oracle.start_order)


def _defer_signals_in_state_writes(oracle: Any, interrupts: Interrupts) -> None:
    """Keras Tuner writes its JSON state in place; a signal raised mid-write would truncate it."""
    for name in ("create_trial", "update_trial", "end_trial", "save"):
        method = getattr(oracle, name, None)
        if method is None:  # a worker's oracle is a gRPC client: it has no `save`
            continue

        def deferred(*args: Any, _method: Any = method, **kwargs: Any) -> Any:
            with interrupts.deferred():
                return _method(*args, **kwargs)

        setattr(oracle, name, deferred)


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

"""The tracked tuner: Keras Tuner's search loop, with one MLflow run per trial and per execution.

    tuner = make_tuner(sweep, context, inputs, encoded, parent_run_id)
    tuner.search(epochs=sweep.config.training.epochs, verbose=0)

Imports Keras and Keras Tuner at the top; only `sweep.execution` imports it, after TensorFlow is
configured, so the CLI and `textsweep validate` stay light.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import re
import shutil
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import keras_tuner as kt
import numpy as np

from textsweep import tuners
from textsweep.config import Sweep
from textsweep.export.keeper import ModelKeeper
from textsweep.hardware import cudnn_warning, gpu_count
from textsweep.models import used_values
from textsweep.search_space import active_values
from textsweep.sweep import ktcompat
from textsweep.sweep.hypermodel import EpochReporter, Outcome, TextHyperModel
from textsweep.sweep.interrupts import Interrupts, SweepInterrupted
from textsweep.sweep.progress import Progress
from textsweep.tracking import (
    EPOCH_METRICS,
    TAG_ATTEMPT,
    TAG_ERROR,
    TAG_EXECUTION,
    TAG_PARENT,
    TAG_ROLE,
    TAG_SEED,
    TAG_TRIAL_ID,
    Role,
    RunStatus,
    Tracker,
    log_history_artifacts,
    mean_std,
    views,
)
from textsweep.tracking.artifacts import prewarm_plotting
from textsweep.tracking.store import retry_locked

FINAL_KEYS = ("best_val_accuracy", "best_val_loss", "best_epoch", "test_loss", "test_accuracy",
              "train_seconds", "params_count")  # fmt: skip


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
    shared: bool = False  # a worker: other processes run this execution's trials too


class TrackedTuner:
    """Mixed in before a Keras Tuner tuner: one MLflow run per trial (and per execution).

    A trial run is closed only after Keras Tuner has saved the trial's end, so after a crash
    its saved state says which runs were complete (see `sweep.state.close_orphan_runs`).
    """

    hypermodel: TextHyperModel
    executions_per_trial: int
    oracle: Any
    keras_build_and_fit: Any  # Keras Tuner's own build-and-fit (`ktcompat.PrivateHooks`)

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
            ktcompat.prepare_reload(folder)
        with contextlib.redirect_stdout(io.StringIO()):  # "Reloading Tuner from ..."
            super().__init__(*args, **kwargs)
        prewarm_plotting()
        self.models = ModelKeeper.for_tuner(context, self.hypermodel, folder)
        tuners.of(context.sweep.config.tuner).after_reload(self.oracle)
        self._idle = False

        def created(trial: ktcompat.Trial) -> None:
            self._idle = trial.status == ktcompat.TrialStatus.IDLE

        ktcompat.watch_created_trials(self.oracle, created)
        if context.interrupts is not None:
            ktcompat.defer_signals_in_state_writes(self.oracle, context.interrupts)

    def search(self, *args: Any, **kwargs: Any) -> None:
        with ktcompat.atomic_json_writes():  # Keras Tuner's state files, never cut by a kill
            super().search(*args, **kwargs)  # type: ignore[misc]

    def pre_create_trial(self) -> None:
        if self.ctx.interrupts is not None:  # a signal whose first raise was lost stops here
            self.ctx.interrupts.check()
        if self._idle:  # the oracle waits for other workers' trials: ask again in a moment
            time.sleep(1.0)
        super().pre_create_trial()  # type: ignore[misc]

    def declare_space(self) -> None:
        # declare() registers every conditional scope already; Keras Tuner's own discovery loop
        # would build a throwaway Keras model per scope
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)

    def save(self) -> None:
        interrupts = self.ctx.interrupts
        with interrupts.deferred(files=True) if interrupts else contextlib.nullcontext():
            super().save()  # type: ignore[misc]

    def run_trial(self, trial: ktcompat.Trial, *args: Any, **kwargs: Any) -> Any:
        ctx = self.ctx
        values = used_values(self.hypermodel.values(trial.hyperparameters))
        shown = {k: v for k, v in active_values(ctx.sweep.space, trial.hyperparameters).items()
                 if k in values}  # fmt: skip
        ctx.progress.trial_begin(trial.trial_id, shown)
        attempt = self._earlier_attempts(trial.trial_id) + 1
        ctx.attempts[trial.trial_id] = attempt
        params = {**values, **ctx.settings, **ctx.extra_params, **ktcompat.hyperband_params(trial)}
        tags = {TAG_PARENT: ctx.parent_run_id, TAG_ROLE: Role.TRIAL, TAG_TRIAL_ID: trial.trial_id,
                TAG_ATTEMPT: str(attempt)}  # fmt: skip
        try:
            name = views.trial_run_name(trial.trial_id, values, views.varied_names(ctx.sweep))
            run_id = ctx.tracker.start_run(name, tags, params)
        except Exception as error:  # Keras Tuner would count the trial invalid and go on
            ktcompat.stop_if_tracking_lost(error)
            raise
        self._trial_run, self._outcomes = run_id, []
        self._trial_error = self._trial_objective = None
        try:
            results = super().run_trial(trial, *args, **kwargs)  # type: ignore[misc]
            self._log_trial(trial, run_id)
        except BaseException as error:
            ktcompat.stop_if_tracking_lost(error)  # nothing more can be written
            message = _error_text(error)
            self._record_error(run_id, message)
            signum = ctx.interrupts.received if ctx.interrupts is not None else None
            if isinstance(error, KeyboardInterrupt | SystemExit) or signum is not None:
                ctx.tracker.end_run(run_id, RunStatus.KILLED)
                self._trial_run = None
                if signum is not None and not isinstance(error, KeyboardInterrupt):
                    raise SweepInterrupted(signum) from error  # a library wrapped the signal
                raise
            self._trial_error = message
            raise kt.errors.FailedTrialError(message) from error
        finally:
            self._outcomes = []
        return results

    def _earlier_attempts(self, trial_id: str) -> int:
        """Runs of this trial before this one: this process's count, or MLflow's for a worker
        (a worker restarted after a crash runs its unfinished trial again)."""
        ctx = self.ctx
        if not ctx.shared:
            return ctx.attempts.get(trial_id, 0)
        query = (
            f"tags.`{TAG_PARENT}` = '{ctx.parent_run_id}' and tags.`{TAG_ROLE}` = '{Role.TRIAL}' "
            f"and tags.`{TAG_TRIAL_ID}` = '{trial_id}'"
        )
        client = ctx.tracker.client
        exp = ctx.tracker.experiment_id
        return len(retry_locked(lambda: client.search_runs([exp], filter_string=query)))

    def on_trial_end(self, trial: ktcompat.Trial) -> None:
        """Keras Tuner records the trial's end and saves its state; then the run is closed."""
        ctx, run_id = self.ctx, self._trial_run
        interrupts = ctx.interrupts
        with interrupts.deferred() if interrupts else contextlib.nullcontext():
            try:
                super().on_trial_end(trial)  # type: ignore[misc]
            finally:
                if run_id is not None:
                    self._close_trial_run(trial, run_id)

    def _close_trial_run(self, trial: ktcompat.Trial, run_id: str) -> None:
        ctx = self.ctx
        self._trial_run = None
        status = self.oracle.get_trial(trial.trial_id).status
        if status == ktcompat.TrialStatus.COMPLETED:
            ctx.tracker.end_run(run_id, RunStatus.FINISHED)
            ctx.trial_runs[trial.trial_id] = run_id
            objective, test_accuracy = self._trial_objective or (math.nan, math.nan)
            ctx.progress.trial_end(trial.trial_id, objective, test_accuracy)
            return
        error = self._trial_error
        if error is None:  # Keras Tuner rejected a trial that ran (e.g. a NaN objective)
            lines = (trial.message or "").strip().splitlines()
            error = lines[-1] if lines else f"Keras Tuner marked the trial {status}"
            self._record_error(run_id, error, with_traceback=False)
        ctx.tracker.end_run(run_id, RunStatus.FAILED)
        ctx.last_error = error
        ctx.progress.trial_failed(trial.trial_id, error)

    def _record_error(self, run_id: str, message: str, with_traceback: bool = True) -> None:
        self.ctx.tracker.set_tags(run_id, {TAG_ERROR: message[:5000]})
        if with_traceback:
            self.ctx.tracker.log_text(run_id, traceback.format_exc(), "traceback.txt")

    def _log_trial(self, trial: ktcompat.Trial, run_id: str) -> None:
        """Final metrics and artifacts of a trial that ran; its run stays open until KT saves."""
        ctx, outcomes = self.ctx, self._outcomes
        final = mean_final([o.final for o in outcomes])
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
        self.models.trial_logged(trial.trial_id, run_id, objective)

    def on_search_end(self) -> None:
        super().on_search_end()  # type: ignore[misc]
        self.models.finish()  # the best trial's model, to its run

    def fit_execution(self, trial: ktcompat.Trial, *args: Any, **kwargs: Any) -> Any:
        ctx = self.ctx
        index = len(self._outcomes)
        seed = execution_seed(ctx.sweep.config.tuner.seed, trial.trial_id, index)
        keras.utils.set_random_seed(seed)
        assert self._trial_run is not None
        run_id, label = self._trial_run, ""
        if self.executions_per_trial > 1:
            label = f"[{index + 1}/{self.executions_per_trial}] "
            tags = {TAG_PARENT: self._trial_run, TAG_ROLE: Role.EXECUTION,
                    TAG_EXECUTION: str(index), TAG_SEED: str(seed), TAG_TRIAL_ID: trial.trial_id}  # fmt: skip
            run_id = ctx.tracker.start_run(f"t{trial.trial_id} execution {index + 1}", tags)
        else:
            ctx.tracker.set_tags(run_id, {TAG_SEED: str(seed)})
        epochs = int(kwargs.get("epochs", ctx.sweep.config.training.epochs))
        check = ctx.interrupts.check if ctx.interrupts is not None else None
        reporter = EpochReporter(ctx.tracker, run_id, ctx.progress, epochs, label, check)
        kwargs["callbacks"] = list(kwargs.get("callbacks", [])) + [reporter]
        try:
            history = self.keras_build_and_fit(trial, *args, **kwargs)
        except BaseException as error:
            if run_id != self._trial_run:
                interrupted = isinstance(error, KeyboardInterrupt | SystemExit)
                self._record_error(run_id, _error_text(error))
                ctx.tracker.end_run(run_id, RunStatus.KILLED if interrupted else RunStatus.FAILED)
            raise
        outcome: Outcome = history.textsweep
        outcome.rows = reporter.rows
        values = self.hypermodel.values(trial.hyperparameters)
        self.models.offer(trial.trial_id, values, history.model, outcome.final)
        # Keras Tuner keeps what this returns until the trial ends; the model need not stay alive
        history.set_model(None)
        if run_id != self._trial_run:
            ctx.tracker.log_metrics(run_id, outcome.final)
            log_history_artifacts(
                ctx.tracker, run_id, outcome.rows, f"trial {trial.trial_id} #{index}"
            )
            ctx.tracker.end_run(run_id, RunStatus.FINISHED)
        self._outcomes.append(outcome)
        return history


def _error_text(error: BaseException) -> str:
    """`Type: last line of the message`, the form of the `textsweep.error` tag."""
    # TensorFlow prefixes op errors with `{{function_node ...}}`; the rest says what happened
    text = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", str(error).strip())
    return f"{type(error).__name__}: {text.splitlines()[-1]}" if text else type(error).__name__


def mean_final(finals: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """A trial's final metrics: the mean over its executions, and `<metric>_std` when > 1."""
    final: dict[str, float] = {}
    for key in FINAL_KEYS:
        mean, std = mean_std(f[key] for f in finals if key in f)
        final[key] = mean
        if len(finals) > 1:
            final[f"{key}_std"] = std
    return final


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


def tuner_class(base: type) -> type:
    """`base` (a Keras Tuner tuner class an algorithm chose) with `TrackedTuner` mixed in."""
    return type(f"Tracked{base.__name__}", (TrackedTuner, ktcompat.PrivateHooks, base), {})

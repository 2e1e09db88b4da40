"""The tracked tuner: Keras Tuner's search loop, with one MLflow run per trial and per execution.

    tuner = make_tuner(sweep, context, inputs, encoded, parent_run_id)
    tuner.search(epochs=sweep.config.training.epochs, verbose=0)

Imports Keras and Keras Tuner at the top; only `sweep.execution` imports it, after TensorFlow is
configured, so the CLI and `textsweep validate` stay light.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras_tuner as kt
import numpy as np

from textsweep import tuners
from textsweep.config import Sweep
from textsweep.export.keeper import ModelKeeper, config_key
from textsweep.hardware import cudnn_warning, gpu_count
from textsweep.models import used_values
from textsweep.search_space import active_values
from textsweep.sweep import ktcompat, lease, workers
from textsweep.sweep.hypermodel import Outcome, TextHyperModel
from textsweep.sweep.interrupts import Interrupts, SweepInterrupted
from textsweep.sweep.progress import Progress
from textsweep.sweep.pruning import curve_pruner
from textsweep.sweep.trial import (
    error_text,
    execution_spec,
    mean_final,
    record_error,
    train_execution,
)
from textsweep.tracking import (
    EPOCH_METRICS,
    TAG_ATTEMPT,
    TAG_NOTE,
    TAG_PARENT,
    TAG_ROLE,
    TAG_TRIAL_ID,
    Role,
    RunStatus,
    Tracker,
    log_history_artifacts,
    objective_metric,
    plain,
    views,
)
from textsweep.tracking.artifacts import prewarm_plotting


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

    def __init__(self, *args: Any, context: SweepContext, **kwargs: Any):
        self.ctx = context
        cudnn = cudnn_warning(context.sweep.space, gpu_count())
        if cudnn is not None:  # once per sweep, before its first trial
            context.progress.say(f"warning: {cudnn}")
        self._trial_run: str | None = None
        self._trial_error: str | None = None
        self._trial_objective: tuple[float, float] | None = None
        self._trial_config = ""
        self._outcomes: list[Outcome] = []
        folder = Path(kwargs["directory"]) / kwargs["project_name"]
        if context.resuming:
            ktcompat.prepare_reload(folder)
        with contextlib.redirect_stdout(io.StringIO()):  # "Reloading Tuner from ..."
            super().__init__(*args, **kwargs)
        if context.shared or workers.role() == "chief":  # a lease on every trial (sweep.lease)
            lease.install(self.oracle, context)
        prewarm_plotting()
        self.models = ModelKeeper.for_tuner(context, self.hypermodel, folder)
        if not context.shared:  # a worker's oracle is a gRPC client: it holds no trials
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
        shown = {
            k: v
            for k, v in active_values(ctx.sweep.space, trial.hyperparameters).items()
            if k in values
        }
        ctx.progress.trial_begin(trial.trial_id, shown)
        attempt = self._earlier_attempts(trial.trial_id) + 1
        ctx.attempts[trial.trial_id] = attempt
        params = {**values, **ctx.settings, **ctx.extra_params, **ktcompat.hyperband_params(trial)}
        tags = {
            TAG_PARENT: ctx.parent_run_id,
            TAG_ROLE: Role.TRIAL,
            TAG_TRIAL_ID: trial.trial_id,
            TAG_ATTEMPT: str(attempt),
        }
        try:
            name = views.trial_run_name(
                trial.trial_id,
                values,
                views.varied_names(ctx.sweep),
                self._execution_of_combination(trial),
            )
            run_id = ctx.tracker.start_run(name, tags, params)
        except Exception as error:  # Keras Tuner would count the trial invalid and go on
            ktcompat.stop_if_tracking_lost(error)
            raise
        self._trial_run, self._outcomes = run_id, []
        self._trial_config = config_key(values)
        self._trial_error = self._trial_objective = None
        try:
            results = super().run_trial(trial, *args, **kwargs)  # type: ignore[misc]
            self._log_trial(trial, run_id)
        except BaseException as error:
            ktcompat.stop_if_tracking_lost(error)  # nothing more can be written
            message = error_text(error)
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

    def _execution_of_combination(self, trial: ktcompat.Trial) -> int | None:
        """In a raced sweep, which execution of its combination `trial` is (1, 2, ...): trials
        before it with the same values, plus one. None for other sweeps, or when the oracle's
        trials are not at hand (a worker's oracle is the chief's)."""
        trials = getattr(self.oracle, "trials", None)
        if self.ctx.sweep.config.tuner.repeats is None or not isinstance(trials, dict):
            return None
        mine = trial.hyperparameters.values
        same = [t for t in trials.values() if t.hyperparameters.values == mine]
        return 1 + sum(int(t.trial_id) < int(trial.trial_id) for t in same)

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
        return len(ctx.tracker.search(query))

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
        if ctx.shared and lease.settle_late(ctx.tracker, run_id, trial.status, status):
            ctx.progress.say(
                f"trial {trial.trial_id}: the chief took it back (its lease expired); "
                "another worker runs it, this run stays KILLED"
            )
            return
        if status == ktcompat.TrialStatus.COMPLETED:
            ctx.tracker.end_run(run_id, RunStatus.FINISHED)
            ctx.trial_runs[trial.trial_id] = run_id
            objective, test_accuracy = self._trial_objective or (math.nan, math.nan)
            ctx.progress.trial_end(trial.trial_id, objective, test_accuracy, self._trial_config)
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
        try:
            record_error(self.ctx.tracker, run_id, message, with_traceback)
        except Exception as error:  # the store itself failed: stop, never a failed trial
            ktcompat.stop_if_tracking_lost(error)
            raise

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
        log_history_artifacts(ctx.tracker, run_id, rows, f"{ctx.sweep.name} t{trial.trial_id}")
        ctx.tracker.log_text(run_id, outcomes[0].summary, "model_summary.txt")
        if outcomes[0].model_path is not None:
            ctx.tracker.log_file(run_id, outcomes[0].model_path, "model")
            shutil.rmtree(outcomes[0].model_path.parent, ignore_errors=True)
        objective = final[objective_metric(ctx.sweep.config.objective)]
        self._trial_objective = (objective, final["test_accuracy"])
        # the trial's page says its result in words, to 4 places (the metrics keep 6 digits)
        name = objective_metric(ctx.sweep.config.objective)
        over = f", mean of {len(outcomes)} executions" if len(outcomes) > 1 else ""
        ctx.tracker.set_tags(
            run_id,
            {TAG_NOTE: f"{name} {objective:.4f}, test accuracy {final['test_accuracy']:.4f}{over}"},
        )
        self.models.trial_logged(trial.trial_id, run_id, objective)

    def on_search_end(self) -> None:
        super().on_search_end()  # type: ignore[misc]
        if self.ctx.shared:  # a worker cannot know the sweep's choice: it logs what it kept
            self.models.finish(None)
        # one process: `sweep.execution` logs the chosen configuration's model once it is known

    def fit_execution(self, trial: ktcompat.Trial, *args: Any, **kwargs: Any) -> Any:
        """One execution of the trial, through the one function that trains an execution."""
        ctx = self.ctx
        index = len(self._outcomes)
        assert self._trial_run is not None
        nested = self.executions_per_trial > 1
        label = f"[{index + 1}/{self.executions_per_trial}] " if nested else ""
        spec = execution_spec(
            ctx.tracker,
            ctx.sweep.config.tuner.seed,
            trial.trial_id,
            self._trial_run,
            index,
            nested=nested,
            label=label,
        )
        check = ctx.interrupts.check if ctx.interrupts is not None else None
        epochs = int(kwargs.get("epochs", ctx.sweep.config.training.epochs))
        pruner = curve_pruner(self.oracle, trial.hyperparameters.values, ctx, epochs)
        if pruner is not None:  # a race with `repeats.prune`: stop a clearly worse curve
            kwargs["callbacks"] = [*kwargs.get("callbacks", []), pruner]
        outcome, history = train_execution(
            ctx.tracker,
            ctx.progress,
            self.hypermodel,
            trial.hyperparameters,
            spec,
            fit_kwargs=kwargs,
            build=functools.partial(ktcompat.try_build, self),
            check=check,
            keeper=self.models,
        )
        if pruner is not None:
            pruner.finish(ctx.tracker, spec.run_id, ctx.progress, trial.trial_id)
        ktcompat.after_fit(self, trial, history)
        # Keras Tuner keeps what this returns until the trial ends; the model need not stay alive
        history.set_model(None)
        self._outcomes.append(outcome)
        return history


def _mean_rows(runs: list[list[dict[str, float]]]) -> list[dict[str, float]]:
    """Per-epoch means over executions, for the epochs every execution reached."""
    length = min((len(r) for r in runs), default=0)
    out = []
    for i in range(length):
        row: dict[str, float] = {"epoch": runs[0][i]["epoch"]}
        for key in EPOCH_METRICS:
            vals = [r[i][key] for r in runs if key in r[i]]
            if vals:
                row[key] = plain(float(np.mean(vals)))
        out.append(row)
    return out


def tuner_class(base: type) -> type:
    """`base` (a Keras Tuner tuner class an algorithm chose) with `TrackedTuner` mixed in."""
    return type(f"Tracked{base.__name__}", (TrackedTuner, ktcompat.PrivateHooks, base), {})

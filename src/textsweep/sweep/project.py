"""A sweep's Keras Tuner project: created, reloaded for `--resume`, or rebuilt from MLflow.

    tuner = make_tuner(sweep, context, inputs, encoded, parent_run_id)
    catch_up(tuner, context)              # after a reload: close what a dead process left open

The project lives in `$TEXTSWEEP_HOME/tuner/<sweep>/<parent run id>`. Keras Tuner's JSON files
are written atomically (`ktcompat.atomic_json_writes`); state damaged some other way (a full
disk, a copy cut short) is rebuilt from MLflow, which holds every trial that ended: its
hyperparameters (params), status and objective (`best_<objective>`). Those trials go back into a
fresh oracle, so the resumed sweep runs exactly the trials that are missing. An algorithm whose
state is not all in MLflow (Hyperband's brackets) says so (`Algorithm.rebuildable`).
"""

from __future__ import annotations

from typing import Any

import keras_tuner as kt

from textsweep import tuners
from textsweep.config import Sweep
from textsweep.errors import UserError
from textsweep.models import ModelInputs
from textsweep.runtime import home_dir
from textsweep.sweep import ktcompat, lease
from textsweep.sweep.hypermodel import TextHyperModel, TrialData
from textsweep.sweep.state import close_orphan_runs
from textsweep.sweep.tuner import SweepContext, tuner_class
from textsweep.tracking import TAG_TRIAL_ID, Role, RunStatus, objective_metric
from textsweep.vocabulary import Encoded


def make_tuner(
    sweep: Sweep, context: SweepContext, inputs: ModelInputs, encoded: Encoded, parent_id: str
) -> Any:
    """The sweep's Keras Tuner tuner, tracked, with its project under `$TEXTSWEEP_HOME/tuner`."""
    cfg = sweep.config
    algorithm = tuners.of(cfg.tuner)
    hypermodel = TextHyperModel(sweep, TrialData(encoded), inputs)
    oracle_args: dict[str, Any] = {
        "objective": kt.Objective(cfg.objective, sweep.directions()),
        "seed": cfg.tuner.seed,
        "max_consecutive_failed_trials": cfg.tuner.max_consecutive_failures,
    }
    directory = home_dir() / "tuner" / sweep.name
    common: dict[str, Any] = {
        "hypermodel": hypermodel,
        "executions_per_trial": cfg.tuner.executions_per_trial,
        "directory": str(directory),
        "project_name": parent_id,
        "overwrite": False,
        "context": context,
    }

    def build() -> Any:
        base, kwargs = algorithm.make(sweep, dict(oracle_args))
        base, kwargs = lease.shared(sweep, base, kwargs, oracle_args)  # chief/worker mode
        with ktcompat.atomic_json_writes():  # and in its search (`TrackedTuner.search`)
            return tuner_class(base)(**common, **kwargs)

    folder = directory / parent_id
    problem = ktcompat.unreadable_state(folder) if context.resuming else None
    if problem is not None and algorithm.rebuildable:
        context.progress.say(
            f"warning: Keras Tuner's saved state cannot be read ({problem}); rebuilding it "
            "from the trials MLflow holds"
        )
        ktcompat.clear_state(folder)
        context.resuming = False  # nothing left to reload
        tuner = build()
        with ktcompat.atomic_json_writes():
            rebuild_from_mlflow(tuner, context)
        context.resuming = True
        return tuner
    try:
        return build()
    except (ValueError, KeyError) as e:  # a damaged oracle.json or trial.json
        if not context.resuming:
            raise
        why = (
            f"a {cfg.tuner.algorithm} project cannot be rebuilt from MLflow (its state is not "
            "all there)"
            if not algorithm.rebuildable
            else "no file of it looked damaged, so it was not rebuilt from MLflow"
        )
        raise UserError(
            f"--resume: Keras Tuner's state in {folder} cannot be reloaded "
            f"({type(e).__name__}: {e}), and {why}; start a new execution with --fresh",
            source=str(sweep.path) if sweep.path else "<sweep>",
        ) from e


def catch_up(tuner: Any, context: SweepContext) -> None:
    """After a reload: close the runs a dead process left open, continue the trial count."""
    oracle, progress = tuner.oracle, context.progress
    runs = close_orphan_runs(
        context.tracker, context.parent_run_id, {i: t.status for i, t in oracle.trials.items()}
    )
    context.trial_runs.update(runs.finished)
    context.attempts.update(runs.attempts)
    ended = len(oracle.end_order)
    progress.done = ended
    best = [t for t in oracle.get_best_trials(1) if t.status == "COMPLETED"]
    if best:
        progress.best, progress.best_trial = best[0].score, best[0].trial_id
    redo = ktcompat.retry_queue_length(oracle)
    progress.say(
        f"resuming parent run {context.parent_run_id}: {ended} trial(s) ended before"
        + (f", {redo} interrupted trial(s) to run again" if redo else "")
    )


def rebuild_from_mlflow(tuner: Any, context: Any) -> int:
    """Fill a fresh tuner's oracle with the trials that ended under the parent run; how many."""
    tracker, oracle = context.tracker, tuner.oracle
    close_orphan_runs(tracker, context.parent_run_id, {})  # a dead process's runs: KILLED
    latest: dict[str, Any] = {}
    for run in tracker.child_runs(context.parent_run_id, Role.TRIAL):  # oldest first
        latest[run.data.tags.get(TAG_TRIAL_ID, "")] = run
    space = {hp.name: hp for hp in oracle.get_space().space}
    metric = objective_metric(context.sweep.config.objective)
    added = 0
    for trial_id in sorted(latest):
        run = latest[trial_id]
        if run.info.status not in (RunStatus.FINISHED, RunStatus.FAILED):
            continue  # interrupted: the resumed sweep runs it again
        values = {
            name: coerce(space[name], text)
            for name, text in run.data.params.items()
            if name in space
        }
        ktcompat.add_ended_trial(
            oracle,
            trial_id,
            values,
            run.data.metrics.get(metric),
            completed=run.info.status == RunStatus.FINISHED,
        )
        added += 1
    tuners.of(context.sweep.config.tuner).after_reload(oracle)
    oracle.save()
    tuner.save()
    return added


def coerce(hp: Any, text: str) -> Any:
    """A hyperparameter's value from its MLflow param text, in the type Keras Tuner declared."""
    kind = type(hp).__name__
    if kind == "Boolean":
        return text == "True"
    if kind == "Int":
        return int(float(text))
    if kind == "Float":
        return float(text)
    candidates = list(getattr(hp, "values", None) or [getattr(hp, "value", text)])
    for candidate in candidates:
        if str(candidate) == text:
            return candidate
    return text

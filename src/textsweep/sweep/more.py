"""More evidence for a finished execution: K more seeded executions of every finished trial.

    result = add_executions(load_sweep("sweeps/dropout.yaml"), 2)   # textsweep run ... --more 2

The latest FINISHED execution of the same sweep definition (`textsweep.config_hash`) is reopened;
each of its finished trials is trained K more times with new seeds (`execution_seed` continues
the trial's execution index), each time as an execution run nested under the trial run; the
trial run's metrics become the mean over all its executions (with `<metric>_std`), as if it
had run with more `executions_per_trial`. The report pools them. A trial logged with one
execution gets its first execution copied into an execution run (`textsweep.copied_from`), so
every execution is a run of its own.

The pooled means may name another best trial. With `tracking.log_models: best`, the best new
execution of that trial is logged as its model when it has none, and the champion alias moves to
it; when no model could be kept for it, the terminal says that the champion stays.
A raced sweep's `textsweep.repeats` tag is judged again on the pooled executions.

An interrupt keeps what finished: the execution runs that ended count, the one in progress is
KILLED, and the parent is closed FINISHED again.
"""

from __future__ import annotations

import math
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from textsweep.config import Sweep
from textsweep.errors import UserError
from textsweep.runtime import configure_tensorflow, home_dir
from textsweep.sweep.data import prepare_data
from textsweep.sweep.interrupts import Interrupts
from textsweep.sweep.locks import SWEEP_LOCK_NAME, ExecutionLock
from textsweep.sweep.parent import (
    SweepResult,
    close_parent,
    close_racing,
    reopen_parent,
    summary,
    sweep_result,
)
from textsweep.sweep.progress import Progress
from textsweep.sweep.state import config_fingerprint, project_dir
from textsweep.tracking import (
    EPOCH_METRICS,
    TAG_CONFIG_HASH,
    TAG_COPIED_FROM,
    TAG_EXECUTION,
    TAG_MODEL,
    TAG_MORE,
    TAG_PARENT,
    TAG_ROLE,
    TAG_SEED,
    TAG_SWEEP,
    TAG_TRIAL_ID,
    ExecutionState,
    Role,
    RunStatus,
    Tracker,
    objective_metric,
)
from textsweep.tracking.calls import shield_store_calls

if TYPE_CHECKING:
    from textsweep.export.keeper import ModelKeeper


def add_executions(
    sweep: Sweep, k: int, tracking_uri: str | None = None, out: TextIO | None = None
) -> SweepResult:
    """Train every finished trial of the latest finished execution `k` more times; see module."""
    import time

    uri = sweep.tracking_uri(tracking_uri)
    source = str(sweep.path) if sweep.path else "<sweep>"
    tracker = Tracker.find(uri, sweep.experiment)
    parent = _latest_finished(tracker, sweep, uri, source)
    progress = Progress(sweep.config.objective, sweep.directions(), None, out=out or sys.stdout)
    started = time.monotonic()
    assert tracker is not None
    tuner_root = home_dir() / "tuner"
    folder = project_dir(tuner_root, sweep.name, parent)
    with Interrupts() as interrupts, shield_store_calls(interrupts.deferred):
        with interrupts.deferred():  # as in a new execution: one creation at a time
            guard = ExecutionLock.acquire(tuner_root / sweep.name, source, name=SWEEP_LOCK_NAME)
            try:
                lock = ExecutionLock.acquire(folder, source)
                reopen_parent(tracker, parent)
            finally:
                guard.release()
        try:
            progress.say(f"textsweep: {k} more execution(s) of every finished trial of {parent}")
            before = int(tracker.get_run(parent).data.tags.get(TAG_MORE, "0") or 0)
            try:
                encoded, matrix, _ = prepare_data(sweep, progress)
                training = sweep.config.training
                configure_tensorflow(training.intra_op_threads, training.inter_op_threads)
                keepers = _train_more(
                    sweep, tracker, parent, k, (encoded, matrix), folder, progress
                )
                result = sweep_result(tracker, sweep, parent)  # the pooled means' choice
                if (keeper := keepers.get(result.best_run_id or "")) is not None:
                    keeper.finish(result.best_run_id)  # its best new execution, to its run
            finally:
                with interrupts.deferred():
                    tracker.set_tags(parent, {TAG_MORE: str(before + k)})
                    if sweep.config.tuner.repeats is not None:  # the race, judged again
                        judged = sweep_result(tracker, sweep, parent)
                        progress.say(close_racing(tracker, sweep, judged))
                    close_parent(tracker, parent, RunStatus.FINISHED, ExecutionState.FINISHED)
        finally:
            lock.release()
            shutil.rmtree(folder, ignore_errors=True)
    _follow_champion(tracker, sweep, result, progress)
    progress.say(summary(result, sweep, time.monotonic() - started))
    return result


def _follow_champion(
    tracker: Tracker, sweep: Sweep, result: SweepResult, progress: Progress
) -> None:
    """The pooled means may choose another configuration: register its model as the champion
    (by the champion's rule), or say that the champion stays."""
    from textsweep.export.registry import CHAMPION, register_champion

    if result.best_run_id is None:
        return
    current = tracker.reader.version_by_alias(sweep.name, CHAMPION)
    if current is not None and current.run_id == result.best_run_id:
        return
    if (champion := register_champion(tracker, sweep, result)) is not None:
        progress.say(champion.message)


def _latest_finished(tracker: Tracker | None, sweep: Sweep, uri: str, source: str) -> str:
    query = (
        f"tags.`{TAG_SWEEP}` = '{sweep.name}' and tags.`{TAG_ROLE}` = '{Role.SWEEP}' and "
        f"tags.`{TAG_CONFIG_HASH}` = '{config_fingerprint(sweep)}' and "
        f"attributes.status = '{RunStatus.FINISHED}'"
    )
    runs = (
        tracker.search(query, order_by=["attributes.start_time DESC"], max_results=1)
        if tracker is not None
        else []
    )
    if not runs:
        raise UserError(
            f"--more: no finished execution of sweep {sweep.name!r} with this definition in "
            f"{uri}; run it first (`textsweep run {sweep.path or sweep.name}`), with the same "
            "file and --set options",
            source=source,
        )
    return str(runs[0].info.run_id)


def _train_more(
    sweep: Sweep,
    tracker: Tracker,
    parent: str,
    k: int,
    data: tuple[Any, Any],
    folder: Path,
    progress: Progress,
) -> dict[str, ModelKeeper]:
    """`data`: the encoded dataset and the embedding matrix. Returns, for each trial run without
    a model (`log_models: best`), a `ModelKeeper` holding its best new execution's model."""
    import keras_tuner as kt

    from textsweep.export.keeper import MODELS_FOLDER, ModelKeeper
    from textsweep.models import ModelInputs
    from textsweep.search_space import declare
    from textsweep.sweep.hypermodel import TextHyperModel, TrialData
    from textsweep.sweep.project import coerce
    from textsweep.sweep.trial import execution_spec, mean_final, train_execution

    encoded, matrix = data
    num_words = sweep.config.dataset.num_words
    inputs = ModelInputs(num_words, encoded.num_classes, matrix)
    hypermodel = TextHyperModel(sweep, TrialData(encoded), inputs)
    trials = [
        t for t in tracker.child_runs(parent, Role.TRIAL) if t.info.status == RunStatus.FINISHED
    ]
    # the pooled means may choose a trial that logged no model (`log_models: best` logged the
    # first choice's): each such trial keeps its best new execution, and the chosen one is logged
    keep = sweep.config.tracking.log_models == "best"
    info = {"sweep": sweep.name, "objective": sweep.config.objective}
    shutil.rmtree(folder / MODELS_FOLDER, ignore_errors=True)  # a killed `--more`'s
    keepers: dict[str, ModelKeeper] = {}
    epochs = sweep.config.training.epochs
    for number, trial in enumerate(trials, start=1):
        trial_id = trial.data.tags.get(TAG_TRIAL_ID, "")
        hp = kt.HyperParameters()
        declare(sweep.space, hp)
        space = {h.name: h for h in hp.space}
        for name, text in trial.data.params.items():
            if name in space:
                hp.values[name] = coerce(space[name], text)
        finals = _executions(tracker, trial)
        mode = "best" if keep and not trial.data.tags.get(TAG_MODEL) else "none"
        keeper = ModelKeeper(
            mode,
            folder / MODELS_FOLDER / trial.info.run_id,
            sweep.config.objective,
            tracker,
            (encoded, num_words),
            info,
            progress.say,
        )
        if keeper.mode != "none":
            keepers[trial.info.run_id] = keeper
        progress.say(
            f"trial t{trial_id} ({number}/{len(trials)}): {len(finals)} execution(s) so far"
        )
        for j in range(k):
            spec = execution_spec(
                tracker,
                sweep.config.tuner.seed,
                trial_id,
                trial.info.run_id,
                len(finals),
                nested=True,
                label=f"execution {j + 1}/{k}  ",
            )
            try:
                outcome, _ = train_execution(
                    tracker,
                    progress,
                    hypermodel,
                    hp,
                    spec,
                    fit_kwargs={"epochs": epochs},
                    keeper=keeper,
                )
            except Exception:  # recorded on its run by train_execution; the others go on
                continue
            finals.append(outcome.final)
        mean = mean_final(finals)
        tracker.log_metrics(trial.info.run_id, mean)
        objective = mean.get(objective_metric(sweep.config.objective), math.nan)
        keeper.trial_logged(trial_id, trial.info.run_id, objective)
    return keepers


def _executions(tracker: Tracker, trial: Any) -> list[dict[str, float]]:
    """The final metrics of a trial's finished executions; one logged on the trial run itself
    is copied into an execution run first, so that every execution is a run."""
    children = [
        r
        for r in tracker.child_runs(trial.info.run_id, Role.EXECUTION)
        if r.info.status == RunStatus.FINISHED
    ]
    if children:
        return [dict(r.data.metrics) for r in children]
    metrics = {k: v for k, v in trial.data.metrics.items() if not k.endswith("_std")}
    tags = {
        TAG_PARENT: trial.info.run_id,
        TAG_ROLE: Role.EXECUTION,
        TAG_EXECUTION: "0",
        TAG_TRIAL_ID: trial.data.tags.get(TAG_TRIAL_ID, ""),
        TAG_SEED: trial.data.tags.get(TAG_SEED, ""),
        TAG_COPIED_FROM: trial.info.run_id,
    }
    run_id = tracker.start_run(f"{trial.info.run_name} #0", tags)
    tracker.log_metrics(run_id, {k: v for k, v in metrics.items() if k not in EPOCH_METRICS})
    rows: dict[int, dict[str, float]] = {}
    for key in EPOCH_METRICS:
        for m in tracker.reader.metric_history(trial.info.run_id, key):
            rows.setdefault(m.step, {"epoch": m.step})[key] = m.value
    tracker.log_curves(run_id, [rows[s] for s in sorted(rows)])
    tracker.end_run(run_id, RunStatus.FINISHED)
    return [metrics]

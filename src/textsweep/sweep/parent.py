"""The parent run of an execution: how it starts, reopens and closes, and what the sweep found.

parent_id = start_parent(tracker, sweep, encoded)
...
close_parent(tracker, parent_id, RunStatus.FINISHED, ExecutionState.FINISHED)
result = sweep_result(tracker, sweep, parent_id)      # read back from MLflow
print(summary(result, sweep, seconds))
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textsweep.config import Sweep
from textsweep.errors import SweepFailed
from textsweep.sweep.progress import count, duration, format_values
from textsweep.sweep.state import parent_tags
from textsweep.tracking import (
    TAG_NOTE,
    TAG_OBJECTIVE,
    TAG_QUESTION,
    TAG_REPEATS,
    TAG_RESUMED,
    TAG_ROLE,
    TAG_STATE,
    TAG_SWEEP,
    ExecutionState,
    Role,
    RunStatus,
    Tracker,
    log_sweep_files,
    results_table,
    views,
)
from textsweep.vocabulary import Encoded

if TYPE_CHECKING:
    from textsweep.reporting.records import SweepRecords


@dataclass(frozen=True)
class SweepResult:
    """Where a finished sweep is, and its best configuration (`reporting.choice`: the report's
    recommendation, else the best mean over a configuration's executions).

    `best_trial_id` and `best_run_id` name the configuration's best execution (its trial run
    holds the model); `best_objective` and `best_test_accuracy` are the configuration's means
    over its `best_n` executions.
    """

    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    completed: int
    failed: int
    best_trial_id: str | None
    best_values: dict[str, Any]
    best_objective: float | None
    best_test_accuracy: float | None
    best_run_id: str | None = None
    best_n: int = 0
    decided: bool = False  # the report's rule decided the configuration
    records: SweepRecords | None = field(default=None, repr=False, compare=False)


def sweep_settings(sweep: Sweep) -> dict[str, Any]:
    """The fixed settings logged as params next to every trial's hyperparameters."""
    c = sweep.config
    d = c.dataset
    settings: dict[str, Any] = {
        "objective": c.objective,
        "dataset.format": d.format,
        "dataset.num_words": d.num_words,
        "dataset.validation_split": d.validation_split,
        "dataset.limit": d.limit,
        "dataset.seed": d.seed,
        "training.epochs": c.training.epochs,
        "training.early_stopping": c.training.early_stopping.model_dump_json()
        if c.training.early_stopping
        else "none",
        "tuner.algorithm": c.tuner.algorithm,
        "tuner.executions_per_trial": c.tuner.executions_per_trial,
        "tuner.seed": c.tuner.seed,
    }
    if c.training.jit_compile is not None:
        settings["training.jit_compile"] = c.training.jit_compile
    if c.tuner.repeats is not None:
        settings["tuner.repeats.min"] = c.tuner.repeats.min
        settings["tuner.repeats.max"] = c.tuner.repeats.max
        if c.tuner.repeats.margin is not None:
            settings["tuner.repeats.margin"] = c.tuner.repeats.margin
        if c.tuner.repeats.focus:  # the report says why some values have fewer executions
            settings["tuner.repeats.focus"] = True
        from textsweep.sweep.racing import race_budget

        if (cap := race_budget(c.tuner)) is not None:  # the report says a race ended on it
            settings["tuner.max_trials"] = cap
    if d.path:
        settings["dataset.path"] = d.path
    return settings


def start_parent(tracker: Tracker, sweep: Sweep, encoded: Encoded, tags: dict[str, str]) -> str:
    """A new parent run with the sweep's settings, files and labels; `tags` are added to it."""
    cfg = sweep.config
    tags = {
        **parent_tags(sweep),
        TAG_SWEEP: sweep.name,
        TAG_ROLE: Role.SWEEP,
        TAG_QUESTION: cfg.question,
        TAG_OBJECTIVE: cfg.objective,
        TAG_NOTE: cfg.question,
        **tags,
    }
    stamp = time.strftime("%Y%m%d-%H%M%S")
    params = {
        **sweep_settings(sweep),
        "classes": json.dumps(list(encoded.class_names)),
        "data.train_size": len(encoded.train),
        "data.val_size": len(encoded.val),
        "data.test_size": len(encoded.test),
        "data.cache_key": encoded.key,
        "data.test_split": f"holdout of {sweep.config.dataset.test_fraction} of the labelled "
        f"data, stratified, seed {sweep.config.dataset.seed}"
        if encoded.test_is_holdout
        else "the dataset's own test split",
    }
    parent_id = tracker.start_run(f"{sweep.name}-{stamp}", tags, params)
    log_sweep_files(tracker, parent_id, sweep)
    tracker.set_compare_view(sweep)
    tracker.log_text(parent_id, json.dumps(list(encoded.class_names)), "labels.json")
    return parent_id


def reopen_parent(tracker: Tracker, parent_id: str) -> None:
    """Mark a resumed execution's parent RUNNING again and count the resume."""
    run = tracker.get_run(parent_id)
    times = int(run.data.tags.get(TAG_RESUMED, "0") or 0) + 1
    tracker.reopen_run(parent_id)
    tracker.set_tags(parent_id, {TAG_STATE: ExecutionState.RUNNING, TAG_RESUMED: str(times)})


def close_parent(
    tracker: Tracker, parent_id: str, status: RunStatus, state: ExecutionState
) -> None:
    """results.csv, the state tag and the status; errors here must not hide the sweep's own."""
    try:
        tracker.log_text(parent_id, results_table(tracker, parent_id), "results.csv")
    except Exception as e:  # the store may be what failed
        print(f"warning: could not write results.csv to the parent run: {e}", file=sys.stderr)
    tracker.set_tags(parent_id, {TAG_STATE: state})
    tracker.end_run(parent_id, status)


def sweep_result(tracker: Tracker, sweep: Sweep, parent_id: str) -> SweepResult:
    """The outcome of an execution, read once from its runs (whichever process ran them)."""
    from textsweep.reporting.choice import choose

    runs = tracker.child_runs(parent_id, Role.TRIAL)
    completed = sum(r.info.status == RunStatus.FINISHED for r in runs)
    failed = sum(r.info.status == RunStatus.FAILED for r in runs)
    records = execution_records(tracker, sweep, parent_id) if runs else None
    best = choose(records) if records is not None else None
    return SweepResult(
        tracking_uri=tracker.uri,
        experiment_id=tracker.experiment_id,
        parent_run_id=parent_id,
        completed=completed,
        failed=failed,
        best_trial_id=best.trial_id if best else None,
        best_values=dict(best.hyperparameters) if best else {},
        best_objective=best.objective if best else None,
        best_test_accuracy=best.test_accuracy if best else None,
        best_run_id=best.run_id if best else None,
        best_n=best.n if best else 0,
        decided=best.decided if best else False,
        records=records,
    )


def execution_records(tracker: Tracker, sweep: Sweep, parent_id: str) -> SweepRecords:
    """The execution's trials as the report reads them (one reader for both)."""
    from textsweep.reporting.records import load_records

    return load_records(tracker.uri, sweep.name, sweep.experiment, parent_run_id=parent_id)


def failures_in_a_row(tracker: Tracker, parent_id: str) -> int:
    """The longest run of FAILED trials in the order they ended (Keras Tuner's own count)."""
    ended = [r for r in tracker.child_runs(parent_id, Role.TRIAL) if r.info.end_time]
    longest = current = 0
    for run in sorted(ended, key=lambda r: r.info.end_time or 0):
        current = current + 1 if run.info.status == RunStatus.FAILED else 0
        longest = max(longest, current)
    return longest


def racing_outcome(sweep: Sweep, records: SweepRecords | None) -> str:
    """`decided` or `budget`: how adaptive repeats ended, from the execution's records.

    Each configuration gives its executions' values, pooled as the report pools them (after
    `run --more` too).
    """
    from textsweep.sweep.racing import cost_order, outcome

    repeats = sweep.config.tuner.repeats
    groups: dict[tuple[tuple[str, str], ...], list[float]] = {}
    configs: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    for e in records.usable() if records is not None else []:
        key = tuple(sorted((k, repr(v)) for k, v in e.hyperparameters.items()))
        groups.setdefault(key, []).append(float(e.objective))  # type: ignore[arg-type]
        configs[key] = dict(e.hyperparameters)
    samples = dict(enumerate(groups.values()))
    order = cost_order([configs[key] for key in groups])
    return outcome(samples, sweep.directions(), repeats.margin if repeats else None, order)


def close_racing(tracker: Tracker, sweep: Sweep, result: SweepResult) -> str:
    """Tag the parent with how adaptive repeats ended; the line the terminal shows."""
    how = racing_outcome(sweep, result.records)
    tracker.set_tags(result.parent_run_id, {TAG_REPEATS: how})
    from textsweep.sweep.racing import race_budget

    cap = race_budget(sweep.config.tuner)
    if how == "budget" and cap and len(tracker.child_runs(result.parent_run_id, Role.TRIAL)) >= cap:
        return (
            f"adaptive repeats: ended on its budget, tuner.max_trials {cap} executions, before a "
            "value was decided"
        )
    if how == "decided":
        repeats = sweep.config.tuner.repeats
        margin = repeats.margin if repeats is not None else None
        why = "the others clearly worse" if margin is None else f"or one within {margin:g} of all"
        return f"adaptive repeats: decided (one value left, {why})"
    return "adaptive repeats: budget spent with more than one value still tied"


def summary(result: SweepResult, sweep: Sweep, seconds: float) -> str:
    """The closing lines of `textsweep run`: counts, the best trial, where to look next."""
    lines = [
        f"done in {duration(seconds)}: {count(result.completed, 'trial')} completed, "
        f"{result.failed} failed",
    ]
    if result.best_trial_id is not None and result.best_objective is not None:
        test = (
            f"{result.best_test_accuracy:.4f}" if result.best_test_accuracy is not None else "n/a"
        )
        pooled = f", mean of {result.best_n} executions" if result.best_n > 1 else ""
        how = "decided" if result.decided else "best mean so far, not decided"
        lines += [
            f"best configuration (t{result.best_trial_id}{pooled}; {how}): "
            f"{sweep.config.objective} {result.best_objective:.4f}, test_accuracy {test}",
            f"  {format_values(result.best_values)}",
        ]
    from textsweep.runtime import textsweep_command  # runnable as printed, venv activated or not

    uri = result.tracking_uri
    # repeat a --tracking-uri the user gave, so the hints point at the same store
    given = f" --tracking-uri {shlex.quote(uri)}" if uri != sweep.tracking_uri() else ""
    if uri.startswith(("http://", "https://")):
        look = f"open {views.compare_url(uri, result.experiment_id)}"
    else:
        url = views.compare_url("http://127.0.0.1:5000", result.experiment_id)
        look = f"{textsweep_command()} ui{given}, then open {url}"
    # with --set the file alone names another sweep: the report finds this one by its name
    report_ref = shlex.quote(sweep.name if sweep.overrides or not sweep.path else str(sweep.path))
    report_uri = given or (
        f" --tracking-uri {shlex.quote(uri)}" if report_ref == sweep.name else ""
    )
    lines += [
        f"MLflow: experiment {sweep.experiment!r} (id {result.experiment_id}), "
        f"parent run {result.parent_run_id} in {uri}",
        f"compare the trials: {look}",
        f"answer the question: {textsweep_command()} report {report_ref}{report_uri}",
    ]
    return "\n".join(lines)


def raise_failure(result: SweepResult, failure: str | None, last_error: str | None) -> None:
    """Raise `SweepFailed` for a failed execution, or one whose trials all failed."""
    if failure is not None:
        raise SweepFailed(failure)
    if result.completed == 0 and result.failed:
        last = f"; the last error was: {last_error}" if last_error else ""
        raise SweepFailed(
            f"all {result.failed} trials failed{last}. See the FAILED runs in MLflow (parent "
            f"run {result.parent_run_id}, tag textsweep.error and traceback.txt)."
        )

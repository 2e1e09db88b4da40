"""A sweep's executions: which one `--resume` continues, who holds it, what a dead process left.

One execution of a sweep is one MLflow parent run plus its Keras Tuner project directory,
`$TEXTSWEEP_HOME/tuner/<sweep>/<parent run id>`. While a process works on it, it holds an
exclusive lock on `textsweep.lock` in that directory (released by the kernel even after
`kill -9`), so a live execution is never resumed or abandoned by another process.

    plan = plan_execution(sweep, uri, tuner_root, resume=True, fresh=False)
    plan.resume.parent_run_id, plan.lock         # the execution to continue, locked
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textsweep.config import Sweep
from textsweep.errors import UserError
from textsweep.sweep.locks import ExecutionLock, lock_holder
from textsweep.tracking import (
    RESOLVED_ARTIFACT,
    TAG_CONFIG_HASH,
    TAG_ERROR,
    TAG_REPLACED_BY,
    TAG_ROLE,
    TAG_STATE,
    TAG_SWEEP,
    TAG_TRIAL_ID,
    TAG_WORKER,
    ExecutionState,
    Role,
    RunStatus,
    Tracker,
    resolved_sweep,
)

INTERRUPTED_ERROR = (
    "interrupted: the process ended while this trial ran; the resumed sweep runs it again"
)


def config_fingerprint(sweep: Sweep) -> str:
    """A hash of the resolved sweep: a resumed execution must run the same sweep.

    Settings left unset (None) are left out, so a textsweep that learns a new optional setting
    still resumes what an older one started.
    """
    text = json.dumps(_without_none(resolved_sweep(sweep)), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    return value


def project_dir(tuner_root: Path, sweep_name: str, parent_run_id: str) -> Path:
    return tuner_root / sweep_name / parent_run_id


@dataclass(frozen=True)
class UnfinishedExecution:
    """An unfinished execution of a sweep, as MLflow and the disk show it."""

    parent_run_id: str
    status: str
    state: str
    config_hash: str | None
    project_dir: Path
    finished_trials: int
    trial_runs: int

    def holder(self) -> int | None:
        """The pid of the live process working on this execution, or None."""
        return lock_holder(self.project_dir)

    def describe(self, live: int | None = None) -> str:
        """How the execution stands, in words: who holds it (`live`, else looked up), or how it
        ended, and its trials."""
        live = live if live is not None else self.holder()
        if live is not None:
            how = f"running now in process {live}" if live > 0 else "running now in another process"
        elif self.status == RunStatus.RUNNING:
            how = "left RUNNING by a process that is gone"
        elif self.status == RunStatus.KILLED:
            how = "interrupted"
        else:
            how = "stopped by an error"
        return f"parent run {self.parent_run_id}, {how}, {self.finished_trials} trial(s) finished"


def unfinished_executions(
    tracker: Tracker, sweep: Sweep, tuner_root: Path
) -> list[UnfinishedExecution]:
    """Parent runs of this sweep that neither finished, failed for good nor were abandoned."""
    parents = tracker.search(
        f"tags.`{TAG_SWEEP}` = '{sweep.name}' and tags.`{TAG_ROLE}` = '{Role.SWEEP}'",
        order_by=["attributes.start_time DESC"],
        max_results=1000,
    )
    out = []
    for run in parents:
        status, state = run.info.status, run.data.tags.get(TAG_STATE, "")
        resumable = (
            status == RunStatus.RUNNING
            or (status == RunStatus.KILLED and state != ExecutionState.ABANDONED)
            or (status == RunStatus.FAILED and state == ExecutionState.CRASHED)
        )
        if not resumable:
            continue
        trials = tracker.child_runs(run.info.run_id, Role.TRIAL)
        out.append(
            UnfinishedExecution(
                parent_run_id=run.info.run_id,
                status=status,
                state=state,
                config_hash=run.data.tags.get(TAG_CONFIG_HASH),
                project_dir=project_dir(tuner_root, sweep.name, run.info.run_id),
                finished_trials=sum(t.info.status == RunStatus.FINISHED for t in trials),
                trial_runs=len(trials),
            )
        )
    return out


@dataclass
class Plan:
    """What `run` does: resume `resume` (locked by `lock`), or start anew and abandon `stale`."""

    resume: UnfinishedExecution | None = None
    lock: ExecutionLock | None = None
    stale: list[UnfinishedExecution] = field(default_factory=list)
    run_args: str = ""  # the arguments of the user's `textsweep run`, with its options


def run_args(
    sweep: Sweep, sweep_arg: str | None, overrides: Sequence[str], tracking_uri: str | None
) -> str:
    """The arguments of the user's `textsweep run`, for hints that add --resume or --more."""
    words = [sweep_arg or str(sweep.path or sweep.name)]
    for override in overrides:
        words += ["--set", override]
    if tracking_uri:
        words += ["--tracking-uri", tracking_uri]
    return shlex.join(words)


def plan_execution(
    sweep: Sweep,
    uri: str,
    tuner_root: Path,
    resume: bool,
    fresh: bool,
    args: str | None = None,
) -> Plan:
    """Decide between resuming and starting anew, before any data is read; creates nothing.

    Raises `UserError` when the choice is the user's: an unfinished execution exists and neither
    `resume` nor `fresh` was asked for, or `resume` was asked for and there is nothing to resume.
    Its hints repeat `textsweep run ARGS` (the user's options) followed by --resume or --fresh.
    """
    source = str(sweep.path) if sweep.path else "<sweep>"
    from textsweep.runtime import textsweep_command  # runnable as printed, venv activated or not

    command = f"{textsweep_command()} run {args or shlex.quote(str(sweep.path or sweep.name))}"
    tracker = Tracker.find(uri, sweep.experiment)
    executions = unfinished_executions(tracker, sweep, tuner_root) if tracker else []
    idle = [e for e in executions if e.holder() is None]
    if resume:
        if not idle:
            running = (
                f"; {len(executions)} execution(s) are running now in other processes"
                if executions
                else ""
            )
            raise UserError(
                f"--resume: no unfinished execution of sweep {sweep.name!r} to resume in "
                f"experiment {sweep.experiment!r} at {uri}{running}; run without --resume to "
                "start one",
                source=source,
            )
        chosen = idle[0]
        _check_same_sweep(tracker, chosen, sweep, source, command)
        if chosen.trial_runs and not (chosen.project_dir / "oracle.json").is_file():
            raise UserError(
                f"--resume: Keras Tuner's state for parent run {chosen.parent_run_id} is missing "
                f"(expected {chosen.project_dir}; is TEXTSWEEP_HOME the one the sweep ran "
                f"with?); start a new execution with `{command} --fresh`",
                source=source,
            )
        lock = ExecutionLock.acquire(chosen.project_dir, source)
        return Plan(resume=chosen, lock=lock, run_args=args or "")
    if executions and not fresh:
        latest = executions[0]
        more = f" (and {len(executions) - 1} older)" if len(executions) > 1 else ""
        live = latest.holder()
        if live is not None:
            raise UserError(
                f"sweep {sweep.name!r} is being run now ({latest.describe(live)}){more}; wait for "
                "it, or stop it (Ctrl-C) and continue it with "
                f"`{command} --resume`",
                source=source,
            )
        raise UserError(
            f"sweep {sweep.name!r} has an unfinished execution ({latest.describe()}){more}; "
            f"continue it with `{command} --resume`, or start a new one with "
            f"`{command} --fresh` (the unfinished one is then marked abandoned)",
            source=source,
        )
    return Plan(stale=idle, run_args=args or "")


def _check_same_sweep(
    tracker: Tracker | None, execution: UnfinishedExecution, sweep: Sweep, source: str, command: str
) -> None:
    if tracker is None or execution.config_hash in (None, config_fingerprint(sweep)):
        return
    changes = _changed_keys(tracker, execution.parent_run_id, resolved_sweep(sweep))
    shown = "; ".join(changes[:6]) or "the resolved sweep differs"
    raise UserError(
        f"--resume: the sweep is not the one parent run {execution.parent_run_id} started "
        f"({shown}); resume with the same file and --set/--max-trials/--epochs options, or "
        f"start a new execution with `{command} --fresh`",
        source=source,
    )


def _changed_keys(tracker: Tracker, run_id: str, now: Mapping[str, Any]) -> list[str]:
    text = tracker.reader.read_text(run_id, RESOLVED_ARTIFACT)
    try:
        then = json.loads(text or "")
    except ValueError:
        return []
    old, new = _as_in_file(_without_none(then)), _as_in_file(_without_none(now))
    return [
        f"{key}: {old.get(key, '(unset)')!r} then, {new.get(key, '(unset)')!r} now"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for k, v in value.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _as_in_file(resolved: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved sweep keyed as in the sweep file (`tuner.max_trials`, `search_space.x`)."""
    return _flatten({**resolved.get("sweep", {}), "search_space": resolved.get("search_space")})


@dataclass(frozen=True)
class TrialRuns:
    """The trial runs of an execution: the FINISHED one per trial id, and attempts per trial id."""

    finished: dict[str, str]
    attempts: dict[str, int]


def close_orphan_runs(
    tracker: Tracker, parent_run_id: str, kt_status: Mapping[str, str], worker: str | None = None
) -> TrialRuns:
    """Close the trial and execution runs a dead process left RUNNING.

    Keras Tuner's saved state decides: a trial it recorded as COMPLETED had everything logged
    before its run was to be closed, so the run is FINISHED; any other RUNNING run is KILLED and
    its trial runs again. With `worker`, only the runs that worker (`textsweep.worker`) left.
    """
    trials = tracker.child_runs(parent_run_id, Role.TRIAL)
    latest = {run.data.tags.get(TAG_TRIAL_ID, ""): run.info.run_id for run in trials}
    finished: dict[str, str] = {}
    attempts: dict[str, int] = {}
    for run in trials:
        trial_id, run_id = run.data.tags.get(TAG_TRIAL_ID, ""), run.info.run_id
        attempts[trial_id] = attempts.get(trial_id, 0) + 1
        status = run.info.status
        if status == RunStatus.RUNNING and worker in (None, run.data.tags.get(TAG_WORKER)):
            for execution in tracker.child_runs(run_id, Role.EXECUTION):
                if execution.info.status == RunStatus.RUNNING:
                    tracker.set_tags(execution.info.run_id, {TAG_ERROR: INTERRUPTED_ERROR})
                    tracker.end_run(execution.info.run_id, RunStatus.KILLED)
            if kt_status.get(trial_id) == "COMPLETED" and latest[trial_id] == run_id:
                status = RunStatus.FINISHED
            else:
                status = RunStatus.KILLED
                tracker.set_tags(run_id, {TAG_ERROR: INTERRUPTED_ERROR})
            tracker.end_run(run_id, status)
        if status == RunStatus.FINISHED:
            finished[trial_id] = run_id
    return TrialRuns(finished, attempts)


def abandon(tracker: Tracker, execution: UnfinishedExecution, replaced_by: str) -> None:
    """Mark an unfinished execution as given up for a new one, and drop its Keras Tuner state."""
    close_orphan_runs(tracker, execution.parent_run_id, {})
    tracker.set_tags(
        execution.parent_run_id, {TAG_STATE: ExecutionState.ABANDONED, TAG_REPLACED_BY: replaced_by}
    )
    if execution.status == RunStatus.RUNNING:
        tracker.end_run(execution.parent_run_id, RunStatus.KILLED)
    shutil.rmtree(execution.project_dir, ignore_errors=True)


def parent_tags(sweep: Sweep) -> dict[str, str]:
    """The bookkeeping tags a new parent run starts with."""
    return {TAG_STATE: ExecutionState.RUNNING, TAG_CONFIG_HASH: config_fingerprint(sweep)}


def refuse_if_running(tracker: Tracker, sweep: Sweep, tuner_root: Path) -> None:
    """Raise `UserError` when another process is running an execution of this sweep now.

    Called with the sweep's creation lock held, so two processes started at once cannot both
    create an execution: the second finds the first's execution lock taken.
    """
    for execution in unfinished_executions(tracker, sweep, tuner_root):
        live = execution.holder()
        if live is not None:
            raise UserError(
                f"sweep {sweep.name!r} is being run now ({execution.describe(live)}); wait for it, "
                f"or stop it (Ctrl-C) and continue it with `textsweep run "
                f"{shlex.quote(str(sweep.path or sweep.name))} --resume`",
                source=str(sweep.path) if sweep.path else "<sweep>",
            )

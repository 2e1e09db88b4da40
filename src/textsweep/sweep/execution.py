"""The life of one execution of a sweep, written once for every way of running it.

    result = run_sweep(load_sweep("sweeps/quickstart.yaml"))               # one process
    result = run_sweep(sweep, workers=2, sweep_arg="sweeps/quickstart.yaml")  # local chief + 2
    result.best_values, result.best_objective, result.parent_run_id

An execution is: plan (resume, or start anew and abandon what is stale), data, parent run and
its lock, the trials, then close the parent and read the result back from MLflow. What differs
between modes is only who does the trials (`Mode`): this process's tuner, or Keras Tuner's chief
and workers, which run this same function in their own processes.

Everything that can be wrong with the input is checked before anything is created in MLflow.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from textsweep import server
from textsweep.config import Sweep
from textsweep.credentials import mask
from textsweep.errors import SweepFailed, UserError
from textsweep.runtime import configure_tensorflow, home_dir
from textsweep.sweep import answer, workers
from textsweep.sweep.budget import planned_trials
from textsweep.sweep.data import prepare_data
from textsweep.sweep.interrupts import Interrupts
from textsweep.sweep.locks import SWEEP_LOCK_NAME, ExecutionLock
from textsweep.sweep.parent import (
    SweepResult,
    close_parent,
    close_racing,
    failures_in_a_row,
    raise_failure,
    reopen_parent,
    start_parent,
    summary,
    sweep_result,
    sweep_settings,
)
from textsweep.sweep.progress import Progress
from textsweep.sweep.state import (
    Plan,
    abandon,
    close_orphan_runs,
    plan_execution,
    project_dir,
    refuse_if_running,
    run_args,
)
from textsweep.tracking import (
    TAG_ORACLE,
    TAG_RUN_ARGS,
    TAG_WORKERS,
    ExecutionState,
    RunStatus,
    Tracker,
)
from textsweep.tracking.calls import shield_store_calls
from textsweep.tracking.failures import store_failure


@dataclass(frozen=True)
class Mode:
    """Who runs the trials of an execution.

    `role` is Keras Tuner's for this process (None alone, "chief" or "worker", from the
    environment); `workers` > 0 makes this process a launcher of a local chief and that many
    workers (started with `child_command`).
    """

    role: str | None = None
    workers: int = 0
    child_command: tuple[str, ...] = ()

    @property
    def launcher(self) -> bool:
        return self.workers > 0

    @property
    def owner(self) -> bool:
        """Whether this process creates and closes the parent run."""
        return (
            self.launcher
            or self.role is None
            or (self.role == "chief" and workers.given_parent() is None)
        )

    @property
    def trains(self) -> bool:
        return not self.launcher


@dataclass
class _Outcome:
    status: RunStatus = RunStatus.FAILED
    state: ExecutionState = ExecutionState.CRASHED
    failure: str | None = None
    last_error: str | None = None
    project: Path | None = None
    keeper: Any = None  # this process's ModelKeeper (kept models, logged once the choice is known)
    lost: bool = False  # the tracking server went away: leave the execution as it is, resumable


def run_sweep(
    sweep: Sweep,
    tracking_uri: str | None = None,
    out: TextIO | None = None,
    *,
    resume: bool = False,
    fresh: bool = False,
    workers_count: int = 0,
    sweep_arg: str | None = None,
    overrides: Sequence[str] = (),
) -> SweepResult:
    """Run one execution of a sweep to the end; raises `UserError` on bad input (before MLflow).

    Args:
        resume: continue the last unfinished execution of this sweep (same parent run, its
            finished trials kept, the trial a dead process left redone).
        fresh: start a new execution even though an unfinished one exists; the unfinished
            one is marked abandoned. Without either, an unfinished execution is a `UserError`.
        workers_count: run the trials in a local Keras Tuner chief and this many workers
            (`textsweep run SWEEP --workers N`); `sweep_arg` and `overrides` are what the
            children are started with.

    SIGINT and SIGTERM raise `SweepInterrupted` after the runs are marked KILLED.
    """
    role = workers.role()
    if workers_count and role is not None:
        raise UserError(
            "--workers starts its own chief and workers; unset KERASTUNER_ORACLE_IP or run "
            "without --workers",
            source="--workers",
        )
    if resume and (role is not None or workers_count):
        what = "a sweep over workers" if workers_count else "a Keras Tuner chief or worker"
        raise UserError(
            f"--resume does not apply to {what}; start a new execution without it (or resume "
            "in one process, without --workers and KERASTUNER_* variables)",
            source="--resume",
        )
    uri = sweep.tracking_uri(tracking_uri)
    server.prepare_client(uri)
    command: tuple[str, ...] = ()
    if workers_count:
        command = tuple(
            workers.child_command(sweep_arg or str(sweep.path or sweep.name), overrides, uri)
        )
    mode = Mode(role, workers_count, command)
    with Interrupts() as interrupts, shield_store_calls(interrupts.deferred):
        if role is None:
            args = run_args(sweep, sweep_arg, overrides, tracking_uri)
            plan = plan_execution(sweep, uri, home_dir() / "tuner", resume, fresh, args)
        else:
            plan = Plan()  # a new execution, or the one a chief or launcher started
        try:
            return _live(sweep, uri, out or sys.stdout, interrupts, plan, mode)
        finally:
            if plan.lock is not None:
                plan.lock.release()


def _live(
    sweep: Sweep, uri: str, out: TextIO, interrupts: Interrupts, plan: Plan, mode: Mode
) -> SweepResult:
    cfg = sweep.config
    # a worker sees only its own share of the trials: no "k of N" it could count
    total = None if mode.role == "worker" or mode.launcher else planned_trials(sweep)
    progress = Progress(cfg.objective, sweep.directions(), total, out=out)
    where = f" on {mode.workers} local worker(s) and a chief" if mode.launcher else ""
    progress.say(
        f"textsweep: sweep {sweep.name!r}{where}" + (f" — {cfg.question}" if cfg.question else "")
    )
    started = time.monotonic()
    encoded, matrix, coverage = prepare_data(sweep, progress)
    if mode.trains:
        configure_tensorflow(cfg.training.intra_op_threads, cfg.training.inter_op_threads)
    tracker = Tracker.open(uri, sweep.experiment)
    parent_id, tracker = _open_parent(sweep, tracker, encoded, plan, mode, interrupts, progress)
    progress.say(f"tracking: {uri}  experiment {sweep.experiment!r}  parent run {parent_id}")
    outcome = _Outcome(project=project_dir(home_dir() / "tuner", sweep.name, parent_id))
    result: SweepResult | None = None
    try:
        if mode.launcher:
            _run_workers(sweep, mode, parent_id, tracker, out, outcome)
        else:
            vectors = (matrix, coverage)
            _run_tuner(
                sweep, tracker, parent_id, progress, interrupts, plan, encoded, vectors, outcome
            )
        if outcome.state == ExecutionState.FINISHED and mode.owner:
            result = sweep_result(tracker, sweep, parent_id)
            if outcome.keeper is not None:  # the chosen configuration's model, to its run
                outcome.keeper.finish(result.best_run_id)
    except KeyboardInterrupt:
        outcome.status, outcome.state = RunStatus.KILLED, ExecutionState.INTERRUPTED
        raise
    except Exception as e:
        outcome.lost = server.lost(e) or store_failure(e) is not None  # left as a crash leaves it
        server.reraise_lost(e, uri)
        raise
    finally:
        with interrupts.deferred():
            if not outcome.lost and (mode.launcher or outcome.state == ExecutionState.INTERRUPTED):
                # what a stopped worker left open, or a run a signal cut off at its start
                worker = workers.tuner_id() if mode.role == "worker" else None
                close_orphan_runs(tracker, parent_id, {}, worker=worker)
            if mode.owner and not outcome.lost:
                close_parent(tracker, parent_id, outcome.status, outcome.state)
                if outcome.state in (ExecutionState.FINISHED, ExecutionState.FAILED):
                    # never resumed: drop Keras Tuner's state and per-trial checkpoints
                    assert outcome.project is not None
                    shutil.rmtree(outcome.project, ignore_errors=True)
    if result is None:
        result = sweep_result(tracker, sweep, parent_id)
    if not mode.owner:
        if outcome.failure is not None:
            raise SweepFailed(outcome.failure)
        progress.say(f"{workers.tuner_id()}: no trials left; done")
        return result
    raise_failure(result, outcome.failure, outcome.last_error)
    if cfg.tuner.repeats is not None:
        progress.say(close_racing(tracker, sweep, result))
    if outcome.state == ExecutionState.FINISHED:
        from textsweep.export.registry import register_champion

        if (champion := register_champion(tracker, sweep, result)) is not None:
            progress.say(champion.message)
    if said := answer.annotate_parent(tracker, sweep, result):
        progress.say(said)  # the answer first: "Answer: ..." or "Undecided: ...", its bullets
    progress.say(summary(result, sweep, time.monotonic() - started))
    return result


def _open_parent(
    sweep: Sweep,
    tracker: Tracker,
    encoded: Any,
    plan: Plan,
    mode: Mode,
    interrupts: Interrupts,
    progress: Progress,
) -> tuple[str, Tracker]:
    """The execution's parent run: reopened, found (a worker's), or started and locked."""
    if plan.resume is not None:
        reopen_parent(tracker, plan.resume.parent_run_id)
        return plan.resume.parent_run_id, tracker
    if not mode.owner:  # a worker, or a chief whose launcher owns the parent run
        parent_id = workers.given_parent() or workers.find_parent(
            tracker, sweep, workers.oracle_address()
        )
        if mode.role == "worker":
            tracker = tracker.for_worker(workers.tuner_id())
        return parent_id, tracker
    tags = {TAG_RUN_ARGS: mask(plan.run_args)} if plan.run_args else {}
    if mode.role == "chief":
        tags[TAG_ORACLE] = workers.oracle_address()
    if mode.launcher:
        port = workers.free_port()
        tags |= {TAG_WORKERS: str(mode.workers), TAG_ORACLE: f"127.0.0.1:{port}"}
    source = str(sweep.path) if sweep.path else "<sweep>"
    tuner_root = home_dir() / "tuner"
    with interrupts.deferred():  # a parent run is never left without its lock
        # one creation at a time per sweep: a second process started at once is refused
        guard = ExecutionLock.acquire(
            tuner_root / sweep.name, source, name=SWEEP_LOCK_NAME, wait=True
        )
        try:
            refuse_if_running(tracker, sweep, tuner_root)
            parent_id = start_parent(tracker, sweep, encoded, tags)
            plan.lock = ExecutionLock.acquire(
                project_dir(tuner_root, sweep.name, parent_id), source
            )
        finally:
            guard.release()
    for stale in plan.stale:
        abandon(tracker, stale, replaced_by=parent_id)
        progress.say(f"abandoned the unfinished execution {stale.parent_run_id}")
    return parent_id, tracker


def _run_tuner(
    sweep: Sweep,
    tracker: Tracker,
    parent_id: str,
    progress: Progress,
    interrupts: Interrupts,
    plan: Plan,
    encoded: Any,
    vectors: tuple[Any, dict[str, Any]],
    outcome: _Outcome,
) -> None:
    """This process's share of the trials, with Keras Tuner's search loop."""
    from textsweep.models import ModelInputs
    from textsweep.sweep import ktcompat, project, tuner

    cfg = sweep.config
    matrix, coverage = vectors
    warning = ktcompat.check_version()
    if warning:
        progress.say(f"warning: {warning}")
    context = tuner.SweepContext(
        sweep,
        tracker,
        parent_id,
        progress,
        sweep_settings(sweep),
        extra_params=coverage,
        interrupts=interrupts,
        resuming=plan.resume is not None,
        shared=workers.role() == "worker",
    )
    inputs = ModelInputs(cfg.dataset.num_words, encoded.num_classes, matrix)
    try:
        kt_tuner = project.make_tuner(sweep, context, inputs, encoded, parent_id)
        outcome.project = Path(kt_tuner.project_dir)
        outcome.keeper = kt_tuner.models
        if plan.resume is not None:
            project.catch_up(kt_tuner, context)
        kt_tuner.search(epochs=cfg.training.epochs, verbose=0)
        interrupts.check()  # a signal whose raise was lost in the last trial
        outcome.status, outcome.state = RunStatus.FINISHED, ExecutionState.FINISHED
    except Exception as e:  # RuntimeError here; a gRPC error from a chief's oracle in a worker
        # decided from the trials' states as MLflow holds them, in every mode (Keras Tuner's
        # rule: any run of that many FAILED trials, in the order they ended)
        limit = cfg.tuner.max_consecutive_failures
        if server.lost(e) or failures_in_a_row(tracker, parent_id) < limit:
            raise
        outcome.status, outcome.state = RunStatus.FAILED, ExecutionState.FAILED
        outcome.failure = (
            f"the sweep stopped after {limit} failed trials in a row; the last error was: "
            f"{context.last_error or e}. See the FAILED runs in MLflow (parent run "
            f"{parent_id}, tag textsweep.error and traceback.txt); fix the search space or the "
            "training settings and run the sweep again."
        )
    finally:
        outcome.last_error = context.last_error


def _run_workers(
    sweep: Sweep, mode: Mode, parent_id: str, tracker: Tracker, out: TextIO, outcome: _Outcome
) -> None:
    """The trials in a local chief and workers, which run `run_sweep` in their own processes."""
    run = tracker.get_run(parent_id)
    port = int(run.data.tags[TAG_ORACLE].rsplit(":", 1)[1])

    def close_runs_of(dead_worker: str) -> None:
        close_orphan_runs(tracker, parent_id, {}, worker=dead_worker)

    failed = workers.run_children(
        list(mode.child_command), mode.workers, port, parent_id, out, close_runs_of
    )
    if failed:
        limit = sweep.config.tuner.max_consecutive_failures
        if failures_in_a_row(tracker, parent_id) >= limit:
            outcome.status, outcome.state = RunStatus.FAILED, ExecutionState.FAILED
            failed.insert(0, f"the sweep stopped after {limit} failed trials in a row")
        outcome.failure = (
            f"{'; '.join(failed)}; see the output above and the runs under parent run "
            f"{parent_id} in MLflow (tag textsweep.error and traceback.txt)"
        )
        return
    outcome.status, outcome.state = RunStatus.FINISHED, ExecutionState.FINISHED

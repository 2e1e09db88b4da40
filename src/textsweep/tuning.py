"""Running a sweep: data, tracking, Keras Tuner search, and the summary at the end.

    result = run_sweep(load_sweep("sweeps/quickstart.yaml"))
    result.best_values, result.best_objective, result.parent_run_id

Everything that can be wrong with the input is checked before anything is created in MLflow.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from textsweep.config import Sweep
from textsweep.errors import SweepFailed, UserError
from textsweep.interrupts import Interrupts
from textsweep.progress import Progress, duration
from textsweep.tracking import (
    ROLE_SWEEP,
    STATE_CRASHED,
    STATE_FAILED,
    STATE_FINISHED,
    STATE_INTERRUPTED,
    STATE_RUNNING,
    TAG_RESUMED,
    TAG_ROLE,
    TAG_STATE,
    TAG_SWEEP,
    Tracker,
    results_table,
)

if TYPE_CHECKING:
    from textsweep.state import Plan

DEFAULT_MAX_TRIALS = 10


@dataclass(frozen=True)
class SweepResult:
    """Where a finished sweep is, and its best trial."""

    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    completed: int
    failed: int
    best_trial_id: str | None
    best_values: dict[str, Any]
    best_objective: float | None
    best_test_accuracy: float | None


def home_dir() -> Path:
    """Where textsweep keeps working state (caches, Keras Tuner projects): `$TEXTSWEEP_HOME`."""
    return Path(os.environ.get("TEXTSWEEP_HOME", ".textsweep"))


def configure_tensorflow(intra_op: int | None = None, inter_op: int | None = None) -> None:
    """Quiet TensorFlow's C++ and Python logs, and size its thread pools, before it starts.

    Unset thread counts give this process its share of the cores (`hardware.thread_counts`).
    """
    from textsweep.hardware import thread_counts

    intra_op, inter_op = thread_counts(intra_op, inter_op)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import absl.logging

    with _stderr_silenced():  # oneDNN and absl print straight to fd 2 while TensorFlow loads
        import tensorflow as tf

        try:  # before the first op: afterwards the pools are fixed
            tf.config.threading.set_intra_op_parallelism_threads(intra_op)
            tf.config.threading.set_inter_op_parallelism_threads(inter_op)
        except RuntimeError:
            pass  # already initialised in this process (tests): the first setting stands
        tf.constant(0.0) + 1.0

    absl.logging.set_verbosity(absl.logging.ERROR)
    # Hyperband reloads weights without optimizer state on purpose; Keras warns every time
    warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
    tf.get_logger().setLevel("ERROR")


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def planned_trials(sweep: Sweep) -> int | None:
    """How many trials the tuner will run, for `trial k of N` (an estimate for Hyperband)."""
    t = sweep.config.tuner
    if t.algorithm == "grid":
        size = sweep.space.grid_size()
        return min(size, t.max_trials) if (size and t.max_trials) else size
    if t.algorithm == "hyperband":
        max_epochs = t.max_epochs or sweep.config.training.epochs
        brackets, epochs = 0, float(max_epochs)
        while epochs >= 1:
            epochs /= t.factor
            brackets += 1
        end0 = math.ceil(1 + math.log(max_epochs, t.factor))
        total = sum(
            math.ceil(end0 / (b + 1) * t.factor ** (b - r))
            for b in range(brackets)
            for r in range(b + 1)
        )
        return total * t.hyperband_iterations
    return t.max_trials or DEFAULT_MAX_TRIALS


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
    if d.path:
        settings["dataset.path"] = d.path
    return settings


def run_sweep(
    sweep: Sweep,
    tracking_uri: str | None = None,
    out: TextIO | None = None,
    *,
    resume: bool = False,
    fresh: bool = False,
) -> SweepResult:
    """Run a sweep to the end; raises `UserError` on bad input (before touching MLflow).

    Args:
        resume: continue the last unfinished execution of this sweep (same parent run, its
            finished trials kept, the trial a dead process left redone).
        fresh: start a new execution even though an unfinished one exists; the unfinished
            one is marked abandoned. Without either, an unfinished execution is a `UserError`.

    SIGINT and SIGTERM raise `SweepInterrupted` after the runs are marked KILLED.
    """
    from textsweep import distributed
    from textsweep.state import Plan, plan_execution

    with Interrupts() as interrupts:
        uri = sweep.tracking_uri(tracking_uri)
        if distributed.role() is None:
            plan = plan_execution(sweep, uri, home_dir() / "tuner", resume=resume, fresh=fresh)
        elif resume:
            raise UserError(
                "--resume does not apply to a Keras Tuner chief or worker (KERASTUNER_ORACLE_IP "
                "is set); start a new distributed execution without it",
                source="--resume",
            )
        else:
            plan = Plan()  # a new execution, or the one a chief or launcher started
        try:
            return _run(sweep, uri, out or sys.stdout, interrupts, plan)
        finally:
            if plan.lock is not None:
                plan.lock.release()


def _run(sweep: Sweep, uri: str, out: TextIO, interrupts: Interrupts, plan: Plan) -> SweepResult:
    from textsweep import distributed
    from textsweep.models import ModelInputs
    from textsweep.state import ExecutionLock, abandon, project_dir
    from textsweep.vocabulary import encode

    cfg = sweep.config
    # a worker sees only its own share of the trials: no "k of N" it could count
    total = None if distributed.role() == "worker" else planned_trials(sweep)
    progress = Progress(cfg.objective, sweep.directions(), total, out=out)
    progress.say(
        f"textsweep: sweep {sweep.name!r}" + (f" — {cfg.question}" if cfg.question else "")
    )
    source = str(sweep.path) if sweep.path else "<sweep>"
    started = time.monotonic()
    with _nothing_left_on_bad_input(home_dir() / "cache"):
        encoded = encode(cfg.dataset, home_dir() / "cache", source=source, progress=progress.say)
        for warning in encoded.warnings:
            progress.say(f"warning: {warning}")
        progress.say(
            f"data: {len(encoded.train)} train, {len(encoded.val)} validation, "
            f"{len(encoded.test)} test; {encoded.num_classes} classes; "
            f"ready in {time.monotonic() - started:.1f}s"
        )
        matrix, coverage = _pretrained(sweep, encoded, progress)
    configure_tensorflow(cfg.training.intra_op_threads, cfg.training.inter_op_threads)
    from textsweep import trials

    tracker = Tracker.open(uri, sweep.experiment)
    role = distributed.role()
    owner = role is None or (role == "chief" and distributed.given_parent() is None)
    if plan.resume is not None:
        parent_id = plan.resume.parent_run_id
        _reopen_parent(tracker, parent_id)
    elif not owner:  # a worker, or a chief whose launcher owns the parent run
        parent_id = distributed.given_parent() or distributed.find_parent(
            tracker, sweep, distributed.oracle_address()
        )
        if role == "worker":
            tracker = distributed.WorkerTracker.of(tracker, distributed.tuner_id())
    else:
        with interrupts.deferred():  # a parent run is never left without its lock
            parent_id = _start_parent(tracker, sweep, encoded)
            if role == "chief":
                tracker.set_tags(parent_id, {distributed.TAG_ORACLE: distributed.oracle_address()})
            plan.lock = ExecutionLock.acquire(
                project_dir(home_dir() / "tuner", sweep.name, parent_id), source
            )
        for stale in plan.stale:
            abandon(tracker, stale, replaced_by=parent_id)
            progress.say(f"abandoned the unfinished execution {stale.parent_run_id}")
    progress.say(f"tracking: {uri}  experiment {sweep.experiment!r}  parent run {parent_id}")
    inputs = ModelInputs(cfg.dataset.num_words, encoded.num_classes, matrix)
    context = trials.SweepContext(
        sweep,
        tracker,
        parent_id,
        progress,
        sweep_settings(sweep),
        extra_params=coverage,
        interrupts=interrupts,
        resuming=plan.resume is not None,
    )
    status, state, failure = "FAILED", STATE_CRASHED, None
    tuner: Any = None
    try:
        tuner = _make_tuner(sweep, trials, context, inputs, encoded, parent_id)
        if plan.resume is not None:
            _catch_up(tracker, tuner, context, progress)
        tuner.search(epochs=cfg.training.epochs, verbose=0)
        status, state = "FINISHED", STATE_FINISHED
    except KeyboardInterrupt:
        status, state = "KILLED", STATE_INTERRUPTED
        raise
    except RuntimeError as e:
        if "consecutive failures" not in str(e):
            raise
        status, state, failure = "FAILED", STATE_FAILED, e
    finally:
        with interrupts.deferred():
            if owner:
                _close_parent(tracker, parent_id, status, state)
            if owner and state in (STATE_FINISHED, STATE_FAILED) and tuner is not None:
                # never resumed: drop Keras Tuner's state and per-trial checkpoints
                shutil.rmtree(Path(tuner.project_dir), ignore_errors=True)
    if role is not None:  # the trials ran in the workers: MLflow has them all
        result = distributed.result_from_mlflow(tracker, sweep, uri, parent_id)
        if owner:
            progress.say(summary(result, sweep, time.monotonic() - started))
        else:
            progress.say(f"{distributed.tuner_id()}: no trials left; done")
        return result
    result = _result(tracker, tuner, sweep, uri, parent_id)
    if failure is None and result.completed == 0 and result.failed:
        raise SweepFailed(
            f"all {result.failed} trials failed; the last error was: {context.last_error}. See "
            f"the FAILED runs in MLflow (parent run {parent_id}, tag textsweep.error and "
            "traceback.txt)."
        )
    if failure is not None:
        limit = cfg.tuner.max_consecutive_failures
        raise SweepFailed(
            f"the sweep stopped after {limit} failed trials in a row; the last error was: "
            f"{context.last_error or failure}. See the FAILED runs in MLflow (parent run "
            f"{parent_id}, tag textsweep.error and traceback.txt); fix the search space or the "
            "training settings and run the sweep again."
        )
    progress.say(summary(result, sweep, time.monotonic() - started))
    return result


@contextlib.contextmanager
def _nothing_left_on_bad_input(cache: Path) -> Iterator[None]:
    """Remove the cache entries (and folders) made here when bad input turns up after them.

    The data are cached before the vectors file is read; a broken vectors file is bad input,
    and bad input leaves nothing on disk.
    """
    made = [folder for folder in (cache.parent, cache) if not folder.exists()]
    before = set(cache.iterdir()) if cache.is_dir() else set()
    try:
        yield
    except UserError:
        for entry in set(cache.iterdir()) - before if cache.is_dir() else ():
            shutil.rmtree(entry, ignore_errors=True)
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty: another process may be using it
        raise


def _reopen_parent(tracker: Tracker, parent_id: str) -> None:
    run = tracker.client.get_run(parent_id)
    times = int(run.data.tags.get(TAG_RESUMED, "0") or 0) + 1
    tracker.reopen_run(parent_id)
    tracker.set_tags(parent_id, {TAG_STATE: STATE_RUNNING, TAG_RESUMED: str(times)})


def _catch_up(tracker: Tracker, tuner: Any, context: Any, progress: Progress) -> None:
    """After a reload: close the runs a dead process left open, continue the trial count."""
    from textsweep.state import close_orphan_runs

    oracle = tuner.oracle
    runs = close_orphan_runs(
        tracker, context.parent_run_id, {i: t.status for i, t in oracle.trials.items()}
    )
    context.trial_runs.update(runs.finished)
    context.attempts.update(runs.attempts)
    ended = len(oracle.end_order)
    progress.done = ended
    best = [t for t in oracle.get_best_trials(1) if t.status == "COMPLETED"]
    if best:
        progress.best, progress.best_trial = best[0].score, best[0].trial_id
    redo = len(oracle._retry_queue)
    progress.say(
        f"resuming parent run {context.parent_run_id}: {ended} trial(s) ended before"
        + (f", {redo} interrupted trial(s) to run again" if redo else "")
    )


def _close_parent(tracker: Tracker, parent_id: str, status: str, state: str) -> None:
    """results.csv, the state tag and the status; errors here must not hide the sweep's own."""
    try:
        tracker.log_text(parent_id, results_table(tracker, parent_id), "results.csv")
    except Exception as e:  # the store may be what failed
        print(f"warning: could not write results.csv to the parent run: {e}", file=sys.stderr)
    tracker.set_tags(parent_id, {TAG_STATE: state})
    tracker.end_run(parent_id, status)


def _pretrained(sweep: Sweep, encoded: Any, progress: Progress) -> tuple[Any, dict[str, Any]]:
    if not sweep.may_use_pretrained():
        return None, {}
    from textsweep.embeddings import vectors_for_sweep

    em = vectors_for_sweep(sweep, encoded, home_dir() / "cache", progress.say)
    progress.say(
        f"vectors: {em.source}, dim {em.dim}; coverage {em.vocab_coverage:.1%} of the vocabulary, "
        f"{em.token_coverage:.1%} of training tokens; missing words: {em.missing_init}"
    )
    params = {
        "embeddings.source": em.source,
        "embeddings.dim": em.dim,
        "embeddings.vocab_coverage": round(em.vocab_coverage, 4),
        "embeddings.token_coverage": round(em.token_coverage, 4),
        "embeddings.missing_init": em.missing_init,
    }
    return em.matrix, params


def _start_parent(tracker: Tracker, sweep: Sweep, encoded: Any) -> str:
    from textsweep.state import parent_tags
    from textsweep.tracking import log_sweep_files

    cfg = sweep.config
    tags = {
        **parent_tags(sweep),
        TAG_SWEEP: sweep.name,
        TAG_ROLE: ROLE_SWEEP,
        "textsweep.question": cfg.question,
        "textsweep.objective": cfg.objective,
        "mlflow.note.content": cfg.question,
    }
    stamp = time.strftime("%Y%m%d-%H%M%S")
    params = {**sweep_settings(sweep), "classes": json.dumps(list(encoded.class_names)),
              "data.train_size": len(encoded.train), "data.val_size": len(encoded.val),
              "data.test_size": len(encoded.test), "data.cache_key": encoded.key,
              "data.test_split": f"holdout of {sweep.config.dataset.test_fraction} of the labelled "
              f"data, stratified, seed {sweep.config.dataset.seed}" if encoded.test_is_holdout
              else "the dataset's own test split"}  # fmt: skip
    parent_id = tracker.start_run(f"{sweep.name}-{stamp}", tags, params)
    log_sweep_files(tracker, parent_id, sweep)
    tracker.log_text(parent_id, json.dumps(list(encoded.class_names)), "labels.json")
    return parent_id


def _make_tuner(
    sweep: Sweep, trials: Any, context: Any, inputs: Any, encoded: Any, parent_id: str
) -> Any:
    import keras_tuner as kt

    cfg = sweep.config
    t = cfg.tuner
    hypermodel = trials.TextHyperModel(sweep, trials.TrialData(encoded), inputs)
    common: dict[str, Any] = {
        "hypermodel": hypermodel,
        "objective": kt.Objective(cfg.objective, sweep.directions()),
        "executions_per_trial": t.executions_per_trial,
        "seed": t.seed,
        "directory": str(home_dir() / "tuner" / sweep.name),
        "project_name": parent_id,
        "overwrite": False,
        "max_consecutive_failed_trials": t.max_consecutive_failures,
        "context": context,
    }
    extra: dict[str, Any]
    if t.algorithm == "hyperband":
        extra = {"max_epochs": t.max_epochs or cfg.training.epochs, "factor": t.factor,
                 "hyperband_iterations": t.hyperband_iterations}  # fmt: skip
    elif t.algorithm == "grid":
        extra = {"max_trials": t.max_trials}
    elif t.algorithm == "bayesian":
        extra = {"max_trials": t.max_trials or DEFAULT_MAX_TRIALS,
                 "num_initial_points": t.num_initial_points}  # fmt: skip
    else:
        extra = {"max_trials": t.max_trials or DEFAULT_MAX_TRIALS}
    try:
        return trials.tuner_class(t.algorithm)(**common, **extra)
    except (ValueError, KeyError) as e:  # a damaged oracle.json or trial.json
        if not context.resuming:
            raise
        raise UserError(
            f"--resume: Keras Tuner's state in {common['directory']}/{parent_id} cannot be "
            f"reloaded ({type(e).__name__}: {e}); start a new execution with --fresh",
            source=str(sweep.path) if sweep.path else "<sweep>",
        ) from e


def _result(tracker: Tracker, tuner: Any, sweep: Sweep, uri: str, parent_id: str) -> SweepResult:
    from textsweep.search_space import active_values

    trials_by_status: dict[str, int] = {}
    for trial in tuner.oracle.trials.values():
        trials_by_status[trial.status] = trials_by_status.get(trial.status, 0) + 1
    best = [t for t in tuner.oracle.get_best_trials(1) if t.status == "COMPLETED"]
    best_values: dict[str, Any] = {}
    best_id = best_obj = best_test = None
    if best:
        trial = best[0]
        best_id = trial.trial_id
        best_values = active_values(sweep.space, trial.hyperparameters)
        best_obj = trial.score
        run_id = tuner.ctx.trial_runs.get(best_id)
        if run_id:
            metrics = tracker.client.get_run(run_id).data.metrics
            best_test = metrics.get("test_accuracy")
    return SweepResult(
        tracking_uri=uri,
        experiment_id=tracker.experiment_id,
        parent_run_id=parent_id,
        completed=trials_by_status.get("COMPLETED", 0),
        failed=trials_by_status.get("FAILED", 0) + trials_by_status.get("INVALID", 0),
        best_trial_id=best_id,
        best_values=best_values,
        best_objective=best_obj,
        best_test_accuracy=best_test,
    )


def summary(result: SweepResult, sweep: Sweep, seconds: float) -> str:
    from textsweep.progress import format_values

    lines = [
        f"done in {duration(seconds)}: {result.completed} trials completed, {result.failed} failed",
    ]
    if result.best_trial_id is not None:
        test = (
            f"{result.best_test_accuracy:.4f}" if result.best_test_accuracy is not None else "n/a"
        )
        lines += [
            f"best trial {result.best_trial_id}: {sweep.config.objective} {result.best_objective:.4f}, "
            f"test_accuracy {test}",
            f"  {format_values(result.best_values)}",
        ]
    ui = "textsweep ui" + (
        f" --tracking-uri {result.tracking_uri}" if "sqlite" not in result.tracking_uri else ""
    )
    lines += [
        f"MLflow: experiment {sweep.experiment!r} (id {result.experiment_id}), "
        f"parent run {result.parent_run_id} in {result.tracking_uri}",
        f"look at it: {ui}   (then open http://127.0.0.1:5000)",
        f"answer the question: textsweep report {sweep.path or sweep.name}",
    ]
    return "\n".join(lines)

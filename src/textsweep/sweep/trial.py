"""One execution of one configuration: the single place a model is built, trained and logged.

    spec = execution_spec(tracker, sweep, trial_id, trial_run_id, index, nested=True)
    outcome, history = train_execution(tracker, progress, hypermodel, hp, spec, fit_kwargs={})

Keras Tuner's trial loop (`sweep.tuner.TrackedTuner`) and `run --more` (`sweep.more`) both call
`train_execution`: it seeds, trains with the epoch reporter (per-epoch metrics to MLflow, the
terminal's progress), offers the model to the keeper and, when the execution has a run of its
own, logs its final metrics and curves and ends that run (FAILED or KILLED, with the error, when
training raised). What becomes of a whole trial (its mean, its state) is the caller's.

Imports Keras (through `sweep.hypermodel`): only the trial-running modules import it.
"""

from __future__ import annotations

import hashlib
import re
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras

from textsweep.sweep.hypermodel import EpochReporter, Outcome, TextHyperModel
from textsweep.sweep.progress import Progress
from textsweep.tracking import (
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
)


def execution_seed(base: int, trial_id: str, execution: int) -> int:
    """A different, reproducible seed for every execution of every trial."""
    digest = hashlib.sha256(f"{base}:{trial_id}:{execution}".encode()).digest()
    return int.from_bytes(digest[:4], "little") % (2**31 - 1)


@dataclass(frozen=True)
class ExecutionSpec:
    """Which execution of which trial, and the run its metrics go to."""

    trial_id: str
    index: int  # 0-based among the trial's executions
    seed: int
    run_id: str  # an execution run of its own, or the trial run itself
    own_run: bool  # `run_id` is an execution run: logged and ended by `train_execution`
    label: str = ""  # shown before the epoch lines, e.g. "[2/3] "


def execution_spec(
    tracker: Tracker,
    seed_base: int,
    trial_id: str,
    trial_run_id: str,
    index: int,
    *,
    nested: bool,
    label: str = "",
) -> ExecutionSpec:
    """The execution's seed and run: a run nested under the trial run (`nested`), else the trial
    run itself, which then gets the seed as a tag."""
    seed = execution_seed(seed_base, trial_id, index)
    if not nested:
        tracker.set_tags(trial_run_id, {TAG_SEED: str(seed)})
        return ExecutionSpec(trial_id, index, seed, trial_run_id, False, label)
    tags = {
        TAG_PARENT: trial_run_id,
        TAG_ROLE: Role.EXECUTION,
        TAG_EXECUTION: str(index),
        TAG_SEED: str(seed),
        TAG_TRIAL_ID: trial_id,
    }
    run_id = tracker.start_run(f"t{trial_id} execution {index + 1}", tags)
    return ExecutionSpec(trial_id, index, seed, run_id, True, label)


def train_execution(
    tracker: Tracker,
    progress: Progress,
    hypermodel: TextHyperModel,
    hp: Any,
    spec: ExecutionSpec,
    *,
    fit_kwargs: Mapping[str, Any],
    build: Callable[[Any], Any] | None = None,
    check: Callable[[], None] | None = None,
    keeper: Any = None,
    title: str = "",
) -> tuple[Outcome, Any]:
    """Train one execution (see the module docstring); returns its outcome and Keras history.

    `build` makes the model (Keras Tuner's own, with its checks, in a tuner; default
    `hypermodel.build`); `fit_kwargs` go to `hypermodel.fit` (epochs, callbacks, ...); `check`
    runs after every epoch (a pending signal raises there); `keeper` is offered the model.
    """
    keras.utils.set_random_seed(spec.seed)
    kwargs = dict(fit_kwargs)
    epochs = int(kwargs.pop("epochs", hypermodel.sweep.config.training.epochs))
    reporter = EpochReporter(tracker, spec.run_id, progress, epochs, spec.label, check)
    callbacks: Sequence[Any] = kwargs.pop("callbacks", [])
    try:
        model = (build or hypermodel.build)(hp)
        history = hypermodel.fit(
            hp, model, epochs=epochs, callbacks=[*callbacks, reporter], **kwargs
        )
    except BaseException as error:
        if spec.own_run:
            interrupted = isinstance(error, KeyboardInterrupt | SystemExit)
            record_error(tracker, spec.run_id, error_text(error))
            tracker.end_run(spec.run_id, RunStatus.KILLED if interrupted else RunStatus.FAILED)
        raise
    outcome: Outcome = history.textsweep
    outcome.rows = reporter.rows
    if keeper is not None:
        keeper.offer(spec.trial_id, hypermodel.values(hp), history.model, outcome.final)
    if spec.own_run:
        tracker.log_metrics(spec.run_id, outcome.final)
        log_history_artifacts(
            tracker,
            spec.run_id,
            outcome.rows,
            title or f"t{spec.trial_id} execution {spec.index + 1}",
        )
        tracker.end_run(spec.run_id, RunStatus.FINISHED)
    return outcome, history


FINAL_KEYS = (
    "best_val_accuracy",
    "best_val_loss",
    "best_epoch",
    "test_loss",
    "test_accuracy",
    "train_seconds",
    "params_count",
)


def mean_final(finals: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """A trial's final metrics: the mean over its executions, and `<metric>_std` when > 1."""
    final: dict[str, float] = {}
    for key in FINAL_KEYS:
        mean, std = mean_std(f[key] for f in finals if key in f)
        final[key] = mean
        if len(finals) > 1:
            final[f"{key}_std"] = std
    return final


def record_error(tracker: Tracker, run_id: str, message: str, with_traceback: bool = True) -> None:
    """The `textsweep.error` tag and, from inside an `except`, `traceback.txt`."""
    tracker.set_tags(run_id, {TAG_ERROR: message[:5000]})
    if with_traceback:
        tracker.log_text(run_id, traceback.format_exc(), "traceback.txt")


def error_text(error: BaseException) -> str:
    """`Type: last line of the message`, the form of the `textsweep.error` tag."""
    # TensorFlow prefixes op errors with `{{function_node ...}}`; the rest says what happened
    text = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", str(error).strip())
    return f"{type(error).__name__}: {text.splitlines()[-1]}" if text else type(error).__name__

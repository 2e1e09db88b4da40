"""Keras Tuner private-API patches, in one place; each names what it works around.

Written against Keras Tuner 1.4.7-1.4.8 (`TESTED`); `check_version` warns on another version.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from textsweep import server
from textsweep.sweep.interrupts import Interrupts

TESTED = ("1.4.7", "1.4.8")


def check_version() -> str | None:
    """A warning when the installed Keras Tuner is not one these patches were tested with."""
    import keras_tuner as kt

    if kt.__version__ in TESTED:
        return None
    return (
        f"Keras Tuner {kt.__version__} is not a version textsweep was tested with "
        f"({', '.join(TESTED)}); resume and grid order rely on its internals"
    )


@contextlib.contextmanager
def no_failed_trial_tracebacks() -> Iterator[None]:
    """Keras Tuner prints every failed trial's traceback while its DEBUG flag is on (the
    default); textsweep logs the traceback as an artifact of the trial's run instead."""
    from keras_tuner.src import config as kt_config

    debug, kt_config.DEBUG = kt_config.DEBUG, False
    try:
        yield
    finally:
        kt_config.DEBUG = debug


def retry_queue_length(oracle: Any) -> int:
    """How many interrupted trials a reloaded oracle will run again."""
    return len(getattr(oracle, "_retry_queue", ()))


def prepare_reload(folder: Path) -> None:
    """Let Keras Tuner reload a project killed during its first trial.

    It reloads only when its tuner file exists, which it writes at the end of a trial; the
    oracle's own file is written when a trial starts.
    """
    tuner_file = folder / f"{os.environ.get('KERASTUNER_TUNER_ID', 'tuner0')}.json"
    if (folder / "oracle.json").is_file() and not tuner_file.is_file():
        tuner_file.write_text("{}", encoding="utf-8")


def restore_grid_order(oracle: Any) -> None:
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


def defer_signals_in_state_writes(oracle: Any, interrupts: Interrupts) -> None:
    """Keras Tuner writes its JSON state in place; a signal raised mid-write would truncate it."""
    for name in ("create_trial", "update_trial", "end_trial", "save"):
        method = getattr(oracle, name, None)
        if method is None:  # a worker's oracle is a gRPC client: it has no `save`
            continue

        def deferred(*args: Any, _method: Any = method, **kwargs: Any) -> Any:
            with interrupts.deferred():
                return _method(*args, **kwargs)

        setattr(oracle, name, deferred)


def hyperband_params(trial: Any) -> dict[str, Any]:
    """Hyperband's bookkeeping values of a trial, under names that say what they are."""
    values = trial.hyperparameters.values
    names = {"tuner/epochs": "hyperband.epochs", "tuner/initial_epoch": "hyperband.initial_epoch",
             "tuner/bracket": "hyperband.bracket", "tuner/round": "hyperband.round",
             "tuner/trial_id": "hyperband.resumed_from"}  # fmt: skip
    return {new: values[old] for old, new in names.items() if old in values}


def stop_if_tracking_lost(error: BaseException) -> None:
    """Raise a `server.TrackingLost` that is also Keras Tuner's `FatalError` when `error` says
    the tracking server cannot be reached.

    Keras Tuner counts any other error in a trial as a failed (or invalid) trial and goes on;
    without a tracking server nothing can be recorded, so the search stops, resumable.
    """
    if server.lost(error):
        raise _fatal_tracking_lost()(str(error)) from error


@functools.cache
def _fatal_tracking_lost() -> type[server.TrackingLost]:
    import keras_tuner as kt

    return type("TrackingLost", (server.TrackingLost, kt.errors.FatalError), {})

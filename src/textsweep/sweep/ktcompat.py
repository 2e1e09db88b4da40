"""Keras Tuner's internals, in one place: every private name, override and patch textsweep
relies on, each saying what it works around. Nothing else in textsweep reaches past Keras
Tuner's public API (`tests/test_architecture.py` checks it).

    Tracked = type("TrackedRandomSearch", (TrackedTuner, PrivateHooks, kt.RandomSearch), {})
    trial.status == TrialStatus.COMPLETED

Written against Keras Tuner 1.4.7-1.4.8 (`TESTED`); `check_version` warns on another version.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from keras_tuner.engine.trial import Trial, TrialStatus

from textsweep import server
from textsweep.sweep.interrupts import Interrupts
from textsweep.tracking.failures import StoreWriteFailed, store_failure

TESTED = ("1.4.7", "1.4.8")

__all__ = ["TESTED", "PrivateHooks", "Trial", "TrialStatus"]  # and the functions below


class PrivateHooks:
    """The Keras Tuner private methods a tracked tuner overrides, routed to named hooks.

    Mixed in between `TrackedTuner` and the Keras Tuner class, which calls these:
    `_populate_initial_space` -> `declare_space()` (the search space declared at once: Keras
    Tuner's own discovery builds a throwaway model per conditional scope);
    `_build_and_fit_model` -> `fit_execution(trial, ...)` (one execution of a trial, built with
    `try_build` and checked with `after_fit`, as Keras Tuner's own does); `_try_run_and_update_trial` runs without
    printing failed trials' tracebacks (`no_failed_trial_tracebacks`).
    """

    def declare_space(self) -> None:
        raise NotImplementedError

    def fit_execution(self, trial: Trial, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def _populate_initial_space(self) -> None:
        self.declare_space()

    def _build_and_fit_model(self, trial: Trial, *args: Any, **kwargs: Any) -> Any:
        return self.fit_execution(trial, *args, **kwargs)

    def _try_run_and_update_trial(self, trial: Trial, *args: Any, **kwargs: Any) -> None:
        with no_failed_trial_tracebacks():
            super()._try_run_and_update_trial(trial, *args, **kwargs)  # type: ignore[misc]


def watch_created_trials(oracle: Any, seen: Any) -> None:
    """Call `seen(trial)` with every trial the oracle creates (its `create_trial` wrapped)."""
    create = oracle.create_trial

    def create_trial(tuner_id: str) -> Any:
        trial = create(tuner_id)
        seen(trial)
        return trial

    oracle.create_trial = create_trial


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
            with interrupts.deferred(files=True):
                return _method(*args, **kwargs)

        setattr(oracle, name, deferred)


def hyperband_params(trial: Any) -> dict[str, Any]:
    """Hyperband's bookkeeping values of a trial, under names that say what they are."""
    values = trial.hyperparameters.values
    names = {
        "tuner/epochs": "hyperband.epochs",
        "tuner/initial_epoch": "hyperband.initial_epoch",
        "tuner/bracket": "hyperband.bracket",
        "tuner/round": "hyperband.round",
        "tuner/trial_id": "hyperband.resumed_from",
    }
    return {new: values[old] for old, new in names.items() if old in values}


@contextlib.contextmanager
def atomic_json_writes() -> Iterator[None]:
    """Inside the block, Keras Tuner writes its JSON state atomically: a temporary file, fsync,
    then rename; Keras Tuner's own writer is back afterwards.

    Keras Tuner rewrites `oracle.json`, `trial.json` and `tuner0.json` in place; a kill -9 in the
    middle left them empty or cut. Every writer goes through `keras_tuner.src.utils.save_json`
    (`Stateful.save`), and the trials that write are made inside Keras Tuner, so the module's
    function is what is replaced, for the tuner's construction and its search only.
    """
    from keras_tuner.src import utils

    original = utils.save_json
    if original is _save_json_atomically:  # nested: the outer block restores it
        yield
        return
    utils.save_json = _save_json_atomically
    try:
        yield
    finally:
        utils.save_json = original


def _save_json_atomically(path: str, obj: Any) -> str:
    text = json.dumps(obj)
    write_text_atomically(Path(path), text)
    return text


def write_text_atomically(path: Path, text: str) -> None:
    """`path` holds either its old content or `text`, never a part of it, whatever happens."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def unreadable_state(folder: Path) -> str | None:
    """What makes a Keras Tuner project unreadable (an empty or cut JSON file), or None."""
    names = ["oracle.json", f"{os.environ.get('KERASTUNER_TUNER_ID', 'tuner0')}.json"]
    files = [folder / n for n in names] + sorted(folder.glob("trial_*/trial.json"))
    for path in files:
        if not path.is_file():
            continue
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as e:
            return f"{path.name} in {path.parent}: {type(e).__name__}: {e}"
    return None


def clear_state(folder: Path) -> None:
    """Remove Keras Tuner's files from a project folder (textsweep's own lock stays)."""
    for entry in folder.iterdir():
        if entry.name.startswith("textsweep."):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def add_ended_trial(
    oracle: Any, trial_id: str, values: dict[str, Any], score: float | None, completed: bool
) -> None:
    """Put a trial that ended (as MLflow recorded it) into a fresh oracle, as if it had run there.

    Used to rebuild a project whose saved state was unreadable: the oracle then counts it
    against `max_trials`, never proposes its values again, and ranks it by `score`.
    """
    hp = oracle.get_space()
    for name, value in values.items():
        if name in hp.values:
            hp.values[name] = value
    status = TrialStatus.COMPLETED if completed else TrialStatus.FAILED
    trial = Trial(hyperparameters=hp, trial_id=trial_id, status=status)
    if completed and score is not None:
        trial.score = score
        trial.best_step = 0
    oracle._record_values(trial)
    oracle.trials[trial_id] = trial
    oracle.start_order.append(trial_id)
    oracle.end_order.append(trial_id)
    oracle._save_trial(trial)


def stop_if_tracking_lost(error: BaseException) -> None:
    """Raise a `server.TrackingLost` that is also Keras Tuner's `FatalError` when `error` says
    the tracking server cannot be reached, and likewise a `StoreWriteFailed` when it says the
    store (or the disk) cannot be written.

    Keras Tuner counts any other error in a trial as a failed (or invalid) trial and goes on;
    without a tracking server nothing can be recorded, so the search stops, resumable.
    """
    if server.lost(error):
        raise _fatal_tracking_lost()(str(error)) from error
    failure = store_failure(error)  # a full or read-only disk, a deleted database: stop, resumable
    if failure is not None:
        raise _fatal_store_write_failed()(str(failure)) from error


@functools.cache
def _fatal_store_write_failed() -> type[StoreWriteFailed]:
    import keras_tuner as kt

    return type("StoreWriteFailed", (StoreWriteFailed, kt.errors.FatalError), {})


@functools.cache
def _fatal_tracking_lost() -> type[server.TrackingLost]:
    import keras_tuner as kt

    return type("TrackingLost", (server.TrackingLost, kt.errors.FatalError), {})


def try_build(tuner: Any, hp: Any) -> Any:
    """Keras Tuner's own model building (clears the session, checks the model and its size)."""
    return tuner._try_build(hp)


def after_fit(tuner: Any, trial: Any, results: Any) -> None:
    """What Keras Tuner's own `_build_and_fit_model` does after `fit`, which the tracked tuner
    replaces with `sweep.trial.train_execution`: save the model's build config (Hyperband and
    `load_model` rebuild from it) and check that the results name the objective."""
    from keras_tuner.src import backend, utils
    from keras_tuner.src.engine import tuner_utils

    model = results.model if getattr(results, "model", None) is not None else None
    if model is not None and backend.config.multi_backend():
        utils.save_json(tuner._get_build_config_fname(trial.trial_id), model.get_build_config())
    tuner_utils.validate_trial_results(results, tuner.oracle.objective, "HyperModel.fit()")


def save_trial(oracle: Any, trial: Any) -> None:
    """Write one trial's `trial.json` (the chief's lease ends a trial outside `end_trial`)."""
    oracle._save_trial(trial)


def set_project_dir(oracle: Any, directory: str, project_name: str) -> None:
    """Where an oracle made outside a tuner writes its state (a tuner sets it itself)."""
    oracle._set_project_dir(directory, project_name)


def synchronized(method: Callable[..., Any]) -> Callable[..., Any]:
    """Keras Tuner's `synchronized` (the same lock per oracle, the same re-entry by thread), but
    the lock is released when the method raises: Keras Tuner's own keeps it held then, and every
    later call, the chief's own "all done?" check (`exit_chief`) included, waits forever: a
    chief whose oracle raised once in a worker's request hung instead of failing that request."""
    from keras_tuner.src.engine import oracle as kt_oracle

    @functools.wraps(method)
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        name = threading.current_thread().name
        if kt_oracle.THREADS[self] == name:  # re-entered from a synchronized method
            return method(self, *args, **kwargs)
        with kt_oracle.LOCKS[self]:
            kt_oracle.THREADS[self] = name
            try:
                return method(self, *args, **kwargs)
            finally:
                kt_oracle.THREADS[self] = None

    return wrapped

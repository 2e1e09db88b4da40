"""How every MLflow call is made: retried on a busy SQLite file, never cut by a signal.

run = retry_locked(lambda: client.get_run(run_id))
with shield_store_calls(interrupts.deferred): ...   # while a sweep handles signals
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from textsweep.credentials import mask_logs

T = TypeVar("T")


def quiet_mlflow_logs() -> None:
    """Keep alembic's schema-migration chatter and MLflow's info lines out of the terminal."""
    for name in ("alembic", "mlflow", "mlflow.store", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # it logs every failed statement with its traceback before raising; textsweep says what
    # went wrong once (see `failures.StoreWriteFailed`)
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    mask_logs("mlflow")  # a tracking URI's password in MLflow's warnings
    # MLflow prints "View run ... at: <server URL>" for every run it ends: noise here, and the
    # URL may hold a password
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


_LOCKED_RETRY_SECONDS = 120.0


def retry_locked(call: Callable[[], T]) -> T:
    """`call()`, retried while SQLite answers "database is locked".

    MLflow already waits 20 s on a busy SQLite file (`PRAGMA busy_timeout`), but a write that
    upgrades a read transaction fails at once; with several sweeps on one file that happens.
    """
    deadline = time.monotonic() + _LOCKED_RETRY_SECONDS
    delay = 0.05
    while True:
        try:
            return shielded(call)
        except Exception as e:
            if "database is locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


# A signal handler that raises inside a database call (SIGINT between two SQLAlchemy steps) can
# leave the SQLite connection in a transaction that is never closed: its lock stays, and every
# later write, the runs' KILLED status included, waits "database is locked" until it gives up.
# While a sweep handles signals, its `Interrupts.deferred` is installed here, and each store call
# on the main thread finishes before the signal is raised.
_guards: list[Callable[[], contextlib.AbstractContextManager[None]]] = []


@contextlib.contextmanager
def shield_store_calls(
    guard: Callable[[], contextlib.AbstractContextManager[None]],
) -> Iterator[None]:
    """Run every store call inside `guard()` (a signal-deferring block) while this is open."""
    _guards.append(guard)
    try:
        yield
    finally:
        _guards.remove(guard)


def shielded(call: Callable[[], T]) -> T:
    """`call()`, inside the innermost signal guard on the main thread; a store that cannot be
    written (a full or read-only disk, a deleted database) is raised as `StoreWriteFailed`."""
    from textsweep.tracking.failures import store_failure

    try:
        if not _guards or threading.current_thread() is not threading.main_thread():
            return call()  # the background writer: signals are only ever raised on the main thread
        with _guards[-1]():
            return call()
    except Exception as e:
        failure = store_failure(e)
        if failure is None or failure is e:
            raise
        raise failure from e

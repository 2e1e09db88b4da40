"""What a failing tracking store means, in words: a full or read-only disk, a deleted or damaged
SQLite file. Every store call (`tracking.store`) raises `StoreWriteFailed` in place of the
OSError or database error, so a sweep stops once, with what to do, and stays resumable.

    failure = store_failure(error)   # a StoreWriteFailed, or None for any other error
    check_database("sqlite:///mlruns/mlflow.db")   # UserError naming a damaged file
"""

from __future__ import annotations

import contextlib
import errno
from pathlib import Path

from textsweep.errors import SweepFailed, UserError


def sqlite_file(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI (relative to the working directory), else None."""
    return Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None


class StoreWriteFailed(SweepFailed):
    """The tracking store stopped taking writes or answering: its disk is full or read-only, or
    its SQLite file was deleted or damaged. What was logged before stays; nothing more can be.

    Raised by every store call (`calls.shielded`) in place of the OSError or database error. A sweep
    stops at once, leaving its runs as a crash would (RUNNING), so `--resume` redoes the trial
    that was being logged; before a sweep starts (`Tracker.open`) it becomes a `UserError`.
    """


_ROFS_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM)
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_SQLITE_FULL = ("database or disk is full",)
_SQLITE_READONLY = ("attempt to write a readonly database",)
_SQLITE_DAMAGED = (
    "file is not a database",
    "database disk image is malformed",
    "unable to open database file",
    "no such table",
    "disk I/O error",
)
# the SQLite files of the trackers this process opened, to name in messages
_db_files: list[Path] = []


def store_failure(error: BaseException) -> StoreWriteFailed | None:
    """A `StoreWriteFailed` saying what happened and what to do, when `error` (or an error it
    came from) means the store cannot be written or read any more; else None."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, StoreWriteFailed):
            return current
        text = str(current)
        if isinstance(current, OSError) and current.errno in _ROFS_ERRNOS + _FULL_ERRNOS:
            where = current.filename or (_db_files[-1] if _db_files else "the tracking store")
            what = "the tracking store" if _in_store(current.filename) else "a file"
            return StoreWriteFailed(
                _failure_text(current.errno, f"{current.strerror}: {where}", what)
            )
        if any(m in text for m in _SQLITE_FULL + _SQLITE_READONLY + _SQLITE_DAMAGED):
            db = _db_files[-1] if _db_files else None
            return StoreWriteFailed(_database_text(text, db))
        current = current.__cause__ or current.__context__
    return None


_RESUME = "continue with the same `textsweep run` command and --resume"


def _in_store(filename: object) -> bool:
    """Whether `filename` (None: unknown, so the store) is in the folder of an opened store."""
    if not filename:
        return True
    path = Path(str(filename)).resolve()
    return any(path.is_relative_to(db.resolve().parent) for db in _db_files)


def _failure_text(code: int | None, what: str, thing: str = "the tracking store") -> str:
    if code in _FULL_ERRNOS:
        return (
            f"the disk is full: {thing} cannot be written ({what}); the runs "
            f"logged so far are kept. Free space, then {_RESUME}"
        )
    fix = (
        "give a --tracking-uri you can write to"
        if thing == "the tracking store"
        else ("set TEXTSWEEP_HOME to a folder you can write to")
    )
    return (
        f"{thing} cannot be written ({what}); the runs logged so far are kept. "
        f"Make it writable (or {fix}), then {_RESUME}"
    )


def _database_text(text: str, db: Path | None) -> str:
    reason = next(m for m in _SQLITE_FULL + _SQLITE_READONLY + _SQLITE_DAMAGED if m in text)
    name = str(db) if db is not None else "the tracking database"
    if reason in _SQLITE_FULL:
        return _failure_text(errno.ENOSPC, f"{reason}: {name}")
    if db is not None and not db.exists():
        return (
            f"the tracking database {name} was deleted ({reason}); the runs it held are "
            "gone unless you restore the file from a copy (then " + _RESUME + "); otherwise "
            "start again without --resume"
        )
    if reason in _SQLITE_READONLY:
        return _failure_text(errno.EROFS, f"{reason}: {name}")
    return (
        f"the tracking database {name} is damaged or not an MLflow database ({reason}); "
        "restore it from a copy, or move it aside and give another --tracking-uri (or "
        "tracking.uri) to start a new store"
    )


def check_database(uri: str, source: str = "tracking.uri") -> None:
    """Raise `UserError` naming the file when a `sqlite:///` store exists but is not a readable
    SQLite database (damaged, cut, or another kind of file). A missing file passes."""
    import sqlite3

    db = sqlite_file(uri)
    if db is None:
        return
    if db not in _db_files:
        _db_files.append(db)
    if not db.is_file():
        return
    # mode=rw, not ro: a process killed inside a write leaves a hot journal, which the first
    # reader must roll back; a read-only connection fails on it with "attempt to write a readonly
    # database". rw never creates the file, and opens a write-protected one read-only.
    try:
        with contextlib.closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=rw", uri=True)) as c:
            c.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as e:
        failure = store_failure(e)
        text = str(failure) if failure is not None else f"cannot read it ({e})"
        raise UserError(text, source=source) from None

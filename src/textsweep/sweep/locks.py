"""Locks that keep two processes off one execution, and off creating two of one sweep at once.

    lock = ExecutionLock.acquire(project_dir, "sweeps/x.yaml")   # UserError when it is held
    lock_holder(project_dir)                                     # the pid holding it, or None
    lock.release()

A lock is an exclusive `flock` on a file holding the holder's pid; the kernel releases it when
the process ends, even after `kill -9`, so a lock is never left behind by a dead process.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from textsweep.errors import UserError

LOCK_NAME = "textsweep.lock"
SWEEP_LOCK_NAME = "textsweep.sweep.lock"  # held while an execution of the sweep is created


class ExecutionLock:
    """An exclusive `flock` on `<project dir>/textsweep.lock` holding this process's pid."""

    def __init__(self, handle: IO[str], path: Path):
        self._handle: IO[str] | None = handle
        self.path = path

    @classmethod
    def acquire(
        cls, folder: Path, source: str, *, name: str = LOCK_NAME, wait: bool = False
    ) -> ExecutionLock:
        """Take the lock, or raise `UserError` naming the process that holds it.

        With `wait`, block until it is free instead (for short critical sections).
        """
        import fcntl

        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        handle = open(path, "a+", encoding="utf-8")  # held until release()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip() or "?"
            handle.close()
            raise UserError(
                f"the execution in {folder} is being run now by process {pid}; wait for it, "
                "or stop it (Ctrl-C or kill) and resume",
                source=source,
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        return cls(handle, path)

    def release(self) -> None:
        if self._handle is not None:
            import fcntl

            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def lock_holder(folder: Path) -> int | None:
    """The pid holding `folder`'s execution lock, or None when nobody does."""
    import fcntl

    path = folder / LOCK_NAME
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = handle.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None

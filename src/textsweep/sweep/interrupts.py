"""SIGINT and SIGTERM during a sweep: one exception, raised where it cannot corrupt state.

    with Interrupts() as interrupts:
        ...                              # SIGINT/SIGTERM raise SweepInterrupted here
        interrupts.check()               # ...and again here, should the first raise be lost
        with interrupts.deferred():
            write_state_file()           # ...but not in here: it is raised on leaving the block

`SweepInterrupted` is a `KeyboardInterrupt`, so Keras Tuner (which catches `Exception`) lets it
through and every `except KeyboardInterrupt` treats SIGTERM like Ctrl-C. The CLI exits with
128 + the signal number (130 for SIGINT, 143 for SIGTERM).

A signal handler's exception is lost when Python happens to be running a finalizer (`__del__`,
a weakref callback during garbage collection) at that moment: it prints "Exception ignored" and
goes on. That happens often while a model is being built, so the signal is also remembered, and
`check()` (at every batch, epoch and trial boundary) raises it again until it is handled.
A second signal ends the process at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType, TracebackType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SweepInterrupted(KeyboardInterrupt):
    """The sweep was stopped by a signal; `signum` says which."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


class Interrupts:
    """Turns SIGINT and SIGTERM into `SweepInterrupted` while active, then restores the handlers.

    The first signal raises `SweepInterrupted` (at once, or on leaving a `deferred()` block) and
    every later `check()` raises it again. A second signal exits the process at once with
    128 + its number, leaving the runs to be closed by the next `run --resume`; only a
    `deferred(files=True)` block (a state file being written) is finished first. Outside the
    main thread signals cannot be caught; it does nothing.
    """

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}
        self._previous_hook: Any = None
        self._depth = 0
        self._writing = 0
        self._owed = False  # a signal came inside a deferred block and is raised on leaving it
        self._exit_owed: int | None = None
        self.received: int | None = None

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
            self._previous_hook = sys.unraisablehook
            sys.unraisablehook = self._unraisable
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        if self._previous_hook is not None:
            sys.unraisablehook = self._previous_hook
            self._previous_hook = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            self._second(signum)
            return
        self.received = signum
        print(
            f"\n{signal.Signals(signum).name}: stopping, marking the runs KILLED "
            "(send it again to exit at once)...",
            file=sys.stderr,
            flush=True,
        )
        if self._depth > 0:
            self._owed = True
            return
        raise SweepInterrupted(signum)

    def _second(self, signum: int) -> None:
        if self._writing > 0:
            self._exit_owed = signum
            return
        _exit_now(signum)

    def _unraisable(self, unraisable: Any) -> None:
        # the first signal raised inside a finalizer: `check()` raises it again, no need to print
        if not isinstance(unraisable.exc_value, SweepInterrupted):
            self._previous_hook(unraisable)

    def check(self) -> None:
        """Raise `SweepInterrupted` if a signal came (outside `deferred` blocks; they raise it)."""
        if self.received is not None and self._depth == 0:
            self._owed = False
            raise SweepInterrupted(self.received)

    @contextlib.contextmanager
    def deferred(self, *, files: bool = False) -> Iterator[None]:
        """A block a signal must not cut in two (a run half-opened); it is raised after.

        With `files=True` (a state file half-written) even a second signal waits for its end.
        """
        self._depth += 1
        self._writing += files
        try:
            yield
        finally:
            self._depth -= 1
            self._writing -= files
            if self._writing == 0 and self._exit_owed is not None:
                _exit_now(self._exit_owed)
            if self._depth == 0 and self._owed and self.received is not None:
                self._owed = False
                raise SweepInterrupted(self.received)


def _exit_now(signum: int) -> None:
    """End the process on a second signal: runs left RUNNING are closed by `run --resume`."""
    name = signal.Signals(signum).name
    try:
        print(
            f"\n{name} again: exiting now; runs left RUNNING are closed when the sweep is "
            "resumed (run the same command with --resume) or started afresh (--fresh)",
            file=sys.stderr,
            flush=True,
        )
        sys.stdout.flush()
    finally:
        os._exit(128 + signum)

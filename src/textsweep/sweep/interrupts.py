"""SIGINT and SIGTERM during a sweep: one exception, raised where it cannot corrupt state.

    with Interrupts() as interrupts:
        ...                              # SIGINT/SIGTERM raise SweepInterrupted here
        with interrupts.deferred():
            write_state_file()           # ...but not in here: it is raised on leaving the block

`SweepInterrupted` is a `KeyboardInterrupt`, so Keras Tuner (which catches `Exception`) lets it
through and every `except KeyboardInterrupt` treats SIGTERM like Ctrl-C. The CLI exits with
128 + the signal number (130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import contextlib
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

    A second signal while the first is being handled (runs being marked KILLED) is ignored, so
    the clean-up finishes. Outside the main thread signals cannot be caught; it does nothing.
    """

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}
        self._depth = 0
        self._pending: int | None = None
        self.received: int | None = None

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
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

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            return
        if self._depth > 0:
            self._pending = signum
            return
        self.received = signum
        print(
            f"\n{signal.Signals(signum).name}: stopping, marking the runs KILLED...",
            file=sys.stderr,
            flush=True,
        )
        raise SweepInterrupted(signum)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A block a signal must not cut in two (a state file half-written); it is raised after."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0 and self._pending is not None:
                signum, self._pending = self._pending, None
                self._handle(signum, None)

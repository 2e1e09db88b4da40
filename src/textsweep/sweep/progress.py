"""What a sweep shows in the terminal: trial k of N, epochs, objective, elapsed time and ETA.

Plain lines, so logs in CI read as well as a terminal; on a terminal, batches within an epoch
update one line in place.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from textsweep.credentials import mask_text


def duration(seconds: float) -> str:
    """`75.2` -> `1m15s`; `3725` -> `1h02m05s`."""
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h{m:02d}m{s:02d}s"
    if m:
        return f"{m}m{s:02d}s"
    return f"{s}s"


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 60 else duration(seconds)


def count(n: int, noun: str) -> str:
    """`count(1, "trial")` == "1 trial"; `count(2, "trial")` == "2 trials"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def format_values(values: Mapping[str, Any]) -> str:
    parts = []
    for k, v in values.items():
        if isinstance(v, float):
            v = f"{v:.4g}"
        parts.append(f"{k}={v}")
    return " ".join(parts)


@dataclass
class Progress:
    """Prints a sweep's progress; every method is one event of the sweep."""

    objective: str
    direction: str
    total_trials: int | None
    out: TextIO = field(default_factory=lambda: sys.stdout)
    started: float = field(default_factory=time.monotonic)
    trial_seconds: list[float] = field(default_factory=list)
    done: int = 0
    best: float | None = None  # the best configuration's mean so far (as `reporting.choice`)
    best_trial: str | None = None
    best_n: int = 0
    _configs: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    _trial_started: float = 0.0
    _line_open: bool = False
    _last_batch_print: float = 0.0

    @property
    def interactive(self) -> bool:
        return bool(getattr(self.out, "isatty", lambda: False)())

    def say(self, text: str) -> None:
        self._close_line()
        print(mask_text(text), file=self.out, flush=True)  # a tracking URI's password

    def trial_begin(self, trial_id: str, values: Mapping[str, Any]) -> None:
        """`trial t02 (3 of 4)  units=8`: trials are named `t` + Keras Tuner's trial id, as the
        MLflow runs and the report name them; epochs count from 1 everywhere."""
        self._trial_started = time.monotonic()
        of = f" of {self.total_trials}" if self.total_trials else ""
        self.say(f"trial t{trial_id} ({self.done + 1}{of})  {format_values(values)}")

    def batch(self, epoch: int, epochs: int, batch: int, batches: int | None) -> None:
        now = time.monotonic()
        if not self.interactive or now - self._last_batch_print < 0.5:
            return
        self._last_batch_print = now
        share = f" {100 * (batch + 1) // batches:3d}%" if batches else f" batch {batch + 1}"
        self.out.write(f"\r  epoch {epoch + 1}/{epochs}{share}")
        self.out.flush()
        self._line_open = True

    def epoch_end(
        self,
        epoch: int,
        epochs: int,
        logs: Mapping[str, float],
        seconds: float,
        execution: str = "",
    ) -> None:
        # within 80 columns up to 99 epochs, 9 executions and an hour an epoch
        parts = []
        for prefix in ("", "val_"):
            shown = [
                f"{prefix}{short} {logs[prefix + key]:.3f}"
                for key, short in (("loss", "loss"), ("accuracy", "acc"))
                if prefix + key in logs
            ]
            parts.append(" ".join(shown))
        metrics = "  ".join(p for p in parts if p)
        self.say(f"  {execution}epoch {epoch + 1}/{epochs}  {metrics}  {_seconds(seconds)}")

    def trial_end(
        self,
        trial_id: str,
        value: float | None,
        test_accuracy: float | None,
        config: str | None = None,
    ) -> None:
        """A trial ended with objective `value`; `config` names its configuration, so that one
        tried in several trials (adaptive repeats) is ranked by its mean, as the report ranks it."""
        self.done += 1
        self.trial_seconds.append(time.monotonic() - self._trial_started)
        if value is not None and math.isfinite(value):
            self._configs.setdefault(config or trial_id, []).append((value, trial_id))
            self._rank()
        shown = f"{value:.4f}" if value is not None else "n/a"
        test = f" (test_accuracy {test_accuracy:.4f})" if test_accuracy is not None else ""
        pooled = f", mean of {self.best_n}" if self.best_n > 1 else ""
        best = (
            f"best {self.best:.4f} (t{self.best_trial}{pooled})"
            if self.best is not None
            else "no best yet"
        )
        self.say(f"  -> {self.objective} {shown}{test} | {best} | {self._timing()}")

    def _rank(self) -> None:
        sign = 1.0 if self.direction == "max" else -1.0
        means = {k: sum(v for v, _ in runs) / len(runs) for k, runs in self._configs.items()}
        key = max(means, key=lambda k: sign * means[k])
        runs = self._configs[key]
        self.best, self.best_n = means[key], len(runs)
        self.best_trial = max(runs, key=lambda r: sign * r[0])[1]  # its best execution's trial

    def trial_failed(self, trial_id: str, error: str) -> None:
        self.done += 1
        self.trial_seconds.append(time.monotonic() - self._trial_started)
        self.say(f"  -> trial t{trial_id} FAILED: {error} | {self._timing()}")

    def _timing(self) -> str:
        elapsed = time.monotonic() - self.started
        text = f"elapsed {duration(elapsed)}"
        if self.total_trials and self.trial_seconds:
            left = max(self.total_trials - self.done, 0)
            mean = sum(self.trial_seconds) / len(self.trial_seconds)
            text += f", about {duration(left * mean)} left" if left else ""
        return text

    def _close_line(self) -> None:
        if self._line_open:
            self.out.write("\r\033[K")
            self._line_open = False

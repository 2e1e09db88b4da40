"""Learning-curve drops inside a race (`tuner.repeats.prune: true`): stop a clearly worse execution.

    book = CurveBook("max")                      # the race's finished curves (RacingOracle.book)
    book.add(0, [0.80, 0.85, 0.86])              # combination 0: best-so-far per epoch
    book.worse_at(1, epoch=0, running=0.62)      # True once the test says combination 1 is worse

While an execution of a raced combination trains, after each epoch its best-so-far validation
objective is compared, at that same epoch, with the finished executions of every combination,
by the race's own test (`reporting.inference.decide`: Welch's t-test against the best mean, Holm,
alpha 0.05), its own finished executions pooled with it. Once its combination is WORSE there,
training stops (`model.stop_training`), the trial run is tagged `textsweep.pruned=<epoch>` and
the terminal says so.

A stopped execution is counted at its last epoch: its objective is the best epoch it reached, as
for any execution (an early-stopped one too), so the race, `textsweep.repeats` and the report
read the same numbers and always agree. That value is at most what the full execution would
have reached, so it can only lower a combination the curves already showed worse; the race then
drops it sooner, by the usual test on the objective. Its curve never enters the book (it is not
a full curve).

Limits: the book lives in the process that trains, so it is used without `--workers` only, and
after `--resume` it starts empty (less is dropped, nothing wrong is). With two executions per
value (a race's first round) the test has too little power to call a curve worse: on full IMDB
(`sweeps/lstm_units.yaml`, benchmarks/LSTM_UNITS.md) nothing was dropped in the first round, so
drops start from the third execution of a value.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import keras

from textsweep.reporting.inference import MIN_EXECUTIONS, Verdict, decide
from textsweep.tracking.names import TAG_PRUNED


class CurveBook:
    """The best-so-far validation curves of a race's full executions, by combination."""

    def __init__(self, direction: str):
        self.direction = direction
        self.curves: dict[Hashable, list[tuple[float, ...]]] = {}

    def add(self, key: Hashable, values: Sequence[float], epochs: int) -> None:
        """A full execution's per-epoch objective; an early-stopped one is padded with its best."""
        if not values or any(not math.isfinite(v) for v in values):
            return
        best = running_best(values, self.direction)
        self.curves.setdefault(key, []).append(tuple(best + [best[-1]] * (epochs - len(best))))

    def samples_at(self, epoch: int) -> dict[Hashable, list[float]]:
        return {
            k: [c[epoch] for c in curves if len(c) > epoch]
            for k, curves in self.curves.items()
            if any(len(c) > epoch for c in curves)
        }

    def worse_at(self, key: Hashable, epoch: int, running: float) -> bool:
        """`key`'s finished values at `epoch` and `running` are clearly worse than the best
        combination's there (`decide`); False while the test has too little to go on."""
        samples = self.samples_at(epoch)
        samples[key] = [*samples.get(key, []), running]
        if len(samples) < 2 or len(samples[key]) < MIN_EXECUTIONS:
            return False
        return decide(samples, self.direction).verdicts[key] == Verdict.WORSE


def running_best(values: Sequence[float], direction: str) -> list[float]:
    """`running_best([0.8, 0.7, 0.9], "max")` == [0.8, 0.8, 0.9]."""
    pick = max if direction == "max" else min
    out: list[float] = []
    for v in values:
        out.append(float(v) if not out else pick(out[-1], float(v)))
    return out


class CurvePruner(keras.callbacks.Callback):
    """Stops an execution once `book.worse_at` says its combination is clearly worse."""

    def __init__(self, book: CurveBook, key: Hashable, monitor: str, epochs: int):
        super().__init__()
        self.book, self.key, self.monitor, self.epochs = book, key, monitor, epochs
        self.values: list[float] = []
        self.stopped_at: int | None = None  # the epoch, from 1

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(value):
            return
        self.values.append(float(value))
        best = running_best(self.values, self.book.direction)[-1]
        if epoch + 1 < self.epochs and self.book.worse_at(self.key, epoch, best):
            self.stopped_at = epoch + 1
            self.model.stop_training = True

    def finish(self, tracker: Any, run_id: str, progress: Any, trial_id: str) -> None:
        """After a finished fit: tag and say a stop, or add the full curve to the book.

        `tracker` is the sweep's `tracking.Tracker`, `progress` its `sweep.progress.Progress`
        (not imported here: the racing oracle imports this module, and tracking imports config)."""
        if self.stopped_at is None:
            self.book.add(self.key, self.values, self.epochs)
            return
        tracker.set_tags(run_id, {TAG_PRUNED: str(self.stopped_at)})
        progress.say(
            f"  t{trial_id}: stopped after epoch {self.stopped_at} of {self.epochs}, its "
            f"{self.monitor} curve clearly worse than the best combination's at that epoch "
            f"(learning-curve drop, {TAG_PRUNED}; counted at its last epoch)"
        )


def curve_pruner(
    oracle: Any, values: Mapping[str, Any], ctx: Any, epochs: int
) -> CurvePruner | None:
    """The pruner for one execution of a race with `prune: true`, in one process; else None."""
    repeats = ctx.sweep.config.tuner.repeats
    if ctx.shared or repeats is None or not repeats.prune:
        return None
    book = getattr(oracle, "book", None)
    if book is None:
        return None
    key = oracle.config_of(values)
    return None if key is None else CurvePruner(book, key, ctx.sweep.config.objective, epochs)

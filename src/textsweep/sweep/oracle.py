"""The racing oracle for `tuner.repeats` (see `sweep.racing` for the rule).

oracle = RacingOracle(list(space.iter_grid()), (2, 8), "max", margin=0.01, focus=True,
                      objective=..., seed=1)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras_tuner as kt

from textsweep.sweep.ktcompat import TrialStatus
from textsweep.sweep.pruning import CurveBook
from textsweep.sweep.racing import cost_order, next_combination

Config = dict[str, Any]


class RacingOracle(kt.Oracle):
    """Keras Tuner oracle for `tuner.repeats`: grid combinations raced over repeated executions."""

    def __init__(
        self,
        configs: Sequence[Config],
        repeats: tuple[int, int],
        direction: str,
        margin: float | None = None,
        budget: int | None = None,
        focus: bool = False,
        **kwargs: Any,
    ):
        # longest first, so a `configs` subset never matches before its superset
        self.configs = sorted((dict(c) for c in configs), key=len, reverse=True)
        self.repeats, self.direction, self.margin = repeats, direction, margin
        self.focus = focus
        self.order = cost_order(self.configs)
        self.book = CurveBook(direction)  # full learning curves, for `repeats.prune`
        # `budget` (`racing.race_budget`: tuner.max_trials, when given) caps the executions; a
        # race stopped by it ends `budget`, as one whose values all reached repeats.max
        most = len(self.configs) * repeats[1]
        super().__init__(max_trials=min(most, budget or most), **kwargs)

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        index = self.next_config()
        if index is None:
            return {"status": TrialStatus.STOPPED}
        if index < 0:
            return {"status": TrialStatus.IDLE}
        hp = self.get_space()
        for name, value in self.configs[index].items():
            hp.values[name] = value
        return {"status": TrialStatus.RUNNING, "values": hp.values}

    def next_config(self) -> int | None:
        """The combination to run next; -1 to wait for the round to end; None when done."""
        started = [0] * len(self.configs)
        scores: dict[int, list[float]] = {i: [] for i in range(len(self.configs))}
        for trial in self.trials.values():
            i = self.config_of(trial.hyperparameters.values)
            if i is None:
                continue
            started[i] += 1
            if trial.status == "COMPLETED" and trial.score is not None:
                scores[i].append(float(trial.score))
        return next_combination(
            started,
            scores,
            bool(self.ongoing_trials),
            self.repeats,
            self.direction,
            self.margin,
            self.order,
            self.focus,
        )

    def config_of(self, values: Mapping[str, Any]) -> int | None:
        for i, config in enumerate(self.configs):
            if all(values.get(k) == v for k, v in config.items()):
                return i
        return None

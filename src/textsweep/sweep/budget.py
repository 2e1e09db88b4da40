"""How many trials a sweep will run, without Keras Tuner: for `validate` and `trial k of N`.

planned_trials(sweep)    # grid: the grid size (capped by max_trials); hyperband: an estimate
"""

from __future__ import annotations

import math

from textsweep.config import Sweep

DEFAULT_MAX_TRIALS = 10


def planned_trials(sweep: Sweep) -> int | None:
    """How many trials the tuner will run, for `trial k of N` (an estimate for Hyperband)."""
    t = sweep.config.tuner
    if t.algorithm == "grid" and t.repeats is not None:
        from textsweep.sweep.racing import race_budget

        most = (sweep.space.grid_size() or 0) * t.repeats.max  # at most
        return min(most, race_budget(t) or most)
    if t.algorithm == "grid":
        size = sweep.space.grid_size()
        return min(size, t.max_trials) if (size and t.max_trials) else size
    if t.algorithm == "hyperband":
        max_epochs = t.max_epochs or sweep.config.training.epochs
        brackets, epochs = 0, float(max_epochs)
        while epochs >= 1:
            epochs /= t.factor
            brackets += 1
        end0 = math.ceil(1 + math.log(max_epochs, t.factor))
        total = sum(
            math.ceil(end0 / (b + 1) * t.factor ** (b - r))
            for b in range(brackets)
            for r in range(b + 1)
        )
        return total * t.hyperband_iterations
    return t.max_trials or DEFAULT_MAX_TRIALS

"""How many trials a sweep will run, without Keras Tuner: for `validate` and `trial k of N`.

planned_trials(sweep)    # the sweep's algorithm says (grid: the grid size, capped by max_trials)
"""

from __future__ import annotations

from textsweep import tuners
from textsweep.config import Sweep
from textsweep.tuners import DEFAULT_MAX_TRIALS

__all__ = ["DEFAULT_MAX_TRIALS", "planned_trials"]


def planned_trials(sweep: Sweep) -> int | None:
    """How many trials the tuner will run, for `trial k of N` (an estimate for Hyperband)."""
    return tuners.of(sweep.config.tuner).planned_trials(sweep)

"""`algorithm: grid`: Keras Tuner's GridSearch over every combination of the (finite) space,
capped by `max_trials`; with `repeats:`, the combinations are raced instead (`tuners.racing`).

    tuner: {algorithm: grid}                                   # every combination once
    tuner: {algorithm: grid, repeats: {min: 2, max: 8, margin: 0.01}}
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

from textsweep.errors import UserError
from textsweep.tuners import racing
from textsweep.tuners.registry import Algorithm, SweepLike, TunerOptions, register


class GridOptions(TunerOptions):
    algorithm: Literal["grid"] = "grid"


def make(sweep: SweepLike, oracle_args: dict[str, Any]) -> tuple[type, dict[str, Any]]:
    import keras_tuner as kt

    return kt.GridSearch, {**oracle_args, "max_trials": sweep.config.tuner.max_trials}


def planned_trials(sweep: SweepLike) -> int | None:
    size, cap = sweep.space.grid_size(), sweep.config.tuner.max_trials
    return min(size, cap) if (size and cap) else size


def check(sweep: SweepLike) -> None:
    continuous = sweep.space.continuous_names()
    if continuous:
        raise UserError(
            f"a grid search needs finite values, but {', '.join(continuous)} "
            "is a continuous range; give it a `step`, or use type choice",
            source=str(sweep.path) if sweep.path else "<sweep>",
            key=f"search_space.{continuous[0]}",
        )


def lines(sweep: SweepLike) -> list[str]:
    from textsweep.search_space.schema import GRID_COUNT_CAP

    size = sweep.space.grid_size()
    if size is None:  # refused before this by `check` (a continuous range)
        return ["grid size: none (a range is continuous)"]
    if size >= GRID_COUNT_CAP:  # counting stopped at the cap
        return [f"grid size: at least {GRID_COUNT_CAP:,} (counting stops there)"]
    return [f"grid size: {size}"]


def after_reload(oracle: Any) -> None:
    """Keras Tuner does not save the grid's order of tried combinations; rebuild it."""
    from textsweep.sweep import ktcompat

    if oracle.trials:
        ktcompat.restore_grid_order(oracle)


_PLAIN = Algorithm(
    "grid",
    GridOptions,
    make=make,
    planned_trials=planned_trials,
    check=check,
    lines=lines,
    enumerates=True,
    after_reload=after_reload,
)
GRID = register(replace(_PLAIN, raced=racing.raced(_PLAIN)))

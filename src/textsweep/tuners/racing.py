"""Adaptive repeats (`tuner: {algorithm: grid, repeats: {...}}`): the grid's combinations raced
over repeated executions by `sweep.oracle.RacingOracle` (see `sweep.racing` for the rule).

Not registered by name: it is grid's raced variant (`Algorithm.raced`), run when `repeats` is set.
"""

from __future__ import annotations

from typing import Any

from textsweep.errors import UserError
from textsweep.tuners.registry import Algorithm, SweepLike, TunerOptions


def make(sweep: SweepLike, oracle_args: dict[str, Any]) -> tuple[type, dict[str, Any]]:
    import keras_tuner as kt

    from textsweep.sweep.oracle import RacingOracle
    from textsweep.sweep.racing import race_budget

    repeats = sweep.config.tuner.repeats
    oracle = RacingOracle(
        list(sweep.space.iter_grid()),
        (repeats.min, repeats.max),
        sweep.directions(),
        margin=repeats.margin,
        budget=race_budget(sweep.config.tuner),
        focus=bool(repeats.focus),
        **oracle_args,
    )
    return kt.Tuner, {"oracle": oracle}


def planned_trials(sweep: SweepLike) -> int:
    """At most: every combination at `repeats.max` executions, or `tuner.max_trials` when the
    sweep gives it (`sweep.racing.race_budget`)."""
    from textsweep.sweep.racing import race_budget

    most = (sweep.space.grid_size() or 0) * sweep.config.tuner.repeats.max
    return min(most, race_budget(sweep.config.tuner) or most)


def check(sweep: SweepLike) -> None:
    options: TunerOptions = sweep.config.tuner
    if options.executions_per_trial != 1:
        raise UserError(
            "with tuner.repeats every execution is a trial of its own; leave "
            f"tuner.executions_per_trial at 1 (got {options.executions_per_trial})",
            source=str(sweep.path) if sweep.path else "<sweep>",
            key="tuner.executions_per_trial",
        )


def lines(sweep: SweepLike) -> list[str]:
    r = sweep.config.tuner.repeats
    until = f"decided (margin {r.margin:g})" if r.margin is not None else "one is left"
    found = [f"adaptive repeats: {r.min} to {r.max} executions per combination, until {until}"]
    if r.focus:
        found.append(
            "focus: a combination shown not to beat any cheaper one left by the margin gets no "
            "more executions while those are open"
        )
    return found


def raced(grid: Algorithm) -> Algorithm:
    """`grid`'s raced variant: its options and checks, the racing oracle, its own trial count."""

    def check_both(sweep: SweepLike) -> None:
        grid.check(sweep)
        check(sweep)

    def grid_lines(sweep: SweepLike) -> list[str]:
        return grid.lines(sweep) + lines(sweep)

    return Algorithm(
        grid.name,
        grid.options,
        make=make,
        planned_trials=planned_trials,
        check=check_both,
        lines=grid_lines,
        enumerates=True,
    )

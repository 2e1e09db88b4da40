"""Adaptive repeats (racing): more executions only for the values still tied with the best.

    tuner: {algorithm: grid, repeats: {min: 2, max: 8, margin: 0.01}}

Each grid combination first gets `min` executions, each its own Keras Tuner trial with its own
seed. After every round, the combinations clearly worse than the best are dropped, by the test
the report uses (Welch's t-test against the best, Holm-corrected at 0.05,
`reporting.inference.decide`); the others get one more execution each, until the recommendation is
decided or every one left has `max` (budget spent). Decided: one combination is left, or, with a
`margin`, one is settled to it: its 95% interval is no wider than +- `margin`, and one-sided
Welch non-inferiority tests show it within `margin` of every other one left
(`reporting.inference.first_within_margin`). The candidates are the report's: for one size-like
hyperparameter (units, dimensions, layers, maxlen, ...) every combination left, cheapest first,
the first settled being the answer (tests Bonferroni-corrected over the candidates); else the
best mean alone. The oracle is `sweep.oracle.RacingOracle`, a Keras Tuner oracle, so it runs in
the chief with `--workers` like any other; its state is derived from its trials, so `--resume`
needs nothing more. This module holds the decisions only (no Keras Tuner import), so the
launcher and the report can use them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from textsweep.reporting.inference import ALPHA, Verdict, decide, first_within_margin, size_like

if TYPE_CHECKING:  # the registry's shapes, not `textsweep.config` (config imports the tuners)
    from textsweep.tuners.registry import SweepLike as Sweep
    from textsweep.tuners.registry import TunerOptions as TunerConfig


def race_budget(tuner: TunerConfig) -> int | None:
    """The most executions a race may run: `tuner.max_trials` when the sweep gives it (in the
    file, with `--set` or `--max-trials`); None when it is left at its default (10, meant for
    random and Bayesian search) or set to null, where `tuner.repeats.max` alone bounds the race.

    A budget below the first round (every combination `repeats.min` times) is refused before
    any run (`check_race_budget`): values never run could not be compared.
    """
    if tuner.repeats is None or "max_trials" not in tuner.model_fields_set:
        return None
    return tuner.max_trials


def check_race_budget(sweep: Sweep) -> None:
    """`UserError` (exit 2) naming `max_trials` when a race's budget cannot run its first round."""
    from textsweep.errors import UserError

    t = sweep.config.tuner
    cap, size = race_budget(t), sweep.space.grid_size() or 0
    if cap is None or t.repeats is None or cap >= size * t.repeats.min:
        return
    raise UserError(
        f"with tuner.repeats, tuner.max_trials caps the race's executions, and {cap} is fewer "
        f"than its first round ({size} combinations x tuner.repeats.min {t.repeats.min} = "
        f"{size * t.repeats.min}); set --max-trials {size * t.repeats.min} or more, or leave it "
        f"out (the race then stops at tuner.repeats.max {t.repeats.max} per combination, "
        f"{size * t.repeats.max} executions at most)",
        source=str(sweep.path) if sweep.path else "<sweep>",
        key="tuner.max_trials",
    )


def survivors(
    samples: Mapping[int, Sequence[float]], direction: str, alpha: float = ALPHA
) -> list[int]:
    """The groups not clearly worse than the best mean, by `reporting.inference.decide`.

    A group without the variance to tell (fewer than 2 executions, or none of them differ)
    survives. `survivors({0: [0.80, 0.81], 1: [0.70, 0.71]}, "max")` == [0].
    """
    scored = {k: list(v) for k, v in samples.items() if v}
    if len(scored) < 2:
        return sorted(samples)
    verdicts = decide(scored, direction, alpha).verdicts
    return sorted(k for k in samples if verdicts.get(k) != Verdict.WORSE)


def cost_order(configs: Sequence[Mapping[str, Any]]) -> list[int] | None:
    """Indexes of `configs`, cheapest first, when they differ in one numeric size-like setting.

    `cost_order([{"lstm_units": 64}, {"lstm_units": 16}])` == [1, 0]; None otherwise (several
    settings vary, or the one that varies is not size-like), where the best mean is recommended.
    """
    names = {n for c in configs for n in c if len({repr(d.get(n)) for d in configs}) > 1}
    if len(names) != 1:
        return None
    (name,) = names
    values = [c.get(name) for c in configs]
    if not size_like(name) or not all(isinstance(v, int | float) for v in values):
        return None
    return sorted(range(len(configs)), key=lambda i: values[i])  # type: ignore[arg-type,return-value]


def candidates(
    alive: Sequence[int],
    samples: Mapping[int, Sequence[float]],
    direction: str,
    order: Sequence[int] | None,
) -> list[int]:
    """What the recommendation is picked from: the combinations left, cheapest first, when
    `order` ranks them by cost; else the best mean alone."""
    if order is not None:
        return [i for i in order if i in alive]
    scored = {i: samples[i] for i in alive if samples[i]}
    return [decide(scored, direction).best] if scored else []


def settled(
    samples: Mapping[int, Sequence[float]],
    direction: str,
    margin: float | None = None,
    order: Sequence[int] | None = None,
) -> bool:
    """The race is decided: one group is left, or, with `margin`, a candidate is settled to it
    (`reporting.inference.first_within_margin`; see the module docstring)."""
    alive = survivors(samples, direction)
    if len(alive) <= 1:
        return True
    if margin is None:
        return False
    left = {i: samples[i] for i in alive}
    picks = candidates(alive, samples, direction, order)
    return first_within_margin(left, picks, margin, direction) is not None


def outcome(
    samples: Mapping[int, Sequence[float]],
    direction: str,
    margin: float | None = None,
    order: Sequence[int] | None = None,
) -> str:
    """`decided` when `settled`, else `budget` (the repeats ran out first)."""
    return "decided" if settled(samples, direction, margin, order) else "budget"

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
best mean alone. With `focus` (and a margin and a cost order), a combination that no cheaper
one left needs is rested: one-sided Welch tests already show it does not beat any cheaper
combination left by `margin` (the very tests that settle those cheaper ones), so it can neither be
the answer while they are open nor keep one of them from being it; it gets no more executions
until every combination still needed has `max` (`resting`, `next_combination`). The decision rule
is unchanged: only which combination runs next. The oracle is `sweep.oracle.RacingOracle`, a
Keras Tuner oracle, so it runs in the chief with `--workers` like any other; its state is derived
from its trials, so `--resume` needs nothing more. This module holds the decisions only (no
Keras Tuner import), so the launcher, the report and `benchmarks/race_replay.py` can use them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from textsweep.reporting.inference import (
    ALPHA,
    Verdict,
    decide,
    first_within_margin,
    noninferior,
    size_like,
)

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


def resting(
    samples: Mapping[int, Sequence[float]],
    direction: str,
    margin: float | None,
    order: Sequence[int] | None,
    alpha: float = ALPHA,
) -> list[int]:
    """The combinations left that the race does not need to run again (see `focus` in the
    module docstring), cheapest first; none without a margin or a cost order.

    A combination rests when, for every cheaper combination left, "it beats the cheaper one by
    `margin` or more" is rejected by `inference.noninferior` at the level `first_within_margin`
    tests each candidate at (alpha over the number of candidates). Judged afresh on every call:
    a rested combination comes back once a cheaper one's executions change that.

        resting({0: [.860, .850, .855], 1: [.851, .853, .852]}, "max", 0.01, [0, 1])  # [1]
    """
    if margin is None or order is None:
        return []
    picks = candidates(survivors(samples, direction), samples, direction, order)
    each = alpha / max(1, len(picks))

    def shown_not_better(cheaper: int, value: int) -> bool:
        p = noninferior(samples[cheaper], samples[value], margin, direction)
        return p is not None and p < each

    return [
        value
        for at, value in enumerate(picks)
        if at > 0 and all(shown_not_better(cheaper, value) for cheaper in picks[:at])
    ]


def next_combination(
    started: Sequence[int],
    samples: Mapping[int, Sequence[float]],
    running: bool,
    repeats: tuple[int, int],
    direction: str,
    margin: float | None = None,
    order: Sequence[int] | None = None,
    focus: bool = False,
) -> int | None:
    """The combination a race runs next: its index, -1 to wait for the executions running
    (`running`) to end the round, or None when the race is over (decided, or every combination
    it still needs has `repeats[1]` executions).

    `started[i]` counts combination i's executions begun, `samples[i]` the objectives of those
    finished. First every combination gets `repeats[0]`; then, round by round, one more for each
    combination left (`survivors`), less the `resting` ones when `focus` is set, unless the race
    is `settled` at the round's end. Resting ones run again only once every other one left has
    its `repeats[1]`.
    """
    low, high = repeats
    first = [i for i, n in enumerate(started) if n < low]
    if first:
        return min(first, key=lambda i: started[i])
    alive = survivors(samples, direction)
    idle = set(resting(samples, direction, margin, order)) if focus else set()
    needed = [i for i in alive if i not in idle]
    level = max((started[i] for i in needed), default=0)
    behind = [i for i in needed if started[i] < level]
    if behind:
        return behind[0]
    if running:
        return -1  # decide the next round on its whole evidence
    if settled(samples, direction, margin, order):
        return None
    more = [i for i in needed if started[i] < high] or [i for i in alive if started[i] < high]
    return more[0] if more else None


def outcome(
    samples: Mapping[int, Sequence[float]],
    direction: str,
    margin: float | None = None,
    order: Sequence[int] | None = None,
) -> str:
    """`decided` when `settled`, else `budget` (the repeats ran out first)."""
    return "decided" if settled(samples, direction, margin, order) else "budget"

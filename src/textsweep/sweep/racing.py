"""Adaptive repeats (racing): more executions only for the values still tied with the best.

    tuner: {algorithm: grid, repeats: {min: 2, max: 8}}

Each grid combination first gets `min` executions, each its own Keras Tuner trial with its own
seed. After every round, the combinations clearly worse than the best are dropped, by the test
the report uses (Welch's t-test against the best, Holm-corrected at 0.05,
`report.inference`); the others get one more execution each, until one is left (decided) or
every one left has `max` (budget spent). The oracle is `sweep.oracle.RacingOracle`, a Keras
Tuner oracle, so it runs in the chief with `--workers` like any other; its state is derived
from its trials, so `--resume` needs nothing more. This module holds the decisions only (no
Keras Tuner import), so the launcher and the report can use them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from textsweep.report.inference import compare, holm

ALPHA = 0.05


def survivors(
    samples: Mapping[int, Sequence[float]], direction: str, alpha: float = ALPHA
) -> list[int]:
    """The groups not clearly worse than the best mean; all of them without variance to tell.

    `survivors({0: [0.80, 0.81], 1: [0.70, 0.71]}, "max")` == [0].
    """
    scored = {k: list(v) for k, v in samples.items() if v}
    if len(scored) < 2:
        return sorted(samples)
    sign = 1.0 if direction == "max" else -1.0
    best = max(scored, key=lambda k: sign * sum(scored[k]) / len(scored[k]))
    others = [k for k in scored if k != best]
    p_values = [compare(scored[k], scored[best], None) for k in others]
    finite = [p if math.isfinite(p) else 1.0 for p in p_values]
    adjusted = holm(finite)
    dropped = {k for k, p in zip(others, adjusted, strict=True) if p < alpha}
    return sorted(k for k in samples if k not in dropped)


def outcome(samples: Mapping[int, Sequence[float]], direction: str) -> str:
    """`decided` when one group is left, else `budget` (the repeats ran out first)."""
    return "decided" if len(survivors(samples, direction)) == 1 else "budget"

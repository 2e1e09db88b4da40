"""Statistics for few noisy observations: t-intervals, Welch tests, Holm, omega squared.

interval([0.86, 0.87, 0.88]).half_width  # about 0.025
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """Mean and 95% t-interval of a sample; `low`/`high` are None below two observations."""

    n: int
    mean: float | None
    sd: float | None
    low: float | None
    high: float | None

    @property
    def half_width(self) -> float | None:
        return None if self.high is None or self.mean is None else self.high - self.mean


def interval(xs: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean and Student t-interval: `interval([1.0, 2.0, 3.0]).low` is about -0.48."""
    from scipy import stats

    n = len(xs)
    if n == 0:
        return Interval(0, None, None, None, None)
    mean = float(np.mean(xs))
    if n == 1:
        return Interval(1, mean, None, None, None)
    sd = float(np.std(xs, ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(n, mean, sd, mean - half, mean + half)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values in input order: `holm([0.01, 0.04])` == [0.02, 0.04]."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def compare(a: Sequence[float], b: Sequence[float], pooled: tuple[float, int] | None) -> float:
    """Two-sided p-value for equal means of `a` and `b`: Welch, or pooled variance when n=1.

    `pooled` is (within-group variance, degrees of freedom) over all groups of the hyperparameter.
    Returns NaN when no variance can be estimated.
    """
    from scipy import stats

    diff = float(np.mean(a) - np.mean(b))
    if diff == 0.0:
        return 1.0
    if len(a) >= 2 and len(b) >= 2:
        va, vb = float(np.var(a, ddof=1)), float(np.var(b, ddof=1))
        if va == 0.0 and vb == 0.0:
            return 0.0  # deterministic runs that differ
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    if pooled is None or pooled[1] < 1 or pooled[0] <= 0.0:
        return math.nan
    var, df = pooled
    t = diff / math.sqrt(var * (1 / len(a) + 1 / len(b)))
    return float(2 * stats.t.sf(abs(t), df))


def pooled_variance(samples: Sequence[Sequence[float]]) -> tuple[float, int] | None:
    df = sum(len(s) - 1 for s in samples)
    if df < 1:
        return None
    ss = sum(float(np.sum((np.asarray(s) - np.mean(s)) ** 2)) for s in samples)
    return ss / df, df


def omega_squared(samples: Sequence[Sequence[float]]) -> float:
    """Share of variance explained by the grouping, bias-corrected and clipped to [0, 1].

    Falls back to eta squared when there are no within-group degrees of freedom.
    """
    xs = np.concatenate([np.asarray(s, dtype=float) for s in samples])
    k, n = len(samples), len(xs)
    if k < 2 or n < 2:
        return 0.0
    grand = float(xs.mean())
    ss_total = float(np.sum((xs - grand) ** 2))
    if ss_total == 0.0:
        return 0.0
    ss_between = sum(len(s) * (float(np.mean(s)) - grand) ** 2 for s in samples)
    if n <= k:
        return min(1.0, ss_between / ss_total)
    ms_within = (ss_total - ss_between) / (n - k)
    omega = (ss_between - (k - 1) * ms_within) / (ss_total + ms_within)
    return float(min(1.0, max(0.0, omega)))

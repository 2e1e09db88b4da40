"""Statistics for few noisy observations: t-intervals, the decision test, Holm, omega squared.

interval([0.86, 0.87, 0.88]).half_width  # about 0.025
decide({16: [0.80, 0.81], 64: [0.87, 0.88]}).verdicts  # {16: Verdict.WORSE, 64: Verdict.BEST}

No claim without variance: an interval needs two observations that differ, and a comparison needs
two executions of each value and a non-zero variance between them; otherwise the answer is
`None` / `Verdict.UNKNOWN` ("not enough executions to tell").
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

import numpy as np

CONFIDENCE = 0.95
ALPHA = 0.05
MIN_EXECUTIONS = 2
TINY_VARIANCE = 1e-12  # a standard deviation of 1e-6 on an accuracy or a loss is float noise
K = TypeVar("K", bound=Hashable)
SIZE_NAMES = ("maxlen", "num_words", "ngrams")
SIZE_SUFFIXES = ("_units", "_dim", "_layers")


def size_like(name: str) -> bool:
    """Settings where fewer is cheaper: units, dimensions, layers, maxlen, num_words, ngrams."""
    return name in SIZE_NAMES or name.endswith(SIZE_SUFFIXES)


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
    if sd == 0.0:  # identical runs: no variance to build an interval from
        return Interval(n, mean, sd, None, None)
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


def welch(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided Welch p-value for equal means; None without variance behind it.

    Both samples need `MIN_EXECUTIONS` observations and at least one of them a non-zero variance.
    """
    from scipy import stats

    if len(a) < MIN_EXECUTIONS or len(b) < MIN_EXECUTIONS:
        return None
    va, vb = float(np.var(a, ddof=1)), float(np.var(b, ddof=1))
    if va + vb <= TINY_VARIANCE:  # runs that agree to float noise: no spread to test against
        return None
    if float(np.mean(a)) == float(np.mean(b)):
        return 1.0
    with warnings.catch_warnings():
        # scipy's "precision loss" note when one sample's values are all equal (its variance is
        # then 0, which Welch's test handles); it would interrupt the sweep's output
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def noninferior(
    chosen: Sequence[float], other: Sequence[float], margin: float, direction: str = "max"
) -> float | None:
    """One-sided Welch p-value against "`other` beats `chosen` by `margin` or more".

    A small p says `chosen` is within `margin` of `other` (a non-inferiority test: H0 is
    mean(other) - mean(chosen) >= margin, in the objective's better direction). None without
    variance behind it, as for `welch`.

        noninferior([0.860, 0.862, 0.858], [0.861, 0.863, 0.859], 0.01)  # about 0.003
    """
    from scipy import stats

    if len(chosen) < MIN_EXECUTIONS or len(other) < MIN_EXECUTIONS:
        return None
    if float(np.var(chosen, ddof=1)) + float(np.var(other, ddof=1)) <= TINY_VARIANCE:
        return None
    sign = 1.0 if direction == "max" else -1.0
    shifted = [float(x) + sign * margin for x in chosen]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # see `welch`
        test = stats.ttest_ind(
            shifted, list(other), equal_var=False, alternative="greater" if sign > 0 else "less"
        )
    return float(test.pvalue)


def within_margin(
    samples: Mapping[K, Sequence[float]],
    chosen: K,
    margin: float,
    direction: str = "max",
    alpha: float = ALPHA,
) -> bool:
    """`chosen` is settled to `margin`: its 95% interval is no wider than +- `margin`, and it is
    shown within `margin` of every other key (`noninferior` p < `alpha` for each).

    All the tests must pass (an intersection-union test), so no multiplicity correction is due;
    a comparison without variance behind it fails.
    """
    half = interval(samples[chosen]).half_width
    if half is None or half > margin:
        return False
    for key, xs in samples.items():
        if key == chosen or not len(xs):
            continue
        p = noninferior(samples[chosen], xs, margin, direction)
        if p is None or p >= alpha:
            return False
    return True


def first_within_margin(
    samples: Mapping[K, Sequence[float]],
    candidates: Sequence[K],
    margin: float,
    direction: str = "max",
    alpha: float = ALPHA,
) -> K | None:
    """The first of `candidates` (cheapest first) that is `within_margin` of every key; None if
    none is. Each candidate is tested at `alpha / len(candidates)` (Bonferroni), since the answer
    is picked among them.

        first_within_margin({16: a, 32: b, 64: c}, [16, 32, 64], 0.01)  # 32: 16 may be worse
    """
    each = alpha / max(1, len(candidates))
    return next((c for c in candidates if within_margin(samples, c, margin, direction, each)), None)


class Verdict(StrEnum):
    """A value compared with the best one."""

    BEST = "best"
    TIED = "tied"  # not distinguishable from the best
    WORSE = "worse"  # clearly worse than the best
    UNKNOWN = "unknown"  # not enough executions to tell


@dataclass(frozen=True)
class Decision(Generic[K]):
    """What `decide` found: the best key, a verdict and Holm-adjusted p-value for every key."""

    best: K
    verdicts: Mapping[K, Verdict]
    p_values: Mapping[K, float | None]

    @property
    def decided(self) -> bool:
        """Every other value is clearly worse than the best."""
        return all(v in (Verdict.BEST, Verdict.WORSE) for v in self.verdicts.values())

    @property
    def enough(self) -> bool:
        """Every comparison had variance behind it (no `UNKNOWN`)."""
        return Verdict.UNKNOWN not in self.verdicts.values()

    def contenders(self) -> list[K]:
        """The best and the keys not told apart from it (tied or unknown), in input order."""
        return [k for k, v in self.verdicts.items() if v != Verdict.WORSE]


def decide(
    samples: Mapping[K, Sequence[float]], direction: str = "max", alpha: float = ALPHA
) -> Decision[K]:
    """The one decision test of textsweep: each value against the value with the best mean.

    Welch's two-sided t-test of every other value against the best, Holm-adjusted over the tests
    that could be made; a value is WORSE when its adjusted p < `alpha`, TIED otherwise, and
    UNKNOWN when the test has no variance behind it (see `welch`). The report and the racing oracle
    both call this, so a value dropped by racing is one the report calls worse.

        decide({"a": [0.80, 0.81, 0.79], "b": [0.90, 0.91, 0.89]}).verdicts["a"]  # Verdict.WORSE

    Args:
        samples: key -> objective of each execution; keys with no samples are ignored.
        direction: "max" when a larger objective is better, "min" otherwise.
        alpha: the family-wise error rate.
    """
    if direction not in ("max", "min"):
        raise ValueError(f"direction must be 'max' or 'min'; got {direction!r}")
    present = {k: [float(x) for x in xs] for k, xs in samples.items() if len(xs)}
    if not present:
        raise ValueError("decide needs at least one key with samples; got none")
    sign = 1.0 if direction == "max" else -1.0
    keys = list(present)
    best = max(keys, key=lambda k: (sign * float(np.mean(present[k])), len(present[k])))
    raw = {k: welch(present[k], present[best]) for k in keys if k != best}
    tested = [k for k, p in raw.items() if p is not None]
    adjusted = dict(zip(tested, holm([raw[k] for k in tested]), strict=True))  # type: ignore[misc]
    verdicts: dict[K, Verdict] = {}
    p_values: dict[K, float | None] = {}
    for k in keys:
        p_values[k] = adjusted.get(k)
        if k == best:
            verdicts[k] = Verdict.BEST
        elif k not in adjusted:
            verdicts[k] = Verdict.UNKNOWN
        else:
            verdicts[k] = Verdict.WORSE if adjusted[k] < alpha else Verdict.TIED
    return Decision(best=best, verdicts=verdicts, p_values=p_values)


def probability_best(
    samples: Mapping[K, Sequence[float]],
    direction: str = "max",
    resamples: int = 2000,
    seed: int = 0,
) -> dict[K, float] | None:
    """Share of bootstrap resamples (executions drawn with replacement within each key) in which
    each key has the best mean; None when a key has fewer than `MIN_EXECUTIONS` executions.

        probability_best({"a": [0.80, 0.81], "b": [0.90, 0.91]})  # {"a": 0.0, "b": 1.0}
    """
    keys = [k for k, xs in samples.items() if len(xs)]
    if len(keys) < 2 or any(len(samples[k]) < MIN_EXECUTIONS for k in keys):
        return None
    rng = np.random.default_rng(seed)
    sign = 1.0 if direction == "max" else -1.0
    means = np.empty((resamples, len(keys)))
    for j, k in enumerate(keys):
        xs = np.asarray(samples[k], dtype=float)
        draws = rng.integers(0, len(xs), size=(resamples, len(xs)))
        means[:, j] = sign * xs[draws].mean(axis=1)
    winners = np.argmax(means, axis=1)
    return {k: float(np.mean(winners == j)) for j, k in enumerate(keys)}


def omega_squared(samples: Sequence[Sequence[float]]) -> float | None:
    """Share of variance explained by the grouping, bias-corrected and clipped to [0, 1].

    None without variance behind it: a group with fewer than `MIN_EXECUTIONS` observations, or no
    spread within the groups.
    """
    if len(samples) < 2 or any(len(s) < MIN_EXECUTIONS for s in samples):
        return None
    xs = np.concatenate([np.asarray(s, dtype=float) for s in samples])
    k, n = len(samples), len(xs)
    grand = float(xs.mean())
    ss_total = float(np.sum((xs - grand) ** 2))
    ss_between = sum(len(s) * (float(np.mean(s)) - grand) ** 2 for s in samples)
    ms_within = (ss_total - ss_between) / (n - k)
    if ms_within <= 0.0:
        return None
    omega = (ss_between - (k - 1) * ms_within) / (ss_total + ms_within)
    return float(min(1.0, max(0.0, omega)))

"""The numbers of a report, computed from records as plain rows; rendering never computes.

Methods (stated in every report, see `METHODS`):
- interval: a two-sided 95% Student t-interval of the mean over executions; with one execution it
  is undefined (`None`, `null` in JSON).
- indistinguishable from the best: the value with the best mean is compared with every other value
  by Welch's two-sided t-test; p-values are Holm-adjusted over those comparisons, and a value is
  "worse" only when its adjusted p < 0.05. A value with a single execution has no variance of its
  own, so it is compared with a pooled-variance t-test (within-value variance of all values,
  df = N - k). When no variance can be estimated at all, the value cannot be told apart and counts
  as indistinguishable.
- importance: omega squared, the bias-corrected share of the objective's variance explained by
  grouping the executions by (binned) value; one-way and marginal, so interactions are not credited.
- recommendation: among the values indistinguishable from the best, the fewest parameters; then a
  training time within 10% of the fastest of those; then the best mean.

    rows = hyperparameter_stats(records)
    rows[0].name, rows[0].recommended
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from textsweep.report.binning import Group, group_by, sort_values
from textsweep.report.inference import (
    Interval,
    compare,
    holm,
    interval,
    omega_squared,
    pooled_variance,
)
from textsweep.report.records import Execution, SweepRecords, Value

ALPHA = 0.05
TIME_TOLERANCE = 0.10
METHODS = {
    "interval": "two-sided 95% Student t-interval of the mean over executions; null when n = 1",
    "indistinguishable": (
        "Welch's two-sided t-test of each value against the value with the best mean, "
        "Holm-adjusted over those comparisons, alpha 0.05 (pooled-variance t-test when a value "
        "has one execution)"
    ),
    "importance": (
        "omega squared: bias-corrected share of the objective's variance explained by the "
        "hyperparameter's (binned) value, one-way over executions where it was active"
    ),
    "recommended": (
        "cheapest value indistinguishable from the best: fewest parameters, then training time "
        "within 10% of the fastest, then the best mean"
    ),
    "binning": (
        "at most 6 distinct values kept as is; more are cut into up to 4 quantile bins, each "
        "named by the lower median of the values tried in it, with its range"
    ),
}


@dataclass(frozen=True)
class ValueStats:
    """One row of a hyperparameter's table: one value (or bin) and its executions."""

    value: Value
    low: float | None
    high: float | None
    objective: Interval
    test_accuracy: Interval
    train_seconds_mean: float | None
    params_count_mean: float | None
    p_value: float | None  # Holm-adjusted, against the best value; None for the best itself
    is_best: bool
    indistinguishable_from_best: bool
    trial_ids: tuple[str, ...]

    @property
    def n(self) -> int:
        return self.objective.n


@dataclass(frozen=True)
class HyperparameterStats:
    name: str
    importance: float
    recommended: Value
    best: Value
    values: tuple[ValueStats, ...]
    binned: bool
    confounded_with: tuple[str, ...] = ()


def varied(executions: Sequence[Execution]) -> list[str]:
    """Hyperparameters with more than one value among the executions, in contract order."""
    from textsweep.report.records import HYPERPARAMETERS

    names = [n for n in HYPERPARAMETERS if any(n in e.hyperparameters for e in executions)]
    extra = sorted({n for e in executions for n in e.hyperparameters} - set(HYPERPARAMETERS))
    return [
        n
        for n in names + extra
        if len(sort_values([e.hyperparameters[n] for e in executions if n in e.hyperparameters]))
        > 1
    ]


def hyperparameter_stats(records: SweepRecords) -> list[HyperparameterStats]:
    """One row set per hyperparameter that varied among usable executions, most important first."""
    usable = records.usable()
    grouped = {name: group_by(usable, name) for name in varied(usable)}
    partitions = {name: _partition(groups) for name, groups in grouped.items()}
    rows = []
    for name, groups in grouped.items():
        row = _one(name, groups, records.direction)
        aliases = tuple(n for n in grouped if n != name and partitions[n] == partitions[name])
        rows.append(dataclasses.replace(row, confounded_with=aliases))
    return sorted(rows, key=lambda r: -r.importance)


def _partition(groups: Sequence[Group]) -> frozenset[frozenset[str]]:
    """Which executions go together; two hyperparameters with the same partition are confounded."""
    return frozenset(frozenset(e.run_id for e in g.members) for g in groups)


def _one(name: str, groups: list[Group], direction: str) -> HyperparameterStats:
    samples = [[float(e.objective) for e in g.members] for g in groups]  # type: ignore[arg-type]
    means = [float(np.mean(s)) for s in samples]
    sign = 1.0 if direction == "max" else -1.0
    best = max(range(len(groups)), key=lambda i: (sign * means[i], len(samples[i])))
    pooled = pooled_variance(samples)
    others = [i for i in range(len(groups)) if i != best]
    raw = [compare(samples[i], samples[best], pooled) for i in others]
    testable = [j for j, p in enumerate(raw) if not math.isnan(p)]
    adjusted_testable = holm([raw[j] for j in testable])
    adjusted: dict[int, float | None] = {i: None for i in range(len(groups))}
    for j, q in zip(testable, adjusted_testable, strict=True):
        adjusted[others[j]] = q
    values = []
    for i, g in enumerate(groups):
        p = adjusted[i]
        same = i == best or p is None or p >= ALPHA
        values.append(
            ValueStats(
                value=g.value,
                low=g.low,
                high=g.high,
                objective=interval(samples[i]),
                test_accuracy=interval(_present([e.test_accuracy for e in g.members])),
                train_seconds_mean=_mean(_present([e.train_seconds for e in g.members])),
                params_count_mean=_mean(_present([e.params_count for e in g.members])),
                p_value=p,
                is_best=i == best,
                indistinguishable_from_best=same,
                trial_ids=tuple(dict.fromkeys(e.trial_id for e in g.members)),
            )
        )
    return HyperparameterStats(
        name=name,
        importance=omega_squared(samples),
        recommended=recommend(values, direction),
        best=groups[best].value,
        values=tuple(values),
        binned=any(g.binned for g in groups),
    )


def recommend(values: Sequence[ValueStats], direction: str) -> Value:
    """The cheapest value indistinguishable from the best (see module docstring)."""
    candidates = [v for v in values if v.indistinguishable_from_best]
    inf = math.inf
    fewest = min(_round(v.params_count_mean) for v in candidates)
    candidates = [v for v in candidates if _round(v.params_count_mean) == fewest]
    times = [v.train_seconds_mean for v in candidates if v.train_seconds_mean is not None]
    if times:
        limit = min(times) * (1 + TIME_TOLERANCE)
        candidates = [v for v in candidates if (v.train_seconds_mean or inf) <= limit]
    sign = 1.0 if direction == "max" else -1.0
    return max(candidates, key=lambda v: sign * (v.objective.mean or 0.0)).value


def _round(x: float | None) -> float:
    return math.inf if x is None else float(round(x))


def _present(xs: Sequence[float | None]) -> list[float]:
    return [float(x) for x in xs if x is not None and math.isfinite(x)]


def _mean(xs: Sequence[float]) -> float | None:
    return float(np.mean(xs)) if xs else None


@dataclass(frozen=True)
class TrialStats:
    """One trial: its hyperparameters and the mean over its usable executions."""

    trial_id: str
    hyperparameters: dict[str, Value]
    n: int
    objective_mean: float
    test_accuracy_mean: float | None


@dataclass(frozen=True)
class Summary:
    trials: int
    failed_trials: int
    executions: int
    usable_executions: int
    ranked_trials: tuple[TrialStats, ...]  # usable trials, best first


def summarize(records: SweepRecords) -> Summary:
    """Counts, and the usable trials ranked by their mean objective (best first)."""
    by_trial: dict[str, list[Execution]] = {}
    for e in records.executions:
        by_trial.setdefault(e.trial_id, []).append(e)
    ranked = []
    for trial_id, runs in by_trial.items():
        ok = [e for e in runs if e.usable]
        if ok:
            ranked.append(
                TrialStats(
                    trial_id=trial_id,
                    hyperparameters=dict(ok[0].hyperparameters),
                    n=len(ok),
                    objective_mean=float(np.mean([e.objective for e in ok])),
                    test_accuracy_mean=_mean(_present([e.test_accuracy for e in ok])),
                )
            )
    sign = -1.0 if records.direction == "max" else 1.0
    ranked.sort(key=lambda t: sign * t.objective_mean)
    return Summary(
        trials=len(by_trial),
        failed_trials=sum(1 for runs in by_trial.values() if not any(e.usable for e in runs)),
        executions=len(records.executions),
        usable_executions=len(records.usable()),
        ranked_trials=tuple(ranked),
    )

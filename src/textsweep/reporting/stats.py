"""The numbers of a report, computed from records as plain rows; rendering never computes.

Methods (stated in every report, see `METHODS`):
- varied: a hyperparameter is reported only when the search space let it vary (more than one
  value declared) and it took more than one value among the finished trials; a family default
  that changes with `model` is not "varied".
- interval: a two-sided 95% Student t-interval of the mean over executions; none below two
  executions or without spread.
- the decision test (`inference.decide`): Welch's t-test of each value against the best mean,
  Holm-adjusted; "not enough executions to tell" unless both values have two executions and
  some variance. Per value only for a one-way question or a grid (balanced across the others).
- importance: one varied hyperparameter: omega squared (one-way); several varied together:
  functional ANOVA over the trials (`importance`), never marginal means.
- recommendation: only when decided (every other value clearly worse, or the margin rule settled
  one: for size-like settings (units, dimensions, layers, maxlen, num_words, ngrams) cheapest
  first, by parameters within one model family, else training time; for the others the best
  mean); otherwise "undecided", and no value is named.

    rows = hyperparameter_stats(records)
    rows[0].name, rows[0].recommended
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from textsweep import tuners
from textsweep.reporting.binning import Group, group_by, sort_values
from textsweep.reporting.expected_max import METHOD as EXPECTED_MAX_METHOD
from textsweep.reporting.importance import METHOD as FANOVA_METHOD
from textsweep.reporting.inference import (
    Decision,
    Interval,
    Verdict,
    decide,
    first_within_margin,
    interval,
    omega_squared,
    probability_best,
    size_like,
)
from textsweep.reporting.records import HYPERPARAMETERS, Execution, SweepRecords, Value

__all__ = ["Decision", "Verdict", "decide", "hyperparameter_stats"]

# A test accuracy above this, without pretrained vectors, is more likely a leak than a model.
LEAK_THRESHOLDS = {"imdb": 0.92, "keras_npz": 0.92}
METHODS = {
    "varied": (
        "a hyperparameter is reported when the search space declared more than one value for "
        "it and the finished trials took more than one"
    ),
    "interval": (
        "two-sided 95% Student t-interval of the mean over executions; none when n < 2 or when "
        "every execution scored the same (no spread)"
    ),
    "decision": (
        "Welch's two-sided t-test of each value against the value with the best mean, "
        "Holm-adjusted, alpha 0.05; 'not enough executions to tell' unless both values have at "
        "least 2 executions and non-zero variance"
    ),
    "margin": (
        "with tuner.repeats.margin m: the recommendation is decided by the first value (cheapest "
        "first for size-like settings, else the best mean alone) whose 95% interval is no wider "
        "than +- m and for which, against every value tied with the best, a one-sided Welch test "
        "rejects 'that value is better by m or more' (non-inferiority; all must pass; alpha 0.05 "
        "Bonferroni-divided over the candidates)"
    ),
    "importance_one_way": (
        "omega squared: bias-corrected share of the objective's variance explained by the "
        "hyperparameter, over executions (one hyperparameter varied)"
    ),
    "importance_joint": FANOVA_METHOD,
    "recommended": (
        "a value is recommended only when the answer is decided: every other value clearly worse "
        "than the best, or, with tuner.repeats.margin, the value settled by the margin rule "
        "(size-like settings, i.e. units, dimensions, layers, maxlen, num_words, ngrams: the "
        "cheapest first, by parameter count within one model family, else training time; "
        "other settings: the best mean); otherwise the answer is 'undecided' and names no "
        "value: a value not shown worse is not shown as good"
    ),
    "probability_best": (
        "share of 2000 bootstrap resamples (executions drawn with replacement within each "
        "value, seed 0) in which the value has the best mean"
    ),
    "expected_max": EXPECTED_MAX_METHOD,
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
    p_value: float | None  # Holm-adjusted, against the best value; None when untested
    verdict: Verdict | None  # None: not compared (hyperparameters varied jointly, not a grid)
    is_best: bool  # the best mean
    prob_best: float | None
    trial_ids: tuple[str, ...]
    models: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        return self.objective.n

    @property
    def indistinguishable_from_best(self) -> bool | None:
        """True best or tied, False worse, None when it could not be told."""
        if self.verdict in (Verdict.BEST, Verdict.TIED):
            return True
        return False if self.verdict == Verdict.WORSE else None


@dataclass(frozen=True)
class HyperparameterStats:
    name: str
    importance: float | None
    recommended: Value | None  # None unless `decided` (not compared, or undecided)
    best: Value
    values: tuple[ValueStats, ...]
    binned: bool
    confounded_with: tuple[str, ...] = ()
    tested: bool = True  # the values were compared by the decision test
    size_like: bool = False
    cheapest_by: str = ""  # "parameters" or "training time", for size-like settings
    margin: float | None = None  # the sweep's tuner.repeats.margin
    # with a margin, the recommended value is the first settled to it (`first_within_margin`)
    within_margin: bool = False

    @property
    def enough(self) -> bool:
        """Every comparison had variance behind it."""
        return self.tested and all(v.verdict != Verdict.UNKNOWN for v in self.values)

    @property
    def decided(self) -> bool:
        """Every other value clearly worse, or the recommended one within the margin of the rest."""
        separated = all(v.verdict in (Verdict.BEST, Verdict.WORSE) for v in self.values)
        return self.enough and (separated or self.within_margin)


def varied(executions: Sequence[Execution], declared: Sequence[str] | None = None) -> list[str]:
    """Hyperparameters declared variable that took more than one value, in contract order."""
    names = [n for n in HYPERPARAMETERS if any(n in e.hyperparameters for e in executions)]
    extra = sorted({n for e in executions for n in e.hyperparameters} - set(HYPERPARAMETERS))
    return [
        n
        for n in names + extra
        if (declared is None or n in declared)
        and len(sort_values([e.hyperparameters[n] for e in executions if n in e.hyperparameters]))
        > 1
    ]


def design_of(records: SweepRecords, names: Sequence[str]) -> str:
    """The design of a sweep: `none`, `one-way` (one varied hyperparameter) or `joint`."""
    return "none" if not names else ("one-way" if len(names) == 1 else "joint")


def hyperparameter_stats(records: SweepRecords) -> list[HyperparameterStats]:
    """One row set per varied hyperparameter, in contract order (`summary.by_importance` ranks)."""
    usable = records.usable()
    names = varied(usable, records.declared)
    design = design_of(records, names)
    # Marginal comparisons are fair for one hyperparameter, or for a grid where every value was
    # tried with the same values of the others; not for a random or Bayesian search.
    # (an algorithm that enumerates the space, by the tuner registry; "" for sweeps that predate it)
    tested = design == "one-way" or records.algorithm == "" or tuners.enumerates(records.algorithm)
    grouped = {name: group_by(usable, name) for name in names}
    partitions = {name: _partition(groups) for name, groups in grouped.items()}
    rows = []
    for name, groups in grouped.items():
        row = _one(
            name,
            groups,
            records.direction,
            tested,
            one_way=design == "one-way",
            margin=records.margin,
        )
        aliases = tuple(n for n in grouped if n != name and partitions[n] == partitions[name])
        rows.append(dataclasses.replace(row, confounded_with=aliases))
    return rows


def _partition(groups: Sequence[Group]) -> frozenset[frozenset[str]]:
    """Which executions go together; two hyperparameters with the same partition are confounded."""
    return frozenset(frozenset(e.run_id for e in g.members) for g in groups)


def _one(
    name: str,
    groups: list[Group],
    direction: str,
    tested: bool,
    one_way: bool,
    margin: float | None = None,
) -> HyperparameterStats:
    samples = {i: [float(e.objective) for e in g.members] for i, g in enumerate(groups)}  # type: ignore[arg-type]
    decision = decide(samples, direction)
    chances = probability_best(samples, direction) if tested else None
    values = []
    for i, g in enumerate(groups):
        values.append(
            ValueStats(
                value=g.value,
                low=g.low,
                high=g.high,
                objective=_interval(samples[i], tested),
                test_accuracy=_interval(present([e.test_accuracy for e in g.members]), tested),
                train_seconds_mean=mean_of(present([e.train_seconds for e in g.members])),
                params_count_mean=mean_of(present([e.params_count for e in g.members])),
                p_value=decision.p_values[i] if tested else None,
                verdict=decision.verdicts[i] if tested else None,
                is_best=i == decision.best,
                prob_best=None if chances is None else chances[i],
                trial_ids=tuple(dict.fromkeys(e.trial_id for e in g.members)),
                models=tuple(sorted({str(e.hyperparameters.get("model", "")) for e in g.members})),
            )
        )
    recommended, by = recommend(values, direction, size_like(name)) if tested else (None, "")
    shown = False
    if margin is not None and tested:
        tied = [i for i, v in enumerate(values) if v.verdict in (Verdict.BEST, Verdict.TIED)]
        picks = cheapest_first(values, tied) if size_like(name) else [decision.best]
        pick = first_within_margin({i: samples[i] for i in tied}, picks, margin, direction)
        if pick is not None:
            recommended, shown = values[pick].value, True
    row = HyperparameterStats(
        name=name,
        importance=omega_squared(list(samples.values())) if one_way else None,
        recommended=recommended,
        best=groups[decision.best].value,
        values=tuple(values),
        binned=any(g.binned for g in groups),
        tested=tested,
        size_like=size_like(name),
        cheapest_by=by,
        margin=margin,
        within_margin=shown,
    )
    # "not shown worse" is not "as good": no value is recommended until the row is decided
    return row if row.decided else dataclasses.replace(row, recommended=None)


def cheapest_first(values: Sequence[ValueStats], keys: Sequence[int]) -> list[int]:
    """`keys` (indexes of `values`) by `recommend`'s cost, then by the value itself: parameters
    within one model family, else mean training time; by value alone when neither is known."""
    chosen = [values[i] for i in keys]
    families = {m for v in chosen for m in v.models}
    cost: dict[int, float]
    if len(families) <= 1 and all(v.params_count_mean is not None for v in chosen):
        cost = {i: float(round(values[i].params_count_mean or 0.0)) for i in keys}
    elif all(v.train_seconds_mean is not None for v in chosen):
        cost = {i: values[i].train_seconds_mean or 0.0 for i in keys}
    else:
        cost = {i: 0.0 for i in keys}
    return sorted(keys, key=lambda i: (cost[i], i))  # groups come in value order


def recommend(values: Sequence[ValueStats], direction: str, cheapest: bool) -> tuple[Value, str]:
    """The recommended value and, for size-like settings, what "cheapest" was judged by.

    Size-like: among the best and the values tied with it, the fewest parameters when they all
    come from one model family (parameter counts of different families do not compare), else the
    shortest mean training time; other settings: the best mean.
    """
    best = next(v for v in values if v.is_best)
    if not cheapest:
        return best.value, ""
    tied = [v for v in values if v.verdict in (Verdict.BEST, Verdict.TIED)]
    families = {m for v in tied for m in v.models}
    if len(families) <= 1 and all(v.params_count_mean is not None for v in tied):
        fewest = min(round(v.params_count_mean or 0.0) for v in tied)
        pick = [v for v in tied if round(v.params_count_mean or 0.0) == fewest]
        by = "parameters"
    elif all(v.train_seconds_mean is not None for v in tied):
        fastest = min(v.train_seconds_mean or 0.0 for v in tied)
        pick = [v for v in tied if (v.train_seconds_mean or 0.0) == fastest]
        by = "training time"
    else:
        return best.value, ""
    sign = 1.0 if direction == "max" else -1.0
    return max(pick, key=lambda v: sign * (v.objective.mean or 0.0)).value, by


def _interval(xs: Sequence[float], tested: bool) -> Interval:
    """A marginal mean over trials that differ in other hyperparameters gets no interval."""
    i = interval(xs)
    return i if tested else Interval(i.n, i.mean, None, None, None)


def present(xs: Sequence[float | None]) -> list[float]:
    return [float(x) for x in xs if x is not None and math.isfinite(x)]


def mean_of(xs: Sequence[float]) -> float | None:
    return float(np.mean(xs)) if xs else None

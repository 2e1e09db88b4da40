"""Group the executions of a sweep by one hyperparameter's value, binning continuous ranges.

Few distinct values (at most `MAX_DISTINCT`, as in a grid) are kept as they are. More distinct
numeric values (random or Bayesian search over a range) are cut into quantile bins: bins of about
equal size give every bin the same statistical power, and quantiles ignore whether the range was
sampled on a log scale. A bin is named by one value actually tried in it (the lower median) and
carries its range.

    groups = group_by(records.usable(), "lstm_units")
    [(g.value, len(g.members)) for g in groups]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from textsweep.reporting.records import Execution, Value

MAX_DISTINCT = 6
MAX_BINS = 4
MIN_PER_BIN = 3


@dataclass(frozen=True)
class Group:
    """The executions whose value is `value` (or lies in `[low, high]` when binned)."""

    value: Value
    members: tuple[Execution, ...]
    low: float | None = None
    high: float | None = None

    @property
    def binned(self) -> bool:
        return self.low is not None


def distinct_values(executions: Sequence[Execution], name: str) -> list[Value]:
    return sort_values({e.hyperparameters[name] for e in executions if name in e.hyperparameters})


def sort_values(values: set[Value] | Sequence[Value]) -> list[Value]:
    """Numbers ascending (False before True), then strings alphabetically."""

    def key(v: Value) -> tuple[int, float, str]:
        if isinstance(v, bool | int | float):
            return (0, float(v), "")
        return (1, 0.0, str(v))

    return sorted(set(values), key=key)


def is_log_like(values: Sequence[float]) -> bool:
    """Positive values spanning at least two decades, as learning rates do: a log axis."""
    low, high = min(values), max(values)
    return low > 0 and high / low >= 100


def group_by(executions: Sequence[Execution], name: str) -> list[Group]:
    """Executions where `name` was active, grouped by value (or bin), in value order.

    Executions without the hyperparameter (a conditional one, inactive for their model) are left
    out.
    """
    active = [e for e in executions if name in e.hyperparameters]
    values = distinct_values(active, name)
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if len(values) <= MAX_DISTINCT or not numeric:
        return [
            Group(value=v, members=tuple(e for e in active if _same(e.hyperparameters[name], v)))
            for v in values
        ]
    x = np.array([float(e.hyperparameters[name]) for e in active])
    n_bins = max(2, min(MAX_BINS, len(active) // MIN_PER_BIN))
    edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, n_bins + 1)))
    # Equal values always land in the same bin: the bin index depends on the value only.
    index = np.searchsorted(edges[1:-1], x, side="right")
    groups = []
    for b in range(len(edges) - 1):
        members = tuple(e for e, i in zip(active, index, strict=True) if i == b)
        if not members:
            continue
        tried = sorted(e.hyperparameters[name] for e in members)
        groups.append(
            Group(
                value=tried[(len(tried) - 1) // 2],
                members=members,
                low=float(tried[0]),
                high=float(tried[-1]),
            )
        )
    return groups


def _same(a: Value, b: Value) -> bool:
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b

"""How many trials were enough: the expected best score against the number of trials.

The curve of Dodge et al. 2019 ("Show Your Work"), with the unbiased estimator of Tang et al. 2020
("Showing Your Work Doesn't Always Work"): the expected maximum of k trials drawn *without
replacement* from the n trials run,

    E[max_k] = sum_i v_(i) * C(i-1, k-1) / C(n, k)      (v_(1) <= ... <= v_(n))

and as its band the standard deviation of that maximum under the same scheme,
sqrt(E[max_k^2] - E[max_k]^2); at k = n it is 0, since every draw is then all trials.

    points = expected_max_curve([0.80, 0.86, 0.84], direction="max")
    [(p.k, round(p.mean, 3)) for p in points]   # [(1, 0.833), (2, 0.853), (3, 0.86)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

METHOD = (
    "expected best score of k trials drawn without replacement from the n trials run "
    "(Tang et al. 2020, the unbiased form of Dodge et al. 2019); band: ± one standard deviation "
    "of that maximum under the same drawing"
)


@dataclass(frozen=True)
class ExpectedMax:
    """One point of the curve: k trials, the expected best score and its standard deviation."""

    k: int
    mean: float
    sd: float


def expected_max_curve(scores: Sequence[float], direction: str = "max") -> list[ExpectedMax]:
    """The expected best of k = 1..n trials (the best is the minimum when `direction` is "min")."""
    sign = 1.0 if direction == "max" else -1.0
    values = sorted(sign * float(x) for x in scores)
    n = len(values)
    points = []
    for k in range(1, n + 1):
        total = math.comb(n, k)
        # P(the maximum of the draw is the i-th smallest) = C(i-1, k-1) / C(n, k)
        weights = [math.comb(i - 1, k - 1) / total for i in range(1, n + 1)]
        mean = sum(w * v for w, v in zip(weights, values, strict=True))
        second = sum(w * v * v for w, v in zip(weights, values, strict=True))
        sd = math.sqrt(max(0.0, second - mean * mean))
        points.append(ExpectedMax(k=k, mean=sign * mean, sd=sd))
    return points

"""`algorithm: bayesian`: Keras Tuner's BayesianOptimization (a Gaussian process), after
`num_initial_points` random trials (Keras Tuner's default: 3 x the number of hyperparameters).

    tuner: {algorithm: bayesian, max_trials: 20, num_initial_points: 4}
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from textsweep.tuners.registry import (
    DEFAULT_MAX_TRIALS,
    Algorithm,
    SweepLike,
    TunerOptions,
    register,
)


class BayesianOptions(TunerOptions):
    algorithm: Literal["bayesian"] = "bayesian"
    num_initial_points: int | None = Field(None, ge=1)


def make(sweep: SweepLike, oracle_args: dict[str, Any]) -> tuple[type, dict[str, Any]]:
    import keras_tuner as kt

    options: BayesianOptions = sweep.config.tuner
    kwargs = {
        **oracle_args,
        "max_trials": planned_trials(sweep),
        "num_initial_points": options.num_initial_points,
    }
    return kt.BayesianOptimization, kwargs


def planned_trials(sweep: SweepLike) -> int:
    return int(sweep.config.tuner.max_trials or DEFAULT_MAX_TRIALS)


BAYESIAN = register(
    Algorithm("bayesian", BayesianOptions, make=make, planned_trials=planned_trials)
)

"""`algorithm: random`: Keras Tuner's RandomSearch, `max_trials` draws from the space.

tuner: {algorithm: random, max_trials: 20, seed: 1}
"""

from __future__ import annotations

from typing import Any, Literal

from textsweep.tuners.registry import (
    DEFAULT_MAX_TRIALS,
    Algorithm,
    SweepLike,
    TunerOptions,
    register,
)


class RandomOptions(TunerOptions):
    algorithm: Literal["random"] = "random"


def make(sweep: SweepLike, oracle_args: dict[str, Any]) -> tuple[type, dict[str, Any]]:
    import keras_tuner as kt

    return kt.RandomSearch, {**oracle_args, "max_trials": planned_trials(sweep)}


def planned_trials(sweep: SweepLike) -> int:
    return int(sweep.config.tuner.max_trials or DEFAULT_MAX_TRIALS)


RANDOM = register(Algorithm("random", RandomOptions, make=make, planned_trials=planned_trials))

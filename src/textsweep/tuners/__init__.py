"""Tuner algorithms, as a registry: each module states its options, how it makes its Keras Tuner
tuner, and how many trials it plans (`registry.Algorithm`).

    algorithm = of(sweep.config.tuner)      # the sweep's algorithm (grid's raced variant with repeats)
    algorithm.planned_trials(sweep), algorithm.make(sweep, oracle_args)

Built-ins: `random`, `grid` (raced by `racing` when `repeats:` is set), `bayesian`, `hyperband`.
Adding one is one module that subclasses `TunerOptions` and calls `register(Algorithm(...))`;
a sweep's `families:` modules are imported before its `tuner:` is read, so a module beside the
sweep file can register one. Importing this package imports no Keras Tuner.
"""

from textsweep.tuners import bayesian as _bayesian  # noqa: F401  (registers bayesian)
from textsweep.tuners import grid as _grid  # noqa: F401  (registers grid and its race)
from textsweep.tuners import hyperband as _hyperband  # noqa: F401  (registers hyperband)
from textsweep.tuners import random as _random  # noqa: F401  (registers random)
from textsweep.tuners.registry import (
    DEFAULT_MAX_TRIALS,
    Algorithm,
    RepeatsConfig,
    SweepLike,
    TunerOptions,
    algorithms,
    enumerates,
    get,
    of,
    options_class,
    register,
)

__all__ = [
    "DEFAULT_MAX_TRIALS",
    "Algorithm",
    "RepeatsConfig",
    "SweepLike",
    "TunerOptions",
    "algorithms",
    "enumerates",
    "get",
    "of",
    "options_class",
    "register",
]

"""`algorithm: hyperband`: Keras Tuner's Hyperband, brackets of successive halving up to
`max_epochs` (default `training.epochs`), keeping 1/`factor` of each round.

    tuner: {algorithm: hyperband, max_epochs: 9, factor: 3, hyperband_iterations: 1}

Its brackets are not in MLflow, so a project whose saved state is unreadable cannot be rebuilt.
`max_trials` is not used (the brackets decide how many trials run).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field

from textsweep.errors import UserError
from textsweep.tuners.registry import Algorithm, SweepLike, TunerOptions, register


class HyperbandOptions(TunerOptions):
    algorithm: Literal["hyperband"] = "hyperband"
    max_epochs: int | None = Field(None, ge=1)
    factor: int = Field(3, ge=2)
    hyperband_iterations: int = Field(1, ge=1)


def max_epochs(sweep: SweepLike) -> int:
    return int(sweep.config.tuner.max_epochs or sweep.config.training.epochs)


def make(sweep: SweepLike, oracle_args: dict[str, Any]) -> tuple[type, dict[str, Any]]:
    import keras_tuner as kt

    options: HyperbandOptions = sweep.config.tuner
    kwargs = {
        **oracle_args,
        "max_epochs": max_epochs(sweep),
        "factor": options.factor,
        "hyperband_iterations": options.hyperband_iterations,
    }
    return kt.Hyperband, kwargs


def planned_trials(sweep: SweepLike) -> int:
    """An estimate: the trials of every bracket and round, as Keras Tuner's oracle sizes them."""
    options: HyperbandOptions = sweep.config.tuner
    epochs_max, factor = max_epochs(sweep), options.factor
    brackets, epochs = 0, float(epochs_max)
    while epochs >= 1:
        epochs /= factor
        brackets += 1
    end0 = math.ceil(1 + math.log(epochs_max, factor))
    total = sum(
        math.ceil(end0 / (b + 1) * factor ** (b - r)) for b in range(brackets) for r in range(b + 1)
    )
    return total * options.hyperband_iterations


def check(sweep: SweepLike) -> None:
    options: HyperbandOptions = sweep.config.tuner
    if options.max_epochs is not None and options.max_epochs < 2:
        raise UserError(
            "hyperband needs max_epochs >= 2",
            source=str(sweep.path) if sweep.path else "<sweep>",
            key="tuner.max_epochs",
        )


HYPERBAND = register(
    Algorithm(
        "hyperband",
        HyperbandOptions,
        make=make,
        planned_trials=planned_trials,
        check=check,
        rebuildable=False,
    )
)

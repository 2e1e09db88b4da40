"""Translation of a search space into Keras Tuner's `HyperParameters`, and back to values."""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING

from textsweep.search_space.names import Scalar
from textsweep.search_space.schema import HyperparameterSpec, SearchSpace

if TYPE_CHECKING:
    import keras_tuner


def declare(space: SearchSpace, hp: keras_tuner.HyperParameters) -> None:
    """Register every hyperparameter of `space` on `hp`, inside its conditional scopes."""
    for name in space.ordered_names():
        spec = space.hyperparameters[name]
        with ExitStack() as stack:
            for parent, wanted in (spec.when or {}).items():
                values = wanted if isinstance(wanted, list) else [wanted]
                stack.enter_context(hp.conditional_scope(parent, values))
            _define(hp, name, spec)


def _define(hp: keras_tuner.HyperParameters, name: str, spec: HyperparameterSpec) -> None:
    if spec.type == "fixed":
        hp.Fixed(name, spec.value)
    elif spec.type == "boolean":
        hp.Boolean(name, default=bool(spec.default) if spec.default is not None else False)
    elif spec.type == "choice":
        assert spec.values is not None
        values = spec.values
        if {type(v) for v in values} == {int, float}:
            values = [float(v) for v in values]
        hp.Choice(name, values, default=spec.default)
    elif spec.type == "int":
        assert spec.min is not None and spec.max is not None
        hp.Int(
            name,
            int(spec.min),
            int(spec.max),
            step=int(spec.step) if spec.step is not None else None,
            sampling=spec.sampling,
            default=spec.default,
        )
    else:
        assert spec.min is not None and spec.max is not None
        hp.Float(
            name,
            float(spec.min),
            float(spec.max),
            step=spec.step,
            sampling=spec.sampling,
            default=spec.default,
        )


def active_values(space: SearchSpace, hp: keras_tuner.HyperParameters) -> dict[str, Scalar]:
    """The values of the hyperparameters that are active in this trial, in space order."""
    out: dict[str, Scalar] = {}
    for name in space.ordered_names():
        if name in hp.values and hp.is_active(name):
            out[name] = hp.get(name)
    return out

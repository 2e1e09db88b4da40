"""The contract hyperparameter names and the values each accepts; families (and their defaults)
live in the `textsweep.models` registry, which also adds the names user families bring."""

from __future__ import annotations

import math
from typing import Any

Scalar = bool | int | float | str

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd", "nadam")

# name -> (kind, allowed values for categorical kinds, lower bound, upper bound (exclusive))
_Kind = tuple[str, tuple[str, ...] | None, float | None, float | None]
HYPERPARAMETERS: dict[str, _Kind] = {
    "model": ("str", None, None, None),  # any registered family (`textsweep.models.families()`)
    "maxlen": ("int", None, 1, None),
    "embedding_dim": ("int", None, 1, None),
    "embedding_init": ("str", ("random", "pretrained"), None, None),
    "embedding_trainable": ("bool", None, None, None),
    "lstm_units": ("int", None, 1, None),
    "lstm_layers": ("int", None, 1, None),
    "bidirectional": ("bool", None, None, None),
    "dropout": ("float", None, 0.0, 1.0),
    "recurrent_dropout": ("float", None, 0.0, 1.0),
    "spatial_dropout": ("float", None, 0.0, 1.0),
    "dense_units": ("int", None, 1, None),
    "dense_layers": ("int", None, 0, None),
    "learning_rate": ("float", None, 0.0, None),
    "optimizer": ("str", OPTIMIZERS, None, None),
    "batch_size": ("int", None, 1, None),
    "ngrams": ("int", None, 1, 4),
    "bag_mode": ("str", ("multi_hot", "count", "tf_idf", "nb"), None, None),
    "nb_alpha": ("float", None, 0.0, None),  # > 0, checked below
}


def family_names() -> tuple[str, ...]:
    """The registered model families: the values `model` accepts."""
    from textsweep.models import families

    return tuple(f.name for f in families())


def kind_of(name: str) -> _Kind | None:
    """How `name` is checked: a contract name, or a name a registered family brings; else None."""
    if name == "model":
        return ("str", family_names(), None, None)
    if name in HYPERPARAMETERS:
        return HYPERPARAMETERS[name]
    from textsweep.models import family_hyperparameters

    found = family_hyperparameters().get(name)
    if found is None:
        return None
    kind, allowed = found
    return (kind, allowed, None, None)


def known_names() -> list[str]:
    from textsweep.models import family_hyperparameters

    return list(dict.fromkeys([*HYPERPARAMETERS, *family_hyperparameters()]))


def check_value(name: str, value: Any) -> None:
    """Raise ValueError unless `value` is a valid value of the contract hyperparameter `name`."""
    found = kind_of(name)
    if found is None:
        import difflib

        near = difflib.get_close_matches(name, known_names(), n=1)
        hint = f"did you mean `{near[0]}`? " if near else ""
        raise ValueError(
            f"unknown hyperparameter `{name}`; {hint}known names are: {', '.join(known_names())} "
            "(a family from your own module adds names: list the module under `families:`)"
        )
    kind, allowed, low, high = found
    if kind == "str":
        if allowed is None:
            if not isinstance(value, str):
                raise ValueError(f"{name} must be a string; got {value!r}")
            return
        if value not in allowed:
            raise ValueError(f"{name} must be one of {list(allowed or ())}; got {value!r}")
        return
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false; got {value!r}")
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number; got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    if kind == "int" and float(value) != int(value):
        raise ValueError(f"{name} must be an integer; got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}; got {value!r}")
    if high is not None and value >= high:
        raise ValueError(f"{name} must be < {high}; got {value!r}")
    if name in ("learning_rate", "nb_alpha") and value <= 0:
        raise ValueError(f"{name} must be > 0; got {value!r}")

"""The contract hyperparameter names, the values each accepts, and the defaults families use."""

from __future__ import annotations

import math
from typing import Any

Scalar = bool | int | float | str

FAMILIES = ("multihot_dense", "embedding_flatten", "embedding_pool", "embedding_lstm")
OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd", "nadam")

# name -> (kind, allowed values for categorical kinds, lower bound, upper bound (exclusive))
_Kind = tuple[str, tuple[str, ...] | None, float | None, float | None]
HYPERPARAMETERS: dict[str, _Kind] = {
    "model": ("str", FAMILIES, None, None),
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
}

# What a family uses when a space leaves a hyperparameter out.
DEFAULTS: dict[str, Scalar] = {
    "maxlen": 200,
    "embedding_dim": 32,
    "embedding_init": "random",
    "embedding_trainable": True,
    "lstm_units": 64,
    "lstm_layers": 1,
    "bidirectional": False,
    "dropout": 0.0,
    "recurrent_dropout": 0.0,
    "spatial_dropout": 0.0,
    "dense_units": 16,
    "dense_layers": 1,
    "learning_rate": 1e-3,
    "optimizer": "adam",
}


def check_value(name: str, value: Any) -> None:
    """Raise ValueError unless `value` is a valid value of the contract hyperparameter `name`."""
    if name not in HYPERPARAMETERS:
        import difflib

        near = difflib.get_close_matches(name, list(HYPERPARAMETERS), n=1)
        hint = f"did you mean `{near[0]}`? " if near else ""
        raise ValueError(
            f"unknown hyperparameter `{name}`; {hint}known names are: {', '.join(HYPERPARAMETERS)}"
        )
    kind, allowed, low, high = HYPERPARAMETERS[name]
    if kind == "str":
        if value not in (allowed or ()):
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
    if name == "learning_rate" and value <= 0:
        raise ValueError(f"learning_rate must be > 0; got {value!r}")

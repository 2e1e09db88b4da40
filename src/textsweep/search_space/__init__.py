"""Search spaces: the YAML schema of hyperparameters and its translation into Keras Tuner.

A search space maps contract hyperparameter names (see `HYPERPARAMETERS`) to specs:

    hyperparameters:
      model: {type: choice, values: [multihot_dense, embedding_lstm]}
      lstm_units: {type: int, min: 16, max: 256, sampling: log, when: {model: embedding_lstm}}

`declare(space, hp)` registers them on a `keras_tuner.HyperParameters` with conditional scopes;
`active_values(space, hp)` reads back the values of the hyperparameters active in a trial.
"""

from textsweep.search_space.names import (
    HYPERPARAMETERS,
    OPTIMIZERS,
    Scalar,
    check_value,
    family_names,
    kind_of,
)
from textsweep.search_space.schema import (
    HyperparameterSpec,
    SearchSpace,
    check_spec_values,
    describe_spec,
)
from textsweep.search_space.tuner import active_values, declare

__all__ = [
    "HYPERPARAMETERS",
    "OPTIMIZERS",
    "HyperparameterSpec",
    "Scalar",
    "SearchSpace",
    "active_values",
    "check_spec_values",
    "check_value",
    "family_names",
    "kind_of",
    "declare",
    "describe_spec",
]

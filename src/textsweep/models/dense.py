"""`multihot_dense`: a bag of 1..n-grams (multi-hot, counts or tf-idf) -> Dense x n -> head.

The one-hot `Dense(16)` IMDB model of the Keras tutorial at `ngrams: 1`; with bigrams and
dropout, the plain Keras bigram model. Its input is a sparse row of `num_words` columns
(see `textsweep.features`), so no dense n x V matrix is ever made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from textsweep.models.layers import COMMON_DEFAULTS, compiled, dense_stack, dense_stack_size
from textsweep.models.registry import Family, ModelInputs, Size, register

if TYPE_CHECKING:
    import keras


def _build(values: Mapping[str, Any], inputs: ModelInputs) -> keras.Model:
    import keras

    bag = keras.Input(shape=(inputs.num_words,), sparse=True, name="bag")
    return compiled(bag, dense_stack(values, bag), values, inputs, name="multihot_dense")


def _size(values: Mapping[str, Any], inputs: ModelInputs) -> Size:
    stack = dense_stack_size(values, inputs.num_words, inputs)
    return Size(stack.params, inputs.num_words + stack.activations)


register(
    Family(
        "multihot_dense",
        {
            **COMMON_DEFAULTS,
            "dense_layers": 2,
            "dense_units": 16,
            "ngrams": 1,
            "bag_mode": "multi_hot",
        },
        build=_build,
        sequences=False,
        layers="bag of 1..n-grams (num_words columns; multi_hot, count or tf_idf) "
        "-> Dense x n -> head",
        choices={"bag_mode": ("multi_hot", "count", "tf_idf")},
        size=_size,
    )
)

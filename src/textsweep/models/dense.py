"""`multihot_dense`: a bag of 1..n-grams (multi-hot, counts, tf-idf or NB-scaled) -> Dense -> head.

The one-hot `Dense(16)` IMDB model of the Keras tutorial at `ngrams: 1`; with bigrams and
dropout, the plain Keras bigram model; with `bag_mode: nb` and `dense_layers: 0`, a logistic
regression on naive-Bayes scaled n-grams (NBSVM's features, Wang & Manning 2012). Its input is a
sparse row of `num_words` columns (see `textsweep.features`), so no dense n x V matrix is ever made.
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
            "nb_alpha": 1.0,
        },
        build=_build,
        sequences=False,
        layers="bag of 1..n-grams (num_words columns; multi_hot, count, tf_idf or nb: "
        "naive-Bayes log-count ratios smoothed by nb_alpha, two classes) -> Dense x n "
        "(0: linear) -> head",
        choices={"bag_mode": ("multi_hot", "count", "tf_idf", "nb")},  # features.BAG_MODES
        size=_size,
    )
)

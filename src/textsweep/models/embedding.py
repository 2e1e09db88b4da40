"""The embedding families: token sequences of `maxlen` -> Embedding -> Flatten, pooling or LSTMs.

Defaults follow the Keras IMDB tutorials each family comes from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from textsweep.models.layers import COMMON_DEFAULTS, compiled, dense_stack, dense_stack_size
from textsweep.models.registry import Family, ModelInputs, Size, register

if TYPE_CHECKING:
    import keras

EMBEDDING_DEFAULTS: dict[str, bool | int | float | str] = {
    "maxlen": 200,
    "embedding_dim": 32,
    "embedding_init": "random",
    "embedding_trainable": True,
}


def embedding(values: Mapping[str, Any], inputs: ModelInputs, mask_zero: bool = False) -> Any:
    """The Embedding layer: random, or started from `inputs.embedding_matrix` when pretrained."""
    import keras

    if values["embedding_init"] == "pretrained":
        matrix = inputs.embedding_matrix
        if matrix is None:
            raise ValueError("embedding_init is pretrained but no vectors were loaded")
        return keras.layers.Embedding(
            matrix.shape[0],
            matrix.shape[1],
            embeddings_initializer=keras.initializers.Constant(matrix),
            trainable=bool(values["embedding_trainable"]),
            mask_zero=mask_zero,
            name="embedding",
        )
    return keras.layers.Embedding(
        inputs.num_words, int(values["embedding_dim"]), mask_zero=mask_zero, name="embedding"
    )


def sequence_input(values: Mapping[str, Any]) -> Any:
    import keras

    return keras.Input(shape=(int(values["maxlen"]),), dtype="int32", name="tokens")


def _build(values: Mapping[str, Any], inputs: ModelInputs) -> keras.Model:
    from keras import layers

    family = values["model"]
    tokens = sequence_input(values)
    x = embedding(values, inputs, mask_zero=family == "embedding_pool")(tokens)
    if family == "embedding_flatten":
        x = layers.Flatten()(x)
    elif family == "embedding_pool":
        x = layers.GlobalAveragePooling1D()(x)
    else:
        x = _lstm_stack(values, x)
    if values["dropout"] > 0 and family != "embedding_lstm":
        x = layers.Dropout(values["dropout"])(x)
    return compiled(tokens, dense_stack(values, x), values, inputs, name=family)


def _lstm_stack(values: Mapping[str, Any], x: Any) -> Any:
    from keras import layers

    if values["spatial_dropout"] > 0:
        x = layers.SpatialDropout1D(values["spatial_dropout"])(x)
    n = int(values["lstm_layers"])
    for i in range(n):
        # recurrent_dropout > 0 makes the layer ineligible for cuDNN; the sweep warns about it
        lstm = layers.LSTM(
            int(values["lstm_units"]),
            dropout=values["dropout"],
            recurrent_dropout=values["recurrent_dropout"],
            return_sequences=i < n - 1,
        )
        x = layers.Bidirectional(lstm)(x) if values["bidirectional"] else lstm(x)
    return x


def _size(values: Mapping[str, Any], inputs: ModelInputs) -> Size:
    family, maxlen, dim = values["model"], int(values["maxlen"]), int(values["embedding_dim"])
    params, activations = inputs.num_words * dim, maxlen * dim
    width = maxlen * dim if family == "embedding_flatten" else dim
    if family == "embedding_lstm":
        units, sides = int(values["lstm_units"]), 2 if values["bidirectional"] else 1
        for _ in range(int(values["lstm_layers"])):
            params += sides * 4 * (units * (width + units) + units)
            activations += sides * maxlen * 6 * units  # gates, cell and output per step
            width = sides * units
    stack = dense_stack_size(values, width, inputs)
    return Size(params + stack.params, activations + stack.activations)


register(
    Family(
        "embedding_flatten",
        {**COMMON_DEFAULTS, "dense_layers": 0, **EMBEDDING_DEFAULTS},
        build=_build,
        sequences=True,
        size=_size,
        layers="Embedding(maxlen) -> Flatten -> Dense x n -> head",
    )
)
register(
    Family(
        "embedding_pool",
        {**COMMON_DEFAULTS, "dense_layers": 1, **EMBEDDING_DEFAULTS},
        build=_build,
        sequences=True,
        size=_size,
        layers="Embedding (masked) -> GlobalAveragePooling1D -> Dense x n -> head",
    )
)
register(
    Family(
        "embedding_lstm",
        {
            **COMMON_DEFAULTS,
            "dense_layers": 0,
            **EMBEDDING_DEFAULTS,
            "lstm_units": 64,
            "lstm_layers": 1,
            "bidirectional": False,
            "recurrent_dropout": 0.0,
            "spatial_dropout": 0.0,
        },
        build=_build,
        sequences=True,
        size=_size,
        layers="Embedding -> SpatialDropout1D -> (Bi)LSTM x layers -> Dense x n -> head",
    )
)

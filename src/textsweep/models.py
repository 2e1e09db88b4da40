"""The four model families, built from one trial's hyperparameter values.

    model = build_model(values, ModelInputs(num_words=10000, num_classes=2))

| family              | layers                                                              |
|---------------------|---------------------------------------------------------------------|
| `multihot_dense`    | bag of token ids -> multi-hot(num_words) -> Dense x n -> head       |
| `embedding_flatten` | Embedding(maxlen) -> Flatten -> Dense x n -> head                   |
| `embedding_pool`    | Embedding (masked) -> GlobalAveragePooling1D -> Dense x n -> head   |
| `embedding_lstm`    | Embedding -> SpatialDropout1D -> (Bi)LSTM x layers -> Dense x n -> head |

The head is one sigmoid unit with binary cross-entropy for two classes, softmax with sparse
categorical cross-entropy for more. Defaults follow the Keras IMDB tutorials each family comes from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from textsweep.search_space import DEFAULTS

if TYPE_CHECKING:
    import keras

# Per-family departures from DEFAULTS, so an unset knob gives the tutorial model.
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "multihot_dense": {"dense_layers": 2, "dense_units": 16},
    "embedding_flatten": {"dense_layers": 0},
    "embedding_pool": {"dense_layers": 1},
    "embedding_lstm": {"dense_layers": 0},
}

SEQUENCE_FAMILIES = ("embedding_flatten", "embedding_pool", "embedding_lstm")

_COMMON = (
    "model",
    "dense_units",
    "dense_layers",
    "dropout",
    "learning_rate",
    "optimizer",
    "batch_size",
)
_EMBEDDING = ("maxlen", "embedding_dim", "embedding_init", "embedding_trainable")
# The hyperparameters each family reads; the others are ignored (and not logged) for it.
FAMILY_USES: dict[str, tuple[str, ...]] = {
    "multihot_dense": _COMMON,
    "embedding_flatten": _COMMON + _EMBEDDING,
    "embedding_pool": _COMMON + _EMBEDDING,
    "embedding_lstm": _COMMON
    + _EMBEDDING
    + ("lstm_units", "lstm_layers", "bidirectional", "recurrent_dropout", "spatial_dropout"),
}


@dataclass(frozen=True)
class ModelInputs:
    """What a model needs to know about the data: vocabulary size, classes, pretrained vectors."""

    num_words: int
    num_classes: int
    embedding_matrix: np.ndarray | None = None


def resolve(values: Mapping[str, Any], batch_size: int) -> dict[str, Any]:
    """A trial's values with the family's defaults filled in for every name it left out."""
    family = values["model"]
    out: dict[str, Any] = {**DEFAULTS, "batch_size": batch_size, **FAMILY_DEFAULTS[family]}
    out.update(values)
    return out


def used_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved values the trial's family actually reads (what is logged as params)."""
    uses = FAMILY_USES[values["model"]]
    out = {k: v for k, v in values.items() if k in uses}
    if out.get("embedding_init") != "pretrained":
        out.pop("embedding_trainable", None)
    if out.get("dense_layers") == 0:
        out.pop("dense_units", None)
    return out


def uses_sequences(values: Mapping[str, Any]) -> bool:
    return values["model"] in SEQUENCE_FAMILIES


def build_model(values: Mapping[str, Any], inputs: ModelInputs) -> keras.Model:
    """A compiled Keras model for one trial; `values` must already be `resolve`d."""
    import keras
    from keras import layers

    family = values["model"]
    if family == "multihot_dense":
        tokens = keras.Input(shape=(None,), dtype="int32", name="token_bag")
        x = layers.CategoryEncoding(num_tokens=inputs.num_words, output_mode="multi_hot")(tokens)
    else:
        tokens = keras.Input(shape=(int(values["maxlen"]),), dtype="int32", name="tokens")
        x = _embedding(values, inputs, mask_zero=family == "embedding_pool")(tokens)
        if family == "embedding_flatten":
            x = layers.Flatten()(x)
        elif family == "embedding_pool":
            x = layers.GlobalAveragePooling1D()(x)
        else:
            x = _lstm_stack(values, x)
        if values["dropout"] > 0 and family != "embedding_lstm":
            x = layers.Dropout(values["dropout"])(x)
    for _ in range(int(values["dense_layers"])):
        x = layers.Dense(int(values["dense_units"]), activation="relu")(x)
        if values["dropout"] > 0:
            x = layers.Dropout(values["dropout"])(x)
    if inputs.num_classes == 2:
        outputs = layers.Dense(1, activation="sigmoid", name="head")(x)
        loss = "binary_crossentropy"
    else:
        outputs = layers.Dense(inputs.num_classes, activation="softmax", name="head")(x)
        loss = "sparse_categorical_crossentropy"
    model = keras.Model(tokens, outputs, name=family)
    # metrics by keyword: in Keras 3 the third positional argument is loss_weights
    model.compile(optimizer=_optimizer(values), loss=loss, metrics=["accuracy"])
    return model


def _embedding(values: Mapping[str, Any], inputs: ModelInputs, mask_zero: bool) -> Any:
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


def _optimizer(values: Mapping[str, Any]) -> Any:
    import keras

    classes = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "rmsprop": keras.optimizers.RMSprop,
        "sgd": keras.optimizers.SGD,
        "nadam": keras.optimizers.Nadam,
    }
    return classes[values["optimizer"]](learning_rate=float(values["learning_rate"]))


def summary_text(model: keras.Model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line), line_length=100)
    return "\n".join(lines) + "\n"

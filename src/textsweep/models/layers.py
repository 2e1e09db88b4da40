"""Pieces every family shares: the Dense stack, the head with its loss, the optimizer.

    x = dense_stack(values, x)
    return compiled(inputs_layer, x, values, inputs, name="embedding_cnn")

User families call these too, so their heads and optimizers match the built-ins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from textsweep.models.registry import ModelInputs, Size

if TYPE_CHECKING:
    import keras

# What the built-in families share when a search space leaves a name out.
COMMON_DEFAULTS: dict[str, bool | int | float | str] = {
    "dense_units": 16,
    "dense_layers": 1,
    "dropout": 0.0,
    "learning_rate": 1e-3,
    "optimizer": "adam",
}


def dense_stack(values: Mapping[str, Any], x: Any) -> Any:
    """`dense_layers` x (Dense(dense_units, relu) [+ Dropout(dropout)])."""
    from keras import layers

    for _ in range(int(values["dense_layers"])):
        x = layers.Dense(int(values["dense_units"]), activation="relu")(x)
        if values["dropout"] > 0:
            x = layers.Dropout(values["dropout"])(x)
    return x


def dense_stack_size(values: Mapping[str, Any], width: int, inputs: ModelInputs) -> Size:
    """What `dense_stack` and the head add on `width` features: parameters and activations."""
    params = activations = 0
    for _ in range(int(values["dense_layers"])):
        units = int(values["dense_units"])
        params += width * units + units
        activations += units
        width = units
    out = 1 if inputs.num_classes == 2 else inputs.num_classes
    return Size(params + width * out + out, activations)


def compiled(
    model_input: Any, x: Any, values: Mapping[str, Any], inputs: ModelInputs, name: str
) -> keras.Model:
    """The head (sigmoid for two classes, softmax for more) on `x`, compiled with its loss."""
    import keras
    from keras import layers

    if inputs.num_classes == 2:
        outputs = layers.Dense(1, activation="sigmoid", name="head")(x)
        loss = "binary_crossentropy"
    else:
        outputs = layers.Dense(inputs.num_classes, activation="softmax", name="head")(x)
        loss = "sparse_categorical_crossentropy"
    model = keras.Model(model_input, outputs, name=name)
    # metrics by keyword: in Keras 3 the third positional argument is loss_weights
    model.compile(optimizer=optimizer(values), loss=loss, metrics=["accuracy"])
    return model


def optimizer(values: Mapping[str, Any]) -> Any:
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

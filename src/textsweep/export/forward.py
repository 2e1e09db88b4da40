"""A saved Keras model's inference in NumPy, for the layers textsweep's families are made of.

    net = NumpyModel.load("model.keras")      # None when the file holds a layer it cannot run
    outputs = net.predict(x)                   # what keras_model.predict(x) returns

`textsweep predict` labels a few texts in about a second this way: importing TensorFlow (what
Keras needs to load the file) takes longer than everything else together. Only a graph of the
layers and settings below is run here — InputLayer, Embedding, the `!= 0` mask of a masked
Embedding, Flatten, GlobalAveragePooling1D (masked or not), Dropout and SpatialDropout1D (no-ops at
inference), Dense (linear, relu, sigmoid, softmax, tanh), LSTM and Bidirectional(LSTM) (tanh and
sigmoid, no state) — every weight checked against the shape the layer's config implies; anything
else (a user family's Conv1D, an unknown setting) returns None from `load`, and the caller loads the
model with Keras. `tests/test_export.py` checks the outputs against Keras's on every family.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.weights.h5"
LAYERS = "keras.layers"


class Unsupported(Exception):
    """The model holds something this module does not run (the caller uses Keras)."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=x.dtype)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True), dtype=x.dtype)


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": _sigmoid,
    "softmax": _softmax,
    "tanh": np.tanh,
}


@dataclass(frozen=True)
class Node:
    """One layer of the graph: what it computes from its inputs (by layer name)."""

    name: str
    inputs: tuple[str, ...]
    mask: str | None
    run: Callable[..., Any]


class NumpyModel:
    """A functional Keras model's forward pass over NumPy arrays (see the module docstring)."""

    def __init__(self, nodes: list[Node], input_name: str, output_name: str) -> None:
        self.nodes, self.input_name, self.output_name = nodes, input_name, output_name

    @classmethod
    def load(cls, path: str | Path) -> NumpyModel | None:
        """The model in a `.keras` file, or None when it holds a layer or setting not run here."""
        try:
            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read(CONFIG_FILE))
                weights = archive.read(WEIGHTS_FILE)
            return _build(config, weights)
        except (Unsupported, KeyError, ValueError, TypeError, zipfile.BadZipFile):
            return None

    def predict(self, x: Any, batch_size: int = 256) -> np.ndarray:
        """The model's outputs for `x` (a NumPy array, or a SciPy CSR matrix of bags)."""
        n = x.shape[0]
        parts = [self._forward(x[i : i + batch_size]) for i in range(0, n, batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0,), dtype=np.float32)

    def _forward(self, x: Any) -> np.ndarray:
        values: dict[str, Any] = {self.input_name: x}
        for node in self.nodes:
            args = [values[name] for name in node.inputs]
            mask = values[node.mask] if node.mask is not None else None
            values[node.name] = node.run(*args, mask=mask) if node.mask else node.run(*args)
        return np.asarray(values[self.output_name], dtype=np.float32)


def _snake(name: str) -> str:
    """Keras's `naming.to_snake_case`: the weights file names a layer after its class."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _build(config: Mapping[str, Any], weights: bytes) -> NumpyModel:
    import h5py

    if config.get("class_name") not in ("Functional", "Model"):
        raise Unsupported("not a functional model")
    graph = config["config"]
    ((input_name, _, _),) = graph["input_layers"]
    ((output_name, _, _),) = graph["output_layers"]
    used: dict[str, int] = {}
    nodes: list[Node] = []
    with h5py.File(io.BytesIO(weights), "r") as h5:
        for layer in graph["layers"]:
            kind, cfg = layer["class_name"], layer["config"]
            if layer.get("module") == "keras.src.ops.numpy" and kind == "NotEqual":
                nodes.append(_not_equal(layer))
                continue
            if layer.get("module") != LAYERS or layer.get("registered_name") is not None:
                raise Unsupported(kind)
            # the weights file's group of this layer: its snake-cased class, _1, _2 ... after
            # the first, in the model's layer order (Keras's saving_lib)
            key = _snake(kind)
            if key in used:
                used[key] += 1
                key = f"{key}_{used[key]}"
            else:
                used[key] = 0
            if kind == "InputLayer":
                if cfg.get("sparse") or cfg.get("ragged") or len(cfg["batch_shape"]) != 2:
                    raise Unsupported("input layer")
                continue
            group = h5["layers"][key]
            inputs, mask = _inbound(layer)
            nodes.append(Node(cfg["name"], inputs, mask, _layer(kind, cfg, group, mask)))
    return NumpyModel(nodes, input_name, output_name)


def _inbound(layer: Mapping[str, Any]) -> tuple[tuple[str, ...], str | None]:
    """The names of the layers feeding this one, and of the mask passed to it (if any)."""
    (node,) = layer["inbound_nodes"]
    names = tuple(_tensor(arg) for arg in node["args"])
    kwargs = dict(node.get("kwargs") or {})
    mask = kwargs.pop("mask", None)
    if kwargs.pop("training", None) not in (None, False, True):  # inference either way
        raise Unsupported("training argument")
    if kwargs or len(names) != 1:
        raise Unsupported(f"call arguments {sorted(kwargs)}")
    return names, (_tensor(mask) if mask is not None else None)


def _tensor(arg: Any) -> str:
    if not isinstance(arg, Mapping) or arg.get("class_name") != "__keras_tensor__":
        raise Unsupported("a call argument that is not a tensor")
    return str(arg["config"]["keras_history"][0])


def _not_equal(layer: Mapping[str, Any]) -> Node:
    (node,) = layer["inbound_nodes"]
    tensor, value = node["args"]
    if node.get("kwargs") or not isinstance(value, int | float):
        raise Unsupported("NotEqual")
    return Node(layer["config"]["name"], (_tensor(tensor),), None, lambda x: x != value)


def _vars(group: Any, shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
    """The group's variables `vars/0`, `vars/1`, ..., checked against the expected shapes."""
    found = group["vars"]
    if len(found) != len(shapes):
        raise Unsupported("weights")
    out = [np.asarray(found[str(i)], dtype=np.float32) for i in range(len(shapes))]
    if [a.shape for a in out] != list(shapes):
        raise Unsupported("weight shapes")
    return out


def _dense(cfg: Mapping[str, Any], group: Any) -> Callable[..., Any]:
    activation = ACTIVATIONS[cfg["activation"]]
    kernel = np.asarray(group["vars"]["0"], dtype=np.float32)
    units = int(cfg["units"])
    shapes = [(kernel.shape[0], units)] + ([(units,)] if cfg["use_bias"] else [])
    kernel, *bias = _vars(group, shapes)
    if cfg.get("lora_rank") or cfg.get("quantization_config"):
        raise Unsupported("Dense options")

    def run(x: Any) -> np.ndarray:
        y = np.asarray(x @ kernel, dtype=np.float32)  # a CSR matrix of bags times a dense kernel
        return activation(y + bias[0] if bias else y)

    return run


def _lstm_weights(cfg: Mapping[str, Any], group: Any) -> Callable[[np.ndarray], np.ndarray]:
    """One LSTM direction over [n, steps, features], as Keras runs it (gates i, f, c, o)."""
    settings = (
        cfg["activation"],
        cfg["recurrent_activation"],
        cfg["use_bias"],
        cfg["return_state"],
        cfg["stateful"],
    )
    if settings != ("tanh", "sigmoid", True, False, False):
        raise Unsupported("LSTM settings")
    units = int(cfg["units"])
    cell = group["cell"]
    features = int(np.asarray(cell["vars"]["0"]).shape[0])
    kernel, recurrent, bias = _vars(cell, [(features, 4 * units), (units, 4 * units), (4 * units,)])
    backwards, sequences = bool(cfg["go_backwards"]), bool(cfg["return_sequences"])

    def run(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if backwards:
            x = x[:, ::-1]
        n, steps = x.shape[0], x.shape[1]
        projected = x @ kernel + bias
        h = np.zeros((n, units), dtype=np.float32)
        c = np.zeros((n, units), dtype=np.float32)
        out = np.zeros((n, steps, units), dtype=np.float32) if sequences else None
        for t in range(steps):
            z = projected[:, t] + h @ recurrent
            i, f = _sigmoid(z[:, :units]), _sigmoid(z[:, units : 2 * units])
            c = f * c + i * np.tanh(z[:, 2 * units : 3 * units])
            h = _sigmoid(z[:, 3 * units :]) * np.tanh(c)
            if out is not None:
                out[:, t] = h
        return out if out is not None else h

    return run


def _bidirectional(cfg: Mapping[str, Any], group: Any) -> Callable[..., Any]:
    forward_cfg, backward_cfg = cfg["layer"], cfg.get("backward_layer")
    if (
        forward_cfg["class_name"] != "LSTM"
        or backward_cfg is None
        or backward_cfg["class_name"] != "LSTM"
        or cfg["merge_mode"] != "concat"
    ):
        raise Unsupported("Bidirectional")
    forward = _lstm_weights(forward_cfg["config"], group["forward_layer"])
    backward = _lstm_weights(backward_cfg["config"], group["backward_layer"])
    if forward_cfg["config"]["go_backwards"] or not backward_cfg["config"]["go_backwards"]:
        raise Unsupported("Bidirectional directions")
    sequences = bool(forward_cfg["config"]["return_sequences"])

    def run(x: np.ndarray) -> np.ndarray:
        back = backward(x)
        if sequences:  # Keras flips the backward outputs back into time order
            back = back[:, ::-1]
        return np.concatenate([forward(x), back], axis=-1)

    return run


def _pool(cfg: Mapping[str, Any]) -> Callable[..., Any]:
    if cfg.get("data_format", "channels_last") != "channels_last" or cfg.get("keepdims"):
        raise Unsupported("GlobalAveragePooling1D settings")

    def run(x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        if mask is None:
            return np.asarray(x.mean(axis=1), dtype=np.float32)
        weights = mask.astype(np.float32)[:, :, None]
        with np.errstate(invalid="ignore", divide="ignore"):  # an all-padding row: NaN, as Keras
            return np.asarray((x * weights).sum(axis=1) / weights.sum(axis=1), dtype=np.float32)

    return run


def _layer(kind: str, cfg: Mapping[str, Any], group: Any, mask: str | None) -> Callable[..., Any]:
    """The NumPy function of one Keras layer; Unsupported for anything not listed above."""
    if mask is not None and kind != "GlobalAveragePooling1D":
        raise Unsupported(f"a mask passed to {kind}")
    if kind == "Dense":
        return _dense(cfg, group)
    if kind == "Embedding":
        (table,) = _vars(group, [(int(cfg["input_dim"]), int(cfg["output_dim"]))])
        return lambda ids: table[np.asarray(ids, dtype=np.int64)]
    if kind in ("Dropout", "SpatialDropout1D"):
        return lambda x: x
    if kind == "Flatten":
        if cfg.get("data_format", "channels_last") != "channels_last":
            raise Unsupported("Flatten settings")
        return lambda x: np.reshape(x, (x.shape[0], -1))
    if kind == "GlobalAveragePooling1D":
        return _pool(cfg)
    if kind == "LSTM":
        if cfg["go_backwards"]:
            raise Unsupported("LSTM go_backwards")
        return _lstm_weights(cfg, group)
    if kind == "Bidirectional":
        return _bidirectional(cfg, group)
    raise Unsupported(kind)

"""The logged model: an MLflow pyfunc that reads raw text and returns class probabilities.

    save_model(keras_model, spec, "out/model")          # an MLflow model folder
    model = mlflow.pyfunc.load_model("out/model")
    model.predict(pd.DataFrame({"text": ["a wonderful film"]}))   # one column per class label

Its artifacts are the trained Keras model (`model.keras`) and `preprocess.json` (the spec from
`export.preprocess.preprocess_spec`); `predict` tokenizes with textsweep's own tokenizer, so the
installed textsweep is a dependency of the served model (`--env-manager local` uses it): the
model is logged as code (`served.py`, MLflow's "models from code") that imports it, not as a
pickle, and its requirements pin textsweep's version.
Imports MLflow at the top: only `export.registry` imports this module, inside its functions.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from textsweep.export.preprocess import check_spec, inputs_for, probabilities

TEXT_COLUMN = "text"
KERAS_FILE, SPEC_FILE = "model.keras", "preprocess.json"
INPUT_EXAMPLE = ["a wonderful, moving film", "dull and far too long"]


class TextModel(PythonModel):
    """Raw strings in (a `text` column, a list or one string), class probabilities out."""

    def load_context(self, context: Any) -> None:
        import keras

        try:
            spec = json.loads(Path(context.artifacts["preprocess"]).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            spec = f"unreadable ({type(e).__name__}: {e})"
        self.keras_model = keras.models.load_model(context.artifacts["keras_model"], compile=False)
        shape = self.keras_model.inputs[0].shape[1:]
        check_spec(spec, shape, int(self.keras_model.outputs[0].shape[-1]))  # before any use
        self.spec = spec

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        texts = texts_of(model_input)
        labels = self.spec["labels"]
        if not texts:
            return pd.DataFrame({label: np.zeros(0) for label in labels})
        x = inputs_for(texts, self.spec)
        if isinstance(x, np.ndarray):
            outputs = self.keras_model.predict(x, batch_size=256, verbose=0)
        else:  # sparse bags, fed a batch at a time as in training
            from textsweep.models.feed import SparseBatches

            batches = SparseBatches(x, np.zeros(x.shape[0], dtype=np.float32), 256)
            outputs = self.keras_model.predict(batches, verbose=0)
        return pd.DataFrame(probabilities(outputs, labels), columns=labels)


def texts_of(model_input: Any) -> list[str]:
    """The strings in a pyfunc input: a DataFrame's `text` column (or its only column), a list,
    a NumPy array, a mapping with `text`, or one string."""
    if isinstance(model_input, str):
        return [model_input]
    if isinstance(model_input, pd.DataFrame):
        if TEXT_COLUMN in model_input.columns:
            column = model_input[TEXT_COLUMN]
        elif len(model_input.columns) == 1:
            column = model_input.iloc[:, 0]
        else:
            raise ValueError(
                f"expected a '{TEXT_COLUMN}' column of strings; got columns "
                f"{list(model_input.columns)}"
            )
        return ["" if v is None else str(v) for v in column.tolist()]
    if isinstance(model_input, Mapping):
        return texts_of(model_input[TEXT_COLUMN])
    if isinstance(model_input, pd.Series | np.ndarray | list | tuple):
        return [str(v) for v in np.asarray(model_input, dtype=object).ravel().tolist()]
    raise ValueError(
        f"expected text: a DataFrame with a '{TEXT_COLUMN}' column, a list of "
        f"strings or a string; got {type(model_input).__name__}"
    )


def signature(labels: list[str]) -> Any:
    """One string column in; one probability (double) column per class label out."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string", TEXT_COLUMN)]),
        outputs=Schema([ColSpec("double", label) for label in labels]),
    )


def requirements() -> list[str]:
    """Pinned versions of what the model needs (given, so MLflow does not infer them slowly)."""
    names = ("textsweep", "mlflow", "keras", "tensorflow-cpu", "numpy", "pandas")
    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={package_metadata.version(name)}")
        except package_metadata.PackageNotFoundError:
            continue
    return pins


@contextlib.contextmanager
def quiet_artifact_progress() -> Iterator[None]:
    """No "Downloading artifacts" bars from MLflow while models are copied or fetched."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def save_model(
    keras_model: Any, spec: Mapping[str, Any], path: Path, metadata: Mapping[str, Any] = {}
) -> Path:
    # `metadata` lands in the MLmodel file (trial id, objective, sweep), beside the flavor
    """Write an MLflow pyfunc model folder at `path` (which must not exist)."""
    staging = Path(tempfile.mkdtemp(prefix="textsweep-export-"))
    try:
        keras_path = staging / KERAS_FILE
        portable(keras_model).save(keras_path)
        spec_path = staging / SPEC_FILE
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        with quiet_artifact_progress():
            mlflow.pyfunc.save_model(
                path=str(path),
                python_model=str(Path(__file__).with_name("served.py")),  # no pickle: code
                artifacts={"keras_model": str(keras_path), "preprocess": str(spec_path)},
                signature=signature(list(spec["labels"])),
                input_example=pd.DataFrame({TEXT_COLUMN: INPUT_EXAMPLE}),
                pip_requirements=requirements(),
                metadata=dict(metadata),
            )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def portable(keras_model: Any) -> Any:
    """An uncompiled copy with the trained weights: what inference needs, a third of the bytes.

    Dropped: the optimizer's slots (Adam keeps two per weight), and pretrained vectors kept in an
    Embedding's config as its `Constant` initializer (the matrix again, as JSON text).
    """
    import keras

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        if isinstance(layer, keras.layers.Embedding):
            config["embeddings_initializer"] = "zeros"
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(keras_model, clone_function=clone)
    copy.set_weights(keras_model.get_weights())
    # the clone keeps the original's compile state (and so its optimizer); a new Model over the
    # same layers is never compiled
    return keras.Model(copy.inputs, copy.outputs, name=keras_model.name)

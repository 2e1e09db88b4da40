"""A logged textsweep model read from its local folder, without MLflow or TensorFlow.

    model = LocalModel.open(folder)          # None: not a textsweep model, or layers NumPy lacks
    model.labels                             # ["neg", "pos"]
    model.probabilities(["a fine film"])     # [n, classes], as the pyfunc's predict gives them

The folder is an MLflow model that `pyfunc.save_model` wrote: its MLmodel names textsweep's
`served.py` as the model's code and the artifacts `keras_model` (model.keras) and `preprocess`
(preprocess.json). The texts become inputs exactly as in the pyfunc (`preprocess.inputs_for`) and
the Keras model runs in NumPy (`forward.NumpyModel`); `textsweep predict` uses this so that
labelling a few texts takes no TensorFlow start-up. Anything else is left to `mlflow.pyfunc`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from textsweep.export.forward import NumpyModel

# the code file of a textsweep model (`served.py`), as every version so far has written it
SERVED_CODE = re.compile(
    r"^from textsweep\.export\.pyfunc import TextModel$.*"
    r"^mlflow\.models\.set_model\(TextModel\(\)\)$",
    re.M | re.S,
)
CODE_LOADER = "mlflow.pyfunc.loaders.code_model"


class LocalModel:
    """A textsweep model's Keras network (in NumPy) and its preprocess spec."""

    def __init__(self, network: NumpyModel, spec: Mapping[str, Any]) -> None:
        self.network, self.spec = network, spec
        self.labels = [str(label) for label in spec["labels"]]

    @classmethod
    def open(cls, folder: Path) -> LocalModel | None:
        """The model in `folder`, or None when it is not a textsweep model this module can run."""
        import yaml

        try:
            mlmodel = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8"))
            flavor = mlmodel["flavors"]["python_function"]
            if flavor.get("loader_module") != CODE_LOADER:
                return None
            code = folder / Path(str(flavor["model_code_path"])).name
            if not SERVED_CODE.search(code.read_text(encoding="utf-8")):
                return None
            artifacts = flavor["artifacts"]
            spec = json.loads(
                (folder / artifacts["preprocess"]["path"]).read_text(encoding="utf-8")
            )
            keras_file = folder / artifacts["keras_model"]["path"]
        except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
            return None
        if not isinstance(spec, dict) or not isinstance(spec.get("labels"), list):
            return None
        from textsweep.export.preprocess import check_spec

        check_spec(spec)  # a changed or damaged preprocess.json is refused here as in the pyfunc
        network = NumpyModel.load(keras_file)
        return cls(network, spec) if network is not None else None

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """[n, classes] class probabilities of raw `texts` (the pyfunc's predict, as an array)."""
        from textsweep.export.preprocess import inputs_for, probabilities

        if not texts:
            return np.zeros((0, len(self.labels)))
        x = inputs_for(list(texts), self.spec)
        with np.errstate(over="ignore"):  # exp of a large logit in the sigmoid: 0 or 1, as Keras
            outputs = self.network.predict(x)
        return probabilities(outputs, self.labels)

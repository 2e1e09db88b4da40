"""Logged models in MLflow: log to a trial run, register the champion, find and load a model.

    register_champion(tracker, sweep, result)     # the execution's best -> registry, @champion
    model = load_best("sweeps/quickstart.yaml")   # the champion pyfunc model
    model = load_model("runs:/<run id>/model")    # or models:/<name>@<alias>, models:/<name>/<v>
    rows = predict(model, ["a wonderful film"])   # label and probability per text

Models are read through an `MlflowClient` bound to the tracking URI asked for; nothing here sets
MLflow's global tracking URI.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textsweep.tracking import TAG_QUESTION, TAG_SWEEP, TAG_TRIAL_ID

if TYPE_CHECKING:

    from textsweep.config import Sweep
    from textsweep.sweep.parent import SweepResult
    from textsweep.tracking import Tracker

MODEL_ARTIFACT = "model"
CHAMPION = "champion"
TAG_MODEL = "textsweep.model"  # on a trial run: the artifact path of its logged model
TAG_OBJECTIVE_NAME = "textsweep.objective"
TAG_OBJECTIVE_VALUE = "textsweep.objective_value"
TAG_TEST_ACCURACY = "textsweep.test_accuracy"
TAG_PARENT_RUN = "textsweep.parent_run_id"


def log_model_dir(tracker: Tracker, run_id: str, model_dir: Path) -> None:
    """Log a saved MLflow model folder as the run's `model` artifact, and tag the run."""
    from textsweep.tracking.store import retry_locked

    retry_locked(lambda: tracker.client.log_artifacts(run_id, str(model_dir), MODEL_ARTIFACT))
    tracker.set_tags(run_id, {TAG_MODEL: MODEL_ARTIFACT})


def register_champion(tracker: Tracker, sweep: Sweep, result: SweepResult) -> Any | None:
    """Register the execution's best trial model under the sweep's name, alias `champion`.

    Returns the model version, or None when the best trial logged no model
    (`tracking.log_models: none`, or a dataset without words).
    """
    from mlflow.exceptions import MlflowException

    from textsweep.tracking.store import retry_locked

    run_id = result.best_run_id
    if run_id is None:
        return None
    client = tracker.client
    run = client.get_run(run_id)
    if run.data.tags.get(TAG_MODEL) != MODEL_ARTIFACT:
        return None
    name = sweep.name
    try:
        retry_locked(lambda: client.create_registered_model(
            name, tags={TAG_SWEEP: name},
            description=f"Best models of the textsweep sweep {name!r}. {sweep.config.question}"))  # fmt: skip
    except MlflowException as e:
        if e.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    value = result.best_objective
    tags = {
        TAG_TRIAL_ID: result.best_trial_id or "",
        TAG_OBJECTIVE_NAME: sweep.config.objective,
        TAG_OBJECTIVE_VALUE: _number(value),
        TAG_TEST_ACCURACY: _number(result.best_test_accuracy),
        TAG_QUESTION: sweep.config.question,
        TAG_PARENT_RUN: result.parent_run_id,
    }
    version = retry_locked(lambda: client.create_model_version(
        name, f"{run.info.artifact_uri}/{MODEL_ARTIFACT}", run_id=run_id, tags=tags,
        description=f"trial {result.best_trial_id}: {sweep.config.objective} {_number(value)}, "
                    f"test accuracy {_number(result.best_test_accuracy)}"))  # fmt: skip
    retry_locked(lambda: client.set_registered_model_alias(name, CHAMPION, version.version))
    return version


def _number(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.6g}"


def load_model(model: str, tracking_uri: str | None = None) -> Any:
    """The pyfunc model that `model` names (see `locate.resolve_model`), loaded into memory."""
    import mlflow.pyfunc

    from textsweep.export.locate import model_files

    return mlflow.pyfunc.load_model(str(model_files(model, tracking_uri)))


def load_best(sweep_or_name: str | Path, tracking_uri: str | None = None) -> BestModel:
    """The champion model of a sweep (a sweep file or a sweep name), reading raw text.

    model = load_best("sweeps/quickstart.yaml")
    model.predict(["a wonderful film"])      # a DataFrame, a column per class
    """
    return BestModel(load_model(str(sweep_or_name), tracking_uri))


class BestModel:
    """An MLflow pyfunc model whose `predict` also takes a string or a list of strings.

    MLflow's pyfunc wants a DataFrame with a `text` column (the model's signature); a list would
    reach it as a column named 0. Everything else (`metadata`, `unwrap_python_model`, ...) is the
    pyfunc model's own, and `pyfunc` is the model itself.
    """

    def __init__(self, pyfunc: Any) -> None:
        self.pyfunc = pyfunc

    def predict(self, texts: Any) -> Any:
        import pandas as pd

        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, pd.DataFrame):
            texts = pd.DataFrame({"text": [str(t) for t in texts]})
        return self.pyfunc.predict(texts)

    def __getattr__(self, name: str) -> Any:
        if name == "pyfunc":  # not set yet (copy, unpickling): no endless lookup
            raise AttributeError(name)
        return getattr(self.pyfunc, name)


@dataclass(frozen=True)
class Prediction:
    """One text's most probable label, its probability, and every class's."""

    text: str
    label: str
    probability: float
    probabilities: dict[str, float]


def predict(model: Any, texts: Sequence[str]) -> list[Prediction]:
    """Label raw texts with a loaded textsweep pyfunc model."""
    import pandas as pd

    table = model.predict(pd.DataFrame({"text": list(texts)}))
    return rows(texts, [str(k) for k in table.columns], table.to_numpy(dtype=float))


def predict_texts(model: str, texts: Sequence[str], tracking_uri: str | None = None) -> list[Prediction]:
    """Label raw texts with the model `model` names (see `locate.resolve_model`): `textsweep predict`.

    A textsweep model runs from its cached folder in NumPy (`local.LocalModel`: no MLflow, no
    TensorFlow to start); any other model, or one with a layer NumPy lacks, through
    `mlflow.pyfunc` with TensorFlow.
    """
    from textsweep.export.local import LocalModel
    from textsweep.export.locate import model_files

    folder = model_files(model, tracking_uri)
    local = LocalModel.open(folder)
    if local is not None:
        return rows(texts, local.labels, local.probabilities(texts))
    import mlflow.pyfunc

    from textsweep.runtime import configure_tensorflow

    configure_tensorflow()
    return predict(mlflow.pyfunc.load_model(str(folder)), texts)


def rows(texts: Sequence[str], labels: Sequence[str], table: Any) -> list[Prediction]:
    """One `Prediction` per text from its row of class probabilities."""
    out = []
    for text, row in zip(texts, table, strict=True):
        probs = {label: float(v) for label, v in zip(labels, row, strict=True)}
        label = max(probs, key=lambda k: probs[k])
        out.append(Prediction(text, label, probs[label], probs))
    return out

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
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textsweep.errors import UserError
from textsweep.tracking import TAG_QUESTION, TAG_SWEEP, TAG_TRIAL_ID

if TYPE_CHECKING:
    from mlflow import MlflowClient

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
    """Log a saved MLflow model folder to the run, and tag the run.

    Twice: as the run's `model` artifact (what `runs:/RUN/model` and the registered versions
    read), and, with MLflow 3, as a logged model linked to the run (`logged_model`), which MLflow's
    UI lists as the run's "Logged models" and in the experiment's Models tab.
    """
    from textsweep.tracking.store import retry_locked

    retry_locked(lambda: tracker.client.log_artifacts(run_id, str(model_dir), MODEL_ARTIFACT))
    tracker.set_tags(run_id, {TAG_MODEL: MODEL_ARTIFACT})
    logged_model(tracker.client, run_id, model_dir)


def logged_model(client: MlflowClient, run_id: str, model_dir: Path) -> str | None:
    """An MLflow 3 logged model `model-t<trial id>`, made by run `run_id` (its `source_run_id`
    and an output of the run), holding `model_dir` and the run's params; its id. None with
    MLflow 2."""
    if not hasattr(client, "create_logged_model"):
        return None
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus

    from textsweep.tracking.store import retry_locked

    run = retry_locked(lambda: client.get_run(run_id))
    trial = run.data.tags.get(TAG_TRIAL_ID)
    tags = {TAG_TRIAL_ID: trial} if trial else {}
    # not named `model`: MLflow would then resolve the run's `model/` artifact path to this
    # logged model, through the global tracking URI rather than the client's
    name = f"{MODEL_ARTIFACT}-t{trial}" if trial else f"{MODEL_ARTIFACT}-{run_id[:8]}"
    model = retry_locked(lambda: client.create_logged_model(
        run.info.experiment_id, name=name, source_run_id=run_id,
        params=dict(run.data.params), tags=tags))  # fmt: skip
    model_id = model.model_id
    retry_locked(lambda: client.log_outputs(run_id, [LoggedModelOutput(model_id, step=0)]))
    retry_locked(lambda: client.log_model_artifacts(model_id, str(model_dir)))
    retry_locked(lambda: client.finalize_logged_model(model_id, LoggedModelStatus.READY))
    return str(model_id)


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


@dataclass(frozen=True)
class ModelRef:
    """Where a model is: the run holding it and the artifact path within the run."""

    run_id: str
    artifact_path: str
    described: str


def resolve_model(model: str, tracking_uri: str | None = None) -> tuple[MlflowClient, ModelRef]:
    """A sweep file or name (its champion), `models:/NAME@ALIAS`, `models:/NAME/VERSION` or
    `runs:/RUN_ID/PATH`, as the run and artifact path that hold the model.

    Raises:
        UserError: nothing of that name or URI is found (names what was asked for).
    """
    from mlflow import MlflowClient

    from textsweep.config import DEFAULT_TRACKING_URI
    from textsweep.tracking import sqlite_path
    from textsweep.tracking.store import quiet_mlflow_logs

    name, alias, version = None, CHAMPION, None
    uri = tracking_uri or DEFAULT_TRACKING_URI
    if model.startswith("runs:/"):
        parts = model[len("runs:/") :].split("/", 1)
        if not parts[0]:
            raise _bad(model, "a runs:/ URI needs a run id: runs:/<run id>/model")
        ref = ModelRef(parts[0], parts[1] if len(parts) > 1 else "", model)
    elif model.startswith("models:/"):
        rest = model[len("models:/") :]
        match = re.fullmatch(r"([^/@]+)(?:@([^/]+)|/(\d+))", rest)
        if match is None:
            raise _bad(model, "expected models:/<name>@<alias> or models:/<name>/<version>")
        name, alias, version = match.group(1), match.group(2), match.group(3)
    elif model.endswith((".yaml", ".yml")) or Path(model).is_file():
        from textsweep.config import load_sweep

        sweep = load_sweep(model)
        name, uri = sweep.name, sweep.tracking_uri(tracking_uri)
    else:
        name = model
    db = sqlite_path(uri)
    if db is not None and not db.is_file():
        raise _bad(model, f"there is no MLflow store at {db}; run the sweep first, or pass "
                          "--tracking-uri")  # fmt: skip
    quiet_mlflow_logs()
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    if name is None:
        return client, ref
    from mlflow.exceptions import MlflowException

    try:
        found = (
            client.get_model_version(name, version)
            if version is not None
            else client.get_model_version_by_alias(name, alias or CHAMPION)
        )
    except MlflowException:
        which = f"version {version}" if version else f"alias @{alias or CHAMPION}"
        raise _bad(model, f"the Model Registry at {uri} has no model {name!r} with {which}; "
                          "run the sweep (with tracking.log_models best or all) first") from None  # fmt: skip
    if not found.run_id:
        raise _bad(model, f"model {name!r} version {found.version} names no run")
    run = client.get_run(found.run_id)
    prefix = run.info.artifact_uri.rstrip("/") + "/"
    source = found.source or ""
    path = source[len(prefix) :] if source.startswith(prefix) else MODEL_ARTIFACT
    return client, ModelRef(found.run_id, path, f"{name} version {found.version}")


def _bad(model: str, why: str) -> UserError:
    return UserError(f"cannot use {model!r} as a model: {why}", source="MODEL")


def load_model(model: str, tracking_uri: str | None = None) -> Any:
    """The pyfunc model that `model` names (see `resolve_model`), loaded into memory."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from textsweep.export.pyfunc import quiet_artifact_progress

    client, ref = resolve_model(model, tracking_uri)
    with tempfile.TemporaryDirectory(prefix="textsweep-model-") as tmp, quiet_artifact_progress():
        try:
            local = client.download_artifacts(ref.run_id, ref.artifact_path, tmp)
        except MlflowException as e:
            raise _bad(model, f"run {ref.run_id} has no artifact {ref.artifact_path!r} "
                              f"({e.message.splitlines()[0]})") from None  # fmt: skip
        if not (Path(local) / "MLmodel").is_file():
            raise _bad(model, f"{ref.described} holds no MLflow model (no MLmodel file)")
        return mlflow.pyfunc.load_model(local)


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
    out = []
    for text, (_, row) in zip(texts, table.iterrows(), strict=True):
        probs = {str(k): float(v) for k, v in row.items()}
        label = max(probs, key=lambda k: probs[k])
        out.append(Prediction(text, label, probs[label], probs))
    return out

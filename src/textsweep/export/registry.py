"""Logged models in MLflow: log to a trial run, register the champion, find and load a model.

    register_champion(tracker, sweep, result)     # the execution's best -> registry, @champion
    model = load_best("sweeps/quickstart.yaml")   # the champion pyfunc model
    model = load_model("runs:/<run id>/model")    # or models:/<name>@<alias>, models:/<name>/<v>
    rows = predict(model, ["a wonderful film"])   # label and probability per text

Models are read through `tracking`'s Reader bound to the tracking URI asked for; nothing here sets
MLflow's global tracking URI.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textsweep.errors import UserError
from textsweep.export.locate import CHAMPION, MODEL_ARTIFACT, model_files
from textsweep.tracking.names import (
    TAG_DECIDED,
    TAG_EVALUATION,
    TAG_EXECUTION_TEST_ACCURACY,
    TAG_MODEL,
    TAG_OBJECTIVE_N,
    TAG_OBJECTIVE_NAME,
    TAG_OBJECTIVE_VALUE,
    TAG_PARENT,
    TAG_PARENT_RUN,
    TAG_QUESTION,
    TAG_SWEEP,
    TAG_TEST_ACCURACY,
    TAG_TRIAL_ID,
    TAG_VALUES,
)
from textsweep.tracking.reader import NotFound
from textsweep.tracking.records import VersionRecord

if TYPE_CHECKING:
    from textsweep.config import Sweep
    from textsweep.sweep.parent import SweepResult
    from textsweep.tracking import Tracker


def log_model_dir(tracker: Tracker, run_id: str, model_dir: Path) -> None:
    """Log a saved MLflow model folder to the run, and tag the run.

    Twice: as the run's `model` artifact (what `runs:/RUN/model` and the registered versions
    read), and, with MLflow 3, as a logged model `model-t<trial id>` made by the run
    (`Tracker.log_logged_model`), which MLflow's UI lists as the run's "Logged models" and in
    the experiment's Models tab.
    """
    tracker.log_artifacts(run_id, model_dir, MODEL_ARTIFACT)
    tracker.set_tags(run_id, {TAG_MODEL: MODEL_ARTIFACT})
    trial = tracker.get_run(run_id).data.tags.get(TAG_TRIAL_ID)
    # not named `model`: MLflow would then resolve the run's `model/` artifact path to this
    # logged model, through the global tracking URI rather than the client's
    name = f"{MODEL_ARTIFACT}-t{trial}" if trial else f"{MODEL_ARTIFACT}-{run_id[:8]}"
    tracker.log_logged_model(run_id, model_dir, name, {TAG_TRIAL_ID: trial} if trial else {})


# What makes two evaluations comparable: the same objective on the same validation split of the
# same data (the parent run's params). The model settings (num_words, the search space) may differ.
EVALUATION_PARAMS = (
    "objective",
    "dataset.format",
    "dataset.path",
    "dataset.limit",
    "dataset.seed",
    "dataset.validation_split",
    "data.train_size",
    "data.val_size",
    "data.test_size",
    "data.test_split",
)


@dataclass(frozen=True)
class ChampionOutcome:
    """A registered model version, whether `@champion` moved to it, and the terminal's line."""

    version: VersionRecord | None
    moved: bool
    message: str


def evaluation(tracker: Tracker, parent_run_id: str) -> dict[str, str]:
    """The evaluation an execution's models were chosen on (see `EVALUATION_PARAMS`)."""
    try:
        params = tracker.get_run(parent_run_id).data.params
    except NotFound:
        return {}
    return {k: params.get(k, "") for k in EVALUATION_PARAMS}


def register_champion(
    tracker: Tracker, sweep: Sweep, result: SweepResult
) -> ChampionOutcome | None:
    """Register the chosen configuration's model under the sweep's name; move `@champion` to
    it only when it beats the current champion on a comparable evaluation (same data, validation
    split and objective), or when the champion came from this same execution (judged again).

    Returns None when nothing was chosen or `tracking.log_models: none`.
    """
    run_id = result.best_run_id
    if run_id is None or sweep.config.tracking.log_models == "none":
        return None
    name = sweep.name
    run = tracker.get_run(run_id)
    if run.data.tags.get(TAG_MODEL) != MODEL_ARTIFACT:
        current = tracker.reader.version_by_alias(name, CHAMPION)
        stays = f"; models:/{name}@{CHAMPION} stays version {current.version}" if current else ""
        return ChampionOutcome(
            None,
            False,
            f"model: the chosen configuration t{result.best_trial_id} holds no "
            f"model, so none was registered{stays}",
        )
    tracker.ensure_registered_model(
        name, {TAG_SWEEP: name}, f"Models of the textsweep sweep {name!r}. {sweep.config.question}"
    )
    objective = sweep.config.objective
    here = evaluation(tracker, result.parent_run_id)
    values = {k: str(v) for k, v in result.best_values.items()}
    tags = {
        TAG_TRIAL_ID: result.best_trial_id or "",
        TAG_OBJECTIVE_NAME: objective,
        TAG_OBJECTIVE_VALUE: _number(result.best_objective),
        TAG_OBJECTIVE_N: str(result.best_n),
        TAG_DECIDED: str(result.decided).lower(),
        TAG_TEST_ACCURACY: _number(result.best_test_accuracy),
        TAG_EXECUTION_TEST_ACCURACY: _number(run.data.metrics.get("test_accuracy")),
        TAG_QUESTION: sweep.config.question,
        TAG_PARENT_RUN: result.parent_run_id,
        TAG_EVALUATION: json.dumps(here, sort_keys=True),
        TAG_VALUES: json.dumps(values, sort_keys=True)[:5000],
    }
    pooled = f" (mean of {result.best_n} executions)" if result.best_n > 1 else ""
    version = tracker.create_model_version(
        name,
        f"{run.info.artifact_uri}/{MODEL_ARTIFACT}",
        run_id,
        tags,
        f"configuration t{result.best_trial_id}: {objective} {_number(result.best_objective)}"
        f"{pooled}, test accuracy {_number(result.best_test_accuracy)}; the model is the "
        f"execution of trial t{result.best_trial_id} (its own test accuracy "
        f"{_number(run.data.metrics.get('test_accuracy'))})",
    )
    current = tracker.reader.version_by_alias(name, CHAMPION)
    why = _why_stays(tracker, current, here, result, sweep)
    if why is None:
        tracker.set_alias(name, CHAMPION, version.version)
        return ChampionOutcome(
            version,
            True,
            f"model: registered as models:/{name}@{CHAMPION} (version "
            f"{version.version}, configuration t{result.best_trial_id}{pooled})",
        )
    from textsweep.runtime import textsweep_command  # runnable as printed, venv activated or not

    return ChampionOutcome(
        version,
        False,
        f"model: registered as models:/{name}/{version.version} without "
        f"@{CHAMPION}, which stays version {current.version if current else '?'}: {why}; "
        f"to make this one the champion on purpose: {textsweep_command()} promote models:/{name}/"
        f"{version.version}",
    )


def _why_stays(
    tracker: Tracker,
    current: VersionRecord | None,
    here: dict[str, str],
    result: SweepResult,
    sweep: Sweep,
) -> str | None:
    """Why `@champion` should not move to the new version; None when it should."""
    if current is None or _parent_of(tracker, current) == result.parent_run_id:
        return None  # no champion yet, or this execution's own, judged again
    then = _evaluation_of(tracker, current)
    if then != here:
        changed = [
            f"{k} {then.get(k) or '(unset)'} there, {here.get(k) or '(unset)'} here"
            for k in EVALUATION_PARAMS
            if then.get(k) != here.get(k)
        ]
        return "it was chosen on another evaluation (" + "; ".join(changed[:4]) + ")"
    objective = sweep.config.objective
    try:
        theirs = float(current.tags.get(TAG_OBJECTIVE_VALUE, ""))
    except ValueError:
        return f"its {objective} is not recorded, so the two cannot be compared"
    ours = result.best_objective
    if ours is None or not math.isfinite(ours):
        return f"this execution has no {objective}"
    if sweep.directions().better(ours, theirs):
        return None
    return (
        f"it is not beaten on the same evaluation ({objective} {_number(theirs)} there, "
        f"{_number(ours)} here)"
    )


def _parent_of(tracker: Tracker, version: VersionRecord) -> str:
    """The execution (parent run) a model version came from."""
    parent = version.tags.get(TAG_PARENT_RUN)
    if parent or not version.run_id:
        return parent or ""
    try:  # a version registered by hand or before the tag existed: its run's parent
        return tracker.get_run(version.run_id).data.tags.get(TAG_PARENT, "")
    except NotFound:
        return ""


def _evaluation_of(tracker: Tracker, version: VersionRecord) -> dict[str, str]:
    recorded = version.tags.get(TAG_EVALUATION)
    if recorded:
        try:
            return dict(json.loads(recorded))
        except ValueError:
            pass
    parent = _parent_of(tracker, version)
    return evaluation(tracker, parent) if parent else {}


def promote(model: str, tracking_uri: str | None = None) -> VersionRecord:
    """Move `@champion` to `models:/NAME/VERSION` on purpose (`textsweep promote`)."""
    match = re.fullmatch(r"models:/([^/@]+)/(\d+)", model)
    if match is None:
        raise _bad(model, "expected models:/<name>/<version>, as the run's closing lines print it")
    name, number = match.group(1), match.group(2)
    from textsweep.config import default_tracking_uri
    from textsweep.tracking import Tracker

    uri = tracking_uri or default_tracking_uri()
    tracker = Tracker.registry(uri)
    found = tracker.reader.version(name, number)
    if found is None:
        raise _bad(model, f"the Model Registry at {uri} has no model {name!r} version {number}")
    tracker.set_alias(name, CHAMPION, found.version)
    return found


def _number(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.6g}"


def _bad(model: str, why: str) -> UserError:
    return UserError(f"cannot use {model!r} as a model: {why}", source="MODEL")


def load_model(model: str, tracking_uri: str | None = None) -> Any:
    """The pyfunc model that `model` names (see `locate.resolve_model`), loaded into memory."""
    import mlflow.pyfunc

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


def predict_texts(
    model: str, texts: Sequence[str], tracking_uri: str | None = None
) -> list[Prediction]:
    """Label raw texts with the model `model` names (see `locate.resolve_model`): `textsweep predict`.

    A textsweep model runs from its cached folder in NumPy (`local.LocalModel`: no MLflow, no
    TensorFlow to start); any other model, or one with a layer NumPy lacks, through
    `mlflow.pyfunc` with TensorFlow.
    """
    from textsweep.export.local import LocalModel

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

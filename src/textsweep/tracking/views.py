"""MLflow's UI, ready for comparing trials: what can be set from the client.

    mark_model_training(client, experiment)          # opens as model training, not GenAI
    trial_run_name("03", values, ["lstm_units"])     # 't03 lstm_units=64'
    set_compare_view(client, experiment_id, sweep)   # a saved view: columns, sort, charts
    compare_url("http://127.0.0.1:5000", "1")        # opens the experiment in that view

The runs table's columns, sort order, filter and charts live in the browser (local storage),
except for a saved view, which MLflow keeps as an experiment tag `mlflow.sharedViewState.<id>`
and applies when the URL carries `?viewStateShareKey=<id>`; it is also listed among the
experiment's views. Which runs are expanded or pinned is not part of a saved view, so the view
filters the table to the trial runs instead of expanding the parent run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from textsweep.credentials import browser_base
from textsweep.tracking.names import TAG_ROLE, Role, objective_metric

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from textsweep.config import Sweep

TAG_EXPERIMENT_KIND = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
VIEW_ID = "textsweep-trials"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_ID}"
VIEW_NAME = "textsweep: compare trials"
# trial metrics worth a column, after the objective's
COLUMN_METRICS = ("test_accuracy", "best_epoch", "train_seconds", "params_count")


def mark_model_training(client: MlflowClient, experiment: Any) -> None:
    """Tag an experiment as model training, unless a kind is set already (the user's choice)."""
    if TAG_EXPERIMENT_KIND not in (experiment.tags or {}):
        client.set_experiment_tag(experiment.experiment_id, TAG_EXPERIMENT_KIND, MODEL_TRAINING)


def varied_names(sweep: Sweep) -> list[str]:
    """The hyperparameters that take more than one value in the sweep's space: `model` first,
    then in the space's order."""
    out = []
    for name in sweep.space.ordered_names():
        candidates = sweep.space.hyperparameters[name].candidates()
        if candidates is None or len(candidates) > 1:
            out.append(name)
    return sorted(out, key=lambda name: name != "model")


def trial_run_name(trial_id: str, values: Mapping[str, Any], varied: Sequence[str]) -> str:
    """`t03 lstm_units=64 maxlen=200`: the trial, and its values of the varied hyperparameters.

    `values` are what the trial's model uses, so a setting the model ignores is left out.
    """
    shown = [f"{k}={_text(values[k])}" for k in varied if k in values]
    return " ".join([f"t{trial_id}", *shown])


def _text(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def view_state(varied: Sequence[str], objective: str, direction: str) -> dict[str, Any]:
    """The saved view's state, in the shape of MLflow's experiment page (search facets + UI)."""
    metric = objective_metric(objective)
    metrics = [metric, *(m for m in COLUMN_METRICS if m != metric)]
    section = "textsweep-section"
    charts: list[dict[str, Any]] = [
        {"uuid": "textsweep-parallel", "type": "PARALLEL", "selectedParams": list(varied),
         "selectedMetrics": [metric, "test_accuracy"], "metricSectionId": section,
         "isGenerated": False, "deleted": False, "runsCountToCompare": 100},
        *({"uuid": f"textsweep-{key}", "type": "LINE", "metricKey": key, "metricSectionId": section,
           "isGenerated": False, "deleted": False, "runsCountToCompare": 100, "xAxisKey": "step",
           "scaleType": "linear", "lineSmoothness": 0, "selectedMetricKeys": [key]}
          for key in (objective, objective.replace("val_", ""))),
        *({"uuid": f"textsweep-bar-{key}", "type": "BAR", "metricKey": key,
           "metricSectionId": section, "isGenerated": False, "deleted": False,
           "runsCountToCompare": 100} for key in (metric, "test_accuracy")),
    ]  # fmt: skip
    return {
        "searchFilter": f"tags.`{TAG_ROLE}` = '{Role.TRIAL}'",
        "orderByKey": f"metrics.`{metric}`",
        "orderByAsc": direction == "min",
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "datasetsFilter": [],
        "modelVersionFilter": "All Runs",
        "selectedColumns": [f"params.`{name}`" for name in varied]
        + [f"metrics.`{m}`" for m in metrics],
        "compareRunCharts": charts,
        "compareRunSections": [
            {
                "uuid": section,
                "name": "textsweep",
                "display": True,
                "isReordered": True,
                "deleted": False,
                "isGenerated": False,
            },
        ],  # fmt: skip
        "isAccordionReordered": True,
        "viewMaximized": False,
        "runListHidden": False,
        "hideEmptyCharts": True,
    }


def set_compare_view(client: MlflowClient, experiment_id: str, sweep: Sweep) -> None:
    """Store the comparison view as a saved view of the sweep's experiment."""
    state = view_state(varied_names(sweep), sweep.config.objective, sweep.directions())
    envelope = {"name": VIEW_NAME, "createdAt": int(time.time() * 1000), "state": json.dumps(state)}
    client.set_experiment_tag(experiment_id, VIEW_TAG, json.dumps(envelope))


def compare_url(base: str, experiment_id: str) -> str:
    """The experiment's runs page in the comparison view (see `set_compare_view`)."""
    link = browser_base(base)
    return f"{link}/#/experiments/{experiment_id}/runs?viewStateShareKey={VIEW_ID}"

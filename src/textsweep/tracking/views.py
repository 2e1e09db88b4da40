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
RUN_NAME_COLUMN = "attributes.`Run Name`"
# MLflow's UI opens in its GenAI mode unless told otherwise (a browser preference, or this)
MODEL_TRAINING_MODE = "workflowType=machine_learning"


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


def trial_run_name(
    trial_id: str, values: Mapping[str, Any], varied: Sequence[str], execution: int | None = None
) -> str:
    """`t03 units=64`: the trial, and its values of the varied hyperparameters, short.

    `values` are what the trial's model uses, so a setting the model ignores is left out. The
    model's name stands alone (`t01 embedding_pool units=8`), and a name is cut to its last word
    (`lstm_units` -> `units`) where no other varied name ends so. `execution` (a raced sweep's
    trials repeat a combination) adds which execution of it the trial is: `t05 units=64 #2`.
    """
    labels = short_labels(varied)
    shown = [
        _text(values[k]) if k == "model" else f"{labels[k]}={_text(values[k])}"
        for k in varied
        if k in values
    ]
    more = [f"#{execution}"] if execution is not None else []
    return " ".join([f"t{trial_id}", *shown, *more])


SHORT = {"learning_rate": "lr"}


def short_labels(names: Sequence[str]) -> dict[str, str]:
    """Each hyperparameter's label in a run name: its last `_` word, unless two names share it."""
    last = {name: SHORT.get(name, name.rsplit("_", 1)[-1]) for name in names}
    taken = [last[name] for name in names]
    return {name: last[name] if taken.count(last[name]) == 1 else name for name in names}


def _text(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def view_state(
    varied: Sequence[str], objective: str, direction: str, grouped: bool = False
) -> dict[str, Any]:
    """The saved view's state, in the shape of MLflow's experiment page (search facets + UI).

    `grouped` (a raced sweep: every combination has several trial runs) groups the table by the
    varied hyperparameters, each group's row and chart point the mean of its runs.
    """
    metric = objective_metric(objective)
    metrics = [metric, *(m for m in COLUMN_METRICS if m != metric)]
    wide, small = "textsweep-section", "textsweep-curves"
    charts: list[dict[str, Any]] = [
        {
            "uuid": "textsweep-parallel",
            "type": "PARALLEL",
            "selectedParams": list(varied),
            "selectedMetrics": [metric, "test_accuracy"],
            "metricSectionId": wide,
            "showAllRuns": True,
            "isGenerated": False,
            "deleted": False,
            "runsCountToCompare": 100,
        },
        *(
            {
                "uuid": f"textsweep-scatter-{name}",
                "type": "SCATTER",
                "metricSectionId": wide,
                "xaxis": {"key": name, "type": "PARAM"},
                "yaxis": {"key": metric, "type": "METRIC"},
                "isGenerated": False,
                "deleted": False,
                "runsCountToCompare": 100,
            }
            for name in varied[:2]
        ),
        *(
            {
                "uuid": f"textsweep-{key}",
                "type": "LINE",
                "metricKey": key,
                "metricSectionId": small,
                "isGenerated": False,
                "deleted": False,
                "runsCountToCompare": 100,
                "xAxisKey": "step",
                "scaleType": "linear",
                "lineSmoothness": 0,
                "selectedMetricKeys": [key],
            }
            for key in (objective, objective.replace("val_", ""))
        ),
    ]
    sections = [
        {
            "uuid": wide,
            "name": "textsweep: the question",
            "display": True,
            "isReordered": True,
            "deleted": False,
            "isGenerated": False,
            "columns": 1,
            "cardHeight": 440,
        },
        {
            "uuid": small,
            "name": "textsweep: curves",
            "display": True,
            "isReordered": True,
            "deleted": False,
            "isGenerated": False,
            "columns": 2,
            "cardHeight": 360,
        },
    ]
    params = [f"params.`{name}`" for name in varied]
    state: dict[str, Any] = {
        "searchFilter": f"tags.`{TAG_ROLE}` = '{Role.TRIAL}'",
        "orderByKey": f"metrics.`{metric}`",
        "orderByAsc": direction == "min",
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "datasetsFilter": [],
        "modelVersionFilter": "All Runs",
        "selectedColumns": params + [f"metrics.`{m}`" for m in metrics],
        # the hyperparameters first, then the metrics, as the grid's column ids
        "columnOrder": [RUN_NAME_COLUMN, *params, *(f"metrics.`{m}`" for m in metrics)],
        "columnWidths": {RUN_NAME_COLUMN: 260},
        "runsHiddenMode": "SHOW_ALL",  # every run (or group) in the charts, not the first 10
        "compareRunCharts": charts,
        "compareRunSections": sections,
        "isAccordionReordered": True,
        "viewMaximized": False,
        "runListHidden": False,
        "hideEmptyCharts": True,
        "groupBy": None,
        "groupsExpanded": {},
        "useGroupedValuesInCharts": True,
    }
    if grouped:
        state["groupBy"] = {
            "aggregateFunction": "average",
            "groupByKeys": [{"mode": "param", "groupByData": name} for name in varied],
        }
    return state


def set_compare_view(client: MlflowClient, experiment_id: str, sweep: Sweep) -> None:
    """Store the comparison view as a saved view of the sweep's experiment."""
    grouped = sweep.config.tuner.repeats is not None
    state = view_state(varied_names(sweep), sweep.config.objective, sweep.directions(), grouped)
    envelope = {"name": VIEW_NAME, "createdAt": int(time.time() * 1000), "state": json.dumps(state)}
    client.set_experiment_tag(experiment_id, VIEW_TAG, json.dumps(envelope))


def compare_url(base: str, experiment_id: str) -> str:
    """The experiment's runs page in the comparison view (see `set_compare_view`)."""
    link = browser_base(base)
    return (
        f"{link}/#/experiments/{experiment_id}/runs?viewStateShareKey={VIEW_ID}"
        f"&{MODEL_TRAINING_MODE}"
    )

"""Read one sweep execution out of MLflow into plain frozen records; nothing else reads MLflow.

A record is one *execution*: one training of one trial's hyperparameters with one seed. A trial with
`executions_per_trial: k > 1` gives k records (its nested execution runs); a trial without execution
runs gives one record (the trial run itself). Which sweep execution (parent run) is read, or which
are pooled, is `parents`' choice.

    records = load_records("sqlite:///mlruns/mlflow.db", "lstm-units")
    [e.objective for e in records.usable()]
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textsweep import tracking
from textsweep.errors import UserError

if TYPE_CHECKING:
    from textsweep.tracking.reader import Reader
    from textsweep.tracking.records import RunRecord as Run

Value = bool | int | float | str

HYPERPARAMETERS = (
    "model",
    "maxlen",
    "embedding_dim",
    "embedding_init",
    "embedding_trainable",
    "lstm_units",
    "lstm_layers",
    "bidirectional",
    "dropout",
    "recurrent_dropout",
    "spatial_dropout",
    "dense_units",
    "dense_layers",
    "learning_rate",
    "optimizer",
    "batch_size",
    "ngrams",
    "bag_mode",
)  # in report order; names user families bring follow, sorted
FINISHED = tracking.RunStatus.FINISHED
_INT = re.compile(r"[+-]?\d+")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # as config.SweepConfig.name


@dataclass(frozen=True)
class Execution:
    """One training run of one trial: its hyperparameters, final metrics and per-epoch history."""

    trial_id: str
    run_id: str
    index: int
    hyperparameters: Mapping[str, Value]
    objective: float | None
    best_val_accuracy: float | None
    test_accuracy: float | None
    test_loss: float | None
    train_seconds: float | None
    params_count: float | None
    status: str
    history: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    trial_run_id: str = ""  # the trial's MLflow run (`run_id` is the execution's own run)

    @property
    def usable(self) -> bool:
        """Finished with a finite objective: the only executions the statistics look at."""
        return (
            self.status == FINISHED and self.objective is not None and math.isfinite(self.objective)
        )


@dataclass(frozen=True)
class SweepRecords:
    """Everything the report needs from one sweep execution (one parent run)."""

    sweep: str
    question: str
    objective: str
    direction: str  # "max" or "min"
    parent_run_id: str
    experiment_id: str
    executions: tuple[Execution, ...]
    parent_run_ids: tuple[str, ...] = ()  # every execution read (more than one when pooled)
    warnings: tuple[str, ...] = ()  # said at the top of every output (an unfinished execution)
    notes: tuple[str, ...] = ()
    algorithm: str = ""  # tuner.algorithm
    executions_per_trial: int = 1
    declared: tuple[str, ...] | None = None  # may vary per the search space; None: unknown
    dataset_format: str = ""
    tracking_uri: str = ""
    sweep_ref: str = ""  # `textsweep run` arguments of the execution (else its file), for hints
    racing: str = ""  # how adaptive repeats ended (`decided` or `budget`), when the sweep raced
    margin: float | None = None  # tuner.repeats.margin: "within this of the others" decides
    focus: bool = False  # tuner.repeats.focus: values that could not change the answer rested

    def usable(self) -> list[Execution]:
        return [e for e in self.executions if e.usable]


def parse_param(text: str) -> Value:
    """MLflow stores params as strings: `"64"` -> 64, `"0.2"` -> 0.2, `"True"` -> True."""
    if text in ("True", "true"):
        return True
    if text in ("False", "false"):
        return False
    if _INT.fullmatch(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


def direction_of(objective: str) -> str:
    return str(tracking.direction_of(objective))


def load_records(
    tracking_uri: str,
    sweep_name: str,
    experiment: str | None = None,
    parent_run_id: str | None = None,
    pool: bool = False,
    sweep_ref: str = "",
) -> SweepRecords:
    """Read a sweep's execution (see `parents.choose_parents`) and all its trials.

    Args:
        tracking_uri: the MLflow tracking URI, e.g. `sqlite:///mlruns/mlflow.db`.
        sweep_name: the sweep's `name:`.
        experiment: the experiment name when the sweep sets `tracking.experiment`; default: the
            sweep name.
        parent_run_id: report on this sweep execution instead of the latest finished one.
        pool: also read every finished execution of the same sweep definition.
        sweep_ref: the sweep file or name as the user gave it (for the commands we print).

    Raises:
        UserError: no experiment, no parent run or no trial runs for the sweep.
    """
    from textsweep.reporting.parents import choose_parents
    from textsweep.tracking.reader import Reader

    if not _NAME.fullmatch(sweep_name):
        raise UserError(
            "expected a sweep YAML file or a sweep name (letters, digits, '_', '.', '-'); "
            f"got {sweep_name!r}",
            source=sweep_name,
        )
    _check_store(tracking_uri, sweep_name)
    client = Reader.connect(tracking_uri)
    chosen = choose_parents(
        client, tracking_uri, sweep_name, experiment, parent_run_id, pool, sweep_ref or None
    )
    parent, params = chosen.parents[0], chosen.parents[0].data.params
    objective = (
        parent.data.tags.get(tracking.TAG_OBJECTIVE) or params.get("objective") or "val_accuracy"
    )
    declared = _declared(client, parent.info.run_id)
    names = tuple(declared) if declared is not None else HYPERPARAMETERS
    executions: list[Execution] = []
    for run in chosen.parents:
        tag = f"@{run.info.run_id[:8]}" if len(chosen.parents) > 1 else ""
        executions += _trials_of(client, run, objective, names, tag)
    if not executions:
        raise UserError(
            f"the sweep '{sweep_name}' has no trial runs in MLflow at {tracking_uri} (parent run "
            f"{parent.info.run_id}); run it with `textsweep run sweeps/{sweep_name}.yaml` and "
            "report again",
            source=sweep_name,
        )
    return SweepRecords(
        sweep=parent.data.tags.get(tracking.TAG_SWEEP, sweep_name),
        question=parent.data.tags.get(tracking.TAG_QUESTION, ""),
        objective=objective,
        direction=direction_of(objective),
        parent_run_id=parent.info.run_id,
        experiment_id=parent.info.experiment_id,
        executions=tuple(executions),
        parent_run_ids=tuple(p.info.run_id for p in chosen.parents),
        warnings=chosen.warnings,
        notes=chosen.notes,
        algorithm=params.get("tuner.algorithm", ""),
        executions_per_trial=int(params.get("tuner.executions_per_trial", "1") or 1),
        declared=None if declared is None else tuple(n for n, v in declared.items() if v),
        dataset_format=params.get("dataset.format", ""),
        tracking_uri=tracking_uri,
        sweep_ref=parent.data.tags.get(tracking.TAG_RUN_ARGS)
        or sweep_ref
        or f"sweeps/{sweep_name}.yaml",
        racing=parent.data.tags.get(tracking.TAG_REPEATS, ""),
        margin=float(params["tuner.repeats.margin"]) if "tuner.repeats.margin" in params else None,
        focus=params.get("tuner.repeats.focus") == "True",
    )


def _trials_of(
    client: Reader, parent: Run, objective: str, names: tuple[str, ...], tag: str
) -> list[Execution]:
    experiment_id = parent.info.experiment_id
    trials = _search(
        client, experiment_id, f"tags.`{tracking.TAG_PARENT}` = '{parent.info.run_id}'"
    )
    trials = [t for t in trials if t.data.tags.get(tracking.TAG_ROLE) == tracking.Role.TRIAL]
    trial_ids = {t.info.run_id for t in trials}
    by_trial: dict[str, list[Run]] = {}
    if trials:
        role_filter = f"tags.`{tracking.TAG_ROLE}` = '{tracking.Role.EXECUTION}'"
        for run in _search(client, experiment_id, role_filter):
            owner = run.data.tags.get(tracking.TAG_PARENT, "")
            if owner in trial_ids:
                by_trial.setdefault(owner, []).append(run)
    executions: list[Execution] = []
    for trial in sorted(trials, key=_trial_sort_key):
        children = by_trial.get(trial.info.run_id, [])
        executions.extend(_executions_of(client, trial, children, objective, names, tag))
    return executions


def _declared(client: Reader, parent_run_id: str) -> dict[str, bool] | None:
    """Hyperparameter -> whether it may vary, from the parent's resolved sweep (None: none held)."""
    try:
        resolved = json.loads(client.read_text(parent_run_id, tracking.RESOLVED_ARTIFACT) or "")
    except ValueError:
        return None
    specs = (resolved.get("search_space") or {}).get("hyperparameters") or {}
    return {name: _may_vary(spec) for name, spec in specs.items()}


def _may_vary(spec: Mapping[str, Any]) -> bool:
    kind = spec.get("type")
    if kind == "boolean":
        return True
    if kind == "choice":
        return len(spec.get("values") or []) > 1
    if kind in ("int", "float"):
        return bool(spec.get("min") != spec.get("max"))
    return False


def _check_store(tracking_uri: str, sweep_name: str) -> None:
    # MLflow would silently create an empty SQLite store (or fail to open one in a missing folder).
    prefix = "sqlite:///"
    if tracking_uri.startswith(prefix) and not Path(tracking_uri[len(prefix) :]).is_file():
        raise UserError(
            f"no MLflow store at {tracking_uri[len(prefix) :]} (looked for "
            f"{Path(tracking_uri[len(prefix) :]).resolve()}: the default store is mlruns/ in the "
            "project root, the folder holding sweeps/ found from the sweep file or the working "
            f"directory); run the sweep first with `textsweep run sweeps/{sweep_name}.yaml`, or "
            "pass --tracking-uri where it ran",
            source=sweep_name,
        )


def _search(client: Reader, experiment_id: str, filter_string: str) -> list[Run]:
    return client.search([experiment_id], filter_string)


def _trial_sort_key(run: Run) -> tuple[int, str]:
    trial_id = run.data.tags.get(tracking.TAG_TRIAL_ID, "")
    return (int(trial_id), "") if trial_id.isdigit() else (1 << 62, trial_id)


def _executions_of(
    client: Reader,
    trial: Run,
    children: list[Run],
    objective: str,
    names: tuple[str, ...],
    tag: str,
) -> list[Execution]:
    hyperparameters = {
        name: parse_param(trial.data.params[name]) for name in names if name in trial.data.params
    }
    trial_id = (
        trial.data.tags.get(tracking.TAG_TRIAL_ID) or trial.info.run_name or trial.info.run_id
    ) + tag
    if not children:
        return [_execution(client, trial, trial, trial_id, 0, hyperparameters, objective)]
    children.sort(key=lambda r: int(r.data.tags.get(tracking.TAG_EXECUTION, "0") or 0))
    return [
        _execution(client, run, trial, trial_id, i, hyperparameters, objective)
        for i, run in enumerate(children)
    ]


def _execution(
    client: Reader,
    run: Run,
    trial: Run,
    trial_id: str,
    fallback_index: int,
    hyperparameters: Mapping[str, Value],
    objective: str,
) -> Execution:
    metrics: Mapping[str, Any] = run.data.metrics
    history = {
        key: tuple(m.value for m in client.metric_history(run.info.run_id, key))
        for key in tracking.EPOCH_METRICS
        if key in metrics
    }
    # A failed or killed trial makes all of its executions unusable, whatever their own status.
    status = trial.info.status if trial.info.status != FINISHED else run.info.status
    index_tag = run.data.tags.get(tracking.TAG_EXECUTION, "")
    return Execution(
        trial_id=trial_id,
        run_id=run.info.run_id,
        index=int(index_tag) if index_tag.isdigit() else fallback_index,
        hyperparameters=dict(hyperparameters),
        objective=_objective(metrics, history, objective),
        best_val_accuracy=metrics.get("best_val_accuracy"),
        test_accuracy=metrics.get("test_accuracy"),
        test_loss=metrics.get("test_loss"),
        train_seconds=metrics.get("train_seconds"),
        params_count=metrics.get("params_count"),
        status=status,
        history=history,
        trial_run_id=trial.info.run_id,
    )


def _objective(
    metrics: Mapping[str, float], history: Mapping[str, tuple[float, ...]], objective: str
) -> float | None:
    """`best_<objective>`; when a run never logged it, the best epoch of its curve."""
    value = metrics.get(f"best_{objective}")
    if value is not None:
        return float(value)
    curve = history.get(objective)
    if not curve:
        return None
    return float(min(curve) if direction_of(objective) == "min" else max(curve))

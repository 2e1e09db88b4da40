"""Reading an MLflow store: typed queries that return frozen records, retried and signal-shielded.

    reader = Reader.connect("sqlite:///mlruns/mlflow.db")
    exp = reader.experiment("lstm-units")
    parents = reader.search([exp.experiment_id], "tags.`textsweep.role` = 'sweep'")
    curve = reader.metric_history(parents[0].info.run_id, "val_accuracy")

This and `store.Tracker` (which writes, and reads through a `Reader` of its own) are the only
places that hold an `MlflowClient`: the sweep, the report, the export and the UI ask these.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textsweep.tracking.calls import quiet_mlflow_logs, retry_locked
from textsweep.tracking.records import (
    ExperimentRecord,
    MetricPoint,
    RunRecord,
    VersionRecord,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient


class NotFound(LookupError):
    """The store has no such run, experiment, artifact or model version; the message says which."""


@dataclass(frozen=True)
class Reader:
    """Read-only queries of one tracking store (and its Model Registry)."""

    uri: str
    client: MlflowClient

    @classmethod
    def connect(cls, uri: str) -> Reader:
        """A reader of `uri`; creates nothing (a missing SQLite file is the caller's check)."""
        from mlflow import MlflowClient

        quiet_mlflow_logs()
        return cls(uri, MlflowClient(tracking_uri=uri, registry_uri=uri))

    def experiment(self, name: str) -> ExperimentRecord | None:
        found = _retry(lambda: self.client.get_experiment_by_name(name))
        return None if found is None else _experiment(found)

    def experiments(self) -> list[ExperimentRecord]:
        return [_experiment(e) for e in _retry(lambda: self.client.search_experiments())]

    def run(self, run_id: str) -> RunRecord:
        """The run `run_id`; `NotFound` when the store has none."""
        from mlflow.exceptions import MlflowException

        try:
            return RunRecord.of(_retry(lambda: self.client.get_run(run_id)))
        except MlflowException as e:
            raise NotFound(e.message.splitlines()[0] if e.message else str(e)) from None

    def search(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
    ) -> list[RunRecord]:
        """Every run matching `filter_string` (all pages), or the first `max_results`."""
        runs: list[RunRecord] = []
        token: str | None = None
        page_size = min(max_results or 1000, 1000)
        while True:
            page = _retry(
                functools.partial(
                    self.client.search_runs,
                    list(experiment_ids),
                    filter_string,
                    order_by=list(order_by or []),
                    max_results=page_size,
                    page_token=token,
                )
            )
            runs.extend(RunRecord.of(r) for r in page)
            token = page.token
            if not token or (max_results is not None and len(runs) >= max_results):
                return runs[:max_results] if max_results is not None else runs

    def metric_history(self, run_id: str, key: str) -> tuple[MetricPoint, ...]:
        """A metric's points, ordered by step (then time)."""
        points = _retry(lambda: self.client.get_metric_history(run_id, key))
        out = [MetricPoint(int(m.step), float(m.value), int(m.timestamp)) for m in points]
        return tuple(sorted(out, key=lambda m: (m.step, m.timestamp)))

    def download(self, run_id: str, path: str, dst: Path) -> Path:
        """An artifact (file or folder) of a run, copied under `dst`; `NotFound` when missing."""
        from mlflow.exceptions import MlflowException

        try:
            return Path(_retry(lambda: self.client.download_artifacts(run_id, path, str(dst))))
        except (MlflowException, OSError) as e:
            raise NotFound(f"run {run_id} has no artifact {path!r} ({_first_line(e)})") from None

    def read_text(self, run_id: str, path: str) -> str | None:
        """A small text artifact of a run, or None when it has none."""
        with tempfile.TemporaryDirectory(prefix="textsweep-") as tmp:
            try:
                return self.download(run_id, path, Path(tmp)).read_text(encoding="utf-8")
            except (NotFound, OSError, UnicodeDecodeError):
                return None

    def version_by_alias(self, name: str, alias: str) -> VersionRecord | None:
        from mlflow.exceptions import MlflowException

        try:
            found = _retry(lambda: self.client.get_model_version_by_alias(name, alias))
        except MlflowException:
            return None
        return VersionRecord.of(found)

    def version(self, name: str, number: str) -> VersionRecord | None:
        from mlflow.exceptions import MlflowException

        try:
            return VersionRecord.of(_retry(lambda: self.client.get_model_version(name, number)))
        except MlflowException:
            return None


def _experiment(e: Any) -> ExperimentRecord:
    return ExperimentRecord(
        str(e.experiment_id), str(e.name), str(e.lifecycle_stage), dict(e.tags or {})
    )


def _first_line(e: BaseException) -> str:
    text = str(getattr(e, "message", "") or e)
    return text.splitlines()[0] if text else type(e).__name__


def _retry(call: Any) -> Any:
    return retry_locked(call)

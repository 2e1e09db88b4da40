"""What the store hands out: frozen records of runs, metric points and model versions.

    run = tracker.get_run(run_id)          # a RunRecord, never MLflow's own mutable `Run`
    run.info.status, run.data.metrics["best_val_accuracy"], run.data.tags["textsweep.role"]

The shape follows MLflow's entities (`info` and `data`), so code reads a record as it would read a
run, but a record is a snapshot: nothing outside `tracking/` holds an MLflow object or client (as
Optuna's storages hand out `FrozenTrial`s).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


def _frozen(items: Any) -> Mapping[str, Any]:
    return MappingProxyType(dict(items or {}))


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    run_name: str
    experiment_id: str
    status: str
    start_time: int
    end_time: int | None
    artifact_uri: str


@dataclass(frozen=True)
class RunData:
    tags: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRecord:
    """One MLflow run as read: `info` (ids, status, times) and `data` (tags, params, metrics)."""

    info: RunInfo
    data: RunData

    @classmethod
    def of(cls, run: Any) -> RunRecord:
        """A record of an MLflow `Run`."""
        i = run.info
        return cls(
            RunInfo(
                run_id=str(i.run_id),
                run_name=str(i.run_name or ""),
                experiment_id=str(i.experiment_id),
                status=str(i.status),
                start_time=int(i.start_time or 0),
                end_time=int(i.end_time) if i.end_time else None,
                artifact_uri=str(i.artifact_uri or ""),
            ),
            RunData(
                tags=_frozen(run.data.tags),
                params=_frozen(run.data.params),
                metrics=_frozen(run.data.metrics),
            ),
        )


@dataclass(frozen=True)
class MetricPoint:
    step: int
    value: float
    timestamp: int


@dataclass(frozen=True)
class ExperimentRecord:
    experiment_id: str
    name: str
    lifecycle_stage: str
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionRecord:
    """A model version in the Model Registry."""

    name: str
    version: str
    run_id: str
    source: str
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @classmethod
    def of(cls, version: Any) -> VersionRecord:
        return cls(
            name=str(version.name),
            version=str(version.version),
            run_id=str(version.run_id or ""),
            source=str(version.source or ""),
            tags=_frozen(version.tags),
            aliases=tuple(getattr(version, "aliases", ()) or ()),
        )

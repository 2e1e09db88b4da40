"""The MLflow store a sweep writes to: one experiment, its runs, retries on a busy SQLite file.

    tracker = Tracker.open("sqlite:///mlruns/mlflow.db", "lstm-units")
    run_id = tracker.start_run("t00 lstm_units=64", {TAG_ROLE: Role.TRIAL})
    tracker.log_curves(run_id, [{"epoch": 1, "loss": 0.4}], background=True)
    tracker.end_run(run_id)

Per-epoch metrics can be written on one background thread (`log_curves(background=True)`), in
order and with the same retries, so training does not wait on the database between epochs.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from textsweep.credentials import mask, mask_text
from textsweep.errors import UserError
from textsweep.tracking import views
from textsweep.tracking.calls import quiet_mlflow_logs, retry_locked, shielded
from textsweep.tracking.failures import StoreWriteFailed, check_database
from textsweep.tracking.names import (
    EPOCH_METRICS,
    TAG_PARENT,
    TAG_ROLE,
    TAG_WORKER,
    Role,
    RunStatus,
)
from textsweep.tracking.reader import Reader
from textsweep.tracking.records import RunRecord, VersionRecord

if TYPE_CHECKING:
    from mlflow import MlflowClient

T = TypeVar("T")


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI (relative to the working directory), else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///") :])


def default_artifact_location(uri: str, experiment: str) -> str | None:
    """Artifacts of the embedded store live beside its database: `<db folder>/artifacts/<experiment>`."""
    db = sqlite_path(uri)
    if db is None:
        return None
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in experiment)
    return (db.resolve().parent / "artifacts" / safe).as_uri()


@dataclass
class Tracker:
    """One sweep's connection to MLflow: an experiment, and the runs textsweep creates in it."""

    uri: str
    client: MlflowClient
    experiment_id: str
    worker: str = ""  # a Keras Tuner worker's id: its trial and execution runs are tagged with it
    _writer: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    _pending: list[Future[Any]] = field(default_factory=list, init=False, repr=False)

    @classmethod
    def find(cls, uri: str, experiment: str) -> Tracker | None:
        """Connect only if the store and the experiment already exist; creates nothing."""
        db = sqlite_path(uri)
        if db is not None and not db.is_file():
            return None
        check_database(uri)
        from mlflow import MlflowClient

        quiet_mlflow_logs()
        client = MlflowClient(tracking_uri=uri)
        found = retry_locked(lambda: client.get_experiment_by_name(experiment))
        if found is None or found.lifecycle_stage == "deleted":
            return None
        return cls(uri, client, found.experiment_id)

    @classmethod
    def registry(cls, uri: str) -> Tracker:
        """A tracker of the store's Model Registry (no experiment); a missing SQLite file is a
        `UserError`."""
        db = sqlite_path(uri)
        if db is not None and not db.is_file():
            raise UserError(
                f"there is no MLflow store at {db}; run a sweep first, or pass --tracking-uri",
                source="--tracking-uri",
            )
        return cls(uri, Reader.connect(uri).client, "")

    @classmethod
    def of_experiment(cls, uri: str, experiment_id: str) -> Tracker:
        """A tracker of an experiment known to exist (by id)."""
        return cls(uri, Reader.connect(uri).client, experiment_id)

    @classmethod
    def open(cls, uri: str, experiment: str) -> Tracker:
        """Connect, creating the SQLite folder and the experiment on first use.

        A store that cannot be written or reached is a `UserError` naming the URI.
        """
        try:
            return cls._connect(uri, experiment)
        except StoreWriteFailed as e:  # before any work: the user must fix the store first
            raise UserError(str(e), source="tracking.uri") from None
        except OSError as e:
            raise UserError(
                f"cannot write to the tracking store: {e.strerror}: {e.filename}; run where "
                f"you can write, or give another --tracking-uri (now {mask(uri)})",
                source="tracking.uri",
            ) from None
        except Exception as e:
            from mlflow.exceptions import MlflowException
            from sqlalchemy.exc import OperationalError

            if not isinstance(e, MlflowException | OperationalError):
                raise
            first = mask_text(str(e).splitlines()[0] if str(e) else type(e).__name__)
            raise UserError(
                f"MLflow cannot use the tracking store {mask(uri)}: {first}; check "
                "--tracking-uri (or tracking.uri), that the server is up and the store writable",
                source="tracking.uri",
            ) from None

    @classmethod
    def _connect(cls, uri: str, experiment: str) -> Tracker:
        from mlflow import MlflowClient

        quiet_mlflow_logs()
        db = sqlite_path(uri)
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
            check_database(uri)
        with _store_lock(db):
            # MLflow creates and migrates the schema on first connection; two processes doing
            # that at once on a new SQLite file fail, so they take turns.
            client = MlflowClient(tracking_uri=uri)
            found = retry_locked(lambda: client.get_experiment_by_name(experiment))
            if found is not None:
                if found.lifecycle_stage == "deleted":
                    client.restore_experiment(found.experiment_id)
                retry_locked(lambda: views.mark_model_training(client, found))
                return cls(uri, client, found.experiment_id)
            try:
                exp_id = client.create_experiment(
                    experiment,
                    artifact_location=default_artifact_location(uri, experiment),
                    tags={views.TAG_EXPERIMENT_KIND: views.MODEL_TRAINING},
                )
            except Exception:  # another process created it first
                again = retry_locked(lambda: client.get_experiment_by_name(experiment))
                if again is None:
                    raise
                exp_id = again.experiment_id
        return cls(uri, client, exp_id)

    def for_worker(self, worker: str) -> Tracker:
        """This tracker, tagging the trial and execution runs it starts with `worker`."""
        return Tracker(self.uri, self.client, self.experiment_id, worker)

    def start_run(self, name: str, tags: Mapping[str, str], params: Mapping[str, Any] = {}) -> str:
        if self.worker and tags.get(TAG_ROLE) in (Role.TRIAL, Role.EXECUTION):
            tags = {**tags, TAG_WORKER: self.worker}
        run = retry_locked(
            lambda: self.client.create_run(self.experiment_id, run_name=name, tags=dict(tags))
        )
        if params:
            self.log_params(run.info.run_id, params)
        return str(run.info.run_id)

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, _param_text(v)) for k, v in params.items()]
        for i in range(0, len(items), 100):
            chunk = items[i : i + 100]
            retry_locked(functools.partial(self.client.log_batch, run_id, params=chunk))

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [
            Metric(k, float(v), now, step)
            for k, v in metrics.items()
            if v is not None and math.isfinite(float(v))
        ]
        if items:
            retry_locked(lambda: self.client.log_batch(run_id, metrics=items))

    def log_curves(
        self, run_id: str, rows: Sequence[Mapping[str, float]], background: bool = False
    ) -> None:
        """Per-epoch metrics as one batch, `step` = epoch (rows carry an `epoch` key).

        Validation metrics first: MLflow's Compare page opens on the first metric a run logged.

        With `background`, the write happens on one writer thread, in order and with the same
        retries, so the training thread does not wait on the database between epochs;
        `flush` (and `end_run`) wait for it.
        """
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [
            Metric(k, float(row[k]), now, int(row["epoch"]))
            for row in rows
            for k in sorted(EPOCH_METRICS, key=lambda k: (not k.startswith("val_"), "loss" in k))
            if k in row and math.isfinite(float(row[k]))
        ]
        for i in range(0, len(items), 900):
            write = functools.partial(self.client.log_batch, run_id, metrics=items[i : i + 900])
            if background:
                if self._writer is None:
                    self._writer = ThreadPoolExecutor(1, thread_name_prefix="textsweep-mlflow")
                self._pending.append(self._writer.submit(retry_locked, write))
            else:
                retry_locked(write)

    def flush(self) -> None:
        """Wait for background writes; the first one that failed raises here."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(k, str(v)) for k, v in tags.items()]
        if items:
            retry_locked(lambda: self.client.log_batch(run_id, tags=items))

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        shielded(lambda: self.client.log_text(run_id, text, artifact_file))

    def log_file(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        shielded(lambda: self.client.log_artifact(run_id, str(path), artifact_path))

    def log_figure(self, run_id: str, figure: Any, artifact_file: str) -> None:
        shielded(lambda: self.client.log_figure(run_id, figure, artifact_file))

    def end_run(self, run_id: str, status: str = RunStatus.FINISHED) -> None:
        self.flush()
        retry_locked(lambda: self.client.set_terminated(run_id, status=status))

    def reopen_run(self, run_id: str) -> None:
        """Mark a terminated run RUNNING again (a resumed sweep's parent run)."""
        retry_locked(lambda: self.client.update_run(run_id, status=RunStatus.RUNNING))

    @property
    def reader(self) -> Reader:
        """Queries of this store, returning frozen records."""
        return Reader(self.uri, self.client)

    def get_run(self, run_id: str) -> RunRecord:
        return self.reader.run(run_id)

    def search(
        self,
        filter_string: str,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
    ) -> list[RunRecord]:
        """Runs of this experiment matching `filter_string` (every page)."""
        return self.reader.search([self.experiment_id], filter_string, order_by, max_results)

    def child_runs(self, parent_id: str, role: str) -> list[RunRecord]:
        """Runs directly under `parent_id` with `textsweep.role` = role, oldest first."""
        return self.search(
            f"tags.`{TAG_PARENT}` = '{parent_id}' and tags.`{TAG_ROLE}` = '{role}'",
            order_by=["attributes.start_time ASC"],
        )

    def role_runs(self, role: str) -> list[RunRecord]:
        """Every run of the experiment with `textsweep.role` = role (one query, not one per parent)."""
        return self.search(f"tags.`{TAG_ROLE}` = '{role}'")

    def log_artifacts(self, run_id: str, folder: Path, artifact_path: str) -> None:
        shielded(lambda: self.client.log_artifacts(run_id, str(folder), artifact_path))

    def set_experiment_tag(self, key: str, value: str) -> None:
        retry_locked(lambda: self.client.set_experiment_tag(self.experiment_id, key, value))

    def set_compare_view(self, sweep: Any) -> None:
        """The sweep's saved comparison view on this experiment (`views.set_compare_view`)."""
        retry_locked(lambda: views.set_compare_view(self.client, self.experiment_id, sweep))

    # the Model Registry (the same store)
    def ensure_registered_model(self, name: str, tags: Mapping[str, str], description: str) -> None:
        """Create the registered model `name` unless it exists."""
        from mlflow.exceptions import MlflowException

        try:
            retry_locked(
                lambda: self.client.create_registered_model(
                    name, tags=dict(tags), description=description
                )
            )
        except MlflowException as e:
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise

    def create_model_version(
        self, name: str, source: str, run_id: str, tags: Mapping[str, str], description: str
    ) -> VersionRecord:
        version = retry_locked(
            lambda: self.client.create_model_version(
                name, source, run_id=run_id, tags=dict(tags), description=description
            )
        )
        return VersionRecord.of(version)

    def log_logged_model(
        self, run_id: str, model_dir: Path, name: str, tags: Mapping[str, str]
    ) -> str | None:
        """An MLflow 3 logged model `name` made by run `run_id` (its `source_run_id` and an
        output of the run), holding `model_dir` and the run's params; its id. None with MLflow 2."""
        client = self.client
        if not hasattr(client, "create_logged_model"):
            return None
        from mlflow.entities import LoggedModelOutput, LoggedModelStatus

        run = retry_locked(lambda: client.get_run(run_id))
        model = retry_locked(
            lambda: client.create_logged_model(
                run.info.experiment_id,
                name=name,
                source_run_id=run_id,
                params=dict(run.data.params),
                tags=dict(tags),
            )
        )
        model_id = model.model_id
        retry_locked(lambda: client.log_outputs(run_id, [LoggedModelOutput(model_id, step=0)]))
        retry_locked(lambda: client.log_model_artifacts(model_id, str(model_dir)))
        retry_locked(lambda: client.finalize_logged_model(model_id, LoggedModelStatus.READY))
        return str(model_id)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        retry_locked(lambda: self.client.set_registered_model_alias(name, alias, version))


@contextlib.contextmanager
def _store_lock(db: Path | None) -> Iterator[None]:
    """An exclusive lock beside a SQLite file, for the first connection's schema set-up."""
    if db is None:
        yield
        return
    import fcntl

    with open(db.parent / f".{db.name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _param_text(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."

"""MLflow tracking: the contract names, and the parent, trial and execution runs of a sweep.

Layout in one experiment per sweep (names are a contract, see PRODUCT.md):
- parent run: tags `textsweep.sweep` = sweep name, `textsweep.role` = "sweep"; artifacts: the sweep
  and search-space files, `results.csv`, the report.
- trial run (one per Keras Tuner trial): `mlflow.parentRunId`, `textsweep.role` = "trial",
  `textsweep.trial_id`; params: active hyperparameters plus fixed settings; per-epoch metrics with
  step=epoch; final metrics; artifacts `history.csv`, `curves.png`, `model_summary.txt`.
- execution run (only when `executions_per_trial` > 1): nested under its trial run, `textsweep.role`
  = "execution", `textsweep.execution` = index, `textsweep.seed`; its own curves and final metrics.
  The trial run then carries the mean over executions and `<metric>_std`.
- bookkeeping for resume (see `state`): the parent's `textsweep.state` (running, interrupted,
  crashed, failed, finished, abandoned), `textsweep.config_hash` and `textsweep.resumed`; a trial
  run's `textsweep.attempt` (2 for a trial redone after an interruption) and, when it failed or
  was killed, `textsweep.error` plus a `traceback.txt` artifact.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from textsweep.config import Sweep

T = TypeVar("T")

TAG_SWEEP = "textsweep.sweep"
TAG_ROLE = "textsweep.role"
TAG_TRIAL_ID = "textsweep.trial_id"
TAG_EXECUTION = "textsweep.execution"
TAG_SEED = "textsweep.seed"
TAG_ERROR = "textsweep.error"
TAG_STATE = "textsweep.state"
TAG_CONFIG_HASH = "textsweep.config_hash"
TAG_RESUMED = "textsweep.resumed"
TAG_ATTEMPT = "textsweep.attempt"
TAG_PARENT = "mlflow.parentRunId"
TAG_RUN_NAME = "mlflow.runName"

ROLE_SWEEP = "sweep"
ROLE_TRIAL = "trial"
ROLE_EXECUTION = "execution"

# `textsweep.state` of a parent run: what became of the execution, so `--resume` knows which to pick.
STATE_RUNNING = "running"
STATE_INTERRUPTED = "interrupted"  # SIGINT/SIGTERM: resumable
STATE_CRASHED = "crashed"  # an unexpected error: resumable
STATE_FAILED = "failed"  # too many failed trials in a row: fix the sweep, start fresh
STATE_FINISHED = "finished"
STATE_ABANDONED = "abandoned"  # replaced by a `--fresh` execution

EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")
FINAL_METRICS = (
    "test_loss",
    "test_accuracy",
    "best_val_accuracy",
    "best_val_loss",
    "best_epoch",
    "train_seconds",
    "params_count",
)


def quiet_mlflow_logs() -> None:
    """Keep alembic's schema-migration chatter and MLflow's info lines out of the terminal."""
    for name in ("alembic", "mlflow", "mlflow.store", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)


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
    _writer: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    _pending: list[Future[Any]] = field(default_factory=list, init=False, repr=False)

    @classmethod
    def find(cls, uri: str, experiment: str) -> Tracker | None:
        """Connect only if the store and the experiment already exist; creates nothing."""
        db = sqlite_path(uri)
        if db is not None and not db.is_file():
            return None
        from mlflow import MlflowClient

        quiet_mlflow_logs()
        client = MlflowClient(tracking_uri=uri)
        found = _retry_locked(lambda: client.get_experiment_by_name(experiment))
        if found is None or found.lifecycle_stage == "deleted":
            return None
        return cls(uri, client, found.experiment_id)

    @classmethod
    def open(cls, uri: str, experiment: str) -> Tracker:
        """Connect, creating the SQLite folder and the experiment on first use."""
        from mlflow import MlflowClient

        quiet_mlflow_logs()
        db = sqlite_path(uri)
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
        with _store_lock(db):
            # MLflow creates and migrates the schema on first connection; two processes doing
            # that at once on a new SQLite file fail, so they take turns.
            client = MlflowClient(tracking_uri=uri)
            found = _retry_locked(lambda: client.get_experiment_by_name(experiment))
            if found is not None:
                if found.lifecycle_stage == "deleted":
                    client.restore_experiment(found.experiment_id)
                return cls(uri, client, found.experiment_id)
            try:
                exp_id = client.create_experiment(
                    experiment, artifact_location=default_artifact_location(uri, experiment)
                )
            except Exception:  # another process created it first
                again = _retry_locked(lambda: client.get_experiment_by_name(experiment))
                if again is None:
                    raise
                exp_id = again.experiment_id
        return cls(uri, client, exp_id)

    def start_run(self, name: str, tags: Mapping[str, str], params: Mapping[str, Any] = {}) -> str:
        run = _retry_locked(
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
            _retry_locked(functools.partial(self.client.log_batch, run_id, params=chunk))

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [
            Metric(k, float(v), now, step)
            for k, v in metrics.items()
            if v is not None and math.isfinite(float(v))
        ]
        if items:
            _retry_locked(lambda: self.client.log_batch(run_id, metrics=items))

    def log_curves(
        self, run_id: str, rows: Sequence[Mapping[str, float]], background: bool = False
    ) -> None:
        """Per-epoch metrics as one batch, `step` = epoch (rows carry an `epoch` key).

        With `background`, the write happens on one writer thread, in order and with the same
        retries, so the training thread does not wait on the database between epochs;
        `flush` (and `end_run`) wait for it.
        """
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [
            Metric(k, float(row[k]), now, int(row["epoch"]))
            for row in rows
            for k in EPOCH_METRICS
            if k in row and math.isfinite(float(row[k]))
        ]
        for i in range(0, len(items), 900):
            write = functools.partial(self.client.log_batch, run_id, metrics=items[i : i + 900])
            if background:
                if self._writer is None:
                    self._writer = ThreadPoolExecutor(1, thread_name_prefix="textsweep-mlflow")
                self._pending.append(self._writer.submit(_retry_locked, write))
            else:
                _retry_locked(write)

    def flush(self) -> None:
        """Wait for background writes; the first one that failed raises here."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(k, str(v)) for k, v in tags.items()]
        if items:
            _retry_locked(lambda: self.client.log_batch(run_id, tags=items))

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.client.log_text(run_id, text, artifact_file)

    def log_file(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path)

    def log_figure(self, run_id: str, figure: Any, artifact_file: str) -> None:
        self.client.log_figure(run_id, figure, artifact_file)

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.flush()
        _retry_locked(lambda: self.client.set_terminated(run_id, status=status))

    def reopen_run(self, run_id: str) -> None:
        """Mark a terminated run RUNNING again (a resumed sweep's parent run)."""
        _retry_locked(lambda: self.client.update_run(run_id, status="RUNNING"))

    def child_runs(self, parent_id: str, role: str) -> list[Any]:
        """Runs directly under `parent_id` with `textsweep.role` = role, oldest first."""
        return self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{TAG_PARENT}` = '{parent_id}' and tags.`{TAG_ROLE}` = '{role}'",
            order_by=["attributes.start_time ASC"],
            max_results=50000,
        )


_LOCKED_RETRY_SECONDS = 120.0


def _retry_locked(call: Callable[[], T]) -> T:
    """`call()`, retried while SQLite answers "database is locked".

    MLflow already waits 20 s on a busy SQLite file (`PRAGMA busy_timeout`), but a write that
    upgrades a read transaction fails at once; with several sweeps on one file that happens.
    """
    deadline = time.monotonic() + _LOCKED_RETRY_SECONDS
    delay = 0.05
    while True:
        try:
            return call()
        except Exception as e:
            if "database is locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


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


def history_csv(rows: Sequence[Mapping[str, float]]) -> str:
    keys = ["epoch"] + [k for k in EPOCH_METRICS if any(k in r for r in rows)]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def prewarm_plotting() -> None:
    """Import matplotlib in the background while the first trial trains.

    Its first import takes seconds; done on the training thread at the end of trial one, it
    would show up as that trial's overhead.
    """
    import threading

    def load() -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.backends.backend_agg  # noqa: F401
        import matplotlib.figure  # noqa: F401

    threading.Thread(target=load, name="textsweep-prewarm", daemon=True).start()


def curves_figure(rows: Sequence[Mapping[str, float]], title: str) -> Any:
    """Loss and accuracy per epoch, training against validation, as a matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.5), dpi=100)
    epochs = [r["epoch"] for r in rows]
    for ax, metric in zip(fig.subplots(1, 2), ("loss", "accuracy"), strict=True):
        for key, style in ((metric, "-o"), (f"val_{metric}", "--s")):
            ys = [r.get(key, math.nan) for r in rows]
            ax.plot(epochs, ys, style, label=key, markersize=3)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def log_history_artifacts(
    tracker: Tracker, run_id: str, rows: Sequence[Mapping[str, float]], title: str
) -> None:
    """`history.csv` and `curves.png` for one run's per-epoch rows."""
    tracker.log_text(run_id, history_csv(rows), "history.csv")
    if rows:
        tracker.log_figure(run_id, curves_figure(rows, title), "curves.png")


def results_table(tracker: Tracker, parent_id: str) -> str:
    """`results.csv`: one row per trial of a parent run, hyperparameters then metrics."""
    trials = tracker.child_runs(parent_id, ROLE_TRIAL)
    param_keys: list[str] = []
    metric_keys: list[str] = []
    for run in trials:
        for k in run.data.params:
            if "." not in k and k not in param_keys:
                param_keys.append(k)
        for k in run.data.metrics:
            if k not in metric_keys and k not in EPOCH_METRICS:
                metric_keys.append(k)
    header = ["trial_id", "run_name", "status"] + param_keys + metric_keys
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for run in trials:
        writer.writerow(
            [run.data.tags.get(TAG_TRIAL_ID, ""), run.info.run_name, run.info.status]
            + [run.data.params.get(k, "") for k in param_keys]
            + [_fmt(run.data.metrics.get(k)) for k in metric_keys]
        )
    return buf.getvalue()


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"




def mean_std(values: Iterable[float]) -> tuple[float, float]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return math.nan, math.nan
    mean = sum(vals) / len(vals)
    var = sum((v - mean) ** 2 for v in vals) / (len(vals) - 1) if len(vals) > 1 else 0.0
    return mean, math.sqrt(var)


def log_sweep_files(tracker: Tracker, run_id: str, sweep: Sweep) -> None:
    """The sweep and search-space files as written, and the resolved sweep as it ran."""
    import json

    if sweep.path is not None and sweep.path.is_file():
        tracker.log_file(run_id, sweep.path, "sweep")
    if sweep.space_path is not None and sweep.space_path.is_file():
        tracker.log_file(run_id, sweep.space_path, "search_space")
    tracker.log_text(run_id, json.dumps(resolved_sweep(sweep), indent=2), RESOLVED_ARTIFACT)


RESOLVED_ARTIFACT = "sweep/resolved.json"


def resolved_sweep(sweep: Sweep) -> dict[str, Any]:
    """The sweep as it runs (overrides, `fixed:` and the search space applied), as plain data."""
    return {
        "sweep": sweep.config.model_dump(mode="json", exclude={"search_space"}),
        "search_space": sweep.space.model_dump(mode="json", exclude_none=True),
    }

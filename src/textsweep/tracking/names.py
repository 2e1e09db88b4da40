"""The MLflow contract, in one place: tag names, run roles, states and metric names.

Checks, the report and users' own queries read these names (PRODUCT.md, "Tracking in MLflow");
changing one is a breaking change.

- parent run (one per execution of a sweep): `textsweep.sweep` = sweep name, `textsweep.role` =
  "sweep"; artifacts: the sweep and search-space files, `results.csv`, the report.
- trial run (one per Keras Tuner trial): `mlflow.parentRunId`, `textsweep.role` = "trial",
  `textsweep.trial_id`; params: the hyperparameters its model uses plus fixed settings;
  per-epoch metrics with step=epoch; final metrics; `history.csv`, `curves.png`,
  `model_summary.txt`.
- execution run (only when `executions_per_trial` > 1): nested under its trial run, role
  "execution", `textsweep.execution` = index, `textsweep.seed`; its own curves and final metrics.
  The trial run then carries the mean over executions and `<metric>_std`.
- bookkeeping for resume (see `sweep.state`): the parent's `textsweep.state`
  (`ExecutionState`), `textsweep.config_hash` and `textsweep.resumed`; a trial run's
  `textsweep.attempt` (2 for a trial redone after an interruption) and, when it failed or was
  killed, `textsweep.error` plus a `traceback.txt` artifact.
"""

from __future__ import annotations

from enum import StrEnum

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
TAG_QUESTION = "textsweep.question"
TAG_OBJECTIVE = "textsweep.objective"
TAG_REPLACED_BY = "textsweep.replaced_by"
TAG_ORACLE = "textsweep.oracle"  # host:port of a chief's Keras Tuner oracle
TAG_WORKER = "textsweep.worker"  # the worker that ran a trial
TAG_WORKERS = "textsweep.workers"  # how many local workers a launcher started
TAG_REPEATS = "textsweep.repeats"  # how adaptive repeats ended: decided | budget
TAG_RUN_ARGS = "textsweep.run_args"  # `textsweep run` arguments of the execution (masked)
TAG_MODEL = "textsweep.model"  # on a trial run: the artifact path of its logged model
TAG_BEST_TRIAL = "textsweep.best_trial"  # on a parent run: `t<id>` of the chosen configuration
TAG_MORE = "textsweep.more"  # on a parent run: executions added per trial by `run --more`
TAG_COPIED_FROM = "textsweep.copied_from"  # an execution run copied from its trial run
TAG_PRUNED = "textsweep.pruned"  # on a raced trial run: the epoch (from 1) its curve stopped it
# on a registered model version (the Model Registry)
TAG_OBJECTIVE_NAME = "textsweep.objective"
TAG_OBJECTIVE_VALUE = "textsweep.objective_value"  # the configuration's mean objective
TAG_OBJECTIVE_N = "textsweep.objective_n"  # over this many executions
TAG_DECIDED = "textsweep.decided"  # whether the report's rule decided the configuration
TAG_TEST_ACCURACY = "textsweep.test_accuracy"  # the configuration's mean test accuracy
TAG_EXECUTION_TEST_ACCURACY = "textsweep.execution_test_accuracy"  # the model's own
TAG_PARENT_RUN = "textsweep.parent_run_id"
TAG_EVALUATION = "textsweep.evaluation"  # what makes two champions comparable (JSON)
TAG_VALUES = "textsweep.values"  # the configuration's hyperparameters (JSON)
TAG_PARENT = "mlflow.parentRunId"
TAG_RUN_NAME = "mlflow.runName"
TAG_NOTE = "mlflow.note.content"

RESOLVED_ARTIFACT = "sweep/resolved.json"


class Role(StrEnum):
    """`textsweep.role`: what a run stands for."""

    SWEEP = "sweep"
    TRIAL = "trial"
    EXECUTION = "execution"


class RunStatus(StrEnum):
    """MLflow's run statuses, as textsweep sets them."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


class ExecutionState(StrEnum):
    """`textsweep.state` of a parent run: what became of the execution, for `--resume`."""

    RUNNING = "running"
    INTERRUPTED = "interrupted"  # SIGINT/SIGTERM: resumable
    CRASHED = "crashed"  # an unexpected error: resumable
    FAILED = "failed"  # too many failed trials in a row: fix the sweep, start fresh
    FINISHED = "finished"
    ABANDONED = "abandoned"  # replaced by a `--fresh` execution


class Direction(StrEnum):
    """Whether a larger objective is better."""

    MAX = "max"
    MIN = "min"

    def better(self, a: float, b: float) -> bool:
        """Whether `a` is strictly better than `b`."""
        return a > b if self is Direction.MAX else a < b


def direction_of(objective: str) -> Direction:
    """`val_accuracy` is maximised, `val_loss` minimised (the objectives a sweep may name)."""
    return Direction.MIN if objective.endswith("loss") else Direction.MAX


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


def objective_metric(objective: str) -> str:
    """The final metric of a trial run that holds its objective: `val_accuracy` -> `best_val_accuracy`."""
    return f"best_{objective}"

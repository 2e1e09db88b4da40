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
"""

from __future__ import annotations

TAG_SWEEP = "textsweep.sweep"
TAG_ROLE = "textsweep.role"
TAG_TRIAL_ID = "textsweep.trial_id"
TAG_EXECUTION = "textsweep.execution"
TAG_SEED = "textsweep.seed"
TAG_ERROR = "textsweep.error"
TAG_PARENT = "mlflow.parentRunId"
TAG_RUN_NAME = "mlflow.runName"

ROLE_SWEEP = "sweep"
ROLE_TRIAL = "trial"
ROLE_EXECUTION = "execution"

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

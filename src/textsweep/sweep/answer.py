"""An execution's parent run, ready to read in MLflow's UI.

    annotate_parent(tracker, sweep, result)    # when the execution has finished

The parent run gets the best trial's objective and test accuracy as metrics, and the short answer to the
sweep's question as its description (`mlflow.note.content`), which `textsweep report` later
replaces with the full report's.
"""

from __future__ import annotations

import sys

from textsweep.config import Sweep
from textsweep.sweep.parent import SweepResult
from textsweep.tracking import TAG_NOTE, Tracker
from textsweep.tracking.names import objective_metric


def annotate_parent(tracker: Tracker, sweep: Sweep, result: SweepResult) -> None:
    """Best trial's metrics and the answer on the parent run; a failure here only warns."""
    metrics = {
        objective_metric(sweep.config.objective): result.best_objective,
        "test_accuracy": result.best_test_accuracy,
    }
    tracker.log_metrics(result.parent_run_id, {k: v for k, v in metrics.items() if v is not None})
    if result.best_trial_id is not None:
        tracker.set_tags(result.parent_run_id, {"textsweep.best_trial": f"t{result.best_trial_id}"})
    try:
        note = answer_note(tracker.uri, sweep, result.parent_run_id)
    except Exception as e:  # the sweep itself went well; the report can still be made later
        print(f"warning: could not write the answer to the parent run: {e}", file=sys.stderr)
        return
    tracker.set_tags(result.parent_run_id, {TAG_NOTE: note})


def answer_note(uri: str, sweep: Sweep, parent_run_id: str) -> str:
    """The question, then one line per hyperparameter that varied, as `textsweep report` says it."""
    from textsweep.reporting import load_records
    from textsweep.reporting.render import answer_lines
    from textsweep.reporting.stats import hyperparameter_stats

    records = load_records(uri, sweep.name, sweep.experiment, parent_run_id=parent_run_id)
    lines = answer_lines(records, hyperparameter_stats(records))
    head = f"**{records.question}**\n\n" if records.question else ""
    body = "\n".join(f"- {line}" for line in lines)
    return f"{head}{body}\n\n(± is the 95% CI half-width; `textsweep report` writes the full report)"

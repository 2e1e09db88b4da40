"""An execution's parent run, ready to read in MLflow's UI.

    annotate_parent(tracker, sweep, result)    # when the execution has finished

The parent run gets the best trial's objective and test accuracy as metrics, and the report's
answer (its lead line, "Answer: ..." or "Undecided: ...", and bullets) as its description
(`mlflow.note.content`), which `textsweep report` later replaces with the full report's; the
same lines end `textsweep run`.
"""

from __future__ import annotations

import sys

from textsweep.config import Sweep
from textsweep.sweep.parent import SweepResult
from textsweep.tracking import TAG_BEST_TRIAL, TAG_NOTE, Tracker
from textsweep.tracking.names import objective_metric


def annotate_parent(tracker: Tracker, sweep: Sweep, result: SweepResult) -> str:
    """Best trial's metrics and the answer on the parent run; a failure here only warns.

    Returns the answer's lead line and bullets for the terminal ("" when it could not be made).
    """
    metrics = {
        objective_metric(sweep.config.objective): result.best_objective,
        "test_accuracy": result.best_test_accuracy,
    }
    tracker.log_metrics(result.parent_run_id, {k: v for k, v in metrics.items() if v is not None})
    if result.best_trial_id is not None:
        tracker.set_tags(result.parent_run_id, {TAG_BEST_TRIAL: f"t{result.best_trial_id}"})
    try:
        note, said = answer_note(tracker.uri, sweep, result.parent_run_id)
    except Exception as e:  # the sweep itself went well; the report can still be made later
        print(f"warning: could not write the answer to the parent run: {e}", file=sys.stderr)
        return ""
    tracker.set_tags(result.parent_run_id, {TAG_NOTE: note})
    return said


def answer_note(uri: str, sweep: Sweep, parent_run_id: str) -> tuple[str, str]:
    """(the parent run's description, the terminal's lines): the report's lead line, its
    bullets and, when several hyperparameters varied, one line per hyperparameter, as
    `textsweep report` says them (no files written)."""
    from textsweep.reporting import build_report, load_records
    from textsweep.reporting.render import answer_note as note_of

    records = load_records(uri, sweep.name, sweep.experiment, parent_run_id=parent_run_id)
    from textsweep.sweep.racing import race_budget

    report = build_report(records, race_budget=race_budget(sweep.config.tuner))
    assert report.verdict is not None
    note = note_of(records, list(report.rows), report.verdict, report.summary)
    note += "\n\n`textsweep report` writes the full report"
    said = "\n".join(
        [report.verdict.lead, *(f"  - {b}" for b in report.verdict.bullets)]
        + [f"  {line}" for line in report.answer[len(report.verdict.lines()) :]]
    )
    return note, said

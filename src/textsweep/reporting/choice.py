"""The one definition of a sweep's best configuration, used by the terminal, the parent run, the
champion and the report alike.

    choice = choose(records)
    choice.hyperparameters, choice.objective, choice.n, choice.decided, choice.run_id

The choice is the report's recommendation when the report's rule decides one (for a size-like
question, the cheapest value shown within the margin of the best); otherwise the configuration
with the best mean objective over its executions (pooled: a configuration tried in several trials,
by adaptive repeats or `run --more`, is one sample). Never the luckiest single execution: with
A = [0.90, 0.80] and B = [0.86, 0.86], B is chosen. A configuration is represented by its best
execution, whose trial run holds the configuration's model (`tracking.log_models: best`).
"""

from __future__ import annotations

from dataclasses import dataclass

from textsweep.reporting.records import SweepRecords, Value


@dataclass(frozen=True)
class Choice:
    """The chosen configuration and what it rests on."""

    trial_id: str  # the trial of its best execution (`t<id>` in the terminal)
    run_id: str  # that trial's MLflow run
    hyperparameters: dict[str, Value]
    objective: float  # the mean objective over its executions
    n: int  # its executions
    test_accuracy: float | None  # mean test accuracy over its executions
    decided: bool  # the report's rule decided it; else it is only the best mean so far
    status: str  # the report's status: decided, undecided or no answer


def choose(records: SweepRecords) -> Choice | None:
    """The best configuration of `records` (see the module docstring); None when none finished."""
    from textsweep.reporting.answer import DECIDED, answer
    from textsweep.reporting.stats import hyperparameter_stats
    from textsweep.reporting.summary import by_importance, summarize

    summary = summarize(records)
    if not summary.ranked_trials:
        return None
    rows = by_importance(hyperparameter_stats(records), summary)
    verdict = answer(records, rows, summary)
    pick = summary.ranked_trials[0]
    decided = verdict.status == DECIDED and bool(verdict.recommended)
    if decided:
        matches = [
            t
            for t in summary.ranked_trials
            if all(t.hyperparameters.get(k) == v for k, v in verdict.recommended.items())
        ]
        pick = matches[0] if matches else pick
        decided = bool(matches)
    return Choice(
        trial_id=pick.trial_id,
        run_id=pick.run_id,
        hyperparameters=dict(pick.hyperparameters),
        objective=pick.objective_mean,
        n=pick.n,
        test_accuracy=pick.test_accuracy_mean,
        decided=decided,
        status=verdict.status,
    )

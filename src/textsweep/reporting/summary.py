"""A sweep in summary: counts, configurations ranked and compared, importance, the
expected-max curve and likely leaks, computed from records as plain data.

    summary = summarize(records)
    summary.ranked_trials[0].hyperparameters, summary.importance, summary.expected_max
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from textsweep.reporting.expected_max import ExpectedMax, expected_max_curve
from textsweep.reporting.importance import Importance, model_importance
from textsweep.reporting.inference import Interval, Verdict, decide, interval, within_margin
from textsweep.reporting.records import Execution, SweepRecords, Value
from textsweep.reporting.stats import (
    LEAK_THRESHOLDS,
    HyperparameterStats,
    design_of,
    mean_of,
    present,
    varied,
)


@dataclass(frozen=True)
class TrialStats:
    """One configuration (its trials pooled): hyperparameters and the mean of its executions."""

    trial_id: str
    hyperparameters: dict[str, Value]
    n: int
    objective_mean: float
    test_accuracy_mean: float | None
    run_id: str = ""  # the trial's MLflow run
    objective: Interval | None = None
    verdict: Verdict | None = None  # against the best trial


@dataclass(frozen=True)
class Leak:
    """A trial whose test accuracy is implausibly high for its model family."""

    trial_id: str
    test_accuracy: float
    threshold: float
    model: str


@dataclass(frozen=True)
class Summary:
    trials: int
    failed_trials: int
    executions: int
    usable_executions: int
    ranked_trials: tuple[TrialStats, ...]  # usable configurations (trials pooled), best first
    varied: tuple[str, ...] = ()
    design: str = "none"
    importance: Importance | None = None
    expected_max: tuple[ExpectedMax, ...] = ()
    leaks: tuple[Leak, ...] = ()
    # with tuner.repeats.margin: the best configuration is shown within it of every tied one
    within_margin: bool = False


def summarize(records: SweepRecords) -> Summary:
    """Counts, the trials ranked (best first) and compared, importance, the expected-max curve."""
    by_trial: dict[str, list[Execution]] = {}
    for e in records.executions:
        by_trial.setdefault(e.trial_run_id or e.trial_id, []).append(e)
    # One configuration tried in several trials (racing's repeats, pooled executions) is one
    # sample of executions.
    by_config: dict[tuple[tuple[str, str], ...], list[Execution]] = {}
    for e in records.executions:
        by_config.setdefault(_config(e), []).append(e)
    usable = {k: [e for e in runs if e.usable] for k, runs in by_config.items()}
    usable = {k: runs for k, runs in usable.items() if runs}
    samples = {k: [float(e.objective) for e in runs] for k, runs in usable.items()}  # type: ignore[arg-type]
    decision = decide(samples, records.direction) if samples else None
    ranked = []
    sign = -1.0 if records.direction == "max" else 1.0
    for key, ok in usable.items():
        # a configuration run in several trials is named (and linked) by its best execution, the
        # one the terminal calls best and `tracking.log_models: best` registers
        top = min(ok, key=lambda e: sign * float(e.objective))  # type: ignore[arg-type]
        ranked.append(
            TrialStats(
                trial_id=top.trial_id,
                hyperparameters=dict(ok[0].hyperparameters),
                n=len(ok),
                objective_mean=float(np.mean(samples[key])),
                test_accuracy_mean=mean_of(present([e.test_accuracy for e in ok])),
                run_id=top.trial_run_id,
                objective=interval(samples[key]),
                verdict=None if decision is None else decision.verdicts[key],
            )
        )
    ranked.sort(key=lambda t: (sign * t.objective_mean, t.verdict != Verdict.BEST))
    settled = False
    if decision is not None and records.margin is not None:
        tied = [k for k, v in decision.verdicts.items() if v in (Verdict.BEST, Verdict.TIED)]
        left = {k: samples[k] for k in tied}
        settled = within_margin(left, decision.best, records.margin, records.direction)
    names = varied(records.usable(), records.declared)
    design = design_of(records, names)
    importance = None
    if design == "joint":
        pairs = [(t.hyperparameters, t.objective_mean) for t in ranked]
        importance = model_importance(pairs, names, records.direction)
    return Summary(
        # a trial still RUNNING (the execution is live) neither counts nor failed
        trials=sum(1 for runs in by_trial.values() if not _running(runs)),
        failed_trials=sum(
            1
            for runs in by_trial.values()
            if not any(e.usable for e in runs) and not _running(runs)
        ),
        executions=len(records.executions),
        usable_executions=len(records.usable()),
        ranked_trials=tuple(ranked),
        varied=tuple(names),
        design=design,
        importance=importance,
        expected_max=tuple(
            expected_max_curve([t.objective_mean for t in ranked], records.direction)
        ),
        leaks=tuple(leaks(records, ranked)),
        within_margin=settled,
    )


def _config(e: Execution) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, repr(v)) for k, v in e.hyperparameters.items()))


def leaks(records: SweepRecords, ranked: Sequence[TrialStats]) -> list[Leak]:
    """Trials without pretrained vectors whose test accuracy passes the dataset's plausible best."""
    threshold = LEAK_THRESHOLDS.get(records.dataset_format)
    if threshold is None:
        return []
    return [
        Leak(t.trial_id, t.test_accuracy_mean, threshold, str(t.hyperparameters.get("model", "")))
        for t in ranked
        if t.test_accuracy_mean is not None
        and t.test_accuracy_mean > threshold
        and t.hyperparameters.get("embedding_init") != "pretrained"
    ]


def by_importance(
    rows: Sequence[HyperparameterStats], summary: Summary
) -> list[HyperparameterStats]:
    """Rows in the order of the model-based importance, when there is one; else as they are."""
    ranked = summary.importance.values if summary.importance is not None else None
    if not ranked:
        return list(rows)
    order = {name: i for i, name in enumerate(ranked)}
    return sorted(rows, key=lambda r: order.get(r.name, len(order)))


def _running(runs: list[Execution]) -> bool:
    return all(e.status == "RUNNING" for e in runs)

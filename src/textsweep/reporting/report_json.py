"""report.json: the computed rows as plain JSON (a contract; no NaN anywhere).

data = to_json(records, rows, summary, answer)
data["answer"]["sentence"], data["hyperparameters"]["lstm_units"]["values"][0]["mean"]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from textsweep.reporting.answer import Answer
from textsweep.reporting.records import SweepRecords, Value
from textsweep.reporting.stats import METHODS, HyperparameterStats
from textsweep.reporting.summary import Summary


def to_json(
    records: SweepRecords,
    rows: Sequence[HyperparameterStats],
    summary: Summary,
    answer: Answer,
) -> dict[str, Any]:
    """The report.json contract (plus question, counts, best trial and methods); no NaN anywhere."""
    best = summary.ranked_trials[0] if summary.ranked_trials else None
    imp = summary.importance
    return {
        "sweep": records.sweep,
        "objective": records.objective,
        "direction": records.direction,
        "question": records.question,
        "warnings": list(records.warnings),
        "notes": list(records.notes),
        "answer": {
            "sentence": answer.sentence,  # the lead line
            "bullets": list(answer.bullets),
            "rule": answer.rule,
            "status": answer.status,  # decided | undecided | no answer
            "why": answer.why or None,  # undecided: "tied" or "not enough executions"
            # the answer's value(s) only when decided: never a value for an undecided answer
            "recommended": {k: json_value(v) for k, v in answer.recommended.items()}
            if answer.status == "decided"
            else None,
            "best_run_url": answer.best_run_url,
            "settle_command": answer.settle_command,
            "racing": records.racing or None,
        },
        "parent_run_id": records.parent_run_id,
        "parent_run_ids": list(records.parent_run_ids or (records.parent_run_id,)),
        "design": summary.design,
        "varied": list(summary.varied),
        "counts": {
            "trials": summary.trials,
            "failed_trials": summary.failed_trials,
            "executions": summary.executions,
            "usable_executions": summary.usable_executions,
        },
        "best_trial": None
        if best is None
        else {
            "trial_id": best.trial_id,
            "run_id": best.run_id,
            "n": best.n,
            "mean": json_num(best.objective_mean),
            "test_accuracy_mean": json_num(best.test_accuracy_mean),
            "hyperparameters": {k: json_value(v) for k, v in best.hyperparameters.items()},
        },
        "importance": None
        if imp is None
        else {
            "method": imp.method,
            "values": None
            if imp.values is None
            else {k: json_num(v) for k, v in imp.values.items()},
            "reason": imp.reason or None,
        },
        "expected_max": [
            {"trials": p.k, "mean": json_num(p.mean), "sd": json_num(p.sd)}
            for p in summary.expected_max
        ],
        "leaks": [
            {
                "trial_id": leak.trial_id,
                "test_accuracy": json_num(leak.test_accuracy),
                "threshold": leak.threshold,
                "model": leak.model,
            }
            for leak in summary.leaks
        ],
        "methods": METHODS,
        "hyperparameters": {row.name: _row_json(row) for row in rows},
    }


def _row_json(row: HyperparameterStats) -> dict[str, Any]:
    return {
        "importance": json_num(row.importance),
        "recommended": None if row.recommended is None else json_value(row.recommended),
        "best": json_value(row.best),
        "tested": row.tested,
        "enough_executions": row.enough,
        "decided": row.decided,
        "margin": row.margin,
        "within_margin": row.within_margin,
        "size_like": row.size_like,
        "cheapest_by": row.cheapest_by or None,
        "binned": row.binned,
        "confounded_with": list(row.confounded_with),
        "values": [
            {
                "value": json_value(v.value),
                "n": v.n,
                "mean": json_num(v.objective.mean),
                "ci_low": json_num(v.objective.low),
                "ci_high": json_num(v.objective.high),
                "test_accuracy_mean": json_num(v.test_accuracy.mean),
                "test_accuracy_ci_low": json_num(v.test_accuracy.low),
                "test_accuracy_ci_high": json_num(v.test_accuracy.high),
                "train_seconds_mean": json_num(v.train_seconds_mean),
                "params_count_mean": json_num(v.params_count_mean),
                "p_value_holm": json_num(v.p_value),
                "verdict": None if v.verdict is None else str(v.verdict),
                "indistinguishable_from_best": v.indistinguishable_from_best,
                "probability_best": json_num(v.prob_best),
                "models": [m for m in v.models if m],
                **({"range": [v.low, v.high]} if v.low is not None else {}),
            }
            for v in row.values
        ],
    }


def json_value(v: Value) -> Value:
    # A hyperparameter logged as "nan" or "inf" must not make report.json invalid JSON.
    return str(v) if isinstance(v, float) and not math.isfinite(v) else v


def json_num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)

"""The answer first: one sentence answering the sweep's `question:`, with its numbers and rule.

a = answer(records, rows, summary)
a.sentence   # 'How many LSTM units ...? lstm_units = 32: val_accuracy 0.867 ± 0.004 (n=3), ...'
a.status     # "decided", "tied", "not enough executions" or "no answer"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from textsweep.credentials import browser_base
from textsweep.report.inference import Interval, Verdict
from textsweep.report.plots import label
from textsweep.report.records import SweepRecords, Value
from textsweep.report.stats import HyperparameterStats, ValueStats
from textsweep.report.summary import Summary, TrialStats

LOCAL_UI = "http://127.0.0.1:5000"  # `textsweep ui` / `mlflow ui` over a local store
TEST = "Welch's t-test against the best, Holm-adjusted, alpha 0.05"
RACING = {
    "decided": (
        " Adaptive repeats ended decided: every other value was dropped as clearly worse, or one "
        "was shown within tuner.repeats.margin of every value left."
    ),
    "budget": (
        " Adaptive repeats ended with the budget spent: the values left were still tied at "
        "tuner.repeats.max executions."
    ),
}
DECIDED, TIED, THIN, NONE = "decided", "tied", "not enough executions", "no answer"


@dataclass(frozen=True)
class Answer:
    """The report's opening sentence and what it rests on."""

    sentence: str
    rule: str
    status: str  # DECIDED, TIED, THIN or NONE
    recommended: dict[str, Value] = field(default_factory=dict)
    best_run_url: str | None = None
    settle_command: str | None = None  # what would settle it, when it is not settled


def ui_base(tracking_uri: str) -> str:
    """The MLflow UI a run link points at: the server itself, or `textsweep ui` for a local store."""
    if tracking_uri.startswith(("http://", "https://")):
        return browser_base(tracking_uri)
    return LOCAL_UI


def run_url(records: SweepRecords, run_id: str) -> str:
    return f"{ui_base(records.tracking_uri)}/#/experiments/{records.experiment_id}/runs/{run_id}"


def settle_command(records: SweepRecords) -> str:
    """The command that adds enough seeded executions to every finished trial to compare them."""
    k = max(2, records.executions_per_trial)
    ref = records.sweep_ref or f"sweeps/{records.sweep}.yaml"
    from textsweep.runtime import textsweep_command  # runnable as printed, venv activated or not

    return f"{textsweep_command()} run {ref} --more {k}"


def score(i: Interval, objective: str) -> str:
    """`val_accuracy 0.867 ± 0.004 (n=3)`, or `val_accuracy 0.867 (n=1, no interval)`."""
    spread = f" ± {i.half_width:.3f}" if i.half_width is not None else ""
    note = "" if i.half_width is not None else ", no interval"
    return f"{objective} {i.mean or 0.0:.3f}{spread} (n={i.n}{note})"


def names(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def answer(records: SweepRecords, rows: Sequence[HyperparameterStats], summary: Summary) -> Answer:
    """The one-sentence answer (see module docstring); the rule applied is part of the sentence."""
    head = f"{records.question.strip()} " if records.question.strip() else ""
    if not summary.ranked_trials:
        return Answer(f"{head}No trial finished, so there is no answer yet.", "", NONE)
    best = summary.ranked_trials[0]
    url = run_url(records, best.run_id) if best.run_id else None
    link = f" Best trial {best.trial_id}: {url}." if url else f" Best trial {best.trial_id}."
    if summary.design == "one-way":
        body, rule, status, rec = _one_way(rows[0], records.objective)
    elif summary.design == "joint":
        body, rule, status, rec = _joint(best, summary, records.objective, records.margin)
    else:
        body = (
            f"only one setting was tried ({_settings(best.hyperparameters)}): "
            f"{score(best.objective or Interval(best.n, best.objective_mean, None, None, None), records.objective)}; "
            "nothing to compare"
        )
        rule, status, rec = "", NONE, dict(best.hyperparameters)
    settle = settle_command(records) if status in (THIN, TIED) else None
    if status == THIN:
        body += f"; settle it with `{settle}`"
    elif status == TIED:
        body += f"; more executions may separate them: `{settle}`"
    racing = RACING.get(records.racing, f" Adaptive repeats: {records.racing}.")
    racing = racing if records.racing else ""
    sentence = f"{head}{body}.{link} Rule: {rule}.{racing}" if rule else f"{head}{body}.{link}"
    return Answer(sentence, rule, status, rec, url, settle)


def _one_way(row: HyperparameterStats, objective: str) -> tuple[str, str, str, dict[str, Value]]:
    best = next(v for v in row.values if v.is_best)
    unknown = [v for v in row.values if v.verdict == Verdict.UNKNOWN]
    rule = (
        "the cheapest value tied with the best mean "
        f"({'fewest parameters within one model family' if row.cheapest_by != 'training time' else 'shortest training time'}); {TEST}"
        if row.size_like
        else f"the best mean, with the values tied with it; {TEST}"
    )
    if row.margin is not None:
        rule += (
            f"; decided by the first value{' (cheapest first)' if row.size_like else ''} whose 95% "
            f"interval is within ± {row.margin:g} and that one-sided Welch non-inferiority tests "
            f"show within {row.margin:g} of every value tied with the best (alpha 0.05, "
            "Bonferroni over the candidates)"
        )
    if unknown:
        body = (
            f"not enough executions to tell: {row.name} = {_label(best)} had the best mean, "
            f"{score(best.objective, objective)}, but {names([_label(v) for v in unknown])} "
            f"cannot be told from it without two executions with some variance each"
        )
        return body, rule + " (needs >= 2 executions per value)", THIN, {row.name: best.value}
    chosen = next(v for v in row.values if v.value == row.recommended)
    tied = [v for v in row.values if v.verdict == Verdict.TIED and v is not chosen]
    worse = [v for v in row.values if v.verdict == Verdict.WORSE]
    body = f"{row.name} = {_label(chosen)}: {score(chosen.objective, objective)}"
    if row.within_margin:
        what = "the cheapest value" if row.size_like else "the best mean"
        body += f", {what} shown within {row.margin:g} of every value tied with the best (at 95%)"
        if chosen is not best:
            body += f"; best mean {_label(best)} ({score(best.objective, objective)})"
            tied = [v for v in tied if v is not best]
        cheaper = [
            v for v in tied if row.size_like and row.values.index(v) < row.values.index(chosen)
        ]
        if cheaper:
            body += (
                f"; {names([_label(v) for v in cheaper])} tied but not shown within {row.margin:g}"
            )
        tied = [v for v in tied if v not in cheaper]
    elif chosen is not best:
        family = (
            f" within {chosen.models[0]}" if len(chosen.models) == 1 and chosen.models[0] else ""
        )
        by = (
            f"fewest parameters{family}" if row.cheapest_by == "parameters" else "shortest training"
        )
        body += (
            f", the cheapest ({by}) of the values tied with the best "
            f"{_label(best)} ({score(best.objective, objective)})"
        )
        tied = [v for v in tied if v is not best]
    if tied:
        body += f"; tied with it: {names([_label(v) for v in tied])}"
    if worse:
        body += f"; clearly worse: {names([_label(v) for v in worse])}"
    return body, rule, DECIDED if row.decided else TIED, {row.name: chosen.value}


def _joint(
    best: TrialStats, summary: Summary, objective: str, margin: float | None = None
) -> tuple[str, str, str, dict[str, Value]]:
    others = summary.ranked_trials[1:]
    interval = best.objective or Interval(best.n, best.objective_mean, None, None, None)
    body = (
        f"the best configuration was {_settings({n: best.hyperparameters[n] for n in summary.varied if n in best.hyperparameters})}: "
        f"{score(interval, objective)}"
    )
    rule = f"the trial with the best mean, {len(summary.varied)} hyperparameters varied together; {TEST}, over trials"
    if margin is not None:
        rule += (
            f"; decided when its 95% interval is within ± {margin:g} and one-sided Welch "
            f"non-inferiority tests show it within {margin:g} of every trial tied with it "
            "(alpha 0.05)"
        )
    unknown = [t for t in others if t.verdict == Verdict.UNKNOWN]
    tied = [t for t in others if t.verdict == Verdict.TIED]
    if unknown:
        body += (
            f"; not enough executions to tell it from {len(unknown)} other trial(s), each "
            "needs two executions with some variance"
        )
        status = THIN
    elif tied and summary.within_margin and margin is not None:
        body += (
            f"; shown within {margin:g} of every trial tied with it (at 95%): "
            f"{names([t.trial_id for t in tied])}"
        )
        status = DECIDED
    elif tied:
        body += f"; tied with trial(s) {names([t.trial_id for t in tied])}"
        status = TIED
    else:
        body += "; clearly better than every other trial" if others else ""
        status = DECIDED
    imp = summary.importance
    if imp is not None and imp.values:
        ranked = ", ".join(f"{n} {v:.2f}" for n, v in imp.values.items())
        body += f"; importance by fANOVA: {ranked}"
    elif imp is not None:
        body += f"; no importance ranking ({imp.reason})"
    return body, rule, status, dict(best.hyperparameters)


def _settings(hp: dict[str, Value]) -> str:
    return ", ".join(f"{k}={label(v)}" for k, v in hp.items())


def _label(v: ValueStats) -> str:
    return label(v.value, v.low, v.high)

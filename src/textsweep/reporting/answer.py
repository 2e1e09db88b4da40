"""The answer first: one short lead line, then short bullets, from the report's numbers.

a = answer(records, rows, summary)
a.lead       # 'Answer: lstm_units = 64, val_accuracy 0.863 ± 0.005 (n=6), decided'
             # 'Undecided: best lstm_units = 64 (val_accuracy 0.669 ± 0.043, n=6); 16 and 32
             #  cannot be told apart from it'
a.bullets    # ('why decided: ...', 'clearly worse: 256 (...)', 'rule: ...', 'best run: ...')
a.status     # "decided", "undecided" or "no answer"

An answer names a value only when it is decided: every other value clearly worse than the best,
or, with `tuner.repeats.margin`, a value settled by the margin rule (`inference.within_margin`).
A value that is only "not shown worse" is not shown as good: the answer is then undecided, with
the best mean and its interval, the values that cannot be told apart from it, and the
`textsweep run ... --more K` command that adds the executions to settle it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from textsweep.credentials import browser_base
from textsweep.reporting.inference import Interval, Verdict
from textsweep.reporting.plots import label
from textsweep.reporting.records import SweepRecords, Value
from textsweep.reporting.stats import HyperparameterStats, ValueStats
from textsweep.reporting.summary import Summary, TrialStats

LOCAL_UI = "http://127.0.0.1:5000"  # `textsweep ui` / `mlflow ui` over a local store
TEST = "Welch's t-test against the best, Holm-adjusted, alpha 0.05"
RACING = {
    "decided": "adaptive repeats: ended decided",
    "budget": (
        "adaptive repeats: ended on its budget (tuner.repeats.max executions for every value "
        "left) before a value was decided"
    ),
}
DECIDED, UNDECIDED, NONE = "decided", "undecided", "no answer"
# why an answer is undecided
TIED, THIN = "tied", "not enough executions"


@dataclass(frozen=True)
class Answer:
    """The report's answer: the lead line, the bullets under it, and what they rest on."""

    lead: str
    bullets: tuple[str, ...]
    rule: str
    status: str  # DECIDED, UNDECIDED or NONE
    recommended: dict[str, Value] = field(default_factory=dict)  # empty unless DECIDED
    best_run_url: str | None = None
    settle_command: str | None = None  # what would settle it, when it is not settled
    why: str = ""  # UNDECIDED: TIED (not shown as good) or THIN (not enough executions)

    @property
    def sentence(self) -> str:
        """The lead line (report.json's `answer.sentence`)."""
        return self.lead

    def lines(self, bullet: str = "- ") -> list[str]:
        """The lead line, then each bullet prefixed with `bullet`."""
        return [self.lead, *(f"{bullet}{b}" for b in self.bullets)]


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


def short(i: Interval) -> str:
    """`0.867 ± 0.004, n=3`, or `0.867, n=1, no interval`: a score inside brackets."""
    spread = f" ± {i.half_width:.3f}" if i.half_width is not None else ""
    note = "" if i.half_width is not None else ", no interval"
    return f"{i.mean or 0.0:.3f}{spread}, n={i.n}{note}"


def names(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def answer(
    records: SweepRecords,
    rows: Sequence[HyperparameterStats],
    summary: Summary,
    race_budget: int | None = None,
) -> Answer:
    """The lead line and bullets (see module docstring); the rule applied is one of the bullets.
    `race_budget`: the `tuner.max_trials` that capped a race, when one did."""
    if not summary.ranked_trials:
        return Answer("No answer: no trial finished.", (), "", NONE)
    best = summary.ranked_trials[0]
    if summary.design == "one-way":
        part = _one_way(rows[0], records.objective)
    elif summary.design == "joint":
        part = _joint(best, summary, records.objective, records.margin)
    else:
        part = _Part(
            f"No answer: only one setting was tried ({_settings(best.hyperparameters)}), "
            f"{score(_interval(best), records.objective)}; nothing to compare",
            [],
            "",
            NONE,
        )
    # the run of the configuration the sweep chose (`choice`): the answer's when decided
    matching = [
        t
        for t in summary.ranked_trials
        if part.recommended
        and all(t.hyperparameters.get(k) == v for k, v in part.recommended.items())
    ]
    chosen = matching[0] if matching else best
    url = run_url(records, chosen.run_id) if chosen.run_id else None
    settle = settle_command(records) if part.status == UNDECIDED else None
    bullets = list(part.bullets)
    if part.rule:
        bullets.append(f"rule: {part.rule}")
    if records.racing:
        bullets.append(_racing(records, race_budget, rows))
    bullets.append(
        f"best run: t{chosen.trial_id} {url}" if url else f"best run: t{chosen.trial_id}"
    )
    if settle is not None:
        bullets.append(f"settle it: `{settle}`")
    if records.question.strip():
        bullets.append(f"question: {records.question.strip()}")
    return Answer(
        part.lead, tuple(bullets), part.rule, part.status, part.recommended, url, settle, part.why
    )


@dataclass
class _Part:
    lead: str
    bullets: list[str]
    rule: str
    status: str
    recommended: dict[str, Value] = field(default_factory=dict)
    why: str = ""


def _one_way(row: HyperparameterStats, objective: str) -> _Part:
    best = next(v for v in row.values if v.is_best)
    contenders = [v for v in row.values if v.verdict in (Verdict.TIED, Verdict.UNKNOWN)]
    unknown = [v for v in row.values if v.verdict == Verdict.UNKNOWN]
    worse = [v for v in row.values if v.verdict == Verdict.WORSE]
    rule = _one_way_rule(row)
    bullets: list[str] = []
    if not row.decided or row.recommended is None:
        lead = (
            f"Undecided: best {row.name} = {_label(best)} ({objective} {short(best.objective)}); "
            f"{names([_label(v) for v in contenders])} cannot be told apart from it"
        )
        if unknown:
            why = THIN
            bullets.append(
                f"why undecided: not enough executions; {names([_label(v) for v in unknown])} "
                "and the best need two executions each with some variance to be compared"
            )
        elif row.margin is None:
            why = TIED
            bullets.append(
                "why undecided: the values left are not shown worse than the best, which does "
                "not show them as good; set tuner.repeats.margin to decide by equivalence"
            )
        else:
            why = TIED
            bullets.append(
                f"why undecided: no value is shown within {row.margin:g} of every value tied "
                f"with the best (its 95% interval within ± {row.margin:g} and one-sided Welch "
                "non-inferiority tests)"
            )
        bullets.append(f"cannot be told apart from the best: {_scores(contenders)}")
        if worse:
            bullets.append(f"clearly worse: {_scores(worse)}")
        return _Part(lead, bullets, rule, UNDECIDED, {}, why)
    chosen = next(v for v in row.values if v.value == row.recommended)
    lead = f"Answer: {row.name} = {_label(chosen)}, {score(chosen.objective, objective)}, decided"
    tied = [v for v in row.values if v.verdict == Verdict.TIED and v is not chosen]
    if row.within_margin:
        what = "the cheapest value" if row.size_like else "the best mean"
        bullets.append(
            f"why decided: {what} shown within {row.margin:g} of every value tied with the best "
            "(95% interval and one-sided Welch non-inferiority tests)"
        )
    else:
        bullets.append("why decided: every other value is clearly worse than it")
    if chosen is not best:
        bullets.append(f"best mean: {_label(best)} ({short(best.objective)})")
        tied = [v for v in tied if v is not best]
    cheaper = [v for v in tied if row.size_like and row.values.index(v) < row.values.index(chosen)]
    if cheaper:
        bullets.append(
            f"tied with the best but not shown within {row.margin:g}: {_scores(cheaper)}"
        )
    tied = [v for v in tied if v not in cheaper]
    if tied:
        bullets.append(f"also tied with the best: {_scores(tied)}")
    if worse:
        bullets.append(f"clearly worse: {_scores(worse)}")
    return _Part(lead, bullets, rule, DECIDED, {row.name: chosen.value})


def _one_way_rule(row: HyperparameterStats) -> str:
    if row.margin is None:
        return f"decided only when every other value is clearly worse than the best; {TEST}"
    first = "the cheapest value first" if row.size_like else "the best mean"
    by = (
        f" ({'fewest parameters within one model family' if row.cheapest_by != 'training time' else 'shortest training time'})"
        if row.size_like
        else ""
    )
    return (
        f"decided when every other value is clearly worse, or by the margin {row.margin:g}: "
        f"{first}{by} whose 95% interval is within ± {row.margin:g} and that one-sided Welch "
        f"non-inferiority tests show within {row.margin:g} of every value tied with the best "
        f"(alpha 0.05, Bonferroni over the candidates); {TEST}"
    )


def _joint(best: TrialStats, summary: Summary, objective: str, margin: float | None) -> _Part:
    others = summary.ranked_trials[1:]
    settings = _settings(
        {n: best.hyperparameters[n] for n in summary.varied if n in best.hyperparameters}
    )
    rule = (
        f"the trial with the best mean, {len(summary.varied)} hyperparameters varied together, "
        f"decided when every other trial is clearly worse; {TEST}, over trials"
    )
    if margin is not None:
        rule += (
            f"; or when its 95% interval is within ± {margin:g} and one-sided Welch "
            f"non-inferiority tests show it within {margin:g} of every trial tied with it "
            "(alpha 0.05)"
        )
    unknown = [t for t in others if t.verdict == Verdict.UNKNOWN]
    tied = [t for t in others if t.verdict == Verdict.TIED]
    worse = [t for t in others if t.verdict == Verdict.WORSE]
    bullets: list[str] = []
    if unknown or (tied and not (summary.within_margin and margin is not None)):
        contenders = [t for t in others if t.verdict in (Verdict.TIED, Verdict.UNKNOWN)]
        ids = [f"t{t.trial_id}" for t in contenders]
        lead = (
            f"Undecided: best {settings} ({objective} {short(_interval(best))}); "
            f"{_count(len(contenders), 'other configuration')} ({names(ids)}) cannot be told "
            "apart from it"
        )
        if unknown:
            why = THIN
            bullets.append(
                "why undecided: not enough executions; each configuration needs two executions "
                "with some variance to be compared"
            )
        else:
            why = TIED
            bullets.append(
                "why undecided: the configurations left are not shown worse than the best, "
                "which does not show them as good"
                + (
                    f"; none is shown within {margin:g} of the best"
                    if margin is not None
                    else "; set tuner.repeats.margin to decide by equivalence"
                )
            )
        status, rec = UNDECIDED, {}
    else:
        lead = f"Answer: {settings}, {score(_interval(best), objective)}, decided"
        why = ""
        if tied:
            bullets.append(
                f"why decided: shown within {margin:g} of every trial tied with it (at 95%): "
                f"{names([f't{t.trial_id}' for t in tied])}"
            )
        else:
            bullets.append(
                "why decided: clearly better than every other trial" if others else "one trial"
            )
        status, rec = DECIDED, dict(best.hyperparameters)
    if worse:
        bullets.append(f"clearly worse: {_count(len(worse), 'configuration')}")
    imp = summary.importance
    if imp is not None and imp.values:
        ranked = ", ".join(f"{n} {v:.2f}" for n, v in imp.values.items())
        bullets.append(f"importance by fANOVA: {ranked}")
    elif imp is not None:
        bullets.append(f"no importance ranking ({imp.reason})")
    return _Part(lead, bullets, rule, status, rec, why)


def _racing(records: SweepRecords, cap: int | None, rows: Sequence[HyperparameterStats]) -> str:
    """How adaptive repeats ended: decided, or on which budget; with focus, what it rested."""
    trials = len({e.trial_run_id or e.trial_id for e in records.executions})
    if records.racing == "budget" and cap is not None and trials >= cap:
        return (
            f"adaptive repeats: ended on its budget, tuner.max_trials {cap} executions, before a "
            "value was decided"
        )
    said = RACING.get(records.racing, f"adaptive repeats: {records.racing}")
    if records.focus:
        said += _focus(rows)
    return said


def _focus(rows: Sequence[HyperparameterStats]) -> str:
    """What `tuner.repeats.focus` did, as the executions show it: the values left (not clearly
    worse; the best always is) with fewer executions than the most-run one, or that none has."""
    if len(rows) != 1:  # several settings varied: no value is cheaper than another
        return "; focus rested no value (it needs one size-like setting varied alone)"
    left = [v for v in rows[0].values if v.verdict != Verdict.WORSE]
    top = max(v.objective.n for v in left)
    fewer = [f"{_label(v)} (n={v.objective.n})" for v in left if v.objective.n < top]
    if not fewer:
        return f"; focus rested no value here (every value left has n={top})"
    return (
        "; with focus, a value shown not to beat any cheaper value left by the margin got "
        f"no more executions while those were open; fewer executions here: {names(fewer)}"
    )


def _interval(t: TrialStats) -> Interval:
    return t.objective or Interval(t.n, t.objective_mean, None, None, None)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _scores(values: Sequence[ValueStats]) -> str:
    return ", ".join(f"{_label(v)} ({short(v.objective)})" for v in values)


def _settings(hp: dict[str, Value]) -> str:
    return ", ".join(f"{k}={label(v)}" for k, v in hp.items())


def _label(v: ValueStats) -> str:
    return label(v.value, v.low, v.high)

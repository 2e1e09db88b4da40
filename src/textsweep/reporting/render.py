"""Turn computed rows into the report's words: the short answer, Markdown and HTML.

Markdown and HTML are rendered from one list of blocks, so they always say the same thing.

    answer_lines(records, rows)[0]
    # 'lstm_units: 64 (val_accuracy 0.871 ± 0.004 (n=3)), decided; tied: 32 and 128; worse: 16'
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

from textsweep.reporting.answer import Answer, score
from textsweep.reporting.plots import label
from textsweep.reporting.records import SweepRecords
from textsweep.reporting.stats import METHODS, HyperparameterStats, ValueStats
from textsweep.reporting.summary import Summary

Block = tuple[Any, ...]


def _names(values: Sequence[ValueStats]) -> str:
    labels = [_label(v) for v in values]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def _label(v: ValueStats) -> str:
    return label(v.value, v.low, v.high)


def answer_line(row: HyperparameterStats, objective: str) -> str:
    """`lstm_units: 32 (val_accuracy 0.867 ± 0.004 (n=3)), decided; best 64 (...); worse: 16`, or
    `lstm_units: undecided, best mean 64 (...); cannot be told apart: 16 and 32; worse: 8`."""
    best = next(v for v in row.values if v.is_best)
    if not row.tested:
        means = "; ".join(f"{_label(v)} {v.objective.mean:.3f} (n={v.n})" for v in row.values)
        return (
            f"{row.name}: marginal means {means} - not compared, other hyperparameters varied "
            "with it (see importance)"
        )
    worse = [v for v in row.values if v.indistinguishable_from_best is False]
    if not row.enough:
        unknown = [v for v in row.values if v.verdict is not None and v.verdict.value == "unknown"]
        text = (
            f"{row.name}: undecided, best mean {_label(best)} ({score(best.objective, objective)}); "
            f"not enough executions to tell it from {_names(unknown)}"
        )
    elif row.recommended is None:  # tied values not shown as good: no value is named
        same = [v for v in row.values if v.indistinguishable_from_best and v is not best]
        text = (
            f"{row.name}: undecided, best mean {_label(best)} ({score(best.objective, objective)}); "
            f"cannot be told apart: {_names(same)}"
        )
    else:
        chosen = next(v for v in row.values if v.value == row.recommended)
        text = f"{row.name}: {_label(chosen)} ({score(chosen.objective, objective)}), decided"
        if chosen is not best:
            text += f"; best mean {_label(best)} ({score(best.objective, objective)})"
        same = [v for v in row.values if v.indistinguishable_from_best and v not in (chosen, best)]
        if same:
            text += f"; tied: {_names(same)}"
        if row.within_margin:
            text += f"; none tied with the best is {row.margin:g} or more better"
    if worse:
        text += f"; worse: {_names(worse)}"
    if row.confounded_with:
        text += f" (confounded with {', '.join(row.confounded_with)}: same trials)"
    return text


def answer_lines(records: SweepRecords, rows: Sequence[HyperparameterStats]) -> list[str]:
    if not rows:
        return ["no hyperparameter varied among the finished trials; nothing to compare"]
    return [answer_line(row, records.objective) for row in rows]


def per_hyperparameter(
    records: SweepRecords, rows: Sequence[HyperparameterStats], summary: Summary
) -> list[str]:
    """One line per hyperparameter, when the answer's bullets do not already say it (several
    hyperparameters varied); none for a one-way question."""
    return [] if summary.design != "joint" else answer_lines(records, rows)


def answer_note(
    records: SweepRecords,
    rows: Sequence[HyperparameterStats],
    answer: Answer,
    summary: Summary | None = None,
) -> str:
    """The parent run's description: warnings, the lead line, its bullets, one line per setting."""
    warn = "".join(f"**{w}**\n\n" for w in records.warnings)
    bullets = "\n".join(f"- {b}" for b in answer.bullets)
    lines = per_hyperparameter(records, rows, summary) if summary is not None else []
    per = "Per hyperparameter:\n\n" + "\n".join(f"- {line}" for line in lines) if lines else ""
    parts = [
        f"{warn}**{answer.lead}**",
        bullets,
        per,
        "(± is the 95% CI half-width; full report in the `report/` artifacts)",
    ]
    return "\n\n".join(p for p in parts if p)


def blocks(
    records: SweepRecords,
    rows: Sequence[HyperparameterStats],
    summary: Summary,
    answer: Answer,
    figures: Mapping[str, bytes],
) -> list[Block]:
    """The report as a list of ("h1"|"h2"|"lead"|"p"|"ul"|"table"|"img", ...) blocks; the answer
    first: its lead line, then its bullets."""
    obj = records.objective
    better = "higher" if records.direction == "max" else "lower"
    out: list[Block] = [("h1", f"Sweep {records.sweep}")]
    out.extend(("p", w) for w in records.warnings)
    out.append(("lead", answer.lead))
    out.append(("ul", list(answer.bullets)))
    for leak in summary.leaks:
        out.append(
            (
                "p",
                f"Likely leak: t{leak.trial_id} ({leak.model or 'its model'}) reached test "
                f"accuracy {leak.test_accuracy:.3f}, above the {leak.threshold:.2f} plausible "
                "without pretrained vectors on this dataset; check that no test text reached "
                "training or vocabulary.",
            )
        )
    out.append(("h2", "Per hyperparameter"))
    out.append(("ul", answer_lines(records, rows)))
    pooled = len(records.parent_run_ids) > 1
    out.append(
        (
            "p",
            f"Objective {obj} ({better} is better), over "
            f"{count(summary.usable_executions, 'finished execution')} of "
            f"{count(summary.trials - summary.failed_trials, 'trial')} "
            f"({count(summary.failed_trials, 'failed or killed trial')} ignored)"
            + (
                f", pooled from {count(len(records.parent_run_ids), 'sweep execution')}"
                if pooled
                else ""
            )
            + ". ± is the half-width of the 95% confidence interval.",
        )
    )
    out.extend(("p", f"Note: {n}") for n in records.notes)
    if summary.ranked_trials:
        best = summary.ranked_trials[0]
        settings = ", ".join(f"{k}={label(v)}" for k, v in best.hyperparameters.items())
        test = "n/a" if best.test_accuracy_mean is None else f"{best.test_accuracy_mean:.3f}"
        out.append(
            (
                "p",
                f"Best trial: t{best.trial_id} ({obj} {best.objective_mean:.3f} over "
                f"{count(best.n, 'execution')}, test accuracy {test}): {settings}.",
            )
        )
    out += _importance_blocks(rows, summary)
    if "importance.png" in figures:  # the numbers above, as bars
        out.append(("img", "importance.png", "Importance of each hyperparameter"))
    for row in rows:
        out.append(("h2", row.name))
        out.append(("table", _HEADER, [_value_cells(v) for v in row.values]))
    if summary.expected_max:
        out.append(("h2", "How many trials were enough"))
        out.append(
            (
                "table",
                ["trials", f"expected best {obj}", "± sd"],
                [[str(p.k), f"{p.mean:.4f}", f"{p.sd:.4f}"] for p in summary.expected_max],
            )
        )
    titles = {
        "effects.png": "Effect of each hyperparameter",
        "curves.png": "Learning curves of the best settings, every execution",
        "val_vs_test.png": "Validation against test accuracy",
        "parallel.png": "Parallel coordinates",
        "expected_max.png": "Expected best score against the number of trials",
    }
    if figures:
        out.append(("h2", "Plots"))
        out.extend(
            ("img", name, titles.get(name, name)) for name in figures if name != "importance.png"
        )
    out.append(("h2", "Methods"))
    out.append(("ul", [f"{k}: {v}" for k, v in METHODS.items()]))
    return out


def _importance_blocks(rows: Sequence[HyperparameterStats], summary: Summary) -> list[Block]:
    imp = summary.importance
    if summary.design == "joint" and imp is not None:
        if imp.values is None:
            return [("h2", "Importance"), ("p", f"Not ranked: {imp.reason}. Method: {imp.method}.")]
        return [
            ("h2", "Importance"),
            ("p", f"Method: {imp.method}."),
            (
                "table",
                ["hyperparameter", "importance"],
                [[n, f"{v:.3f}"] for n, v in imp.values.items()],
            ),
        ]
    if summary.design == "one-way" and rows:
        row = rows[0]
        text = (
            f"omega squared {row.importance:.3f}"
            if row.importance is not None
            else "not enough executions to tell (needs >= 2 per value with some variance)"
        )
        return [("h2", "Importance"), ("p", f"{row.name}: {text}.")]
    return []


_HEADER = [
    "value",
    "n",
    "mean",
    "95% CI",
    "test acc.",
    "train s",
    "params",
    "p (Holm)",
    "P(best)",
    "vs best",
]
_VERDICTS = {
    "best": "best",
    "tied": "tied",
    "worse": "worse",
    "unknown": "not enough executions to tell",
}


def _value_cells(v: ValueStats) -> list[str]:
    o = v.objective
    if o.low is not None:
        ci = f"[{o.low:.4f}, {o.high:.4f}]"
    else:  # the methods' words: none when n < 2, or when every execution scored the same
        ci = f"none (n={o.n} < 2)" if o.n < 2 else f"none (n={o.n}, no spread)"
    verdict = "not compared" if v.verdict is None else _VERDICTS[str(v.verdict)]
    return [
        _label(v),
        str(v.n),
        f"{o.mean:.4f}",
        ci,
        _fmt(v.test_accuracy.mean, ".4f"),
        _fmt(v.train_seconds_mean, ".1f"),
        _fmt(v.params_count_mean, ",.0f"),
        _fmt(v.p_value, ".3g"),
        _fmt(v.prob_best, ".2f"),
        verdict,
    ]


def count(n: int, noun: str) -> str:
    """`count(1, "trial")` == "1 trial"; `count(2, "trial")` == "2 trials"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def to_markdown(doc: Sequence[Block]) -> str:
    """Markdown; images are referenced as files next to report.md."""
    parts: list[str] = []
    for kind, *rest in doc:
        if kind == "h1":
            parts.append(f"# {rest[0]}")
        elif kind == "h2":
            parts.append(f"## {rest[0]}")
        elif kind == "p":
            parts.append(rest[0])
        elif kind == "lead":
            parts.append(f"**{rest[0]}**")
        elif kind == "ul":
            parts.append("\n".join(f"- {item}" for item in rest[0]))
        elif kind == "table":
            header, cells = rest
            lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(row) + " |" for row in cells]
            parts.append("\n".join(lines))
        elif kind == "img":
            parts.append(f"![{rest[1]}]({rest[0]})")
    return "\n\n".join(parts) + "\n"


def to_html(doc: Sequence[Block], figures: Mapping[str, bytes]) -> str:
    """One self-contained HTML page: images embedded as base64 PNG."""
    e = html.escape
    parts: list[str] = []
    for kind, *rest in doc:
        if kind in ("h1", "h2", "p"):
            parts.append(f"<{kind}>{_links(e(rest[0]))}</{kind}>")
        elif kind == "lead":
            parts.append(f'<p class="answer"><strong>{_links(e(rest[0]))}</strong></p>')
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{_links(e(i))}</li>" for i in rest[0]) + "</ul>")
        elif kind == "table":
            header, cells = rest
            head = "".join(f"<th>{e(h)}</th>" for h in header)
            body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in cells)
            parts.append(f"<table><tr>{head}</tr>{body}</table>")
        elif kind == "img":
            data = base64.b64encode(figures[rest[0]]).decode("ascii")
            parts.append(
                f'<figure><img alt="{e(rest[1])}" src="data:image/png;base64,{data}">'
                f"<figcaption>{e(rest[1])}</figcaption></figure>"
            )
    title = e(str(doc[0][1])) if doc else "textsweep report"
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def _links(escaped: str) -> str:
    """Make the MLflow run links in already-escaped text clickable."""
    return _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)


_URL = re.compile(r"https?://[^\s<>\"]+/#/experiments/[^\s<>\".]+/runs/[0-9A-Za-z]+")
_CSS = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
    "table{border-collapse:collapse;margin:0.5em 0}"
    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    "img{max-width:100%}figcaption{color:#555}"
)

"""Turn computed rows into the report's words: report.json, the short answer, Markdown and HTML.

Markdown and HTML are rendered from one list of blocks, so they always say the same thing.

    answer_lines(records, rows)[0]
    # 'lstm_units: 64 (val_accuracy 0.871 ± 0.004); 32 and 128 are within noise; 16 is worse'
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from textsweep.report.plots import label
from textsweep.report.records import SweepRecords, Value
from textsweep.report.stats import METHODS, HyperparameterStats, Summary, ValueStats

Block = tuple[Any, ...]


def to_json(
    records: SweepRecords, rows: Sequence[HyperparameterStats], summary: Summary
) -> dict[str, Any]:
    """The report.json contract (plus question, counts, best trial and methods); no NaN anywhere."""
    best = summary.ranked_trials[0] if summary.ranked_trials else None
    return {
        "sweep": records.sweep,
        "objective": records.objective,
        "direction": records.direction,
        "question": records.question,
        "parent_run_id": records.parent_run_id,
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
            "n": best.n,
            "mean": _num(best.objective_mean),
            "test_accuracy_mean": _num(best.test_accuracy_mean),
            "hyperparameters": {k: _value(v) for k, v in best.hyperparameters.items()},
        },
        "methods": METHODS,
        "hyperparameters": {row.name: _row_json(row) for row in rows},
    }


def _row_json(row: HyperparameterStats) -> dict[str, Any]:
    return {
        "importance": _num(row.importance),
        "recommended": _value(row.recommended),
        "best": _value(row.best),
        "binned": row.binned,
        "confounded_with": list(row.confounded_with),
        "values": [
            {
                "value": _value(v.value),
                "n": v.n,
                "mean": _num(v.objective.mean),
                "ci_low": _num(v.objective.low),
                "ci_high": _num(v.objective.high),
                "test_accuracy_mean": _num(v.test_accuracy.mean),
                "test_accuracy_ci_low": _num(v.test_accuracy.low),
                "test_accuracy_ci_high": _num(v.test_accuracy.high),
                "train_seconds_mean": _num(v.train_seconds_mean),
                "params_count_mean": _num(v.params_count_mean),
                "p_value_holm": _num(v.p_value),
                "indistinguishable_from_best": v.indistinguishable_from_best,
                **({"range": [v.low, v.high]} if v.low is not None else {}),
            }
            for v in row.values
        ],
    }


def _value(v: Value) -> Value:
    # A hyperparameter logged as "nan" or "inf" must not make report.json invalid JSON.
    return str(v) if isinstance(v, float) and not math.isfinite(v) else v


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _score(v: ValueStats, objective: str) -> str:
    mean = v.objective.mean
    half = v.objective.half_width
    spread = f" ± {half:.3f}" if half is not None else ", n=1, no interval"
    return f"{objective} {mean:.3f}{spread}"


def _names(values: Sequence[ValueStats]) -> str:
    labels = [_label(v) for v in values]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def _label(v: ValueStats) -> str:
    return label(v.value, v.low, v.high)


def answer_line(row: HyperparameterStats, objective: str) -> str:
    """`lstm_units: 64 (val_accuracy 0.871 ± 0.004); 32 and 128 are within noise; 16 is worse`."""
    chosen = next(v for v in row.values if v.value == row.recommended)
    best = next(v for v in row.values if v.is_best)
    text = f"{row.name}: {_label(chosen)} ({_score(chosen, objective)})"
    if chosen is not best:
        text += (
            f", the cheapest within noise of the best {_label(best)} ({_score(best, objective)})"
        )
    same = [v for v in row.values if v.indistinguishable_from_best and v not in (chosen, best)]
    worse = [v for v in row.values if not v.indistinguishable_from_best]
    if same:
        text += f"; {_names(same)} {'is' if len(same) == 1 else 'are'} within noise"
    if worse:
        text += f"; {_names(worse)} {'is' if len(worse) == 1 else 'are'} worse"
    if row.confounded_with:
        text += f" (confounded with {', '.join(row.confounded_with)}: same trials)"
    return text


def answer_lines(records: SweepRecords, rows: Sequence[HyperparameterStats]) -> list[str]:
    if not rows:
        return ["no hyperparameter varied among the finished trials; nothing to compare"]
    return [answer_line(row, records.objective) for row in rows]


def answer_note(records: SweepRecords, rows: Sequence[HyperparameterStats]) -> str:
    """The parent run's description: the question and the short answer."""
    head = f"**{records.question}**\n\n" if records.question else ""
    lines = "\n".join(f"- {line}" for line in answer_lines(records, rows))
    return f"{head}{lines}\n\n(± is the 95% CI half-width; full report in the `report/` artifacts)"


def blocks(
    records: SweepRecords,
    rows: Sequence[HyperparameterStats],
    summary: Summary,
    figures: Mapping[str, bytes],
) -> list[Block]:
    """The report as a list of ("h1"|"h2"|"p"|"ul"|"table"|"img", ...) blocks."""
    obj = records.objective
    better = "higher" if records.direction == "max" else "lower"
    out: list[Block] = [("h1", f"Sweep {records.sweep}")]
    if records.question:
        out.append(("p", f"Question: {records.question}"))
    out.append(("h2", "Answer"))
    out.append(("ul", answer_lines(records, rows)))
    out.append(
        (
            "p",
            f"Objective {obj} ({better} is better), over "
            f"{count(summary.usable_executions, 'finished execution')} of "
            f"{count(summary.trials - summary.failed_trials, 'trial')} "
            f"({count(summary.failed_trials, 'failed or killed trial')} ignored). "
            "± is the half-width of the 95% confidence interval.",
        )
    )
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
    if rows:
        out.append(("h2", "Importance"))
        out.append(
            (
                "table",
                ["hyperparameter", "importance (ω²)", "best", "recommended", "confounded with"],
                [
                    [
                        r.name,
                        f"{r.importance:.3f}",
                        label(r.best),
                        label(r.recommended),
                        ", ".join(r.confounded_with) or "-",
                    ]
                    for r in rows
                ],
            )
        )
    for row in rows:
        out.append(("h2", row.name))
        out.append(("table", _HEADER, [_value_cells(v) for v in row.values]))
    titles = {
        "effects.png": "Effect of each hyperparameter",
        "curves.png": "Learning curves of the best trials",
        "val_vs_test.png": "Validation against test accuracy",
        "parallel.png": "Parallel coordinates",
    }
    if figures:
        out.append(("h2", "Plots"))
        out.extend(("img", name, titles.get(name, name)) for name in figures)
    out.append(("h2", "Methods"))
    out.append(("ul", [f"{k}: {v}" for k, v in METHODS.items()]))
    return out


_HEADER = [
    "value",
    "n",
    "mean",
    "95% CI",
    "test acc.",
    "train s",
    "params",
    "p (Holm)",
    "vs best",
]


def _value_cells(v: ValueStats) -> list[str]:
    o = v.objective
    ci = "undefined (n=1)" if o.low is None else f"[{o.low:.4f}, {o.high:.4f}]"
    verdict = (
        "best" if v.is_best else ("within noise" if v.indistinguishable_from_best else "worse")
    )
    return [
        _label(v),
        str(v.n),
        f"{o.mean:.4f}",
        ci,
        _fmt(v.test_accuracy.mean, ".4f"),
        _fmt(v.train_seconds_mean, ".1f"),
        _fmt(v.params_count_mean, ",.0f"),
        _fmt(v.p_value, ".3g"),
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
            parts.append(f"<{kind}>{e(rest[0])}</{kind}>")
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in rest[0]) + "</ul>")
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


_CSS = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
    "table{border-collapse:collapse;margin:0.5em 0}"
    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    "img{max-width:100%}figcaption{color:#555}"
)

"""Draw the report's figures as PNG bytes from computed rows; matplotlib is imported only here.

pngs = draw_all(records, rows, summary)   # {"effects.png": b"\\x89PNG...", ...}
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from textsweep.reporting.binning import is_log_like, sort_values
from textsweep.reporting.expected_max import ExpectedMax
from textsweep.reporting.records import SweepRecords, Value
from textsweep.reporting.stats import HyperparameterStats
from textsweep.reporting.summary import Summary

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TOP_TRIALS = 5
GOOD, WORSE, BEST, GREY = "#1f77b4", "#d62728", "#2ca02c", "#7f7f7f"


def label(value: Value, low: float | None = None, high: float | None = None) -> str:
    """How a value (or a bin) is written everywhere: `64`, `0.2`, `True`, `0.0001-0.00046`."""
    if low is not None and high is not None and low != high:
        return f"{low:.3g}-{high:.3g}"
    if isinstance(value, float):
        text = f"{value:.4g}"
        return text if any(c in text for c in ".en") else text + ".0"
    return str(value)


def draw_all(
    records: SweepRecords, rows: Sequence[HyperparameterStats], summary: Summary
) -> dict[str, bytes]:
    """Every figure that has data, by file name."""
    figures: dict[str, bytes] = {}
    if rows:
        figures["effects.png"] = effects(rows, records.objective)
        if len(summary.ranked_trials) >= 2:
            figures["parallel.png"] = parallel(rows, summary, records.objective, records.direction)
    shares = importance_shares(rows, summary)
    if shares:
        figures["importance.png"] = importance(shares, summary)
    if summary.ranked_trials:
        figures["curves.png"] = curves(records, summary)
    if any(
        e.best_val_accuracy is not None and e.test_accuracy is not None for e in records.usable()
    ):
        figures["val_vs_test.png"] = val_vs_test(records)
    if len(summary.expected_max) >= 2:
        figures["expected_max.png"] = expected_max(summary.expected_max, records.objective)
    return figures


def expected_max(points: Sequence[ExpectedMax], objective: str) -> bytes:
    """The expected best score of k trials with a ±1 sd band (the data: `Summary.expected_max`)."""
    fig = _figure(figsize=(6, 4))
    ax = fig.subplots()
    ks = [p.k for p in points]
    means = [p.mean for p in points]
    ax.fill_between(
        ks, [p.mean - p.sd for p in points], [p.mean + p.sd for p in points], alpha=0.25
    )
    ax.plot(ks, means, "o-")
    ax.set_xlabel("number of trials")
    ax.xaxis.set_major_locator(_integer_ticks())
    ax.set_ylabel(f"expected best {objective}")
    ax.set_title("Expected best score vs trials (Tang et al. 2020 estimator, ±1 sd)", fontsize=10)
    ax.grid(alpha=0.3)
    return _png(fig)


def effects(rows: Sequence[HyperparameterStats], objective: str) -> bytes:
    """One panel per hyperparameter: mean objective per value with its 95% interval."""
    cols = min(3, len(rows))
    nrows = math.ceil(len(rows) / cols)
    # at least two panels wide, so the two-line title fits over a single panel
    fig = _figure(figsize=(4.2 * max(cols, 2), 3.2 * nrows + 0.6))
    axes = fig.subplots(nrows, cols, squeeze=False)
    for ax, row in zip(axes.flat, rows, strict=False):
        for x, v in enumerate(row.values):
            same = v.indistinguishable_from_best
            color = BEST if v.is_best else (WORSE if same is False else (GOOD if same else GREY))
            mean = v.objective.mean
            if v.objective.low is not None and v.objective.high is not None and mean is not None:
                err = [[mean - v.objective.low], [v.objective.high - mean]]
                ax.errorbar([x], [mean], yerr=err, fmt="o", color=color, capsize=4)
            else:
                ax.plot([x], [mean], "o", color=color, fillstyle="none")
        mark_answer(ax, row)
        ax.set_xlim(-0.5, len(row.values) - 0.5)
        ax.margins(y=0.25)  # a lone dot (one execution per value) stays off the frame
        ax.set_xticks(range(len(row.values)))
        ax.set_xticklabels([label(v.value, v.low, v.high) for v in row.values], rotation=30)
        importance = "" if row.importance is None else f" (ω² {row.importance:.2f})"
        ax.set_title(f"{row.name}{importance}", fontsize=10)
        ax.set_ylabel(objective)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(rows) :]:
        ax.axis("off")
    fig.suptitle(
        "Effect of each hyperparameter: mean and 95% CI (hollow: no interval);\n"
        "green best, blue tied with the best, red worse, grey not enough executions or not compared",
        fontsize=10,
    )
    return _png(fig)


def mark_answer(ax: Any, row: HyperparameterStats) -> int | None:
    """A star and "answer" on the recommended value (the one the answer names); none when the
    row is undecided. Returns the position marked."""
    if row.recommended is None:
        return None
    x = next((i for i, v in enumerate(row.values) if v.value == row.recommended), None)
    mean = None if x is None else row.values[x].objective.mean
    if x is None or mean is None:
        return None
    ax.plot(
        [x],
        [mean],
        marker="*",
        markersize=16,
        color=BEST,
        markeredgecolor="black",
        linestyle="none",
        zorder=5,
    )
    ax.annotate(
        "answer",
        (x, mean),
        textcoords="offset points",
        xytext=(0, 10),
        ha="center",
        fontsize=8,
        fontweight="bold",
    )
    return x


def curves(records: SweepRecords, summary: Summary, top: int = TOP_TRIALS) -> bytes:
    """Validation metric per epoch for every execution of the best settings, one colour each."""
    fig = _figure(figsize=(7, 4))
    ax = fig.subplots()
    colors = _colormap("tab10")
    metric = records.objective
    best = summary.ranked_trials[:top]
    for rank, trial in enumerate(best):
        runs = [e for e in records.usable() if dict(e.hyperparameters) == trial.hyperparameters]
        name = f"{setting_label(trial.hyperparameters, summary.varied)}: {trial.objective_mean:.3f}"
        name += f" (n={trial.n})" if trial.n > 1 else ""
        for i, e in enumerate(runs):
            curve = e.history.get(metric, ())
            ax.plot(
                range(1, len(curve) + 1),
                curve,
                color=colors(rank % 10),
                alpha=0.8,
                label=name if i == 0 else None,
            )
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(_integer_ticks())
    ax.set_ylabel(metric)
    ax.set_title(
        f"Learning curves of the {len(best)} best settings (mean {metric} in the legend)",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


COUNTED = ("units", "dim", "layers", "filters", "heads", "words", "ngrams")


def setting_label(values: Mapping[str, Value], varied: Sequence[str]) -> str:
    """What tells a setting apart, the way a person says it: `64 units`, `lstm, 0.3 dropout`.

    Only the varied hyperparameters (all of them when none is known); a count-like one as
    `<value> <its last word>`, the model by its name, others as `name=value`.
    """
    names = [n for n in varied if n in values] or list(values)
    parts = []
    for name in names:
        word = name.rsplit("_", 1)[-1]
        if name == "model":
            parts.append(str(values[name]))
        elif word in COUNTED or name == "maxlen":
            parts.append(f"{label(values[name])} {word}")
        else:
            parts.append(f"{name}={label(values[name])}")
    return ", ".join(parts)


def importance_shares(rows: Sequence[HyperparameterStats], summary: Summary) -> dict[str, float]:
    """The importance the report gives each hyperparameter (ω² one-way, fANOVA joint)."""
    imp = summary.importance
    if summary.design == "joint" and imp is not None and imp.values:
        return dict(imp.values)
    if summary.design == "one-way":
        return {r.name: r.importance for r in rows if r.importance is not None}
    return {}


def importance(shares: Mapping[str, float], summary: Summary) -> bytes:
    """A bar per hyperparameter: how much of the objective's variance it explains (0 to 1)."""
    names = sorted(shares, key=lambda n: shares[n])
    fig = _figure(figsize=(6, 0.5 * len(names) + 1.6))
    ax = fig.subplots()
    values = [max(0.0, shares[n]) for n in names]
    ax.barh(names, values, color=GOOD)
    for y, v in enumerate(values):
        ax.text(v + 0.01, y, f"{shares[names[y]]:.2f}", va="center", fontsize=9)
    ax.set_xlim(0, 1.08)
    how = "fANOVA share" if summary.design == "joint" else "ω² (share of variance explained)"
    ax.set_xlabel(how)
    ax.set_title("Importance of each hyperparameter", fontsize=10)
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def val_vs_test(records: SweepRecords) -> bytes:
    """Best validation accuracy against test accuracy, one point per execution."""
    pairs = [
        (e.best_val_accuracy, e.test_accuracy)
        for e in records.usable()
        if e.best_val_accuracy is not None and e.test_accuracy is not None
    ]
    fig = _figure(figsize=(5, 5))
    ax = fig.subplots()
    xs, ys = zip(*pairs, strict=True)
    ax.scatter(xs, ys, alpha=0.7)
    low, high = min(xs + ys), max(xs + ys)
    ax.plot([low, high], [low, high], "--", color="grey", linewidth=1)
    ax.set_xlabel("best validation accuracy")
    ax.set_ylabel("test accuracy")
    ax.set_title("Validation against test accuracy")
    ax.grid(alpha=0.3)
    return _png(fig)


def parallel(
    rows: Sequence[HyperparameterStats], summary: Summary, objective: str, direction: str
) -> bytes:
    """Parallel coordinates: one line per trial across the varied hyperparameters, by score."""
    names = [r.name for r in rows]
    scalers = {n: _scaler([t.hyperparameters.get(n) for t in summary.ranked_trials]) for n in names}
    scores = [t.objective_mean for t in summary.ranked_trials]
    low, high = min(scores), max(scores)
    cmap = _colormap("viridis")
    fig = _figure(figsize=(max(6.5, 1.8 * len(names) + 4), 4.5))
    ax = fig.subplots()
    for t in reversed(summary.ranked_trials):  # best drawn last, on top
        ys = [scalers[n][0](t.hyperparameters.get(n)) for n in names]
        ys.append((t.objective_mean - low) / (high - low) if high > low else 0.5)
        shade = ys[-1] if direction == "max" else 1 - ys[-1]
        ax.plot(range(len(ys)), ys, color=cmap(shade), alpha=0.8)
    ax.set_xticks(range(len(names) + 1))
    ax.set_xticklabels([*names, objective], rotation=20)
    ax.set_yticks([])
    for x in range(len(names) + 1):
        ax.axvline(x, color="grey", linewidth=0.8)
    for x, n in enumerate(names):
        for y, text in scalers[n][1]:
            ax.text(x + 0.03, y, text, fontsize=8, va="center")
    for y in (0.0, 0.5, 1.0) if high > low else (0.5,):
        value = low + y * (high - low) if high > low else low
        ax.text(len(names) + 0.03, y, f"{value:.3f}", fontsize=8, va="center")
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    shading = ScalarMappable(Normalize(low, high), cmap if direction == "max" else cmap.reversed())
    fig.colorbar(shading, ax=ax, label=objective, pad=0.08)
    ax.set_title(
        f"Parallel coordinates: one line per setting, coloured by mean {objective}", fontsize=10
    )
    return _png(fig)


def _scaler(values: Sequence[Value | None]) -> tuple[Any, list[tuple[float, str]]]:
    """Map values to [0, 1] (by rank for categories, by (log) value for numbers), with ticks.

    A trial where the hyperparameter was inactive sits just below the axis, at -0.05.
    """
    present = [v for v in values if v is not None]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)
    distinct = sort_values(present)
    if not numeric or len(distinct) < 2:

        def rank(v: Value | None) -> float:
            return -0.05 if v is None else distinct.index(v) / max(1, len(distinct) - 1)

        return rank, [(rank(v), label(v)) for v in distinct]
    xs = [float(v) for v in present]
    f = math.log10 if is_log_like(xs) else float
    lo, hi = f(min(xs)), f(max(xs))

    def scale(v: Value | None) -> float:
        return -0.05 if v is None else (f(float(v)) - lo) / (hi - lo)

    shown = distinct if len(distinct) <= 6 else [distinct[0], distinct[-1]]
    return scale, [(scale(v), label(v)) for v in shown]


def _figure(figsize: tuple[float, float]) -> Figure:
    # A bare Figure renders with the Agg canvas and touches no pyplot state or global backend.
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def _integer_ticks() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _colormap(name: str) -> Any:
    import matplotlib

    return matplotlib.colormaps[name]


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()

"""What every run carries besides metrics: curves, histories, the results table, the sweep files.

log_history_artifacts(tracker, run_id, rows, "lstm-units t03")   # history.csv + curves.png
tracker.log_text(parent_id, results_table(tracker, parent_id), "results.csv")
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from textsweep.credentials import mask_text, masked_data
from textsweep.tracking.names import (
    EPOCH_METRICS,
    RESOLVED_ARTIFACT,
    TAG_TRIAL_ID,
    Role,
)

if TYPE_CHECKING:
    from textsweep.config import Sweep
    from textsweep.tracking.store import Tracker


def history_csv(rows: Sequence[Mapping[str, float]]) -> str:
    keys = ["epoch"] + [k for k in EPOCH_METRICS if any(k in r for r in rows)]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def prewarm_plotting() -> None:
    """Import matplotlib in the background while the first trial trains.

    Its first import takes seconds; done on the training thread at the end of trial one, it
    would show up as that trial's overhead.
    """
    import threading

    def load() -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.backends.backend_agg  # noqa: F401
        import matplotlib.figure  # noqa: F401

    threading.Thread(target=load, name="textsweep-prewarm", daemon=True).start()


def curves_figure(rows: Sequence[Mapping[str, float]], title: str) -> Any:
    """Loss and accuracy per epoch, training against validation, as a matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.5), dpi=100)
    epochs = [r["epoch"] for r in rows]
    for ax, metric in zip(fig.subplots(1, 2), ("loss", "accuracy"), strict=True):
        for key, style in ((metric, "-o"), (f"val_{metric}", "--s")):
            ys = [r.get(key, math.nan) for r in rows]
            ax.plot(epochs, ys, style, label=key, markersize=3)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def log_history_artifacts(
    tracker: Tracker, run_id: str, rows: Sequence[Mapping[str, float]], title: str
) -> None:
    """`history.csv` and `curves.png` for one run's per-epoch rows."""
    tracker.log_text(run_id, history_csv(rows), "history.csv")
    if rows:
        tracker.log_figure(run_id, curves_figure(rows, title), "curves.png")


def results_table(tracker: Tracker, parent_id: str) -> str:
    """`results.csv`: one row per trial of a parent run, hyperparameters then metrics."""
    trials = tracker.child_runs(parent_id, Role.TRIAL)
    param_keys: list[str] = []
    metric_keys: list[str] = []
    for run in trials:
        for k in run.data.params:
            if "." not in k and k not in param_keys:
                param_keys.append(k)
        for k in run.data.metrics:
            if k not in metric_keys and k not in EPOCH_METRICS:
                metric_keys.append(k)
    header = ["trial_id", "run_name", "status"] + param_keys + metric_keys
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for run in trials:
        writer.writerow(
            [run.data.tags.get(TAG_TRIAL_ID, ""), run.info.run_name, run.info.status]
            + [run.data.params.get(k, "") for k in param_keys]
            + [_fmt(run.data.metrics.get(k)) for k in metric_keys]
        )
    return buf.getvalue()


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def plain(value: float) -> float:
    """`value` to 6 significant digits, as MLflow's tables then show it: 0.95, not
    0.949999988079071, and 0.966667, not 0.96666664 (Keras reports float32 numbers, good to
    about 7 digits; a validation accuracy on 5,000 reviews moves in steps of 0.0002).

    Applied where textsweep makes its numbers (`sweep.hypermodel`, `mean_std`), never only when
    logging, so the race, MLflow and the report hold the same values; on a value already plain it
    changes nothing."""
    v = float(value)
    if not math.isfinite(v) or v.is_integer():
        return v
    return float(f"{v:.6g}")


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """The mean and sample standard deviation of the finite values, both `plain`."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return math.nan, math.nan
    mean = sum(vals) / len(vals)
    var = sum((v - mean) ** 2 for v in vals) / (len(vals) - 1) if len(vals) > 1 else 0.0
    return plain(mean), plain(math.sqrt(var))


def log_sweep_files(tracker: Tracker, run_id: str, sweep: Sweep) -> None:
    """The sweep and search-space files as written, and the resolved sweep as it ran."""
    if sweep.path is not None and sweep.path.is_file():  # with a tracking URI's password masked
        text = mask_text(sweep.path.read_text(encoding="utf-8", errors="replace"))
        tracker.log_text(run_id, text, f"sweep/{sweep.path.name}")
    if sweep.space_path is not None and sweep.space_path.is_file():
        tracker.log_file(run_id, sweep.space_path, "search_space")
    tracker.log_text(run_id, json.dumps(resolved_sweep(sweep), indent=2), RESOLVED_ARTIFACT)


def resolved_sweep(sweep: Sweep) -> dict[str, Any]:
    """The sweep as it runs (overrides, `fixed:` and the search space applied), as plain data."""
    return {
        "sweep": masked_data(sweep.config.model_dump(mode="json", exclude={"search_space"})),
        "search_space": sweep.space.model_dump(mode="json", exclude_none=True),
    }

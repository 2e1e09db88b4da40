"""Answer a sweep's question from what MLflow holds: statistics, plots, and three report files.

    report = make_report("sweeps/lstm_units.yaml")
    report.answer[0]      # the lead line ("Answer: ..." or "Undecided: ..."), then its bullets
    report.files          # report.md, report.html, report.json (+ PNGs)

The numbers come from `stats` (plain functions on `records`), the words from `render`, the
figures from `plots`; this module only wires them together, writes the files and logs them to the
sweep's parent run.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textsweep.errors import UserError
from textsweep.reporting.records import Execution, SweepRecords, load_records
from textsweep.tracking import TAG_NOTE, Tracker

if TYPE_CHECKING:
    from textsweep.reporting.answer import Answer
    from textsweep.reporting.stats import HyperparameterStats
    from textsweep.reporting.summary import Summary

__all__ = [
    "Execution",
    "Report",
    "SweepRecords",
    "build_report",
    "load_records",
    "make_report",
    "resolve_sweep",
]

ARTIFACT_DIR = "report"


@dataclass(frozen=True)
class Report:
    """A computed report: the records, their statistics, the short answer and the files written."""

    records: SweepRecords
    rows: tuple[HyperparameterStats, ...]
    summary: Summary
    # the lead line, its bullets ("- ..."), then one line per setting when several varied
    answer: tuple[str, ...]
    json: dict[str, Any]
    out_dir: Path | None
    files: tuple[Path, ...]
    logged_to: str | None = None  # the parent run the files were logged to
    not_logged: str | None = None  # why they could not be (a read-only tracking store)
    verdict: Answer | None = None  # the lead line, bullets, rule, status and settle command

    def answer_text(self) -> str:
        """What the terminal prints: the lead line and its bullets, one line per hyperparameter
        when several varied, the counts and where to look."""
        from textsweep.reporting.render import count

        lines = list(self.records.warnings) + list(self.answer)
        lines += [
            f"likely leak: t{leak.trial_id} has test accuracy {leak.test_accuracy:.3f}, "
            f"above the {leak.threshold:.2f} plausible without pretrained vectors"
            for leak in self.summary.leaks
        ]
        s = self.summary
        lines.append(
            f"(± is the 95% CI half-width; {count(s.usable_executions, 'execution')} of "
            f"{count(s.trials - s.failed_trials, 'trial')}; "
            f"{count(s.failed_trials, 'failed trial')} ignored)"
        )
        if self.out_dir is not None:
            where = f"report: {self.out_dir / 'report.html'}"
            if self.logged_to:
                where += f" (also logged to MLflow run {self.logged_to} under {ARTIFACT_DIR}/)"
            if self.not_logged:
                where += f" (not logged to MLflow, which refused the write: {self.not_logged})"
            lines.append(where)
        return "\n".join(lines)


def build_report(
    records: SweepRecords, out_dir: Path | None = None, race_budget: int | None = None
) -> Report:
    """Compute everything from records; with `out_dir`, also draw and write the files.

    `race_budget`: the `tuner.max_trials` that capped a race (the parent's param), so the answer
    can say the race ended on it."""
    from textsweep.reporting import render
    from textsweep.reporting.answer import answer as answer_of
    from textsweep.reporting.report_json import to_json
    from textsweep.reporting.stats import hyperparameter_stats
    from textsweep.reporting.summary import by_importance, summarize

    summary = summarize(records)
    rows = by_importance(hyperparameter_stats(records), summary)
    verdict = answer_of(records, rows, summary, race_budget)
    answer = [*verdict.lines(), *render.per_hyperparameter(records, rows, summary)]
    data = to_json(records, rows, summary, verdict)
    files: list[Path] = []
    if out_dir is not None:
        from textsweep.reporting.plots import draw_all

        figures = draw_all(records, rows, summary)
        doc = render.blocks(records, rows, summary, verdict, figures)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, png in figures.items():
            (out_dir / name).write_bytes(png)
            files.append(out_dir / name)
        texts = {
            "report.md": render.to_markdown(doc),
            "report.html": render.to_html(doc, figures),
            "report.json": json.dumps(data, indent=2, allow_nan=False) + "\n",
        }
        for name, text in texts.items():
            (out_dir / name).write_text(text, encoding="utf-8")
            files.append(out_dir / name)
    return Report(
        records=records,
        rows=tuple(rows),
        summary=summary,
        answer=tuple(answer),
        json=data,
        out_dir=out_dir,
        files=tuple(files),
        verdict=verdict,
    )


def resolve_sweep(sweep_ref: str, tracking_uri: str | None) -> tuple[str, str | None, str]:
    """(sweep name, experiment name or None, tracking URI) from a sweep file or a bare name."""
    from textsweep.config import default_tracking_uri
    from textsweep.tracking.uri import check_tracking_uri

    if tracking_uri:
        check_tracking_uri(tracking_uri, "--tracking-uri")
    if sweep_ref.endswith((".yaml", ".yml")) or Path(sweep_ref).is_file():
        from textsweep.config import load_sweep

        sweep = load_sweep(sweep_ref)
        uri = sweep.tracking_uri(tracking_uri)
        check_tracking_uri(uri, sweep_ref, "tracking.uri")
        return sweep.name, sweep.experiment, uri
    return sweep_ref, None, tracking_uri or default_tracking_uri()


def make_report(
    sweep_ref: str,
    tracking_uri: str | None = None,
    out_dir: Path | None = None,
    run_id: str | None = None,
    pool: bool = False,
) -> Report:
    """Report on a sweep: write the files to `out_dir` and log them to the sweep's parent run.

    Args:
        sweep_ref: a sweep YAML path (its name, experiment and tracking URI are read from it) or a
            bare sweep name.
        tracking_uri: overrides the sweep file's `tracking.uri`; default `sqlite:///mlruns/mlflow.db`.
        out_dir: where the files go; default `reports/<sweep name>/`.
        run_id: the sweep execution (parent run) to report on; default the latest finished one,
            else the latest one, with a warning.
        pool: also pool every finished execution with the same sweep definition (config hash).

    Raises:
        UserError: the sweep file is invalid, or MLflow holds no runs of the sweep.
    """
    from textsweep import server
    from textsweep.reporting import render
    from textsweep.tracking.failures import check_database

    name, experiment, uri = resolve_sweep(sweep_ref, tracking_uri)
    server.prepare_client(uri)
    check_database(uri)  # a damaged SQLite file: one message naming it
    ref = sweep_ref if sweep_ref.endswith((".yaml", ".yml")) else f"sweeps/{name}.yaml"
    records = load_records(
        uri,
        name,
        experiment=experiment,
        parent_run_id=run_id,
        pool=pool,
        sweep_ref=shlex.quote(ref),
    )
    out = Path(out_dir or Path("reports") / records.sweep)
    from textsweep.tracking.reader import Reader

    cap = Reader.connect(uri).run(records.parent_run_id).data.params.get("tuner.max_trials")
    try:
        report = build_report(records, out, int(cap) if cap and cap.isdigit() else None)
    except OSError as e:
        raise UserError(
            f"cannot write the report files to {out} ({e.strerror}: {e.filename}); pass "
            "--out with a folder you can write to",
            source="--out",
        ) from None
    assert report.verdict is not None
    try:
        tracker = Tracker.of_experiment(uri, records.experiment_id)
        for path in report.files:
            tracker.log_file(records.parent_run_id, path, ARTIFACT_DIR)
        note = render.answer_note(records, list(report.rows), report.verdict, report.summary)
        tracker.set_tags(records.parent_run_id, {TAG_NOTE: note})
    except Exception as e:  # a read-only store: the report stands without its copy in MLflow
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        return dataclasses.replace(report, not_logged=reason)
    return dataclasses.replace(report, logged_to=records.parent_run_id)

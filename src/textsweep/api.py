"""The Python API for notebooks and scripts; the `textsweep` command is a thin shell over it.

    import textsweep
    results, parent_run_id = textsweep.run("sweeps/quickstart.yaml", max_trials=2, epochs=1,
                                           dataset__limit=1000)
    results.sort_values("best_val_accuracy").tail(3)    # a pandas DataFrame, one row per trial
    answer = textsweep.report("sweeps/quickstart.yaml")
    print(answer.answer_text())
    model = textsweep.load_best("sweeps/quickstart.yaml")   # the champion, an MLflow pyfunc
    model.predict(pd.DataFrame({"text": ["a wonderful, moving film"]}))   # a column per class

Overrides are the sweep file's keys: `max_trials` and `epochs` are the CLI's shortcuts, and a
double underscore stands for a dot (`dataset__limit=1000` is `--set dataset.limit=1000`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

from textsweep.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from textsweep.config import Sweep
    from textsweep.reporting import Report


class SweepRun(NamedTuple):
    """What `run` returns: one row per trial (hyperparameters, then metrics), and the parent run."""

    results: pd.DataFrame
    parent_run_id: str


def run_overrides(
    overrides: Sequence[str] = (), max_trials: int | None = None, epochs: int | None = None
) -> list[str]:
    """`--set` strings, with the `--max-trials` and `--epochs` shortcuts appended."""
    out = list(overrides)
    if max_trials:
        out.append(f"tuner.max_trials={max_trials}")
    if epochs:
        out.append(f"training.epochs={epochs}")
    return out


def load(sweep: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()) -> Sweep:
    """A sweep from a file, or from a mapping of the same schema (names resolve from the cwd)."""
    from textsweep.config import apply_overrides, load_sweep, sweep_from_mapping

    if isinstance(sweep, Mapping):
        return sweep_from_mapping(apply_overrides(dict(sweep), overrides), None)
    return load_sweep(sweep, overrides)


def check_inputs(sweep: Sweep, tracking_uri: str | None = None) -> None:
    """Cheap checks of what a sweep points at (paths, tracking URI, vectors' dimension) and of
    what its trials need (memory), before any training; `tracking_uri` is `--tracking-uri`."""
    from textsweep.sizing import check_fits
    from textsweep.tracking.uri import check_tracking_uri

    d = sweep.config.dataset
    source = str(sweep.path) if sweep.path else "<sweep>"
    if tracking_uri:
        check_tracking_uri(tracking_uri, "--tracking-uri")
    for key, value in (("dataset.path", d.path), ("dataset.test_path", d.test_path)):
        if value is not None and not Path(value).expanduser().exists():
            raise UserError(f"{value} does not exist; check the path", source=source, key=key)
    if sweep.config.tracking.uri:
        check_tracking_uri(sweep.config.tracking.uri, source, "tracking.uri")
    check_fits(sweep)
    from textsweep.sweep.racing import check_race_budget

    check_race_budget(sweep)
    if sweep.may_use_pretrained():
        from textsweep.embeddings import check_embedding_dim

        check_embedding_dim(sweep)


def run(
    sweep: str | Path | Mapping[str, Any],
    *,
    tracking_uri: str | None = None,
    resume: bool = False,
    fresh: bool = False,
    workers: int = 0,
    out: TextIO | None = None,
    **overrides: Any,
) -> SweepRun:
    """Run a sweep (a file or a mapping) to the end; its trials as a DataFrame, and the parent run.

    Args:
        sweep: a sweep YAML file, or a mapping with the same keys.
        tracking_uri: MLflow tracking URI (default: the sweep's, else sqlite:///mlruns/mlflow.db).
        resume, fresh, workers: as `textsweep run --resume / --fresh / --workers N`.
        out: where progress goes (default stdout).
        **overrides: sweep keys, `__` for a dot: `epochs=2`, `dataset__limit=2000`.

    Raises `UserError` for bad input and `SweepFailed` for a sweep that ran but failed.
    """
    import io

    import pandas as pd

    from textsweep.sweep import run_sweep
    from textsweep.tracking import Tracker, results_table

    shortcuts = {k: overrides.pop(k) for k in ("max_trials", "epochs") if k in overrides}
    sets = [f"{k.replace('__', '.')}={json.dumps(v)}" for k, v in overrides.items()]
    sets = run_overrides(sets, shortcuts.get("max_trials"), shortcuts.get("epochs"))
    if workers and isinstance(sweep, Mapping):
        raise UserError(
            "workers run the sweep from a file; save the mapping as YAML and pass its path",
            source="<sweep>",
            key="workers",
        )
    loaded = load(sweep, sets)
    check_inputs(loaded, tracking_uri)
    result = run_sweep(
        loaded,
        tracking_uri=tracking_uri,
        out=out,
        resume=resume,
        fresh=fresh,
        workers_count=workers,
        sweep_arg=str(sweep) if not isinstance(sweep, Mapping) else None,
        overrides=sets,
    )
    tracker = Tracker.open(result.tracking_uri, loaded.experiment)
    table = pd.read_csv(io.StringIO(results_table(tracker, result.parent_run_id)))
    return SweepRun(table, result.parent_run_id)


def report(
    sweep: str | Path,
    *,
    tracking_uri: str | None = None,
    out: str | Path | None = None,
    **options: Any,
) -> Report:
    """Answer a sweep's question from what MLflow holds (`textsweep report`); see `Report`."""
    from textsweep.reporting import make_report

    return make_report(str(sweep), tracking_uri, Path(out) if out else None, **options)


def load_best(sweep: str | Path, *, tracking_uri: str | None = None) -> Any:
    """The sweep's champion (`models:/<sweep>@champion`) as an MLflow pyfunc reading raw text.

    `sweep` is a sweep file or a sweep name; `.predict` takes a list of strings (or a DataFrame
    with a `text` column) and returns one probability column per class; `.pyfunc` is MLflow's
    own model object.
    """
    from textsweep.export import load_best as champion

    return champion(sweep, tracking_uri)

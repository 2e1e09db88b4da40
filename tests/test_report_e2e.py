"""`report` on sweeps that really ran (tiny data, real Keras Tuner, real MLflow on SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_sweep_file

from textsweep.reporting import make_report
from textsweep.runtime import textsweep_command  # as the hints print it

QUICKSTART_LIKE = {
    "hyperparameters": {
        "model": {"type": "choice", "values": ["multihot_dense", "embedding_pool"]},
        "maxlen": {"type": "fixed", "value": 24, "when": {"model": "embedding_pool"}},
        "embedding_dim": {"type": "choice", "values": [4, 8], "when": {"model": "embedding_pool"}},
        "dense_units": {"type": "choice", "values": [4, 8]},
        "dropout": {"type": "choice", "values": [0.0, 0.3]},
    }
}


@pytest.mark.slow
def test_quickstart_like_sweep_of_four_single_executions_makes_no_claim(
    workdir: Path, tiny_imdb: Path
) -> None:
    sweep = {
        "name": "quick",
        "question": "Which small model?",
        "dataset": {"format": "imdb", "path": str(tiny_imdb), "num_words": 100, "seed": 1},
        "search_space": QUICKSTART_LIKE,
        "tuner": {"algorithm": "random", "max_trials": 4, "executions_per_trial": 1, "seed": 1},
        "training": {"epochs": 1, "batch_size": 16},
    }
    result, _ = run_sweep_file(workdir, sweep)
    report = make_report(str(workdir / "quick.yaml"), out_dir=workdir / "out")
    data = json.loads((workdir / "out" / "report.json").read_text())
    values = [v for row in data["hyperparameters"].values() for v in row["values"]]
    assert values and all(v["ci_low"] is None and v["verdict"] is None for v in values)
    assert all(row["importance"] is None for row in data["hyperparameters"].values())
    assert data["importance"]["values"] is None and "maxlen" not in data["hyperparameters"]
    assert (data["answer"]["status"], data["answer"]["why"]) == (
        "undecided",
        "not enough executions",
    )
    assert data["answer"]["recommended"] is None
    assert f"textsweep run {workdir / 'quick.yaml'} --more 2" in report.answer_text()
    assert data["parent_run_id"] == result.parent_run_id


def test_hints_repeat_the_set_options_the_sweep_ran_with(workdir: Path, tiny_imdb: Path) -> None:
    import io

    import yaml
    from mlflow import MlflowClient

    from textsweep.config import load_sweep
    from textsweep.sweep import run_sweep

    uri = f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}"
    sweep = {
        "name": "quick",
        "dataset": {"format": "imdb", "path": str(tiny_imdb), "num_words": 100, "seed": 1},
        "search_space": QUICKSTART_LIKE,
        "tuner": {"algorithm": "random", "max_trials": 2, "seed": 1},
        "training": {"epochs": 1, "batch_size": 16},
        "tracking": {"uri": uri},
    }
    path = workdir / "quick.yaml"
    path.write_text(yaml.safe_dump(sweep), encoding="utf-8")
    overrides = ["name=other", "tuner.max_trials=4"]
    out = io.StringIO()
    result = run_sweep(
        load_sweep(path, overrides), out=out, sweep_arg=str(path), overrides=overrides
    )
    # `textsweep report quick.yaml` would look for the sweep the file names ('quick'): not this one
    assert f"answer the question: {textsweep_command()} report other --tracking-uri {uri}" in out.getvalue()
    args = MlflowClient(uri).get_run(result.parent_run_id).data.tags["textsweep.run_args"]
    assert args == f"{path} --set name=other --set tuner.max_trials=4"
    report = make_report("other", tracking_uri=uri, out_dir=workdir / "out")
    assert f"textsweep run {args} --more 2" in report.answer_text()


@pytest.mark.slow
def test_a_raced_sweep_is_reported_with_its_repeats_pooled_and_its_outcome(
    workdir: Path, tiny_imdb: Path
) -> None:
    sweep = {
        "name": "race",
        "question": "Which learning rate?",
        "dataset": {"format": "imdb", "path": str(tiny_imdb), "num_words": 200, "seed": 1},
        "search_space": {"hyperparameters": {
            "model": {"type": "fixed", "value": "multihot_dense"},
            "learning_rate": {"type": "choice", "values": [1.0e-7, 0.01]},
        }},
        "tuner": {"algorithm": "grid", "seed": 1, "repeats": {"min": 2, "max": 3}},
        "training": {"epochs": 2, "batch_size": 8},
    }  # fmt: skip
    _, parent = run_sweep_file(workdir, sweep)
    report = make_report(str(workdir / "race.yaml"), out_dir=workdir / "out")
    row = report.json["hyperparameters"]["learning_rate"]
    assert [v["n"] >= 2 for v in row["values"]] == [True, True]
    assert max(t.n for t in report.summary.ranked_trials) >= 2
    outcome = parent.data.tags["textsweep.repeats"]
    said = "ended decided" if outcome == "decided" else "ended on its budget"
    assert f"- adaptive repeats: {said}" in report.answer_text()

"""`report` on sweeps that really ran (tiny data, real Keras Tuner, real MLflow on SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_sweep_file

from textsweep.report import make_report

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
    assert data["answer"]["status"] == "not enough executions"
    assert f"textsweep run {workdir / 'quick.yaml'} --more 2" in report.answer[0]
    assert data["parent_run_id"] == result.parent_run_id

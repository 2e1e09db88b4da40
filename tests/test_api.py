"""The notebook API: `textsweep.run`, `textsweep.report` and `textsweep.load_best`, as the README
shows them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import textsweep
from textsweep.errors import UserError


def _sweep(data: Path) -> dict:
    return {
        "name": "api-demo",
        "question": "How wide should the Dense layer be?",
        "dataset": {"format": "imdb", "path": str(data), "validation_split": 0.25, "seed": 1,
                    "num_words": 200},
        "search_space": {"hyperparameters": {
            "model": {"type": "fixed", "value": "multihot_dense"},
            "dense_units": {"type": "choice", "values": [4, 8]},
        }},
        "tuner": {"algorithm": "grid", "seed": 1},
        "training": {"epochs": 3, "batch_size": 16},
    }  # fmt: skip


def test_notebook_example_runs_and_reports(tiny_imdb: Path, workdir: Path) -> None:
    uri = f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}"
    results, parent_run_id = textsweep.run(
        _sweep(tiny_imdb), tracking_uri=uri, epochs=1, training__batch_size=8, out=io.StringIO()
    )
    assert (len(results), set(results["dense_units"]), results["status"].unique().tolist()) == (
        2,
        {4, 8},
        ["FINISHED"],
    )
    from mlflow import MlflowClient

    parent = MlflowClient(uri).get_run(parent_run_id)
    assert (parent.data.params["training.epochs"], parent.info.status) == ("1", "FINISHED")
    answer = textsweep.report("api-demo", tracking_uri=uri, out=workdir / "report")
    text = answer.answer_text()
    assert text.startswith("Undecided: best dense_units = ")  # one execution each
    assert "\n- question: How wide should the Dense layer be?\n" in text
    model = textsweep.load_best("api-demo", tracking_uri=uri)
    table = model.predict(["a wonderful, moving film", "dull and far too long"])
    assert (list(table.columns), len(table)) == (["neg", "pos"], 2)
    assert ((table.sum(axis=1) - 1.0).abs() < 1e-5).all()


def test_overrides_name_the_key(tiny_imdb: Path, workdir: Path) -> None:
    with pytest.raises(UserError, match=r"tuner\.algorithm"):
        textsweep.run(_sweep(tiny_imdb), tuner__algorithm="annealing", out=io.StringIO())

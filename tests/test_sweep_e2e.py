"""End-to-end sweeps on tiny data into a real SQLite MLflow store, read back with MlflowClient."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from textsweep.config import load_sweep
from textsweep.sweep import run_sweep
from textsweep.tracking import EPOCH_METRICS, FINAL_METRICS

SPACE = {
    "hyperparameters": {
        "model": {"type": "choice", "values": ["multihot_dense", "embedding_pool"]},
        "maxlen": {"type": "fixed", "value": 24, "when": {"model": "embedding_pool"}},
        "embedding_dim": {"type": "choice", "values": [4, 8], "when": {"model": "embedding_pool"}},
        "dense_units": {"type": "choice", "values": [4, 8]},
        "learning_rate": {"type": "float", "min": 0.005, "max": 0.02, "sampling": "log", "step": 2},
    }
}


def write_sweep(folder: Path, data: Path, tuner: dict, epochs: int = 2, name: str = "tiny") -> Path:
    sweep = {
        "name": name,
        "question": "Which tiny model?",
        "dataset": {"format": "imdb", "path": str(data), "num_words": 100, "seed": 1},
        "search_space": SPACE,
        "tuner": {"seed": 1, **tuner},
        "training": {"epochs": epochs, "batch_size": 16},
        "tracking": {"uri": f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(sweep), encoding="utf-8")
    return path


def runs_by_role(uri: str, experiment: str) -> dict[str, list]:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    out: dict[str, list] = {}
    for run in runs:
        out.setdefault(run.data.tags.get("textsweep.role", "?"), []).append(run)
    return out


def check_trial_run(client: MlflowClient, run, parent_id: str) -> None:
    tags, data = run.data.tags, run.data
    assert run.info.status == "FINISHED"
    assert tags["mlflow.parentRunId"] == parent_id
    assert tags["textsweep.trial_id"] and run.info.run_name.startswith(f"t{tags['textsweep.trial_id']} ")
    assert {"model", "dense_units", "learning_rate", "batch_size", "training.epochs"} <= set(data.params)
    if data.params["model"] == "embedding_pool":
        assert {"maxlen", "embedding_dim"} <= set(data.params)
    else:
        assert "maxlen" not in data.params
    assert set(FINAL_METRICS) <= set(data.metrics)
    # epochs count from 1 (MLflow's step too); Hyperband continues earlier trials
    first = int(data.params.get("hyperband.initial_epoch", 0)) + 1
    for metric in EPOCH_METRICS:
        history = client.get_metric_history(run.info.run_id, metric)
        assert history and [m.step for m in history] == list(range(first, first + len(history)))
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"history.csv", "curves.png", "model_summary.txt"} <= artifacts


@pytest.mark.parametrize(
    "tuner, expected_trials",
    [
        ({"algorithm": "random", "max_trials": 2}, 2),
        ({"algorithm": "hyperband", "max_epochs": 3, "factor": 3}, None),
    ],
)
def test_sweep_records_parent_and_trial_runs(workdir: Path, tiny_imdb: Path, tuner: dict, expected_trials: int | None) -> None:
    sweep = load_sweep(write_sweep(workdir, tiny_imdb, tuner, epochs=3 if tuner["algorithm"] == "hyperband" else 2))
    result = run_sweep(sweep, out=io.StringIO())
    uri = sweep.tracking_uri()
    client = MlflowClient(uri)
    roles = runs_by_role(uri, "tiny")
    (parent,) = roles["sweep"]
    assert parent.info.run_id == result.parent_run_id and parent.info.status == "FINISHED"
    assert parent.data.tags["textsweep.sweep"] == "tiny"
    parent_files = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"results.csv", "sweep"} <= parent_files
    assert "sweep/tiny.yaml" in {a.path for a in client.list_artifacts(parent.info.run_id, "sweep")}
    trials = roles["trial"]
    if expected_trials is not None:
        assert len(trials) == expected_trials
    else:
        assert len(trials) >= 2 and any("hyperband.epochs" in t.data.params for t in trials)
    for run in trials:
        check_trial_run(client, run, parent.info.run_id)
    table = client.download_artifacts(parent.info.run_id, "results.csv", str(workdir))
    rows = list(csv.DictReader(open(table, encoding="utf-8")))
    assert len(rows) == len(trials) and "test_accuracy" in rows[0] and "model" in rows[0]
    assert result.completed == len(trials) and result.best_trial_id is not None


def test_executions_are_nested_runs_with_their_own_seeds(workdir: Path, tiny_imdb: Path) -> None:
    sweep = load_sweep(write_sweep(workdir, tiny_imdb, {"algorithm": "random", "max_trials": 1, "executions_per_trial": 2}))
    run_sweep(sweep, out=io.StringIO())
    client = MlflowClient(sweep.tracking_uri())
    roles = runs_by_role(sweep.tracking_uri(), "tiny")
    (trial,) = roles["trial"]
    executions = roles["execution"]
    assert len(executions) == 2
    assert {e.data.tags["mlflow.parentRunId"] for e in executions} == {trial.info.run_id}
    assert len({e.data.tags["textsweep.seed"] for e in executions}) == 2
    values = [e.data.metrics["best_val_accuracy"] for e in executions]
    assert trial.data.metrics["best_val_accuracy"] == pytest.approx(sum(values) / 2)
    assert "best_val_accuracy_std" in trial.data.metrics and "test_accuracy_std" in trial.data.metrics
    assert len(client.get_metric_history(executions[0].info.run_id, "val_accuracy")) == 2


def test_grid_runs_every_combination_once(workdir: Path, tiny_imdb: Path) -> None:
    space = {"hyperparameters": {"model": {"type": "fixed", "value": "multihot_dense"},
                                 "dense_units": {"type": "choice", "values": [4, 8, 16]}}}  # fmt: skip
    path = write_sweep(workdir, tiny_imdb, {"algorithm": "grid"}, epochs=1)
    raw = yaml.safe_load(path.read_text())
    raw["search_space"] = space
    path.write_text(yaml.safe_dump(raw))
    sweep = load_sweep(path)
    out = io.StringIO()
    run_sweep(sweep, out=out)
    trials = runs_by_role(sweep.tracking_uri(), "tiny")["trial"]
    assert sorted(int(t.data.params["dense_units"]) for t in trials) == [4, 8, 16]
    assert "(3 of 3)" in out.getvalue()


def test_jit_compile_from_the_command_line_compiles_the_lstm_and_leaves_bags_alone(
    workdir: Path, tiny_imdb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--set training.jit_compile=true`: the LSTM trains under XLA, the sparse bag as before
    (XLA has no sparse matmul), both trials finish, and every run names the setting."""
    import keras

    from textsweep.cli import main
    from textsweep.sweep import hypermodel

    space = {"hyperparameters": {
        "model": {"type": "choice", "values": ["multihot_dense", "embedding_lstm"]},
        "maxlen": {"type": "fixed", "value": 24, "when": {"model": "embedding_lstm"}},
        "embedding_dim": {"type": "fixed", "value": 4, "when": {"model": "embedding_lstm"}},
        "lstm_units": {"type": "fixed", "value": 4, "when": {"model": "embedding_lstm"}},
    }}  # fmt: skip
    path = write_sweep(workdir, tiny_imdb, {"algorithm": "grid"}, epochs=1)
    raw = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**raw, "search_space": space}))
    seen: dict[str, bool] = {}
    applied = hypermodel.apply_jit_compile

    def watched(model: keras.Model, values: dict, jit: bool | None) -> None:
        applied(model, values, jit)
        seen[values["model"]] = model.jit_compile  # what Keras's fit compiles with

    monkeypatch.setattr(hypermodel, "apply_jit_compile", watched)
    assert main(["run", str(path), "--set", "training.jit_compile=true"]) == 0
    assert seen == {"embedding_lstm": True, "multihot_dense": False}
    runs = runs_by_role(f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}", "tiny")
    assert sorted(t.data.params["model"] for t in runs["trial"]) == [
        "embedding_lstm", "multihot_dense"
    ]  # fmt: skip
    assert all(t.info.status == "FINISHED" for t in runs["trial"])
    for run in runs["trial"] + runs["sweep"]:
        assert run.data.params["training.jit_compile"] == "True"

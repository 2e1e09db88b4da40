"""`textsweep run SWEEP --more K`: more seeded executions of a finished execution's trials."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from conftest import run_sweep_file

from textsweep.config import load_sweep
from textsweep.errors import UserError
from textsweep.sweep.more import add_executions


def _sweep(data: Path) -> dict:
    return {
        "name": "more",
        "dataset": {"format": "imdb", "path": str(data), "num_words": 200, "seed": 1},
        "search_space": {"hyperparameters": {
            "model": {"type": "fixed", "value": "multihot_dense"},
            "dense_units": {"type": "choice", "values": [4, 8]},
        }},
        "tuner": {"algorithm": "grid", "seed": 1},
        "training": {"epochs": 1, "batch_size": 16},
    }  # fmt: skip


def test_more_adds_seeded_executions_and_the_trial_holds_their_mean(
    tiny_imdb: Path, workdir: Path
) -> None:
    from mlflow import MlflowClient

    result, parent = run_sweep_file(workdir, _sweep(tiny_imdb))
    sweep = load_sweep(workdir / "more.yaml")
    again = add_executions(sweep, 2, out=io.StringIO())
    assert again.parent_run_id == result.parent_run_id
    client = MlflowClient(sweep.tracking_uri())
    parent = client.get_run(result.parent_run_id)
    assert (parent.info.status, parent.data.tags["textsweep.more"]) == ("FINISHED", "2")
    exp = parent.info.experiment_id
    for trial in client.search_runs([exp], "tags.`textsweep.role` = 'trial'"):
        runs = client.search_runs(
            [exp], f"tags.`mlflow.parentRunId` = '{trial.info.run_id}'"
        )
        assert sorted(r.data.tags["textsweep.execution"] for r in runs) == ["0", "1", "2"]
        seeds = {r.data.tags["textsweep.seed"] for r in runs}
        assert len(seeds) == 3
        values = [r.data.metrics["best_val_accuracy"] for r in runs]
        # metrics are made and logged to 6 significant digits (tracking.plain)
        assert math.isclose(trial.data.metrics["best_val_accuracy"], sum(values) / 3, rel_tol=1e-5)
        assert "best_val_accuracy_std" in trial.data.metrics


def test_more_without_a_finished_execution_is_refused(tiny_imdb: Path, workdir: Path) -> None:
    import yaml

    path = workdir / "more.yaml"
    path.write_text(yaml.safe_dump(_sweep(tiny_imdb)), encoding="utf-8")
    with pytest.raises(UserError, match=r"--more: no finished execution of sweep 'more'"):
        add_executions(load_sweep(path), 1, out=io.StringIO())


@pytest.mark.slow
def test_more_moves_the_champion_to_the_best_trial_of_the_pooled_means(
    tiny_imdb: Path, workdir: Path
) -> None:
    from mlflow import MlflowClient

    sweep = {**_sweep(tiny_imdb), "tracking": {"log_models": "all"}}
    result, _ = run_sweep_file(workdir, sweep)
    loaded = load_sweep(workdir / "more.yaml")
    client = MlflowClient(loaded.tracking_uri())
    # a champion that is not the best trial's model (as after the means moved)
    exp = client.get_run(result.parent_run_id).info.experiment_id
    other = next(r for r in client.search_runs([exp], "tags.`textsweep.role` = 'trial'")
                 if r.info.run_id != result.best_run_id)  # fmt: skip
    stale = client.create_model_version(
        "more", f"{other.info.artifact_uri}/model", other.info.run_id
    )
    client.set_registered_model_alias("more", "champion", stale.version)
    out = io.StringIO()
    again = add_executions(loaded, 1, out=out)
    champion = client.get_model_version_by_alias("more", "champion")
    assert champion.run_id == again.best_run_id
    if again.best_run_id != other.info.run_id:
        assert "registered as models:/more@champion" in out.getvalue()


@pytest.mark.slow
def test_more_keeps_a_model_for_a_best_trial_that_logged_none(
    tiny_imdb: Path, workdir: Path
) -> None:
    import shutil
    from urllib.parse import urlparse

    from mlflow import MlflowClient

    from textsweep.export.registry import load_model, predict

    result, _ = run_sweep_file(workdir, _sweep(tiny_imdb))  # log_models: best
    loaded = load_sweep(workdir / "more.yaml")
    client = MlflowClient(loaded.tracking_uri())
    # as if the pooled means had moved the best to a trial that logged no model
    best = client.get_run(result.best_run_id)
    shutil.rmtree(Path(urlparse(best.info.artifact_uri).path) / "model")
    client.delete_tag(best.info.run_id, "textsweep.model")
    client.delete_registered_model("more")
    out = io.StringIO()
    again = add_executions(loaded, 1, out=out)
    exp = best.info.experiment_id
    trials = client.search_runs([exp], "tags.`textsweep.role` = 'trial'")
    holding = [t.info.run_id for t in trials if "textsweep.model" in t.data.tags]
    assert holding == [again.best_run_id]
    champion = client.get_model_version_by_alias("more", "champion")
    assert champion.run_id == again.best_run_id
    assert "registered as models:/more@champion (version 1," in out.getvalue()
    model = load_model("models:/more@champion", loaded.tracking_uri())
    assert len(predict(model, ["a wonderful film", "dull"])) == 2

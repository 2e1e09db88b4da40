"""Extending textsweep as a user would, through the command line: the README's `embedding_cnn`
family saved beside the sweep file, and a tuner algorithm added by one module, each passing
`textsweep validate` and `textsweep run` on the tiny IMDB data with a real SQLite MLflow store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")

# A test-only algorithm, in one module: the first `k` combinations of the grid, in order.
FIRST_K = """
from typing import Any, Literal

from pydantic import Field

from textsweep.tuners import Algorithm, TunerOptions, register


class FirstKOptions(TunerOptions):
    algorithm: Literal["first_k"] = "first_k"
    k: int = Field(2, ge=1)


def make(sweep: Any, oracle_args: dict[str, Any]) -> tuple[type, dict[str, Any]]:
    import keras_tuner as kt

    configs = list(sweep.space.iter_grid())[: planned_trials(sweep)]

    class FirstKOracle(kt.Oracle):
        def populate_space(self, trial_id: str) -> dict[str, Any]:
            index = len(self.trials)  # this trial's place: the trials before it are recorded
            if index >= len(configs):
                return {"status": "STOPPED"}
            hp = self.get_space()
            hp.values.update(configs[index])
            return {"status": "RUNNING", "values": hp.values}

    return kt.Tuner, {"oracle": FirstKOracle(max_trials=len(configs), **oracle_args)}


def planned_trials(sweep: Any) -> int:
    return min(sweep.config.tuner.k, sweep.space.grid_size() or 0)


register(Algorithm("first_k", FirstKOptions, make=make, planned_trials=planned_trials))
"""


def readme_family_module() -> str:
    """The README's `embedding_cnn` example module, as documented."""
    part = README.split("<!-- example: embedding_cnn -->", 1)[1]
    found = re.search(r"```python\n(.*?)```", part, re.DOTALL)
    assert found is not None
    return found.group(1)


def readme_sweep_lines() -> dict:
    """The README's sweep lines that go with the example (`families:` and the space)."""
    part = README.split("<!-- example: embedding_cnn -->", 1)[1]
    found = re.search(r"```yaml\n(.*?)```", part, re.DOTALL)
    assert found is not None
    return yaml.safe_load(found.group(1))


def textsweep(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TEXTSWEEP_HOME": str(folder / ".textsweep")}
    env.pop("TEXTSWEEP_DATA_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "textsweep", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def write_sweep(folder: Path, body: dict) -> Path:
    path = folder / "sweep.yaml"
    tracking = {"uri": f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"}
    path.write_text(yaml.safe_dump({**body, "tracking": tracking}), encoding="utf-8")
    return path


def trial_runs(folder: Path, experiment: str) -> list:
    client = MlflowClient(f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}")
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    return client.search_runs([found.experiment_id], "tags.`textsweep.role` = 'trial'")


@pytest.mark.slow
def test_the_readme_family_passes_validate_and_run_from_the_command_line(
    tmp_path: Path, tiny_imdb: Path
) -> None:
    (tmp_path / "my_families.py").write_text(readme_family_module(), encoding="utf-8")
    lines = readme_sweep_lines()
    assert lines["families"] == ["my_families"]
    path = write_sweep(
        tmp_path,
        {
            "name": "cnn",
            **lines,
            "dataset": {"format": "imdb", "path": str(tiny_imdb), "num_words": 100, "seed": 1},
            "tuner": {"algorithm": "grid", "seed": 1},
            "training": {"epochs": 1, "batch_size": 16},
        },
    )
    checked = textsweep(tmp_path, "validate", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "tuner: grid, 3 grid trials x 1 execution(s)" in checked.stdout
    ran = textsweep(tmp_path, "run", str(path))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "3 of 3" in ran.stdout, ran.stdout
    trials = trial_runs(tmp_path, "cnn")
    assert all(t.info.status == "FINISHED" for t in trials)
    cnn = sorted(
        t.data.params["filters"] for t in trials if t.data.params["model"] == "embedding_cnn"
    )
    assert cnn == ["32", "64"]
    assert {t.data.params["kernel_size"] for t in trials if "kernel_size" in t.data.params} == {"5"}


@pytest.mark.slow
def test_a_tuner_added_by_one_module_runs_from_the_command_line(
    tmp_path: Path, tiny_imdb: Path
) -> None:
    (tmp_path / "first_k.py").write_text(FIRST_K, encoding="utf-8")
    body = {
        "name": "firstk",
        "families": ["first_k"],  # a sweep's own modules, imported before `tuner:` is read
        "dataset": {"format": "imdb", "path": str(tiny_imdb), "num_words": 50, "seed": 1},
        "search_space": {
            "hyperparameters": {
                "model": {"type": "fixed", "value": "multihot_dense"},
                "dense_units": {"type": "choice", "values": [4, 8, 16]},
                "dropout": {"type": "choice", "values": [0.0, 0.5]},
            }
        },
        "tuner": {"algorithm": "first_k", "k": 2},
        "training": {"epochs": 1, "batch_size": 16},
    }
    path = write_sweep(tmp_path, body)
    checked = textsweep(tmp_path, "validate", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "tuner: first_k, 2 trials x 1 execution(s)" in checked.stdout

    wrong = write_sweep(tmp_path, {**body, "tuner": {"algorithm": "first_k", "factor": 3}})
    refused = textsweep(tmp_path, "validate", str(wrong))
    assert refused.returncode == 2
    assert "sweep.yaml: tuner.factor: an option of hyperband, not of first_k" in refused.stderr

    path = write_sweep(tmp_path, body)
    ran = textsweep(tmp_path, "run", str(path))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "2 of 2" in ran.stdout, ran.stdout
    trials = trial_runs(tmp_path, "firstk")
    assert len(trials) == 2 and all(t.info.status == "FINISHED" for t in trials)
    # the first two combinations of the grid, in its order
    assert sorted((t.data.params["dense_units"], t.data.params["dropout"]) for t in trials) == [
        ("4", "0.0"),
        ("4", "0.5"),
    ]

"""What a new user meets first: MLflow's UI ready for comparing, one numbering convention,
hints that fit, a store found from anywhere in the project, warnings about settings a model never
uses, and a quiet, helpful command line."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow import MlflowClient

from textsweep.cli import build_parser
from textsweep.config import default_tracking_uri, load_sweep
from textsweep.errors import UserError
from textsweep.sweep import run_sweep
from textsweep.sweep.parent import SweepResult, summary
from textsweep.sweep.progress import Progress
from textsweep.tracking import Tracker, plain, views

SPACE = {
    "hyperparameters": {
        "model": {"type": "choice", "values": ["multihot_dense", "embedding_pool"]},
        "maxlen": {"type": "fixed", "value": 24, "when": {"model": "embedding_pool"}},
        "embedding_dim": {"type": "fixed", "value": 4},  # no `when:`: multihot_dense ignores it
        "dense_units": {"type": "choice", "values": [4, 8]},
    }
}


def write(folder: Path, data: Path, space: dict[str, Any] = SPACE, **tuner: Any) -> Path:
    sweep = {
        "name": "first",
        "question": "Which tiny model?",
        "dataset": {"format": "imdb", "path": str(data), "num_words": 100, "seed": 1},
        "search_space": space,
        "tuner": {"algorithm": "grid", "seed": 1, **tuner},
        "training": {"epochs": 2, "batch_size": 16},
        "tracking": {"uri": f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"},
    }
    path = folder / "first.yaml"
    path.write_text(yaml.safe_dump(sweep), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One tiny grid sweep (4 trials, 2 epochs), run once for the tests that read it back."""
    from conftest import write_aclimdb

    root = tmp_path_factory.mktemp("first")
    old = os.environ.get("TEXTSWEEP_HOME")
    os.environ["TEXTSWEEP_HOME"] = str(root / "home")
    try:
        write_aclimdb(root / "data")
        sweep = load_sweep(write(root, root / "data"))
        out = io.StringIO()
        result = run_sweep(sweep, out=out)
    finally:
        if old is None:
            os.environ.pop("TEXTSWEEP_HOME", None)
        else:
            os.environ["TEXTSWEEP_HOME"] = old
    client = MlflowClient(sweep.tracking_uri())
    runs = client.search_runs([result.experiment_id])
    return {"sweep": sweep, "result": result, "out": out.getvalue(), "client": client,
            "trials": [r for r in runs if r.data.tags.get("textsweep.role") == "trial"],
            "parent": client.get_run(result.parent_run_id)}  # fmt: skip


def test_the_experiment_opens_as_model_training_with_a_comparison_view(swept: dict[str, Any]) -> None:
    tags = swept["client"].get_experiment(swept["result"].experiment_id).tags
    assert tags["mlflow.experimentKind"] == "custom_model_development"
    view = json.loads(tags[views.VIEW_TAG])
    state = json.loads(view["state"])
    assert view["name"] == views.VIEW_NAME
    assert state["selectedColumns"][:2] == ["params.`model`", "params.`dense_units`"]
    assert "metrics.`best_val_accuracy`" in state["selectedColumns"]
    parallel = state["compareRunCharts"][0]
    assert parallel["type"] == "PARALLEL" and parallel["selectedParams"] == ["model", "dense_units"]
    assert parallel["selectedMetrics"] == ["best_val_accuracy", "test_accuracy"]
    assert f"viewStateShareKey={views.VIEW_ID}" in swept["out"]


def test_an_existing_experiment_is_marked_and_a_users_kind_is_kept(workdir: Path) -> None:
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    client = MlflowClient(uri)
    plain = client.create_experiment("plain")
    chosen = client.create_experiment("chosen", tags={"mlflow.experimentKind": "genai_development"})
    Tracker.open(uri, "plain"), Tracker.open(uri, "chosen")
    assert client.get_experiment(plain).tags["mlflow.experimentKind"] == "custom_model_development"
    assert client.get_experiment(chosen).tags["mlflow.experimentKind"] == "genai_development"


def test_trial_runs_are_named_after_the_values_their_model_uses(swept: dict[str, Any]) -> None:
    names = {r.info.run_name for r in swept["trials"]}
    assert {name.split(" ", 1)[1] for name in names} == {
        "multihot_dense units=4", "multihot_dense units=8",
        "embedding_pool units=4", "embedding_pool units=8"}  # fmt: skip
    assert {name.split(" ", 1)[0] for name in names} == {"t00", "t01", "t02", "t03"}
    dense = [r for r in swept["trials"] if r.data.params["model"] == "multihot_dense"]
    assert all("maxlen" not in r.data.params and "embedding_dim" not in r.data.params for r in dense)


def test_run_names_are_short_and_keep_the_distinguishing_value() -> None:
    assert views.trial_run_name("02", {"model": "lstm", "lstm_units": 64}, ["lstm_units"]) == (
        "t02 units=64")
    # two names ending alike keep their full names; the model's value stands alone
    both = {"model": "lstm", "lstm_units": 64, "dense_units": 8, "learning_rate": 0.001}
    assert views.trial_run_name("07", both, ["model", "lstm_units", "dense_units", "learning_rate"],
                                execution=2) == "t07 lstm lstm_units=64 dense_units=8 lr=0.001 #2"


def test_a_raced_sweep_s_view_groups_by_the_varied_values_with_the_mean() -> None:
    state = views.view_state(["lstm_units"], "val_accuracy", "max", grouped=True)
    assert state["groupBy"] == {"aggregateFunction": "average",
                                "groupByKeys": [{"mode": "param", "groupByData": "lstm_units"}]}
    assert state["runsHiddenMode"] == "SHOW_ALL" and state["useGroupedValuesInCharts"]
    assert state["columnOrder"][:2] == [views.RUN_NAME_COLUMN, "params.`lstm_units`"]
    assert views.view_state(["lstm_units"], "val_accuracy", "max")["groupBy"] is None


def test_the_parent_run_carries_the_best_trial_and_the_answer(swept: dict[str, Any]) -> None:
    parent, result = swept["parent"], swept["result"]
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(result.best_objective)
    assert parent.data.metrics["test_accuracy"] == pytest.approx(result.best_test_accuracy)
    note = parent.data.tags["mlflow.note.content"]
    # the answer first (four single executions cannot be compared), then its bullets
    assert note.startswith("**Undecided: best model=") and "dense_units" in note
    assert "\n- why undecided: not enough executions" in note
    assert "\n- question: Which tiny model?" in note
    assert parent.data.tags["textsweep.best_trial"] == f"t{result.best_trial_id}"


def test_trials_and_epochs_are_numbered_alike_in_terminal_and_mlflow(swept: dict[str, Any]) -> None:
    out, client = swept["out"], swept["client"]
    assert "trial t00 (1 of 4)  " in out
    dense_lines = [line for line in out.splitlines() if line.startswith("trial t") and "multihot" in line]
    assert len(dense_lines) == 2 and not any("embedding_dim" in line for line in dense_lines)
    assert any("embedding_dim=4" in line for line in out.splitlines() if "embedding_pool" in line)
    assert f"best configuration (t{swept['result'].best_trial_id}" in out
    assert "  epoch 1/2  " in out and "  epoch 2/2  " in out
    for run in swept["trials"]:
        assert [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")] == [1, 2]
        assert run.data.metrics["best_epoch"] in (1.0, 2.0)
        # logged without float noise (0.95, not 0.949999988079071; 6 significant digits)
        assert all(v == plain(v) for v in run.data.metrics.values()), run.data.metrics
        curve = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert all(m.value == plain(m.value) for m in curve)
        history = client.download_artifacts(run.info.run_id, "history.csv")
        assert [line.split(",")[0] for line in Path(history).read_text().splitlines()[1:]] == ["1", "2"]


def test_epoch_lines_fit_80_columns_and_counts_are_singular() -> None:
    out = io.StringIO()
    progress = Progress("val_accuracy", "max", 1, out=out)
    logs = {"loss": 9.123456, "accuracy": 0.5, "val_loss": 9.123456, "val_accuracy": 0.5}
    progress.epoch_end(98, 99, logs, 3599.0, "[9/9] ")
    line = out.getvalue().rstrip("\n")
    assert line == "  [9/9] epoch 99/99  loss 9.123 acc 0.500  val_loss 9.123 val_acc 0.500  59m59s"
    assert len(line) <= 80


def result(uri: str, completed: int = 1) -> SweepResult:
    return SweepResult(tracking_uri=uri, experiment_id="3", parent_run_id="abc", completed=completed,
                       failed=0, best_trial_id="02", best_values={"units": 8}, best_objective=0.8,
                       best_test_accuracy=0.7)  # fmt: skip


def test_hints_repeat_the_tracking_uri_the_user_gave(tmp_path: Path, tiny_imdb: Path) -> None:
    sweep = load_sweep(write(tmp_path, tiny_imdb))
    given = "sqlite:////elsewhere/mlflow.db"
    text = summary(result(given), sweep, 3.0)
    assert f"textsweep ui --tracking-uri {given}, then open http://127.0.0.1:5000/#/experiments/3/runs" in text
    assert f"textsweep report {sweep.path} --tracking-uri {given}" in text
    assert "done in 3s: 1 trial completed" in text and "best configuration (t02; best mean so far, not decided)" in text
    remote = summary(result("http://127.0.0.1:5001"), sweep, 3.0)
    assert "open http://127.0.0.1:5001/#/experiments/3/runs?viewStateShareKey=" in remote
    own = summary(result(sweep.tracking_uri()), sweep, 3.0)
    assert "--tracking-uri" not in own


def test_the_default_store_is_the_project_roots_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    (project / "sweeps").mkdir(parents=True)
    (project / "notebooks").mkdir()
    (project / "sweeps" / "s.yaml").write_text(yaml.safe_dump(
        {"name": "s", "dataset": {"format": "imdb"}, "search_space": SPACE}), encoding="utf-8")  # fmt: skip
    expected = f"sqlite:///{project.resolve() / 'mlruns' / 'mlflow.db'}"
    monkeypatch.chdir(project / "notebooks")
    assert default_tracking_uri() == expected
    monkeypatch.chdir(tmp_path)  # outside the project: found from the sweep file's folder
    assert load_sweep(project / "sweeps" / "s.yaml").tracking_uri() == expected
    monkeypatch.chdir(project)
    assert default_tracking_uri() == "sqlite:///mlruns/mlflow.db"


def test_report_says_where_it_looked_for_the_store(workdir: Path) -> None:
    from textsweep.reporting import make_report

    with pytest.raises(UserError, match=rf"no MLflow store at mlruns/mlflow.db \(looked for {workdir}/mlruns/mlflow.db"):
        make_report("some-sweep")


def validate(path: Path, *extra: str) -> str:
    done = subprocess.run([sys.executable, "-m", "textsweep", "validate", str(path), *extra],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_validate_warns_about_a_setting_some_families_never_read(tmp_path: Path, tiny_imdb: Path) -> None:
    space = {"hyperparameters": {**SPACE["hyperparameters"], "embedding_dim": {"type": "choice", "values": [4, 8]}}}
    out = validate(write(tmp_path, tiny_imdb, space))
    assert ("warning: embedding_dim has no `when:`, and multihot_dense never reads it; add "
            "`when: {model: embedding_pool}` to it") in out
    assert "grid size: 8" in out and "distinct models: 6" in out
    clean = {"hyperparameters": {k: v for k, v in SPACE["hyperparameters"].items() if k != "embedding_dim"}}
    assert "warning" not in validate(write(tmp_path, tiny_imdb, clean))


def test_an_unknown_key_suggests_the_nearest_name(tmp_path: Path, tiny_imdb: Path) -> None:
    path = write(tmp_path, tiny_imdb)
    with pytest.raises(UserError, match=r"training.epoch: unknown key; did you mean `epochs`\?"):
        load_sweep(path, ["training.epoch=3"])
    with pytest.raises(UserError, match=r"unknown hyperparameter `lstm_unit`; did you mean `lstm_units`\?"):
        load_sweep(path, ["fixed.lstm_unit=3"])


def test_verbose_after_the_subcommand_and_help_for_every_option() -> None:
    parser = build_parser()
    assert parser.parse_args(["validate", "x.yaml", "--verbose"]).verbose
    assert parser.parse_args(["--verbose", "validate", "x.yaml"]).verbose
    assert not parser.parse_args(["validate", "x.yaml"]).verbose
    missing = []

    def walk(p: Any, where: str) -> None:
        for action in p._actions:
            if action.help is None and not isinstance(action, argparse._SubParsersAction):
                missing.append(f"{where} {'/'.join(action.option_strings) or action.dest}")
            for name, sub in (getattr(action, "choices", None) or {}).items():
                if hasattr(sub, "_actions"):
                    walk(sub, f"{where} {name}")

    walk(parser, "textsweep")
    assert missing == []


def test_tensorflow_start_up_lines_never_reach_the_terminal(workdir: Path, tiny_imdb: Path) -> None:
    empty = workdir / "no-data"
    empty.mkdir()
    sweep = write(workdir, tiny_imdb)
    env = {**os.environ, "TEXTSWEEP_DATA_DIR": str(empty), "https_proxy": "http://127.0.0.1:9",
           "HTTPS_PROXY": "http://127.0.0.1:9", "KERAS_HOME": str(workdir / "keras")}  # fmt: skip
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    done = subprocess.run(
        [sys.executable, "-m", "textsweep", "run", str(sweep), "--set", "dataset.path=null"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 2
    assert "could not be downloaded" in done.stderr
    for noise in ("oneDNN", "absl", "cpu_feature_guard", "I0000"):
        assert noise not in done.stdout + done.stderr

"""`make_report` on fake sweeps written to a real SQLite MLflow store in the tracking layout."""

from __future__ import annotations

import json
import math
import shutil
from itertools import combinations
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
from scipy import stats

from textsweep.errors import UserError
from textsweep.reporting import Report, build_report, load_records, make_report, resolve_sweep

UNITS_EFFECT = {16: 0.70, 32: 0.86, 64: 0.87}


class Grid(NamedTuple):
    uri: str
    client: MlflowClient
    parent: str
    report: Report
    out: Path


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite database with its schema created once: migrations take seconds."""
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


def store(tmp_path: Path, empty_db: Path) -> tuple[str, MlflowClient]:
    shutil.copyfile(empty_db, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    return uri, MlflowClient(tracking_uri=uri)


def new_experiment(client: MlflowClient, tmp_path: Path, name: str) -> str:
    return client.create_experiment(name, artifact_location=(tmp_path / "artifacts").as_uri())


def parent_run(
    client: MlflowClient,
    exp: str,
    name: str,
    executions: int,
    start: int | None = None,
    status: str = "FINISHED",
    config_hash: str = "h1",
    space: dict | None = None,
) -> str:
    """A sweep execution's parent run; with `space`, the resolved sweep artifact declaring it."""
    tags = {
        "textsweep.sweep": name,
        "textsweep.role": "sweep",
        "textsweep.question": "How many LSTM units?",
        "textsweep.objective": "val_accuracy",
        "textsweep.config_hash": config_hash,
        "textsweep.state": "finished" if status == "FINISHED" else "interrupted",
    }
    run = client.create_run(exp, start_time=start, tags=tags, run_name=name)
    params = {"objective": "val_accuracy", "tuner.algorithm": "grid", "dataset.format": "imdb"}
    params["tuner.executions_per_trial"] = str(executions)
    client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in params.items()])
    if space is not None:
        resolved = {"sweep": {"name": name}, "search_space": {"hyperparameters": space}}
        client.log_text(run.info.run_id, json.dumps(resolved), "sweep/resolved.json")
    client.set_terminated(run.info.run_id, status=status)
    return run.info.run_id


def log_training(client: MlflowClient, run_id: str, objective: float, seconds: float) -> None:
    curve = [objective - 0.05, objective, objective - 0.01]
    metrics = [Metric("val_accuracy", v, 0, step) for step, v in enumerate(curve)]
    metrics += [Metric("val_loss", 1 - v, 0, step) for step, v in enumerate(curve)]
    final = {
        "best_val_accuracy": objective,
        "best_val_loss": 1 - objective,
        "best_epoch": 1,
        "test_accuracy": objective - 0.02,
        "test_loss": 1.1 - objective,
        "train_seconds": seconds,
    }
    metrics += [Metric(k, v, 0, 0) for k, v in final.items()]
    client.log_batch(run_id, metrics=metrics)


def trial_run(
    client: MlflowClient,
    exp: str,
    parent: str,
    trial: int,
    hp: dict[str, str],
    objectives: list[float],
    params_count: float,
    status: str = "FINISHED",
) -> None:
    tags = {
        "mlflow.parentRunId": parent,
        "textsweep.role": "trial",
        "textsweep.trial_id": str(trial),
    }
    run = client.create_run(exp, tags=tags, run_name=f"trial-{trial}")
    rid = run.info.run_id
    fixed = {"training.epochs": "3", "dataset.num_words": "1000", "model": "embedding_lstm"}
    client.log_batch(rid, params=[Param(k, v) for k, v in {**hp, **fixed}.items()])
    if status != "FINISHED":
        client.set_tag(rid, "textsweep.error", "ValueError: boom")
        client.set_terminated(rid, status=status)
        return
    if len(objectives) == 1:
        log_training(client, rid, objectives[0], 10.0)
    else:
        log_training(client, rid, float(np.mean(objectives)), 10.0)
        for i, objective in enumerate(objectives):
            child_tags = {
                "mlflow.parentRunId": rid,
                "textsweep.role": "execution",
                "textsweep.execution": str(i),
                "textsweep.seed": str(100 + i),
            }
            child = client.create_run(exp, tags=child_tags, run_name=f"trial-{trial}-exec-{i}")
            log_training(client, child.info.run_id, objective, 10.0 + i)
            client.log_metric(child.info.run_id, "params_count", params_count)
            client.set_terminated(child.info.run_id)
    client.log_metric(rid, "params_count", params_count)
    client.set_terminated(rid)


def grid_sweep(
    tmp_path: Path, empty_db: Path, name: str = "units"
) -> tuple[str, MlflowClient, str]:
    """6 trials x 3 executions over lstm_units x dropout, a failed trial, and an older sweep run."""
    uri, client = store(tmp_path, empty_db)
    exp = new_experiment(client, tmp_path, name)
    old = parent_run(client, exp, name, executions=3, start=1_000)
    trial_run(client, exp, old, 0, {"lstm_units": "512", "dropout": "0.0"}, [0.99, 0.98], 1.0)
    parent = parent_run(client, exp, name, executions=3)
    rng = np.random.default_rng(0)
    trial = 0
    for units, base in UNITS_EFFECT.items():
        for dropout in ("0.0", "0.5"):
            objectives = list(base + rng.normal(0, 0.005, size=3))
            hp = {"lstm_units": str(units), "dropout": dropout}
            trial_run(client, exp, parent, trial, hp, objectives, units * 1000.0)
            trial += 1
    failed = {"lstm_units": "128", "dropout": "0.0"}
    trial_run(client, exp, parent, trial, failed, [], 0.0, status="FAILED")
    return uri, client, parent


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory, empty_db: Path) -> Grid:
    """The grid sweep, reported once into `out` (make_report is what the tests check)."""
    tmp_path = tmp_path_factory.mktemp("grid")
    uri, client, parent = grid_sweep(tmp_path, empty_db)
    report = make_report("units", uri, tmp_path / "out")
    return Grid(uri, client, parent, report, tmp_path / "out")


def executions_from_mlflow(client: MlflowClient, parent: str) -> list[dict]:
    """Each finished execution as {hyperparameters..., objective, test_accuracy}, read afresh."""
    exp = client.get_run(parent).info.experiment_id
    rows = []
    for trial in client.search_runs([exp], f"tags.`mlflow.parentRunId` = '{parent}'"):
        if trial.info.status != "FINISHED":
            continue
        children = client.search_runs([exp], f"tags.`mlflow.parentRunId` = '{trial.info.run_id}'")
        for run in children or [trial]:
            rows.append(
                {
                    **{k: float(v) for k, v in trial.data.params.items() if k != "model"},
                    "objective": run.data.metrics["best_val_accuracy"],
                    "test_accuracy": run.data.metrics["test_accuracy"],
                }
            )
    return rows


def check_value_row(entry: dict, sample: list[dict]) -> None:
    ys = [r["objective"] for r in sample]
    n, mean = len(ys), float(np.mean(ys))
    assert (entry["n"], entry["mean"]) == (n, pytest.approx(mean, abs=1e-12))
    assert entry["test_accuracy_mean"] == pytest.approx(
        np.mean([r["test_accuracy"] for r in sample])
    )
    if n == 1:
        assert entry["ci_low"] is None and entry["ci_high"] is None
    else:
        half = stats.t.ppf(0.975, n - 1) * np.std(ys, ddof=1) / math.sqrt(n)
        assert (entry["ci_low"], entry["ci_high"]) == pytest.approx((mean - half, mean + half))


def test_report_json_matches_a_recomputation_from_mlflow(grid: Grid) -> None:
    data = json.loads((grid.out / "report.json").read_text())
    truth = executions_from_mlflow(grid.client, grid.parent)
    assert (data["sweep"], data["objective"], len(truth)) == ("units", "val_accuracy", 18)
    assert set(data["hyperparameters"]) == {"lstm_units", "dropout"}
    for name, row in data["hyperparameters"].items():
        values = {r[name] for r in truth}
        assert sorted(v["value"] for v in row["values"]) == sorted(values)
        for entry in row["values"]:
            check_value_row(entry, [r for r in truth if r[name] == entry["value"]])
    units = data["hyperparameters"]["lstm_units"]
    assert {v["value"]: v["indistinguishable_from_best"] for v in units["values"]} == {
        16: False,
        32: True,
        64: True,
    }
    # 32 and 64 are tied, not shown as good (no margin): no value is recommended
    assert (units["recommended"], units["decided"]) == (None, False)
    assert (data["answer"]["recommended"], data["answer"]["status"]) == (None, "undecided")
    assert grid.report.rows[0].name == "lstm_units"
    importance = data["importance"]
    assert importance["method"].startswith("functional ANOVA")
    assert importance["values"]["lstm_units"] > importance["values"]["dropout"]


def test_report_files_are_written_and_logged_to_the_parent_run(grid: Grid) -> None:
    client, parent, report = grid.client, grid.parent, grid.report
    assert {"report.md", "report.html", "report.json"} <= {p.name for p in grid.out.iterdir()}
    html = (grid.out / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == 6  # with the importance bars
    logged = {Path(f.path).name for f in client.list_artifacts(parent, "report")}
    assert {"report.md", "report.html", "report.json", "effects.png"} <= logged
    note = client.get_run(parent).data.tags["mlflow.note.content"]
    assert report.answer[0] in note and report.answer[0].startswith(
        "Undecided: best lstm_units=64, dropout="
    )
    assert note.startswith(f"**{report.answer[0]}**\n\n- why undecided:")
    assert "- lstm_units: undecided, best mean 64 (val_accuracy" in note
    assert "lstm_units: undecided, best mean 64 (val_accuracy" in report.answer_text()
    assert report.answer_text().startswith(report.answer[0])
    markdown = (grid.out / "report.md").read_text().split("\n\n")
    assert (markdown[1], markdown[2].split("\n")[0]) == (
        f"**{report.answer[0]}**",
        f"- {report.verdict.bullets[0]}" if report.verdict else "",
    )
    assert f'<p class="answer"><strong>{report.answer[0]}' in html


def test_trials_without_execution_runs_are_one_execution_each_and_binned(
    tmp_path: Path, empty_db: Path
) -> None:
    uri, client = store(tmp_path, empty_db)
    exp = new_experiment(client, tmp_path, "lr")
    parent = parent_run(client, exp, "lr", executions=1)
    rates = [10 ** (-4 + 2 * i / 11) for i in range(12)]
    for i, rate in enumerate(rates):
        objective = 0.8 + 0.01 * (i % 3)
        trial_run(client, exp, parent, i, {"learning_rate": repr(rate)}, [objective], 5000.0)
    data = build_report(load_records(uri, "lr")).json
    truth = executions_from_mlflow(client, parent)
    row = data["hyperparameters"]["learning_rate"]
    assert sum(v["n"] for v in row["values"]) == 12 and len(row["values"]) == 4
    for entry in row["values"]:
        low, high = entry["range"]
        check_value_row(entry, [r for r in truth if low <= r["learning_rate"] <= high])


def test_newest_sweep_run_is_reported_and_executions_kept(grid: Grid) -> None:
    records = load_records(grid.uri, "units")
    assert records.parent_run_id == grid.parent
    assert len(records.executions) == 19 and len(records.usable()) == 18
    assert records.usable()[0].history["val_accuracy"][1] == records.usable()[0].objective


def test_sweep_with_no_runs_says_how_to_run_one(tmp_path: Path, empty_db: Path) -> None:
    uri, _ = store(tmp_path, empty_db)
    with pytest.raises(UserError, match=r"no runs of the sweep 'ghost'.*textsweep run"):
        make_report("ghost", uri, tmp_path / "out")


def test_sweep_without_trials_is_a_user_error(tmp_path: Path, empty_db: Path) -> None:
    uri, client = store(tmp_path, empty_db)
    parent_run(client, new_experiment(client, tmp_path, "empty"), "empty", executions=1)
    with pytest.raises(UserError, match="has no trial runs"):
        load_records(uri, "empty")


def test_missing_sqlite_store_is_a_user_error_not_a_new_database(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/nowhere/mlflow.db"
    with pytest.raises(UserError, match=r"no MLflow store at .*nowhere/mlflow.db"):
        load_records(uri, "units")


def test_cli_report_on_an_unknown_sweep_exits_2(
    tmp_path: Path, empty_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from textsweep.cli import main

    uri, _ = store(tmp_path, empty_db)
    assert main(["report", "ghost", "--tracking-uri", uri]) == 2
    assert "no runs of the sweep 'ghost'" in capsys.readouterr().err


def test_a_name_that_is_neither_a_file_nor_a_sweep_name_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="expected a sweep YAML file or a sweep name"):
        load_records(f"sqlite:///{tmp_path}/mlflow.db", "it's")


def test_a_sweep_file_names_the_sweep_its_experiment_and_its_store(tmp_path: Path) -> None:
    path = tmp_path / "units.yaml"
    path.write_text(
        "name: units\n"
        "search_space: {hyperparameters: {model: {type: fixed, value: embedding_lstm}}}\n"
        "tracking: {experiment: lstm-units, uri: 'sqlite:///elsewhere.db'}\n"
    )
    assert resolve_sweep(str(path), None) == ("units", "lstm-units", "sqlite:///elsewhere.db")
    assert resolve_sweep("units", None) == ("units", None, "sqlite:///mlruns/mlflow.db")


UNITS_SPACE = {
    "model": {"type": "fixed", "value": "embedding_lstm"},
    "lstm_units": {"type": "choice", "values": [16, 32, 64]},
    "dense_layers": {"type": "fixed", "value": 1},
}


def one_way(
    client: MlflowClient,
    exp: str,
    name: str,
    effect: dict[int, float],
    status: str = "FINISHED",
    config_hash: str = "h1",
    start: int | None = None,
    executions: int = 2,
) -> str:
    """A one-way sweep over lstm_units, `executions` executions per value, spread of 0.002."""
    parent = parent_run(client, exp, name, executions, start, status, config_hash, UNITS_SPACE)
    for trial, (units, base) in enumerate(effect.items()):
        objectives = [base + 0.002 * (i - (executions - 1) / 2) for i in range(executions)]
        hp = {"lstm_units": str(units), "dense_layers": str(1 + trial % 2)}
        trial_run(client, exp, parent, trial, hp, objectives, units * 1000.0)
    return parent


def test_the_latest_finished_execution_is_reported_not_a_newer_interrupted_one(
    tmp_path: Path, empty_db: Path
) -> None:
    uri, client = store(tmp_path, empty_db)
    exp = new_experiment(client, tmp_path, "u")
    done = one_way(client, exp, "u", {16: 0.80, 32: 0.86}, start=1_000)
    killed = one_way(client, exp, "u", {16: 0.90, 32: 0.70}, status="KILLED", start=2_000)
    records = load_records(uri, "u")
    assert (records.parent_run_id, records.warnings) == (done, ())
    assert killed in records.notes[0]


def test_an_interrupted_execution_is_reported_only_with_a_warning_everywhere(
    tmp_path: Path, empty_db: Path
) -> None:
    uri, client = store(tmp_path, empty_db)
    exp = new_experiment(client, tmp_path, "u")
    killed = one_way(client, exp, "u", {16: 0.80, 32: 0.86}, status="KILLED")
    report = make_report("u", uri, tmp_path / "out")
    warning = f"WARNING: execution {killed} did not finish (status KILLED, state interrupted)"
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    markdown = (tmp_path / "out" / "report.md").read_text().split("\n\n")
    note = client.get_run(killed).data.tags["mlflow.note.content"]
    assert report.answer_text().startswith(warning) and markdown[1].startswith(warning)
    assert data["warnings"][0].startswith(warning) and note.startswith(f"**{warning}")
    assert "textsweep run sweeps/u.yaml --resume" in data["warnings"][0]
    # the command repeats the options the execution ran with (textsweep.run_args)
    client.set_tag(killed, "textsweep.run_args", "sweeps/u.yaml --set training.epochs=2")
    again = make_report("u", uri, tmp_path / "out2")
    assert "`textsweep run sweeps/u.yaml --set training.epochs=2 --resume`" in again.answer_text()


def test_run_id_picks_an_execution_and_must_be_a_sweep_execution(
    tmp_path: Path, empty_db: Path
) -> None:
    uri, client = store(tmp_path, empty_db)
    exp = new_experiment(client, tmp_path, "u")
    first = one_way(client, exp, "u", {16: 0.80, 32: 0.86}, start=1_000)
    one_way(client, exp, "u", {16: 0.80, 32: 0.86}, start=2_000)
    assert load_records(uri, "u", parent_run_id=first).parent_run_id == first
    trial = client.search_runs([exp], f"tags.`mlflow.parentRunId` = '{first}'")[0]
    with pytest.raises(UserError, match=r"--run-id: MLflow run \w+ is not a sweep execution"):
        load_records(uri, "u", parent_run_id=trial.info.run_id)


def test_pool_reads_every_finished_execution_of_the_same_definition(
    tmp_path: Path, empty_db: Path
) -> None:
    uri, client = store(tmp_path, empty_db)
    exp = new_experiment(client, tmp_path, "u")
    a = one_way(client, exp, "u", {16: 0.80, 32: 0.86}, start=1_000)
    one_way(client, exp, "u", {16: 0.80, 32: 0.86}, start=2_000, config_hash="other")
    one_way(client, exp, "u", {16: 0.80, 32: 0.86}, start=3_000, status="KILLED")
    b = one_way(client, exp, "u", {16: 0.81, 32: 0.87}, start=4_000)
    records = load_records(uri, "u", pool=True)
    assert (records.parent_run_ids, len(records.usable())) == ((b, a), 8)
    values = build_report(records).json["hyperparameters"]["lstm_units"]["values"]
    assert [(v["value"], v["n"]) for v in values] == [(16, 4), (32, 4)]


def test_one_way_answer_links_the_best_trial_and_matches_mlflow(
    tmp_path: Path, empty_db: Path
) -> None:
    uri, client = store(tmp_path, empty_db)
    exp = new_experiment(client, tmp_path, "u")
    parent = one_way(client, exp, "u", {16: 0.80, 32: 0.866, 64: 0.867}, executions=3)
    data = make_report("u", uri, tmp_path / "out").json
    truth = executions_from_mlflow(client, parent)
    assert list(data["hyperparameters"]) == ["lstm_units"]  # dense_layers: fixed in the space
    trial_means = {}
    for r in truth:
        trial_means.setdefault(r["lstm_units"], []).append(r["objective"])
    means = sorted(float(np.mean(v)) for v in trial_means.values())
    expected = [np.mean([max(c) for c in combinations(means, k)]) for k in (1, 2, 3)]
    assert [p["mean"] for p in data["expected_max"]] == pytest.approx(expected)
    best_trial = client.search_runs(
        [exp], f"tags.`mlflow.parentRunId` = '{parent}' and params.lstm_units = '64'"
    )[0]
    answer = data["answer"]
    assert answer["best_run_url"] == (
        f"http://127.0.0.1:5000/#/experiments/{exp}/runs/{best_trial.info.run_id}"
    )
    assert (answer["recommended"], answer["status"], answer["why"]) == (None, "undecided", "tied")
    assert answer["sentence"].startswith("Undecided: best lstm_units = 64 (val_accuracy 0.867")
    assert answer["sentence"].endswith("; 32 cannot be told apart from it")
    assert "clearly worse: 16 (0.800 ± 0.005, n=3)" in answer["bullets"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert f'<a href="{answer["best_run_url"]}">' in html


def test_cli_report_takes_run_id_and_pool(
    tmp_path: Path, empty_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from textsweep.cli import main

    uri, client = store(tmp_path, empty_db)
    exp = new_experiment(client, tmp_path, "u")
    first = one_way(client, exp, "u", {16: 0.80, 32: 0.86})
    args = ["report", "u", "--tracking-uri", uri, "--out", str(tmp_path / "o"), "--pool"]
    assert main([*args, "--run-id", first]) == 0
    assert "Answer: lstm_units = 32, val_accuracy 0.860" in capsys.readouterr().out


def test_the_report_says_how_adaptive_repeats_ended(tmp_path: Path, empty_db: Path) -> None:
    uri, client = store(tmp_path, empty_db)
    exp = new_experiment(client, tmp_path, "u")
    parent = one_way(client, exp, "u", {16: 0.80, 32: 0.86}, executions=3)
    client.set_tag(parent, "textsweep.repeats", "budget")
    records = load_records(uri, "u")
    sentence = build_report(records).answer[0]
    assert sentence.startswith("Answer: lstm_units = 32")  # 16 clearly worse: decided anyway
    assert any(
        line.startswith("- adaptive repeats: ended on its budget")
        for line in build_report(records).answer
    )


def test_racing_repeats_of_one_configuration_are_pooled_into_one_sample(
    tmp_path: Path, empty_db: Path
) -> None:
    uri, client = store(tmp_path, empty_db)
    exp = new_experiment(client, tmp_path, "u")
    parent = parent_run(client, exp, "u", 1, space=UNITS_SPACE)
    for trial, (units, objective) in enumerate(
        [(16, 0.80), (32, 0.86), (16, 0.81), (32, 0.87), (32, 0.865)]
    ):
        trial_run(client, exp, parent, trial, {"lstm_units": str(units)}, [objective], 1.0)
    report = build_report(load_records(uri, "u"))
    assert [(t.hyperparameters["lstm_units"], t.n) for t in report.summary.ranked_trials] == [
        (32, 3),
        (16, 2),
    ]


def test_a_tie_within_the_sweeps_margin_is_reported_decided_for_the_cheapest(
    tmp_path: Path, empty_db: Path
) -> None:
    uri, client = store(tmp_path, empty_db)
    exp = new_experiment(client, tmp_path, "u")
    parent = one_way(client, exp, "u", {16: 0.860, 32: 0.861, 64: 0.862}, executions=4)
    tied = build_report(load_records(uri, "u"))
    assert tied.json["answer"]["status"] == "undecided"  # no margin: a tie is only a tie
    assert tied.json["answer"]["recommended"] is None
    client.log_param(parent, "tuner.repeats.margin", "0.01")
    report = build_report(load_records(uri, "u"))
    row = report.json["hyperparameters"]["lstm_units"]
    assert (row["recommended"], row["decided"], row["within_margin"]) == (16, True, True)
    assert report.json["answer"]["status"] == "decided"
    assert report.json["answer"]["recommended"] == {"lstm_units": 16}
    assert report.answer[0].startswith("Answer: lstm_units = 16, val_accuracy 0.860")
    assert report.answer[1].startswith(
        "- why decided: the cheapest value shown within 0.01 of every value tied with the best"
    )
    assert "one-sided Welch non-inferiority" in report.json["answer"]["rule"]
    # a margin too narrow for the spread leaves it tied
    exp2 = new_experiment(client, tmp_path, "v")
    narrow = one_way(client, exp2, "v", {16: 0.860, 32: 0.861}, executions=4)
    client.log_param(narrow, "tuner.repeats.margin", "0.001")
    assert build_report(load_records(uri, "v")).json["answer"]["status"] == "undecided"


def test_with_a_margin_a_noisy_cheaper_value_is_named_not_recommended(
    tmp_path: Path, empty_db: Path
) -> None:
    uri, client = store(tmp_path, empty_db)
    exp = new_experiment(client, tmp_path, "u")
    parent = parent_run(client, exp, "u", 1, space=UNITS_SPACE)
    client.log_param(parent, "tuner.repeats.margin", "0.01")
    runs = {16: [0.83, 0.86, 0.84, 0.85], 32: [0.859, 0.861, 0.860, 0.862],
            64: [0.860, 0.862, 0.861, 0.863]}  # fmt: skip
    trial = 0
    for units, objectives in runs.items():
        for objective in objectives:
            hp = {"lstm_units": str(units)}
            trial_run(client, exp, parent, trial, hp, [objective], units * 1000.0)
            trial += 1
    report = build_report(load_records(uri, "u"))
    row = report.json["hyperparameters"]["lstm_units"]
    assert [v["verdict"] for v in row["values"]] == ["tied", "tied", "best"]
    assert (row["recommended"], row["decided"]) == (32, True)
    assert report.answer[0] == "Answer: lstm_units = 32, val_accuracy 0.861 ± 0.002 (n=4), decided"
    text = report.answer_text()
    assert "- best mean: 64 (0.862 ± 0.002, n=4)" in text
    assert "- tied with the best but not shown within 0.01: 16 (0.845" in text


def test_with_a_margin_a_joint_grid_is_decided_when_the_best_is_within_it_of_every_tie(
    tmp_path: Path, empty_db: Path
) -> None:
    space = {**UNITS_SPACE, "dropout": {"type": "choice", "values": [0.1, 0.2]}}
    uri, client = store(tmp_path, empty_db)
    exp = new_experiment(client, tmp_path, "j")
    parent = parent_run(client, exp, "j", 1, space=space)
    trial = 0
    for units, dropout, base in [(16, 0.1, 0.860), (16, 0.2, 0.861), (32, 0.1, 0.862),
                                 (32, 0.2, 0.861)]:  # fmt: skip
        for i in range(4):
            hp = {"lstm_units": str(units), "dropout": str(dropout)}
            trial_run(client, exp, parent, trial, hp, [base + 0.002 * (i - 1.5)], units * 1e3)
            trial += 1
    tied = build_report(load_records(uri, "j"))
    assert tied.summary.design == "joint" and tied.json["answer"]["status"] == "undecided"
    client.log_param(parent, "tuner.repeats.margin", "0.01")
    report = build_report(load_records(uri, "j"))
    assert report.json["answer"]["status"] == "decided"
    assert "shown within 0.01 of every trial tied with it (at 95%)" in report.answer[1]
    assert report.answer[0].startswith("Answer: lstm_units=32, dropout=0.1, val_accuracy 0.862")
    # raced with focus: with two settings varied no value is cheaper, so nothing rests
    client.set_tag(parent, "textsweep.repeats", "decided")
    client.log_param(parent, "tuner.repeats.focus", "True")
    raced = build_report(load_records(uri, "j"))
    assert (
        "- adaptive repeats: ended decided; focus rested no value (it needs one size-like "
        "setting varied alone)"
    ) in raced.answer_text().splitlines()

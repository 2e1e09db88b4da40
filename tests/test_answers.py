"""An undecided race never names an answer; every output leads with the answer line; a race
honours `--max-trials` (real SQLite MLflow stores, real Keras Tuner on tiny data)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from textsweep.reporting import build_report, load_records, make_report
from textsweep.runtime import textsweep_command  # as the hints print it

DENSE_SPACE = {
    "model": {"type": "fixed", "value": "multihot_dense"},
    "dense_units": {"type": "choice", "values": [4, 16, 64, 256]},
}
LSTM_SPACE = {
    "model": {"type": "fixed", "value": "embedding_lstm"},
    "lstm_units": {"type": "choice", "values": [16, 32, 64, 256]},
}


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite database with its schema created once: migrations take seconds."""
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


def raced_store(
    tmp_path: Path,
    empty_db: Path,
    name: str,
    space: dict,
    runs: dict[int, list[float]],
    outcome: str,
    margin: float = 0.01,
    max_trials: int | None = None,
    focus: bool = False,
) -> tuple[str, MlflowClient, str]:
    """A raced sweep as `textsweep run` logs it: the parent (params, resolved space, the
    `textsweep.repeats` tag), and one trial run of one execution per entry of `runs`."""
    shutil.copyfile(empty_db, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment(name, artifact_location=(tmp_path / "artifacts").as_uri())
    tags = {"textsweep.sweep": name, "textsweep.role": "sweep", "textsweep.objective":
            "val_accuracy", "textsweep.question": f"How many {name}?", "textsweep.config_hash":
            "h1", "textsweep.state": "finished", "textsweep.repeats": outcome}  # fmt: skip
    parent = client.create_run(exp, tags=tags, run_name=name).info.run_id
    params = {"objective": "val_accuracy", "tuner.algorithm": "grid", "dataset.format": "imdb",
              "tuner.executions_per_trial": "1", "tuner.repeats.min": "2",
              "tuner.repeats.max": "6", "tuner.repeats.margin": str(margin)}  # fmt: skip
    if max_trials is not None:
        params["tuner.max_trials"] = str(max_trials)
    if focus:
        params["tuner.repeats.focus"] = "True"
    client.log_batch(parent, params=[Param(k, v) for k, v in params.items()])
    resolved = {"sweep": {"name": name}, "search_space": {"hyperparameters": space}}
    client.log_text(parent, json.dumps(resolved), "sweep/resolved.json")
    (hp_name,) = [k for k, v in space.items() if v["type"] == "choice"]
    trial = 0
    for value, objectives in runs.items():
        for objective in objectives:
            tags = {"mlflow.parentRunId": parent, "textsweep.role": "trial",
                    "textsweep.trial_id": f"{trial:02d}"}  # fmt: skip
            rid = client.create_run(exp, tags=tags, run_name=f"trial-{trial}").info.run_id
            hp = {hp_name: str(value), "model": space["model"]["value"]}
            client.log_batch(rid, params=[Param(k, v) for k, v in hp.items()])
            curve = [objective - 0.03, objective, objective - 0.01]
            metrics = [Metric("val_accuracy", v, 0, step) for step, v in enumerate(curve)]
            final = {"best_val_accuracy": objective, "test_accuracy": objective - 0.01,
                     "train_seconds": 5.0 * value, "params_count": 1000.0 * value}  # fmt: skip
            metrics += [Metric(k, v, 0, 0) for k, v in final.items()]
            client.log_batch(rid, metrics=metrics)
            client.set_terminated(rid)
            trial += 1
    client.set_terminated(parent)
    return uri, client, parent


def spread(mean: float, sd: float, n: int) -> list[float]:
    """`n` values with exactly this mean and sample standard deviation."""
    z = np.random.default_rng(0).normal(size=n)
    z = (z - z.mean()) / z.std(ddof=1)
    return [float(mean + sd * x) for x in z]


# 600 reviews, dense_units: 3 executions per width, intervals of +- 0.16: nothing is settled
DENSE_600 = {4: spread(0.600, 0.060, 3), 16: spread(0.617, 0.065, 3),
             64: spread(0.590, 0.050, 3), 256: spread(0.575, 0.070, 3)}  # fmt: skip
# 2,000 reviews, lstm_units, ended on the budget: 16 is 4.4 points lower, only not shown worse
LSTM_2000 = {16: spread(0.625, 0.024, 6), 32: spread(0.650, 0.035, 6),
             64: spread(0.669, 0.041, 6), 256: spread(0.560, 0.010, 6)}  # fmt: skip


def assert_names_no_value(text: str) -> None:
    assert "Answer:" not in text and ", decided" not in text and "ended decided" not in text


def test_the_600_review_dense_units_race_is_undecided_everywhere(
    tmp_path: Path, empty_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from textsweep.cli import main

    uri, client, parent = raced_store(
        tmp_path, empty_db, "dense-units", DENSE_SPACE, DENSE_600, "budget"
    )
    report = make_report("dense-units", uri, tmp_path / "out")
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    answer, row = data["answer"], data["hyperparameters"]["dense_units"]
    assert (answer["status"], answer["why"], answer["recommended"]) == ("undecided", "tied", None)
    assert (row["recommended"], row["decided"], row["within_margin"]) == (None, False, False)
    assert answer["sentence"] == (
        "Undecided: best dense_units = 16 (val_accuracy 0.617 ± 0.161, n=3); 4, 64 and 256 "
        "cannot be told apart from it"
    )
    settle = f"{textsweep_command()} run sweeps/dense-units.yaml --more 2"
    assert (answer["settle_command"], f"settle it: `{settle}`") == (settle, answer["bullets"][-2])
    assert answer["bullets"][0].startswith("why undecided: no value is shown within 0.01")
    # the same lead line first in the terminal, report.md/html and the parent's description
    md = (tmp_path / "out" / "report.md").read_text()
    html = (tmp_path / "out" / "report.html").read_text()
    note = client.get_run(parent).data.tags["mlflow.note.content"]
    assert md.split("\n\n")[1] == f"**{answer['sentence']}**"
    assert f'<p class="answer"><strong>{answer["sentence"]}</strong></p>' in html
    assert note.startswith(f"**{answer['sentence']}**\n\n- why undecided")
    assert f"- settle it: `{settle}`" in note and "ended on its budget" in note
    assert main(["report", "dense-units", "--tracking-uri", uri, "--out", str(tmp_path / "o")]) == 0
    said = capsys.readouterr().out
    assert said.startswith(answer["sentence"] + "\n- why undecided")
    for text in (said, md, note, answer["sentence"], *answer["bullets"]):
        assert_names_no_value(text)
    assert report.rows[0].recommended is None


def test_a_budget_ended_race_never_presents_the_cheapest_tied_value_as_the_answer(
    tmp_path: Path, empty_db: Path
) -> None:
    uri, _, _ = raced_store(tmp_path, empty_db, "lstm-units", LSTM_SPACE, LSTM_2000, "budget")
    report = build_report(load_records(uri, "lstm-units"))
    answer = report.json["answer"]
    values = {
        v["value"]: v["verdict"] for v in report.json["hyperparameters"]["lstm_units"]["values"]
    }
    assert values == {16: "tied", 32: "tied", 64: "best", 256: "worse"}
    assert (answer["status"], answer["recommended"]) == ("undecided", None)
    assert report.answer[0] == (
        "Undecided: best lstm_units = 64 (val_accuracy 0.669 ± 0.043, n=6); 16 and 32 cannot be "
        "told apart from it"
    )
    text = report.answer_text()
    assert "- cannot be told apart from the best: 16 (0.625 ± 0.025, n=6), 32 (0.650" in text
    assert "- clearly worse: 256 (0.560 ± 0.010, n=6)" in text
    assert "- adaptive repeats: ended on its budget (tuner.repeats.max executions" in text
    assert "lstm_units = 16" not in text and "recommended" not in text
    # the per-hyperparameter line says the same
    assert report.rows[0].recommended is None
    from textsweep.reporting.render import answer_line

    assert answer_line(report.rows[0], "val_accuracy").startswith(
        "lstm_units: undecided, best mean 64 (val_accuracy 0.669 ± 0.043 (n=6)); cannot be told "
        "apart: 16 and 32; worse: 256"
    )


def test_a_race_ended_on_max_trials_says_so(tmp_path: Path, empty_db: Path) -> None:
    runs = {16: LSTM_2000[16][:2], 32: LSTM_2000[32][:2], 64: LSTM_2000[64][:3],
            256: LSTM_2000[256][:2]}  # fmt: skip
    uri, _, _ = raced_store(
        tmp_path, empty_db, "lstm-units", LSTM_SPACE, runs, "budget", max_trials=9
    )
    report = make_report("lstm-units", uri, tmp_path / "out")
    assert report.json["answer"]["status"] == "undecided"
    assert (
        "adaptive repeats: ended on its budget, tuner.max_trials 9 executions, before a value "
        "was decided"
    ) in report.verdict.bullets  # type: ignore[union-attr]


# the 2026-11-23 full-IMDB race (benchmarks/lstm_units_2026-11-23.json) as focus schedules it:
# 256 rests after its fourth execution (race_replay.py), the others run 6 times
RECORDED = {16: [0.845, 0.8582, 0.8628, 0.8636, 0.8584, 0.8628],
            32: [0.858, 0.8674, 0.864, 0.8634, 0.8658, 0.8538],
            64: [0.8664, 0.8714, 0.861, 0.8588, 0.8584, 0.862],
            128: [0.8676, 0.8552, 0.8682, 0.8684, 0.851, 0.8634],
            256: [0.8566, 0.8514, 0.8512, 0.8364]}  # fmt: skip


def test_the_report_says_which_values_focus_rested_and_when_none_did(
    tmp_path: Path, empty_db: Path
) -> None:
    space = {**LSTM_SPACE, "lstm_units": {"type": "choice", "values": [16, 32, 64, 128, 256]}}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    uri, client, parent = raced_store(
        tmp_path / "a", empty_db, "lstm-units", space, RECORDED, "decided", focus=True
    )
    report = make_report("lstm-units", uri, tmp_path / "out")
    assert report.answer[0].startswith("Answer: lstm_units = 64, val_accuracy 0.863")
    said = (
        "- adaptive repeats: ended decided; with focus, a value shown not to beat any cheaper "
        "value left by the margin got no more executions while those were open; fewer executions here: "
        "256 (n=4)"
    )
    assert said in report.answer_text().splitlines()
    assert said[2:] in client.get_run(parent).data.tags["mlflow.note.content"]
    # the same race with 256 run to 6 as well: focus was on, and rested nothing
    full = {**RECORDED, 256: [*RECORDED[256], 0.8588, 0.849]}
    uri, _, _ = raced_store(
        tmp_path / "b", empty_db, "lstm-units", space, full, "decided", focus=True
    )
    text = make_report("lstm-units", uri, tmp_path / "out2").answer_text()
    assert (
        "- adaptive repeats: ended decided; focus rested no value here (every value left has n=6)"
    ) in text.splitlines()
    assert "got no more executions" not in text


def test_the_effects_plot_stars_the_answer_only_when_decided(
    tmp_path: Path, empty_db: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from textsweep.reporting.plots import mark_answer

    uri, _, _ = raced_store(tmp_path, empty_db, "lstm-units", LSTM_SPACE, LSTM_2000, "budget")
    undecided = build_report(load_records(uri, "lstm-units")).rows[0]
    assert mark_answer(Figure().subplots(), undecided) is None
    decided = {16: spread(0.860, 0.002, 4), 32: spread(0.861, 0.002, 4),
               64: spread(0.862, 0.002, 4), 256: spread(0.80, 0.002, 4)}  # fmt: skip
    other = tmp_path / "decided"
    other.mkdir()
    uri, _, _ = raced_store(other, empty_db, "lstm-units", LSTM_SPACE, decided, "decided")
    report = build_report(load_records(uri, "lstm-units"))
    row = report.rows[0]
    assert (row.recommended, row.best, report.json["answer"]["recommended"]) == (
        16, 64, {"lstm_units": 16}
    )  # fmt: skip
    ax = Figure().subplots()
    assert mark_answer(ax, row) == 0  # on 16, the answer, not on 64, the best mean
    assert [t.get_text() for t in ax.texts] == ["answer"]
    assert report.answer[0] == (
        "Answer: lstm_units = 16, val_accuracy 0.860 ± 0.003 (n=4), decided"
    )
    # the best run linked is one of the answer's (trials 00 to 03 ran 16), not the best mean's
    (linked,) = [b for b in report.answer if b.startswith("- best run: ")]
    assert linked.split()[3] in ("t00", "t01", "t02", "t03"), linked


def race_file(workdir: Path, data: Path, **tuner: object) -> Path:
    sweep = {
        "name": "race",
        "question": "How much dropout?",
        "dataset": {"format": "imdb", "path": str(data), "num_words": 200, "seed": 1},
        "search_space": {"hyperparameters": {
            "model": {"type": "fixed", "value": "multihot_dense"},
            "dense_units": {"type": "fixed", "value": 4},
            "dropout": {"type": "choice", "values": [0.0, 0.01]},
        }},
        "tuner": {"algorithm": "grid", "seed": 1, "repeats": {"min": 2, "max": 4}, **tuner},
        "training": {"epochs": 1, "batch_size": 16},
        "tracking": {"uri": f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}"},
    }  # fmt: skip
    path = workdir / "race.yaml"
    path.write_text(yaml.safe_dump(sweep), encoding="utf-8")
    return path


def test_max_trials_below_the_first_round_of_a_race_exits_2_naming_it(
    workdir: Path, tiny_imdb: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from textsweep.cli import main

    path = race_file(workdir, tiny_imdb)
    assert main(["run", str(path), "--max-trials", "3"]) == 2
    err = capsys.readouterr().err
    assert "tuner.max_trials caps the race's executions, and 3 is fewer than its first round" in err
    assert "(2 combinations x tuner.repeats.min 2 = 4); set --max-trials 4 or more" in err
    assert main(["validate", str(path), "--set", "tuner.max_trials=3"]) == 2
    assert "set --max-trials 4 or more" in capsys.readouterr().err
    assert not (workdir / "mlruns").exists()  # refused before any run was made


def test_validate_counts_the_race_at_its_budget(
    workdir: Path, tiny_imdb: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from textsweep.cli import main

    path = race_file(workdir, tiny_imdb)
    assert main(["validate", str(path)]) == 0  # the default max_trials (10) does not cap a race
    assert "tuner: grid, 8 grid trials" in capsys.readouterr().out
    assert main(["validate", str(path), "--set", "tuner.max_trials=5"]) == 0
    assert "tuner: grid, 5 grid trials" in capsys.readouterr().out


@pytest.mark.slow
def test_max_trials_caps_a_race_and_it_ends_on_that_budget(
    workdir: Path, tiny_imdb: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from textsweep.cli import main

    path = race_file(workdir, tiny_imdb)
    assert main(["run", str(path), "--max-trials", "5"]) == 0
    out = capsys.readouterr().out
    assert "trial t0 (1 of 5)" in out and "(5 of 5)" in out and "(6 of" not in out
    assert "adaptive repeats: ended on its budget, tuner.max_trials 5 executions" in out
    uri = f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}"
    client = MlflowClient(uri)
    (parent,) = client.search_runs(
        [client.get_experiment_by_name("race").experiment_id], "tags.`textsweep.role` = 'sweep'"
    )
    trials = client.search_runs(
        [parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    assert (len(trials), parent.data.tags["textsweep.repeats"]) == (5, "budget")
    assert parent.data.params["tuner.max_trials"] == "5"
    # the end of `textsweep run` leads with the answer, before the counts
    lead = parent.data.tags["mlflow.note.content"].split("\n")[0].strip("*")
    assert lead.startswith("Undecided: best dropout = ") and f"{lead}\n" in out
    assert out.index(lead) < out.index("done in")
    report = make_report(str(path), out_dir=workdir / "out")
    assert report.json["answer"]["recommended"] is None
    assert (
        "adaptive repeats: ended on its budget, tuner.max_trials 5 executions, before a value "
        "was decided"
    ) in report.json["answer"]["bullets"]

"""Adaptive repeats (racing): the rule on numbers, then a real raced grid in Keras Tuner."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from conftest import run_sweep_file

from textsweep.config import load_sweep
from textsweep.reporting import make_report
from textsweep.reporting.inference import first_within_margin, noninferior, within_margin
from textsweep.sweep.more import add_executions
from textsweep.sweep.racing import cost_order, outcome, settled, survivors


def test_survivors_drop_only_the_clearly_worse() -> None:
    samples = {0: [0.80, 0.81, 0.80], 1: [0.60, 0.61, 0.60], 2: [0.79, 0.82, 0.80]}
    assert survivors(samples, "max") == [0, 2]
    assert outcome({0: [0.8, 0.81], 1: [0.5, 0.51]}, "max") == "decided"


def test_survivors_claim_nothing_without_variance() -> None:
    assert survivors({0: [0.8], 1: [0.5]}, "max") == [0, 1]


def test_noninferiority_is_scipys_one_sided_welch_test_on_the_shifted_sample() -> None:
    a, b = [0.860, 0.862, 0.858, 0.861], [0.864, 0.866, 0.861, 0.865]
    p = noninferior(a, b, 0.01)
    assert p is not None and p < 0.01  # b is better, but by far less than 0.01
    from scipy import stats

    t = stats.ttest_ind([x + 0.01 for x in a], b, equal_var=False, alternative="greater")
    assert p == pytest.approx(t.pvalue)
    # better by more than the margin: not shown within it
    assert (noninferior(a, [x + 0.02 for x in a], 0.01) or 1.0) > 0.5
    # a loss: lower is better, so a higher candidate is what has to be within the margin
    assert (noninferior([0.31, 0.32, 0.30], [0.30, 0.31, 0.29], 0.05, "min") or 1.0) < 0.05
    assert noninferior([0.86], [0.85, 0.86], 0.01) is None  # one execution: nothing to test
    assert noninferior([0.86, 0.86], [0.85, 0.85], 0.01) is None  # no variance


def test_within_margin_needs_every_comparison_variance_and_a_narrow_interval() -> None:
    close = {0: [0.860, 0.862, 0.858], 1: [0.861, 0.863, 0.860], 2: [0.859, 0.862, 0.860]}
    assert within_margin(close, 0, 0.01)
    assert not within_margin({**close, 3: [0.88, 0.89, 0.90]}, 0, 0.01)
    assert not within_margin({**close, 3: [0.86]}, 0, 0.01)  # one execution cannot be told
    wide = {**close, 0: [0.850, 0.870]}  # 95% interval about +- 0.13
    assert not within_margin(wide, 0, 0.01) and within_margin(wide, 0, 0.2)


def test_cost_order_ranks_one_size_like_setting_only() -> None:
    assert cost_order([{"lstm_units": 64}, {"lstm_units": 16}, {"lstm_units": 32}]) == [1, 2, 0]
    assert cost_order([{"dropout": 0.5}, {"dropout": 0.1}]) is None  # not size-like
    both = [{"lstm_units": 16, "maxlen": 100}, {"lstm_units": 32, "maxlen": 200}]
    assert cost_order(both) is None  # two settings vary: no single cost order
    fixed = [{"model": "embedding_lstm", "lstm_units": u} for u in (32, 16)]
    assert cost_order(fixed) == [1, 0]  # a setting that does not vary does not count


def test_a_tie_is_decided_only_with_a_margin_and_the_cheapest_value_within_it() -> None:
    # three widths, all tied; the cheapest (index 0) is within 0.01 of the other two
    tied = {0: [0.860, 0.862, 0.858, 0.861], 1: [0.861, 0.864, 0.860, 0.862],
            2: [0.862, 0.859, 0.861, 0.863]}  # fmt: skip
    assert survivors(tied, "max") == [0, 1, 2]
    assert outcome(tied, "max") == "budget"  # no margin: a tie never ends decided
    assert outcome(tied, "max", margin=0.01, order=[0, 1, 2]) == "decided"
    assert outcome(tied, "max", margin=0.001, order=[0, 1, 2]) == "budget"
    # a noisy cheapest value does not block a decision on the next one
    noisy16 = {0: [0.83, 0.86, 0.84, 0.85], 1: tied[1], 2: tied[2]}
    assert survivors(noisy16, "max") == [0, 1, 2]
    assert first_within_margin(noisy16, [0, 1, 2], 0.01) == 1
    assert settled(noisy16, "max", margin=0.01, order=[0, 1, 2])
    # decided also needs the recommendation's own 95% interval within +- the margin
    two = {0: [0.860, 0.866], 1: [0.861, 0.862], 2: [0.860, 0.863]}
    assert not settled(two, "max", margin=0.01, order=[0, 1, 2])  # n=2: about +- 0.04
    # the cheapest value left has to be within the margin, not just any value
    noisy = {**tied, 0: [0.83, 0.87, 0.85, 0.86]}
    assert survivors(noisy, "max") == [0, 1, 2]
    assert not settled(noisy, "max", margin=0.01, order=[0, 1, 2])
    assert settled(noisy, "max", margin=0.01, order=None) == within_margin(
        {1: tied[1], 2: tied[2], 0: noisy[0]}, 1, 0.01
    )


def test_a_race_whose_executions_all_failed_is_not_settled() -> None:
    assert not settled({0: [], 1: []}, "max", margin=0.01)
    assert not settled({0: [], 1: []}, "max", margin=0.01, order=[0, 1])


def test_validate_says_how_the_race_ends(
    tiny_imdb: Path, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from textsweep.cli import main

    sweep = _sweep(tiny_imdb, [0.001, 0.01])
    (workdir / "race.yaml").write_text(yaml.safe_dump(sweep))
    assert main(["validate", "race.yaml"]) == 0
    assert "adaptive repeats: 2 to 4 executions per combination, until one is left" in (
        capsys.readouterr().out
    )
    sweep["tuner"]["repeats"]["margin"] = 0.01
    (workdir / "race.yaml").write_text(yaml.safe_dump(sweep))
    assert main(["validate", "race.yaml"]) == 0
    assert "until decided (margin 0.01)" in capsys.readouterr().out


def _sweep(data: Path, rates: list[float]) -> dict:
    return {
        "name": "race",
        "dataset": {"format": "imdb", "path": str(data), "num_words": 200, "seed": 1},
        "search_space": {"hyperparameters": {
            "model": {"type": "fixed", "value": "multihot_dense"},
            "learning_rate": {"type": "choice", "values": rates},
        }},
        "tuner": {"algorithm": "grid", "seed": 1, "max_trials": None,
                  "repeats": {"min": 2, "max": 4}},
        "training": {"epochs": 2, "batch_size": 8},
    }  # fmt: skip


@pytest.mark.slow
def test_a_clearly_worse_value_is_dropped_after_the_first_round(
    tiny_imdb: Path, workdir: Path
) -> None:
    # 1e-7 learns nothing on the tiny reviews; 0.01 separates them
    result, parent = run_sweep_file(workdir, _sweep(tiny_imdb, [1.0e-7, 0.01]))
    assert parent.data.tags["textsweep.repeats"] == "decided"
    assert 4 <= result.completed < 8 and result.best_values["learning_rate"] == 0.01


@pytest.mark.slow
def test_a_margin_ends_a_race_of_tied_sizes_decided_and_the_report_agrees(
    tiny_imdb: Path, workdir: Path
) -> None:
    # val_loss varies with every seed; no loss on these reviews moves by 5 between widths
    sweep = {
        "name": "race-margin",
        "question": "How wide a Dense layer?",
        "dataset": {"format": "imdb", "path": str(tiny_imdb), "num_words": 200, "seed": 1},
        "search_space": {"hyperparameters": {
            "model": {"type": "fixed", "value": "multihot_dense"},
            "dense_units": {"type": "choice", "values": [8, 4]},
        }},
        "tuner": {"algorithm": "grid", "seed": 1, "repeats": {"min": 2, "max": 4, "margin": 5.0}},
        "training": {"epochs": 2, "batch_size": 8},
        "objective": "val_loss",
    }  # fmt: skip
    result, parent = run_sweep_file(workdir, sweep)
    assert parent.data.tags["textsweep.repeats"] == "decided"
    assert result.completed == 4  # decided after the first round: no more executions
    assert parent.data.params["tuner.repeats.margin"] == "5.0"
    report = make_report(str(workdir / "race-margin.yaml"), out_dir=workdir / "out")
    row = report.json["hyperparameters"]["dense_units"]
    assert row["decided"] and row["within_margin"] and row["recommended"] == 4
    assert report.json["answer"]["status"] == "decided"
    assert report.answer[0].startswith("Answer: dense_units = 4, val_loss ")
    assert "the cheapest value shown within 5 of every value tied with the best" in report.answer[1]
    from mlflow import MlflowClient

    # --more judges the race again on the pooled executions: the tag follows the evidence
    client = MlflowClient(sweep_uri := load_sweep(workdir / "race-margin.yaml").tracking_uri())
    client.set_tag(parent.info.run_id, "textsweep.repeats", "budget")
    out = io.StringIO()
    add_executions(load_sweep(workdir / "race-margin.yaml"), 1, out=out)
    assert "adaptive repeats: decided" in out.getvalue()
    assert MlflowClient(sweep_uri).get_run(parent.info.run_id).data.tags["textsweep.repeats"] == (
        "decided"
    )
    again = make_report(str(workdir / "race-margin.yaml"), out_dir=workdir / "out2")
    values = again.json["hyperparameters"]["dense_units"]["values"]
    assert sorted(v["n"] for v in values) == [4, 4]  # 2 trials each, 2 executions each
    assert again.json["answer"]["status"] == "decided"

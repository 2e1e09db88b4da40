"""Adaptive repeats (racing): the rule on numbers, then a real raced grid in Keras Tuner."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from conftest import run_sweep_file

from textsweep.config import load_sweep
from textsweep.reporting import make_report
from textsweep.reporting.inference import first_within_margin, noninferior, within_margin
from textsweep.sweep.more import add_executions
from textsweep.sweep.racing import (
    cost_order,
    next_combination,
    outcome,
    resting,
    settled,
    survivors,
)


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
    sweep["tuner"]["repeats"]["focus"] = True
    (workdir / "race.yaml").write_text(yaml.safe_dump(sweep))
    assert main(["validate", "race.yaml"]) == 0
    assert "focus: a combination shown not to beat any cheaper one left" in (
        capsys.readouterr().out
    )


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
        "tuner": {"algorithm": "grid", "seed": 1,
                  "repeats": {"min": 2, "max": 4, "margin": 5.0, "focus": True}},
        "training": {"epochs": 2, "batch_size": 8},
        "objective": "val_loss",
    }  # fmt: skip
    result, parent = run_sweep_file(workdir, sweep)
    assert parent.data.tags["textsweep.repeats"] == "decided"
    assert result.completed == 4  # decided after the first round: no more executions
    assert parent.data.params["tuner.repeats.margin"] == "5.0"
    assert parent.data.params["tuner.repeats.focus"] == "True"
    report = make_report(str(workdir / "race-margin.yaml"), out_dir=workdir / "out")
    row = report.json["hyperparameters"]["dense_units"]
    assert row["decided"] and row["within_margin"] and row["recommended"] == 4
    assert report.json["answer"]["status"] == "decided"
    assert report.answer[0].startswith("Answer: dense_units = 4, val_loss ")
    assert "the cheapest value shown within 5 of every value tied with the best" in report.answer[1]
    # focus (resting what cannot change the answer) is said where the race's ending is
    # (said as it happened: decided after the first round, nothing was rested)
    assert any(
        b.endswith("adaptive repeats: ended decided; focus rested no value here (every value left has n=2)")
        for b in report.answer
    ), report.answer
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


# focus: the numbers below were checked with `noninferior` (one-sided Welch, the margin 0.01)
CHEAP = [0.860, 0.850, 0.855]  # n=3: 95% interval about +- 0.012, so not settled yet
STEADY = [0.851, 0.853, 0.852]  # no better than CHEAP by 0.01: p about 0.02 < 0.05 / 2


def test_a_value_rests_once_shown_not_to_beat_any_cheaper_value_by_the_margin() -> None:
    samples = {0: CHEAP, 1: STEADY}
    assert survivors(samples, "max") == [0, 1]  # tied: the race cannot drop it
    assert not settled(samples, "max", margin=0.01, order=[0, 1])
    assert resting(samples, "max", 0.01, [0, 1]) == [1]
    assert 1 not in resting(samples, "max", 0.01, [1, 0])  # the cheapest value never rests
    assert resting(samples, "max", None, [0, 1]) == []  # no margin: no test to rest by
    assert resting(samples, "max", 0.01, None) == []  # no cost order: no "cheaper"
    # it must be shown against every cheaper value left, a noisy one too
    noisy = {0: CHEAP, 1: [0.80, 0.90, 0.85], 2: STEADY}
    assert resting(noisy, "max", 0.01, [0, 1, 2]) == []
    # better than the cheaper value by about the margin: it may be the reason not to stop there
    assert resting({0: CHEAP, 1: [x + 0.012 for x in STEADY]}, "max", 0.01, [0, 1]) == []


def test_focus_gives_the_next_execution_to_the_values_that_can_change_the_answer() -> None:
    def pick(started: list[int], samples: dict, focus: bool) -> int | None:
        return next_combination(started, samples, False, (2, 6), "max", 0.01, [0, 1], focus)

    wider = {0: [*CHEAP, 0.845], 1: STEADY}  # 0's fourth execution: still not settled
    assert resting(wider, "max", 0.01, [0, 1]) == [1]
    assert pick([4, 3], wider, focus=False) == 1  # rounds: 1 catches up first
    assert pick([4, 3], wider, focus=True) == 0  # 1 rests: only 0 can settle the race
    # once every value the race still needs has its max, a rested one runs again
    done = {0: [0.880, 0.850, 0.865, 0.855, 0.875, 0.845], 1: STEADY}  # about +- 0.014
    assert not settled(done, "max", margin=0.01, order=[0, 1]) and resting(
        done, "max", 0.01, [0, 1]
    ) == [1]
    assert pick([6, 3], done, focus=True) == 1
    assert next_combination([6, 6], done, False, (2, 6), "max", 0.01, [0, 1], True) is None
    # while executions run (workers), the next round waits for their evidence, as without focus
    assert next_combination([4, 3], wider, True, (2, 6), "max", 0.01, [0, 1], True) == -1


def _drive(oracle: Any, scores: dict[int, list[float]]) -> list[int]:
    """Run a real Keras Tuner oracle to its end, scoring each trial from `scores` in turn."""
    from textsweep.sweep import ktcompat

    ran: list[int] = []
    while (trial := oracle.create_trial("tuner0")).status == "RUNNING":
        units = trial.hyperparameters.values["lstm_units"]
        oracle.update_trial(trial.trial_id, {"val_accuracy": scores[units][ran.count(units)]})
        trial.status = ktcompat.TrialStatus.COMPLETED
        oracle.end_trial(trial)
        ran.append(units)
    return ran


@pytest.mark.parametrize("focus", [False, True])
def test_the_racing_oracle_with_focus_skips_an_execution_that_cannot_change_the_answer(
    tmp_path: Path, focus: bool
) -> None:
    import keras_tuner as kt

    from textsweep.sweep import ktcompat
    from textsweep.sweep.oracle import RacingOracle

    hp = kt.HyperParameters()
    hp.Choice("lstm_units", [16, 256])
    oracle = RacingOracle(
        [{"lstm_units": 16}, {"lstm_units": 256}],
        (2, 4),
        "max",
        margin=0.01,
        focus=focus,
        objective=kt.Objective("val_accuracy", "max"),
        hyperparameters=hp,
        seed=1,
    )
    ktcompat.set_project_dir(oracle, str(tmp_path), "race")
    ran = _drive(oracle, {16: [*CHEAP, 0.854], 256: [*STEADY, 0.852]})
    # with focus 256 rests once 16's third execution shows it no better by 0.01, and 16's
    # fourth settles the race (16 within 0.01 of 256); without, rounds keep 256 in step
    if focus:
        assert ran == [16, 256, 16, 256, 16, 16]
    else:
        assert ran == [16, 256, 16, 256, 16, 256, 16, 256]
    assert settled({0: [*CHEAP, 0.854], 1: STEADY[:2]}, "max", margin=0.01, order=[0, 1])


def test_focus_without_a_margin_is_refused_naming_the_key(tmp_path: Path) -> None:
    import yaml

    from textsweep.errors import UserError

    sweep = _sweep(tmp_path, [0.001, 0.01])
    sweep["tuner"]["repeats"]["focus"] = True
    (tmp_path / "focus.yaml").write_text(yaml.safe_dump(sweep))
    with pytest.raises(UserError, match=r"tuner\.repeats.*focus needs a margin"):
        load_sweep(tmp_path / "focus.yaml")


def test_focus_left_unset_keeps_the_fingerprint_of_races_started_before_it(tmp_path: Path) -> None:
    import yaml

    from textsweep.sweep.state import config_fingerprint

    sweep = _sweep(tmp_path, [0.001, 0.01])
    sweep["tuner"]["repeats"]["margin"] = 0.01
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(sweep))
    before = config_fingerprint(load_sweep(tmp_path / "old.yaml"))
    assert load_sweep(tmp_path / "old.yaml").config.tuner.repeats.focus is None
    sweep["tuner"]["repeats"]["focus"] = True
    (tmp_path / "new.yaml").write_text(yaml.safe_dump(sweep))
    assert config_fingerprint(load_sweep(tmp_path / "new.yaml")) != before

"""Report statistics on hand-made records with known answers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from textsweep.reporting import build_report
from textsweep.reporting.answer import answer
from textsweep.reporting.binning import group_by
from textsweep.reporting.expected_max import expected_max_curve
from textsweep.reporting.inference import holm, interval, omega_squared, probability_best, welch
from textsweep.reporting.records import Execution, SweepRecords, Value, parse_param
from textsweep.reporting.stats import Verdict, decide, hyperparameter_stats
from textsweep.reporting.summary import summarize

NOISE = (-0.004, 0.0, 0.004)


def execution(
    trial: int,
    objective: float,
    status: str = "FINISHED",
    params: float = 1000.0,
    seconds: float = 10.0,
    index: int = 0,
    **hp: Value,
) -> Execution:
    return Execution(
        trial_id=str(trial),
        run_id=f"run-{trial}-{index}",
        index=index,
        hyperparameters=hp,
        objective=objective,
        best_val_accuracy=objective,
        test_accuracy=objective - 0.01,
        test_loss=0.3,
        train_seconds=seconds,
        params_count=params,
        status=status,
        trial_run_id=f"trial-run-{trial}",
    )


def sweep(
    executions: list[Execution],
    objective: str = "val_accuracy",
    algorithm: str = "grid",
    declared: tuple[str, ...] | None = None,
    dataset_format: str = "",
    margin: float | None = None,
) -> SweepRecords:
    return SweepRecords(
        sweep="s",
        question="q?",
        objective=objective,
        direction="min" if objective == "val_loss" else "max",
        parent_run_id="p",
        experiment_id="1",
        executions=tuple(executions),
        algorithm=algorithm,
        declared=declared,
        dataset_format=dataset_format,
        tracking_uri="sqlite:///mlruns/mlflow.db",
        sweep_ref="sweeps/s.yaml",
        margin=margin,
    )


def grid() -> list[Execution]:
    """units has a clear effect (16 much worse, 32/64/128 close); dropout has none."""
    effect = {16: 0.80, 32: 0.867, 64: 0.870, 128: 0.869}
    runs = []
    trial = 0
    for units, base in effect.items():
        for dropout in (0.0, 0.5):
            trial += 1
            for i, noise in enumerate(NOISE):
                # dropout's noise is symmetric, so its groups have exactly the same mean
                jitter = noise if dropout == 0.0 else -noise
                runs.append(
                    execution(
                        trial,
                        base + jitter,
                        params=units * 100.0,
                        index=i,
                        lstm_units=units,
                        dropout=dropout,
                    )
                )
    return runs


def by_name(records: SweepRecords) -> dict:
    return {row.name: row for row in hyperparameter_stats(records)}


def test_parse_param_restores_types() -> None:
    assert [parse_param(s) for s in ("64", "0.2", "True", "False", "embedding_lstm", "1e-3")] == [
        64,
        0.2,
        True,
        False,
        "embedding_lstm",
        0.001,
    ]


def test_interval_is_a_t_interval_and_undefined_for_one_observation() -> None:
    ci = interval([1.0, 2.0, 3.0])
    assert (ci.mean, ci.low, ci.high) == pytest.approx((2.0, 2.0 - 2.4841, 2.0 + 2.4841), abs=1e-3)
    single = interval([0.5])
    assert (single.n, single.mean, single.low, single.high) == (1, 0.5, None, None)


def test_holm_adjusts_step_down_and_stays_monotone() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_clear_effect_ranks_first_and_worse_value_is_flagged() -> None:
    rows = by_name(sweep(grid()))
    units = rows["lstm_units"]
    flags = {v.value: v.indistinguishable_from_best for v in units.values}
    assert (units.best, flags) == (64, {16: False, 32: True, 64: True, 128: True})
    assert hyperparameter_stats(sweep(grid()))[0].name == "lstm_units"


def test_a_tie_names_no_value_and_a_margin_names_the_cheapest_shown_as_good() -> None:
    # 32, 64 and 128 are not shown worse than the best, which does not show them as good
    assert by_name(sweep(grid()))["lstm_units"].recommended is None
    row = by_name(sweep(grid(), margin=0.02))["lstm_units"]
    assert (row.recommended, row.decided, row.within_margin) == (32, True, True)


def test_hyperparameter_without_effect_ties_all_its_values() -> None:
    dropout = by_name(sweep(grid()))["dropout"]
    assert sorted(v.verdict for v in dropout.values) == [Verdict.BEST, Verdict.TIED]


def test_group_means_cover_all_executions_with_unequal_group_sizes() -> None:
    runs = [execution(1, 0.8, lstm_units=16), execution(2, 0.9, lstm_units=32)]
    runs += [execution(3, 0.7, index=i, lstm_units=16) for i in range(3)]
    units = by_name(sweep(runs))["lstm_units"]
    assert [(v.value, v.n, v.objective.mean) for v in units.values] == [
        (16, 4, pytest.approx(0.725)),
        (32, 1, pytest.approx(0.9)),
    ]


def test_a_value_with_one_execution_is_not_enough_to_tell() -> None:
    runs = [execution(1, 0.85 + d, index=i, lstm_units=64) for i, d in enumerate(NOISE)]
    runs += [execution(2, 0.80 + d, index=i, lstm_units=32) for i, d in enumerate(NOISE)]
    runs += [execution(3, 0.70, lstm_units=16)]
    row = by_name(sweep(runs))["lstm_units"]
    verdicts = {v.value: v.verdict for v in row.values}
    assert verdicts == {16: Verdict.UNKNOWN, 32: Verdict.WORSE, 64: Verdict.BEST}
    assert (row.enough, row.importance, row.values[0].objective.low) == (False, None, None)


def test_failed_trials_are_ignored() -> None:
    runs = grid() + [execution(99, 0.99, status="FAILED", lstm_units=256, dropout=0.0)]
    runs.append(execution(100, math.nan, lstm_units=256, dropout=0.0))
    units = by_name(sweep(runs))["lstm_units"]
    assert [v.value for v in units.values] == [16, 32, 64, 128]
    assert summarize(sweep(runs)).failed_trials == 2


def test_val_loss_means_lower_is_better() -> None:
    runs = [execution(1, 0.30 + d, index=i, lstm_units=64) for i, d in enumerate(NOISE)]
    runs += [execution(2, 0.50 + d, index=i, lstm_units=16) for i, d in enumerate(NOISE)]
    units = by_name(sweep(runs, objective="val_loss"))["lstm_units"]
    assert (units.best, units.recommended) == (64, 64)
    assert summarize(sweep(runs, objective="val_loss")).ranked_trials[0].trial_id == "1"


def test_constant_hyperparameter_is_not_reported() -> None:
    runs = [execution(t, 0.8 + 0.01 * t, lstm_units=t, maxlen=200) for t in (1, 2)]
    assert list(by_name(sweep(runs))) == ["lstm_units"]


def test_continuous_values_are_cut_into_quantile_bins() -> None:
    rates = [10 ** (-4 + 2 * i / 11) for i in range(12)]
    runs = [execution(i, 0.8, learning_rate=r) for i, r in enumerate(rates)]
    groups = group_by(runs, "learning_rate")
    assert [len(g.members) for g in groups] == [3, 3, 3, 3]
    assert groups[0].low == pytest.approx(1e-4) and groups[-1].high == pytest.approx(1e-2)


def test_omega_squared_is_near_one_for_separated_groups_and_none_without_replicates() -> None:
    assert omega_squared([[0.1, 0.11, 0.09], [0.9, 0.91, 0.89]]) > 0.99  # type: ignore[operator]
    assert omega_squared([[0.1], [0.9]]) is None


def test_runs_without_variance_cannot_be_compared() -> None:
    assert (welch([0.8, 0.8], [0.9, 0.9]), interval([0.8, 0.8]).low) == (None, None)


def test_hyperparameters_that_always_change_together_are_flagged_as_confounded() -> None:
    settings = [(16, 0.1, 0.01), (64, 0.3, 0.01), (64, 0.3, 0.001)]
    runs = [
        execution(t, 0.8 + 0.01 * t, lstm_units=u, dropout=d, learning_rate=lr)
        for t, (u, d, lr) in enumerate(settings)
    ]
    rows = by_name(sweep(runs))
    assert (rows["lstm_units"].confounded_with, rows["learning_rate"].confounded_with) == (
        ("dropout",),
        (),
    )


def test_a_sweep_whose_trials_all_failed_still_renders(tmp_path: Path) -> None:
    runs = [execution(1, math.nan, status="FAILED", lstm_units=16)]
    report = build_report(sweep(runs), tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    assert (data["hyperparameters"], data["answer"]["status"], report.answer[0]) == (
        {},
        "no answer",
        "No answer: no trial finished.",
    )
    assert data["answer"]["recommended"] is None


def test_decide_drops_the_clearly_worse_and_ties_the_close() -> None:
    decision = decide({16: [0.80, 0.81, 0.79], 32: [0.864, 0.868, 0.872], 64: [0.87, 0.872, 0.868]})
    assert (decision.best, dict(decision.verdicts), decision.decided) == (
        64,
        {16: Verdict.WORSE, 32: Verdict.TIED, 64: Verdict.BEST},
        False,
    )


def test_decide_rejects_a_bad_direction() -> None:
    with pytest.raises(ValueError, match="direction must be 'max' or 'min'; got 'up'"):
        decide({1: [0.5]}, direction="up")


def test_expected_max_is_the_without_replacement_estimator() -> None:
    from itertools import combinations

    scores = [0.80, 0.86, 0.84, 0.83, 0.85]
    curve = expected_max_curve(scores)
    for point in curve:
        draws = [max(c) for c in combinations(scores, point.k)]
        assert (point.mean, point.sd) == pytest.approx(
            (float(np.mean(draws)), float(np.std(draws)))
        )
    assert (curve[0].mean, curve[-1].mean, curve[-1].sd) == pytest.approx((0.836, 0.86, 0.0))


def test_expected_min_for_a_loss() -> None:
    assert expected_max_curve([0.3, 0.5], direction="min")[1].mean == pytest.approx(0.3)


def test_probability_best_is_seeded_and_needs_two_executions_per_value() -> None:
    samples = {"a": [0.80, 0.81, 0.79], "b": [0.90, 0.91, 0.89]}
    assert probability_best(samples) == {"a": 0.0, "b": 1.0}
    assert probability_best({"a": [0.8], "b": [0.9, 0.91]}) is None


def quickstart_like() -> SweepRecords:
    """4 random trials x 1 execution over a joint space, as the quickstart runs."""
    settings = [
        ("multihot_dense", 16, 0.0, 0.001, None),
        ("embedding_pool", 32, 0.3, 0.003, 32),
        ("embedding_pool", 16, 0.3, 0.001, 64),
        ("multihot_dense", 32, 0.0, 0.003, None),
    ]
    runs = []
    for t, (model, units, dropout, lr, dim) in enumerate(settings):
        hp: dict[str, Value] = {"model": model, "dense_units": units, "dropout": dropout}
        hp |= {"learning_rate": lr, "dense_layers": 1 if model == "multihot_dense" else 2}
        if dim is not None:
            hp["embedding_dim"] = dim
        runs.append(execution(t, 0.80 + 0.02 * t, **hp))
    declared = ("model", "embedding_dim", "dense_units", "dropout", "learning_rate")
    return sweep(runs, algorithm="random", declared=declared)


def test_quickstart_like_sweep_makes_no_claim_without_variance() -> None:
    records = quickstart_like()
    rows = hyperparameter_stats(records)
    summary = summarize(records)
    said = answer(records, rows, summary)
    assert {r.name for r in rows} == {
        "model", "embedding_dim", "dense_units", "dropout", "learning_rate"
    }  # fmt: skip
    assert all(v.verdict is None and v.objective.low is None for r in rows for v in r.values)
    assert all(r.importance is None and r.recommended is None for r in rows)
    assert summary.importance is not None and summary.importance.values is None
    assert (said.status, said.why, said.recommended) == ("undecided", "not enough executions", {})
    assert said.lead.startswith("Undecided: best model=multihot_dense, dropout=0.0, dense_units=32")
    assert "3 other configurations (t2, t1 and t0) cannot be told apart from it" in said.lead
    from textsweep.runtime import textsweep_command  # as the hints print it

    assert f"settle it: `{textsweep_command()} run sweeps/s.yaml --more 2`" in said.bullets
    assert any("too few trials to rank 5 hyperparameters" in b for b in said.bullets)


def test_a_family_default_that_changes_with_model_is_not_varied() -> None:
    names = [r.name for r in hyperparameter_stats(quickstart_like())]
    assert "dense_layers" not in names


def test_joint_search_ranks_by_fanova_not_marginal_means() -> None:
    runs = []
    for t in range(12):
        units, dropout = (16, 32, 64)[t % 3], (0.0, 0.2, 0.4, 0.5)[t % 4]
        runs.append(execution(t, 0.70 + 0.003 * units + 0.001 * dropout, lstm_units=units,
                              dropout=dropout))  # fmt: skip
    summary = summarize(sweep(runs, algorithm="random"))
    assert summary.importance is not None and summary.importance.values is not None
    assert list(summary.importance.values)[0] == "lstm_units"


def test_size_like_setting_recommends_the_cheapest_tied_value_and_links_the_best_run() -> None:
    runs = [
        execution(u, base + d, params=u * 100.0, index=i, lstm_units=u, model="embedding_lstm")
        for u, base in ((16, 0.80), (32, 0.867), (64, 0.870))
        for i, d in enumerate(NOISE)
    ]
    records = sweep(runs)
    said = answer(records, hyperparameter_stats(records), summarize(records))
    assert (said.recommended, said.status, said.why) == ({}, "undecided", "tied")
    assert said.lead == (
        "Undecided: best lstm_units = 64 (val_accuracy 0.870 ± 0.010, n=3); 32 cannot be told "
        "apart from it"
    )
    assert said.best_run_url == "http://127.0.0.1:5000/#/experiments/1/runs/trial-run-64"
    assert f"best run: t64 {said.best_run_url}" in said.bullets
    records = sweep(runs, margin=0.02)
    said = answer(records, hyperparameter_stats(records), summarize(records))
    assert (said.recommended, said.status) == ({"lstm_units": 32}, "decided")
    assert said.lead == "Answer: lstm_units = 32, val_accuracy 0.867 ± 0.010 (n=3), decided"
    assert "fewest parameters within one model family" in said.rule


def test_other_settings_recommend_the_best_mean_with_its_ties() -> None:
    runs = [
        execution(t, base + d, index=i, dropout=rate)
        for t, (rate, base) in enumerate(((0.0, 0.867), (0.2, 0.870), (0.5, 0.80)))
        for i, d in enumerate(NOISE)
    ]
    records = sweep(runs)
    said = answer(records, hyperparameter_stats(records), summarize(records))
    assert (said.recommended, said.status) == ({}, "undecided")
    assert said.lead.startswith("Undecided: best dropout = 0.2 (val_accuracy 0.870 ± 0.010")
    assert said.lead.endswith("; 0.0 cannot be told apart from it")
    assert "clearly worse: 0.5 (0.800 ± 0.010, n=3)" in said.bullets


def test_parameter_counts_are_not_compared_across_families() -> None:
    runs = [
        execution(t, 0.86 + d, params=p, seconds=s, index=i, embedding_dim=dim, model=model)
        for t, (dim, model, p, s) in enumerate(
            ((32, "embedding_lstm", 5000.0, 30.0), (64, "embedding_pool", 100.0, 60.0))
        )
        for i, d in enumerate(NOISE)
    ]
    row = by_name(sweep(runs, declared=("embedding_dim",)))["embedding_dim"]
    assert (row.recommended, row.cheapest_by) == (None, "training time")  # tied: undecided
    row = by_name(sweep(runs, declared=("embedding_dim",), margin=0.02))["embedding_dim"]
    assert (row.recommended, row.cheapest_by) == (32, "training time")


def test_implausible_test_accuracy_on_imdb_is_flagged_as_a_leak() -> None:
    runs = [execution(1, 0.97, lstm_units=16), execution(2, 0.85, lstm_units=32)]
    leaks = summarize(sweep(runs, dataset_format="imdb")).leaks
    assert [(leak.trial_id, leak.test_accuracy) for leak in leaks] == [("1", pytest.approx(0.96))]

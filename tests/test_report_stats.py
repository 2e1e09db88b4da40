"""Report statistics on hand-made records with known answers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from textsweep.report import build_report
from textsweep.report.binning import group_by
from textsweep.report.inference import compare, holm, interval, omega_squared
from textsweep.report.records import Execution, SweepRecords, Value, parse_param
from textsweep.report.stats import (
    hyperparameter_stats,
    summarize,
)

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
    )


def sweep(executions: list[Execution], objective: str = "val_accuracy") -> SweepRecords:
    return SweepRecords(
        sweep="s",
        question="q?",
        objective=objective,
        direction="min" if objective == "val_loss" else "max",
        parent_run_id="p",
        experiment_id="1",
        executions=tuple(executions),
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


def test_recommendation_is_the_cheapest_value_within_noise() -> None:
    assert by_name(sweep(grid()))["lstm_units"].recommended == 32


def test_hyperparameter_without_effect_has_zero_importance_and_all_values_tie() -> None:
    dropout = by_name(sweep(grid()))["dropout"]
    assert dropout.importance == 0.0
    assert all(v.indistinguishable_from_best for v in dropout.values)


def test_group_means_cover_all_executions_with_unequal_group_sizes() -> None:
    runs = [execution(1, 0.8, lstm_units=16), execution(2, 0.9, lstm_units=32)]
    runs += [execution(3, 0.7, index=i, lstm_units=16) for i in range(3)]
    units = by_name(sweep(runs))["lstm_units"]
    assert [(v.value, v.n, v.objective.mean) for v in units.values] == [
        (16, 4, pytest.approx(0.725)),
        (32, 1, pytest.approx(0.9)),
    ]


def test_single_observation_is_tested_against_the_pooled_variance() -> None:
    runs = [execution(1, 0.85 + d, index=i, lstm_units=64) for i, d in enumerate(NOISE)]
    runs += [execution(2, 0.80 + d, index=i, lstm_units=32) for i, d in enumerate(NOISE)]
    runs += [execution(3, 0.849, lstm_units=16), execution(4, 0.70, lstm_units=8)]
    values = {v.value: v for v in by_name(sweep(runs))["lstm_units"].values}
    assert values[16].objective.low is None
    assert (values[16].indistinguishable_from_best, values[8].indistinguishable_from_best) == (
        True,
        False,
    )


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


def test_omega_squared_is_near_one_for_separated_groups() -> None:
    assert omega_squared([[0.1, 0.11, 0.09], [0.9, 0.91, 0.89]]) > 0.99


def test_deterministic_runs_that_differ_are_distinguishable() -> None:
    assert compare([0.8, 0.8], [0.9, 0.9], None) == 0.0


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
    assert (data["hyperparameters"], report.answer) == (
        {},
        ("no hyperparameter varied among the finished trials; nothing to compare",),
    )

"""The tuner registry: each algorithm states its options, its trial count and its checks, and
`tuner:` is validated by the options of its `algorithm` (no name tests elsewhere)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from textsweep import tuners
from textsweep.config import load_sweep
from textsweep.errors import UserError
from textsweep.sweep.budget import planned_trials

SPACE = {
    "hyperparameters": {
        "model": {"type": "fixed", "value": "multihot_dense"},
        "dense_units": {"type": "choice", "values": [4, 8, 16]},
        "dropout": {"type": "choice", "values": [0.0, 0.5]},
    }
}


def sweep_with(tmp_path: Path, tuner: dict, **extra: object) -> Path:
    path = tmp_path / "sweep.yaml"
    body = {"name": "t", "search_space": SPACE, "tuner": tuner, **extra}
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def test_the_built_ins_are_registered() -> None:
    assert {a.name for a in tuners.algorithms()} >= {"random", "grid", "bayesian", "hyperband"}


@pytest.mark.parametrize(
    ("tuner", "key", "owner"),
    [
        ({"algorithm": "random", "factor": 3}, "factor", "hyperband"),
        ({"algorithm": "random", "max_epochs": 4}, "max_epochs", "hyperband"),
        ({"algorithm": "grid", "num_initial_points": 2}, "num_initial_points", "bayesian"),
        ({"max_epochs": 4}, "max_epochs", "hyperband"),  # the default algorithm is random
    ],
)
def test_another_algorithms_option_is_refused_naming_the_key(
    tmp_path: Path, tuner: dict, key: str, owner: str
) -> None:
    name = tuner.get("algorithm", "random")
    with pytest.raises(
        UserError,
        match=rf"sweep\.yaml: tuner\.{key}: an option of {owner}, not of {name}; remove it, or "
        rf"set tuner\.algorithm: {owner}",
    ):
        load_sweep(sweep_with(tmp_path, tuner))


def test_an_unknown_algorithm_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(
        UserError, match=r"tuner\.algorithm: expected one of .*'grid'.*; got 'annealing'"
    ):
        load_sweep(sweep_with(tmp_path, {"algorithm": "annealing"}))


def test_a_misspelt_option_is_suggested_from_the_algorithms_own(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"tuner\.factr: unknown key; did you mean `factor`\?"):
        load_sweep(sweep_with(tmp_path, {"algorithm": "hyperband", "factr": 2}))


def test_options_keep_their_own_checks(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"tuner\.factor: Input should be greater than or equal"):
        load_sweep(sweep_with(tmp_path, {"algorithm": "hyperband", "factor": 1}))
    with pytest.raises(UserError, match=r"tuner\.max_epochs: hyperband needs max_epochs >= 2"):
        load_sweep(sweep_with(tmp_path, {"algorithm": "hyperband", "max_epochs": 1}))
    with pytest.raises(UserError, match=r"tuner\.executions_per_trial: with tuner\.repeats"):
        load_sweep(
            sweep_with(
                tmp_path, {"algorithm": "grid", "repeats": {"min": 2}, "executions_per_trial": 2}
            )
        )


@pytest.mark.parametrize(
    ("tuner", "algorithm", "trials"),
    [
        ({}, "random", 10),
        ({"algorithm": "random", "max_trials": 3}, "random", 3),
        ({"algorithm": "grid"}, "grid", 6),
        ({"algorithm": "grid", "max_trials": 4}, "grid", 4),
        ({"algorithm": "grid", "repeats": {"min": 2, "max": 3}}, "grid", 18),
        ({"algorithm": "bayesian", "max_trials": 5, "num_initial_points": 2}, "bayesian", 5),
        ({"algorithm": "hyperband", "max_epochs": 9, "factor": 3}, "hyperband", 23),
    ],
)
def test_each_algorithm_plans_its_trials(
    tmp_path: Path, tuner: dict, algorithm: str, trials: int
) -> None:
    sweep = load_sweep(sweep_with(tmp_path, tuner))
    assert sweep.config.tuner.algorithm == algorithm
    assert type(sweep.config.tuner) is tuners.get(algorithm).options
    assert planned_trials(sweep) == trials


def test_repeats_pick_the_raced_variant_of_grid(tmp_path: Path) -> None:
    raced = load_sweep(sweep_with(tmp_path, {"algorithm": "grid", "repeats": {"min": 2}}))
    plain = load_sweep(sweep_with(tmp_path, {"algorithm": "grid"}))
    assert tuners.of(plain.config.tuner) is tuners.get("grid")
    assert tuners.of(raced.config.tuner) is tuners.get("grid").raced
    assert tuners.of(raced.config.tuner).lines(raced)[-1].startswith("adaptive repeats: 2 to 8")


def test_a_sweep_logged_as_json_keeps_the_algorithms_own_options(tmp_path: Path) -> None:
    sweep = load_sweep(sweep_with(tmp_path, {"algorithm": "hyperband", "factor": 2}))
    dumped = sweep.config.model_dump(mode="json")["tuner"]
    assert dumped["algorithm"] == "hyperband" and dumped["factor"] == 2


def test_an_algorithm_must_declare_its_own_name() -> None:
    from typing import Literal

    class Wrong(tuners.TunerOptions):
        algorithm: Literal["other"] = "other"

    with pytest.raises(ValueError, match=r"tuner mine: its options must declare"):
        tuners.register(
            tuners.Algorithm("mine", Wrong, make=lambda s, a: (object, {}), planned_trials=len)
        )

"""Search spaces: schema checks, grid counting with conditions, translation into Keras Tuner."""

from __future__ import annotations

import keras_tuner as kt
import pytest
from pydantic import ValidationError

from textsweep.search_space import SearchSpace, active_values, declare

SPACE = {
    # the child comes first on purpose: declaration order must follow the conditions
    "lstm_units": {"type": "int", "min": 16, "max": 128, "sampling": "log", "step": 2, "when": {"model": "embedding_lstm"}},
    "model": {"type": "choice", "values": ["multihot_dense", "embedding_lstm"]},
    "dropout": {"type": "float", "min": 0.0, "max": 0.4, "step": 0.2},
    "bidirectional": {"type": "boolean", "when": {"model": ["embedding_lstm"]}},
    "learning_rate": {"type": "fixed", "value": 0.001},
}


def space(hps: dict = SPACE) -> SearchSpace:
    return SearchSpace.model_validate({"hyperparameters": hps})


def test_grid_size_respects_conditions() -> None:
    s = space()
    assert s.hyperparameters["lstm_units"].candidates() == [16, 32, 64, 128]
    # multihot: 3 dropouts; lstm: 4 units x 2 bidirectional x 3 dropouts
    assert s.grid_size() == 3 + 4 * 2 * 3


def test_declare_builds_conditional_scopes_parents_first() -> None:
    hp = kt.HyperParameters()
    declare(space(), hp)
    assert [h.name for h in hp.space][:2] == ["model", "lstm_units"]
    hp.values["model"] = "multihot_dense"
    assert "lstm_units" not in active_values(space(), hp)
    hp.values["model"] = "embedding_lstm"
    hp.ensure_active_values()
    values = active_values(space(), hp)
    assert values["lstm_units"] in (16, 32, 64, 128) and values["model"] == "embedding_lstm"


def test_keras_tuner_grid_visits_exactly_the_counted_trials(tmp_path) -> None:
    s = space()
    seen = []

    class Collect(kt.HyperModel):
        def build(self, hp: kt.HyperParameters) -> None:  # type: ignore[override]
            declare(s, hp)  # Keras Tuner's condition discovery calls build; no model needed here

    class Tuner(kt.GridSearch):
        def run_trial(self, trial, *args, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(tuple(sorted(active_values(s, trial.hyperparameters).items())))
            return 0.5

    Tuner(hypermodel=Collect(), objective=kt.Objective("score", "max"), directory=str(tmp_path)).search(verbose=0)
    assert len(set(seen)) == len(seen) == s.grid_size()


@pytest.mark.parametrize(
    "spec, pattern",
    [
        ({"type": "float", "min": 0.0, "max": 0.1, "sampling": "log"}, r"sampling: log needs min > 0"),
        ({"type": "float", "min": 0.5, "max": 0.1}, r"max must be >= min \(0.5\); got 0.1"),
        ({"type": "choice", "values": []}, r"non-empty `values`"),
        ({"type": "choice", "values": [0.1, "x"]}, r"all be of one type"),
        ({"type": "fixed"}, r"needs `value`"),
        ({"type": "boolean"}, r"not a true/false hyperparameter"),
        ({"type": "float", "min": 0.1, "max": 1.5}, r"dropout must be < 1.0; got 1.5"),
        ({"type": "float", "min": 0.1, "max": 0.2, "values": [1]}, r"`values` does not apply to type float"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: dict, pattern: str) -> None:
    with pytest.raises(ValidationError, match=pattern):
        space({"model": {"type": "fixed", "value": "multihot_dense"}, "dropout": spec})


def test_unknown_names_and_cycles_are_rejected() -> None:
    with pytest.raises(ValidationError, match=r"unknown hyperparameter `lstm_size`"):
        space({"lstm_size": {"type": "int", "min": 1, "max": 2}})
    with pytest.raises(ValidationError, match=r"cycle"):
        space({
            "dropout": {"type": "choice", "values": [0.1], "when": {"spatial_dropout": 0.1}},
            "spatial_dropout": {"type": "choice", "values": [0.1], "when": {"dropout": 0.1}},
        })
    with pytest.raises(ValidationError, match=r"`model` can never be embedding_pool"):
        space({"model": {"type": "fixed", "value": "embedding_lstm"},
               "maxlen": {"type": "fixed", "value": 10, "when": {"model": "embedding_pool"}}})

"""Which hyperparameters mattered, when several varied together: Optuna's fANOVA on the trials.

Marginal means mislead when hyperparameters vary jointly (random or Bayesian search, a grid over
several): a value looks good because of the values it happened to be tried with. Functional ANOVA
(Hutter et al. 2014, as `optuna.importance.FanovaImportanceEvaluator`) fits a random forest to the
trials and splits the objective's variance between the hyperparameters.

    result = model_importance(trials, ["lstm_units", "dropout"], direction="max")
    result.values          # {"lstm_units": 0.93, "dropout": 0.07}, or None with result.reason
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from textsweep.reporting.binning import is_log_like, sort_values
from textsweep.reporting.records import Value

METHOD = (
    "functional ANOVA (optuna.importance.FanovaImportanceEvaluator, seed 0) on the mean "
    "objective of each finished trial; a hyperparameter active in only some trials is not ranked"
)


def min_trials(varied: int) -> int:
    """Fewest trials for a model-based importance over `varied` hyperparameters: 2k + 2."""
    return 2 * varied + 2


@dataclass(frozen=True)
class Importance:
    """Importances by name (they sum to 1), or None and the reason why none can be given."""

    method: str
    values: Mapping[str, float] | None
    reason: str = ""


def model_importance(
    trials: Sequence[tuple[Mapping[str, Value], float]], names: Sequence[str], direction: str
) -> Importance:
    """fANOVA importances of `names` from (hyperparameters, objective) pairs, one per trial."""
    if len(trials) < min_trials(len(names)):
        return Importance(
            METHOD,
            None,
            f"too few trials to rank {len(names)} hyperparameters that varied together: "
            f"{len(trials)} finished, at least {min_trials(len(names))} needed",
        )
    if len({round(value, 12) for _, value in trials}) < 2:
        return Importance(METHOD, None, "every trial scored the same; nothing to attribute")
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {n: _distribution([hp[n] for hp, _ in trials if n in hp]) for n in names}
    study = optuna.create_study(direction="maximize" if direction == "max" else "minimize")
    for hp, value in trials:
        params = {n: _param(hp[n]) for n in names if n in hp}
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions={n: distributions[n] for n in params},
                value=value,
            )
        )
    try:
        ranked = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
    except (ValueError, RuntimeError) as e:  # e.g. no hyperparameter common to all trials
        return Importance(METHOD, None, f"fANOVA could not rank them: {e}")
    if not ranked:
        return Importance(METHOD, None, "no hyperparameter was active in every trial")
    return Importance(METHOD, {n: float(v) for n, v in ranked.items()})


def _param(value: Value) -> Any:
    return str(value) if isinstance(value, bool) else value


def _distribution(values: Sequence[Value]) -> Any:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    distinct = sort_values(values)
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in distinct)
    if not numeric or len(distinct) < 2:
        return CategoricalDistribution([_param(v) for v in distinct])
    xs = [float(v) for v in distinct]
    log = is_log_like(xs)
    if all(isinstance(v, int) for v in distinct):
        return IntDistribution(int(min(xs)), int(max(xs)), log=log)
    return FloatDistribution(min(xs), max(xs), log=log and math.isfinite(min(xs)))

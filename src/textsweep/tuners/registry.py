"""The registry of tuner algorithms: each states its options, how it makes its Keras Tuner
tuner, and how many trials it plans.

    register(Algorithm("random", RandomOptions, make=make, planned_trials=planned))
    algorithm = of(sweep.config.tuner)        # grid, or grid's raced variant with `repeats:`
    algorithm.planned_trials(sweep)           # `validate` and "trial k of N"
    base, kwargs = algorithm.make(sweep, oracle_args)   # a Keras Tuner class and its arguments

Looking an algorithm up imports no Keras Tuner; only `Algorithm.make` does. Nothing here imports
`textsweep.config` (which validates `tuner:` through this registry): a sweep is seen through
`SweepLike`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from textsweep.errors import UserError
from textsweep.search_space import SearchSpace

DEFAULT_MAX_TRIALS = 10


class SweepLike(Protocol):
    """What an algorithm reads of a sweep (`textsweep.config.Sweep` is one)."""

    @property
    def config(self) -> Any: ...

    @property
    def space(self) -> SearchSpace: ...

    @property
    def path(self) -> Path | None: ...

    def directions(self) -> str: ...


class RepeatsConfig(BaseModel):
    """Adaptive repeats (racing): `min` executions of every grid combination, up to `max` for the
    combinations still tied with the best; with `margin` (in the objective's units), the race is
    also decided once the recommended combination is shown within `margin` of the others left;
    with `prune`, an execution stops once its learning curve is clearly worse (`sweep.pruning`);
    with `focus`, a combination that no cheaper one left needs rests (`sweep.racing.resting`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: int = Field(2, ge=2)
    max: int = Field(8, ge=2)
    margin: float | None = Field(None, gt=0, allow_inf_nan=False)
    prune: bool = False  # stop an execution once its curve is clearly worse (sweep.pruning)
    # rest what no cheaper combination left needs (sweep.racing.resting); None (off) when unset,
    # so the sweep's fingerprint, and --resume of races started before focus existed, stay as
    # they were (`sweep.state.config_fingerprint` leaves unset settings out)
    focus: bool | None = None

    @model_validator(mode="after")
    def _ordered(self) -> RepeatsConfig:
        if self.max < self.min:
            raise ValueError(f"max must be >= min ({self.min}); got {self.max}")
        if self.focus and self.margin is None:
            raise ValueError(
                "focus needs a margin: a combination rests once it is shown within the margin "
                "of the cheaper ones; set margin (e.g. 0.01) or remove focus"
            )
        return self


class TunerOptions(BaseModel):
    """The options every algorithm takes; an algorithm's own options subclass it, with
    `algorithm: Literal["<its name>"]`. Unknown keys are refused.

    `repeats` (adaptive repeats) is accepted only by an algorithm with a raced variant
    (`Algorithm.raced`); the others refuse it when the sweep is loaded.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    algorithm: str
    max_trials: int | None = Field(10, ge=1)
    executions_per_trial: int = Field(1, ge=1)
    seed: int = 1
    max_consecutive_failures: int = Field(3, ge=1)
    repeats: RepeatsConfig | None = None
    lease_seconds: float = Field(120.0, gt=0)  # chief/worker mode: a silent worker's trial moves


def no_check(sweep: SweepLike) -> None:
    """An algorithm that takes any search space."""


def no_lines(sweep: SweepLike) -> list[str]:
    return []


def nothing_to_restore(oracle: Any) -> None:
    """An oracle that Keras Tuner reloads whole."""


@dataclass(frozen=True)
class Algorithm:
    """One tuner algorithm (`tuner.algorithm: <name>`).

    Args:
        name: the value of `tuner.algorithm` that picks it.
        options: its pydantic options model: a `TunerOptions` whose `algorithm` is
            `Literal[name]`; another algorithm's option is refused naming the key.
        make: `make(sweep, oracle_args) -> (Keras Tuner tuner class, its keyword arguments)`;
            `oracle_args` holds `objective`, `seed` and `max_consecutive_failed_trials`, which
            go to the tuner or to an oracle it makes. The hypermodel and project arguments are
            added by the caller. Imports Keras Tuner inside.
        planned_trials: `planned_trials(sweep) -> int | None`, the trials it will run (an
            estimate where the algorithm decides as it goes); for `validate` and "trial k of N".
        check: `check(sweep)` raises `UserError` naming the key when the sweep does not suit it
            (a grid needs finite values); after the schema's own checks.
        lines: extra lines for `textsweep validate` (the grid's size).
        enumerates: it runs the search space's combinations in order (a grid): `validate` says
            "grid trials" and how many distinct models they are.
        rebuildable: its state can be rebuilt from the trials MLflow holds when Keras Tuner's
            saved state is unreadable (Hyperband's brackets are not in MLflow).
        after_reload: `after_reload(oracle)` repairs what Keras Tuner does not save (the grid's
            order of tried combinations) once an oracle holds reloaded or rebuilt trials.
        raced: the variant that runs instead when `tuner.repeats` is set (adaptive repeats);
            None refuses `repeats`.
    """

    name: str
    options: type[TunerOptions]
    make: Callable[[SweepLike, dict[str, Any]], tuple[type, dict[str, Any]]]
    planned_trials: Callable[[SweepLike], int | None]
    check: Callable[[SweepLike], None] = no_check
    lines: Callable[[SweepLike], list[str]] = no_lines
    enumerates: bool = False
    rebuildable: bool = True
    after_reload: Callable[[Any], None] = nothing_to_restore
    raced: Algorithm | None = field(default=None, repr=False)


_ALGORITHMS: dict[str, Algorithm] = {}


def register(algorithm: Algorithm) -> Algorithm:
    """Add an algorithm (replacing one of the same name, so re-importing a module is harmless)."""
    declared = algorithm.options.model_fields["algorithm"].default
    if declared != algorithm.name:
        raise ValueError(
            f"tuner {algorithm.name}: its options must declare "
            f'`algorithm: Literal["{algorithm.name}"] = "{algorithm.name}"`; got default {declared!r}'
        )
    _ALGORITHMS[algorithm.name] = algorithm
    return algorithm


def algorithms() -> tuple[Algorithm, ...]:
    """The registered algorithms, built-ins first, in registration order."""
    return tuple(_ALGORITHMS.values())


def get(name: str) -> Algorithm:
    """The algorithm called `name`; KeyError naming the known ones otherwise."""
    try:
        return _ALGORITHMS[name]
    except KeyError:
        raise KeyError(
            f"unknown tuner algorithm {name!r}; known: {', '.join(_ALGORITHMS)}"
        ) from None


def of(options: TunerOptions) -> Algorithm:
    """The algorithm a sweep's `tuner:` runs: its raced variant when `repeats` is set."""
    algorithm = get(options.algorithm)
    if options.repeats is not None and algorithm.raced is not None:
        return algorithm.raced
    return algorithm


def enumerates(name: str) -> bool:
    """Whether the algorithm called `name` runs every combination of the space (False when
    unknown here, e.g. a user's algorithm recorded in MLflow by another process)."""
    found = _ALGORITHMS.get(name)
    return found is not None and found.enumerates


def options_class(raw: Mapping[str, Any], source: str) -> type[TunerOptions]:
    """The options model for a `tuner:` mapping, from its `algorithm` (default random).

    Raises `UserError` naming `tuner.algorithm` for an unknown one, and `tuner.<key>` for an
    option of another algorithm (`factor` under `algorithm: random`) or a `repeats` the
    algorithm cannot race.
    """
    name = raw.get("algorithm", "random")
    if not isinstance(name, str) or name not in _ALGORITHMS:
        known = ", ".join(repr(n) for n in _ALGORITHMS)
        raise UserError(
            f"expected one of {known}; got {name!r}", source=source, key="tuner.algorithm"
        )
    algorithm = _ALGORITHMS[name]
    if raw.get("repeats") is not None and algorithm.raced is None:
        racers = [a.name for a in _ALGORITHMS.values() if a.raced is not None]
        raise UserError(
            f"adaptive repeats race the combinations of a {' or '.join(racers)}; set "
            f"tuner.algorithm: {racers[0]}, or drop tuner.repeats (got algorithm {name!r})",
            source=source,
            key="tuner.repeats",
        )
    fields = algorithm.options.model_fields
    for key in raw:
        if key in fields:
            continue
        owners = [a.name for a in _ALGORITHMS.values() if key in a.options.model_fields]
        if owners:
            raise UserError(
                f"an option of {' and '.join(owners)}, not of {name}; remove it, or set "
                f"tuner.algorithm: {owners[0]}",
                source=source,
                key=f"tuner.{key}",
            )
    return algorithm.options

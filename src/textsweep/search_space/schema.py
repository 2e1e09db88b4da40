"""The YAML schema of a search space: specs per hyperparameter, conditions, and grid counting."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from textsweep.search_space.names import Scalar, check_value, kind_of

_GRID_COUNT_CAP = 1_000_000
GRID_COUNT_CAP = _GRID_COUNT_CAP  # grid_size() stops counting here


class HyperparameterSpec(BaseModel):
    """One hyperparameter of a search space, as written in YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)

    type: Literal["int", "float", "choice", "boolean", "fixed"]
    min: int | float | None = None
    max: int | float | None = None
    step: int | float | None = None
    sampling: Literal["linear", "log"] = "linear"
    values: list[Scalar] | None = None
    value: Scalar | None = None
    default: Scalar | None = None
    when: dict[str, Scalar | list[Scalar]] | None = None

    @model_validator(mode="after")
    def _check_shape(self) -> HyperparameterSpec:
        t = self.type
        if t in ("int", "float"):
            if self.min is None or self.max is None:
                raise ValueError(f"a {t} hyperparameter needs `min` and `max`")
            if self.max < self.min:
                raise ValueError(f"max must be >= min ({self.min}); got {self.max}")
            if self.sampling == "log" and self.min <= 0:
                raise ValueError(f"sampling: log needs min > 0; got min {self.min}")
            if self.step is not None and self.step <= 0:
                raise ValueError(f"step must be > 0; got {self.step}")
            if t == "int":
                for field in ("min", "max", "step"):
                    v = getattr(self, field)
                    if v is not None and (isinstance(v, bool) or float(v) != int(v)):
                        raise ValueError(f"an int hyperparameter needs an integer {field}; got {v}")
            unused = [f for f in ("values", "value") if getattr(self, f) is not None]
        elif t == "choice":
            if not self.values:
                raise ValueError("a choice hyperparameter needs a non-empty `values` list")
            kinds = {type(v) for v in self.values}
            if len(kinds) > 1 and kinds != {int, float}:
                raise ValueError(f"choice values must all be of one type; got {self.values}")
            if len(set(self.values)) != len(self.values):
                raise ValueError(f"choice values must be distinct; got {self.values}")
            unused = [f for f in ("min", "max", "step", "value") if getattr(self, f) is not None]
        elif t == "boolean":
            unused = [
                f for f in ("min", "max", "step", "values", "value") if getattr(self, f) is not None
            ]
        else:  # fixed
            if self.value is None:
                raise ValueError("a fixed hyperparameter needs `value`")
            unused = [f for f in ("min", "max", "step", "values") if getattr(self, f) is not None]
        if unused:
            raise ValueError(f"`{unused[0]}` does not apply to type {t}")
        return self

    def candidates(self) -> list[Scalar] | None:
        """The finite list of values a grid would visit, or None for a continuous range."""
        if self.type == "fixed":
            assert self.value is not None
            return [self.value]
        if self.type == "boolean":
            return [False, True]
        if self.type == "choice":
            assert self.values is not None
            return list(self.values)
        assert self.min is not None and self.max is not None
        if self.type == "float" and self.step is None:
            return None
        if self.type == "int" and self.step is None and self.sampling == "log":
            return None
        step = self.step if self.step is not None else 1
        out: list[Scalar] = []
        v: float = self.min
        while v <= self.max + 1e-12 and len(out) < _GRID_COUNT_CAP:
            out.append(int(round(v)) if self.type == "int" else round(v, 10))
            v = v * step if self.sampling == "log" else v + step
        return out


class SearchSpace(BaseModel):
    """A family of models: named hyperparameters with ranges and conditions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    hyperparameters: dict[str, HyperparameterSpec]

    @model_validator(mode="after")
    def _check_names(self) -> SearchSpace:
        # messages start with the dotted key they are about; config.format_validation_error
        # moves it into the key it prints
        for name, spec in self.hyperparameters.items():
            try:
                check_spec_values(name, spec)
            except ValueError as e:
                raise ValueError(f"hyperparameters.{name}: {e}") from None
        for name, spec in self.hyperparameters.items():
            for parent, wanted in (spec.when or {}).items():
                key = f"hyperparameters.{name}"
                if parent == name:
                    raise ValueError(
                        f"{key}: {name}.when: a hyperparameter cannot depend on itself"
                    )
                if parent not in self.hyperparameters:
                    raise ValueError(
                        f"{key}: {name}.when names `{parent}`, which is not in this search space; "
                        f"define `{parent}` or remove the condition"
                    )
                possible = self.hyperparameters[parent].candidates()
                wanted_list = wanted if isinstance(wanted, list) else [wanted]
                if possible is not None and not any(w in possible for w in wanted_list):
                    raise ValueError(
                        f"{key}: {name}.when: `{parent}` can never be {wanted}; "
                        f"its values are {possible}"
                    )
        self.ordered_names()  # raises on cycles
        return self

    def with_fixed(self, fixed: Mapping[str, Scalar]) -> SearchSpace:
        """The same space with some hyperparameters pinned to one value (a sweep's `fixed:`)."""
        hps = dict(self.hyperparameters)
        for name, value in fixed.items():
            previous = hps.get(name)
            hps[name] = HyperparameterSpec(
                type="fixed", value=value, when=previous.when if previous else None
            )
        return SearchSpace(description=self.description, hyperparameters=hps)

    def ordered_names(self) -> list[str]:
        """Names with every condition's parent before its children (Keras Tuner needs that)."""
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str, path: tuple[str, ...]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                raise ValueError(f"conditions form a cycle: {' -> '.join(path + (name,))}")
            state[name] = 1
            for parent in self.hyperparameters[name].when or {}:
                visit(parent, path + (name,))
            state[name] = 2
            order.append(name)

        for name in self.hyperparameters:
            visit(name, ())
        return order

    def grid_size(self) -> int | None:
        """How many trials a grid search visits, conditions respected; None if a range is continuous."""
        if self.continuous_names():
            return None
        count = 0
        for _ in self.iter_grid():
            count += 1
            if count >= _GRID_COUNT_CAP:
                break
        return count

    def iter_grid(self) -> Iterator[dict[str, Scalar]]:
        """Every combination of active values a grid search visits."""
        names = self.ordered_names()
        specs = [self.hyperparameters[n] for n in names]
        candidates = [spec.candidates() or [] for spec in specs]  # once, not at every node

        def rec(i: int, chosen: dict[str, Scalar]) -> Iterator[dict[str, Scalar]]:
            if i == len(names):
                yield dict(chosen)
                return
            if not _condition_holds(specs[i], chosen):
                yield from rec(i + 1, chosen)
                return
            for v in candidates[i]:
                chosen[names[i]] = v
                yield from rec(i + 1, chosen)
                del chosen[names[i]]

        yield from rec(0, {})

    def continuous_names(self) -> list[str]:
        return [n for n, s in self.hyperparameters.items() if s.candidates() is None]


def _condition_holds(spec: HyperparameterSpec, chosen: Mapping[str, Scalar]) -> bool:
    for parent, wanted in (spec.when or {}).items():
        wanted_list = wanted if isinstance(wanted, list) else [wanted]
        if parent not in chosen or chosen[parent] not in wanted_list:
            return False
    return True


def check_spec_values(name: str, spec: HyperparameterSpec) -> None:
    """Raise ValueError if a spec's type or values do not fit the hyperparameter `name`."""
    found = kind_of(name)
    if found is None:
        check_value(name, None)  # raises, naming the known names
    assert found is not None
    kind = found[0]
    if spec.type in ("int", "float"):
        if kind in ("str", "bool"):
            raise ValueError(f"{name} takes {kind} values, so its type cannot be {spec.type}")
        if kind == "int" and spec.type == "float":
            raise ValueError(f"{name} is an integer hyperparameter; use type int, not float")
        assert spec.min is not None and spec.max is not None
        check_value(name, spec.min)
        check_value(name, spec.max)
    elif spec.type == "boolean":
        if kind != "bool":
            raise ValueError(
                f"{name} is not a true/false hyperparameter; type boolean does not fit"
            )
    else:
        for v in spec.candidates() or []:
            check_value(name, v)
    if spec.default is not None:
        check_value(name, spec.default)


def describe_spec(spec: HyperparameterSpec) -> str:
    """A short human form of a spec, as `textsweep validate` prints it."""
    if spec.type == "fixed":
        text = f"fixed {spec.value!r}"
    elif spec.type == "boolean":
        text = "boolean"
    elif spec.type == "choice":
        text = f"choice {spec.values}"
    else:
        text = f"{spec.type} [{spec.min}, {spec.max}]"
        if spec.step is not None:
            text += f" step {spec.step}"
        if spec.sampling == "log":
            text += " log"
    if spec.when:
        conds = ", ".join(
            f"{k} in {v}" if isinstance(v, list) else f"{k} == {v}" for k, v in spec.when.items()
        )
        text += f"  (when {conds})"
    return text

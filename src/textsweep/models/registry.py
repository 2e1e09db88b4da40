"""The registry of model families: each names the hyperparameters it reads, their defaults, and a build.

    register(Family("embedding_cnn", {"filters": 64, ...}, build=build_cnn))
    get("embedding_cnn").defaults["filters"], [f.name for f in families()]

Looking a family up imports no TensorFlow; only `Family.build` does.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from textsweep.errors import UserError

if TYPE_CHECKING:
    import keras

Scalar = bool | int | float | str

# Every family reads these two; `batch_size` comes from `training.batch_size` unless searched.
IMPLICIT = ("model", "batch_size")


@dataclass(frozen=True)
class ModelInputs:
    """What a model needs to know about the data: vocabulary size, classes, pretrained vectors."""

    num_words: int
    num_classes: int
    embedding_matrix: np.ndarray | None = None


@dataclass(frozen=True)
class Size:
    """A model's parameter count, and the floats per example its training keeps for the backward
    pass (every layer's outputs; for a recurrent layer, its gates and cell at every step)."""

    params: int
    activations: int


@dataclass(frozen=True)
class Family:
    """One model family.

    Args:
        name: the value of the `model` hyperparameter that picks it.
        defaults: every hyperparameter it reads (besides `model` and `batch_size`), with the value
            it gets when a search space leaves it out. A name no built-in family uses becomes a
            hyperparameter of its own kind (the type of its default).
        build: `build(values, inputs) -> keras.Model`, compiled; `values` has every default filled.
        sequences: True if it reads padded token sequences (`maxlen`), False for bags of tokens.
        layers: a one-line sketch of its layers, for the README and `textsweep families`.
        choices: the allowed values of a new string hyperparameter (any string without).
        size: `size(values, inputs) -> Size` without building the model, for the memory check
            of `validate` and `run` (`textsweep.sizing`); without it the model is built once
            for the largest values, on the CPU, and its parameters and layer outputs counted.
    """

    name: str
    defaults: Mapping[str, Scalar]
    build: Callable[[Mapping[str, Any], ModelInputs], keras.Model]
    sequences: bool
    layers: str = ""
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    size: Callable[[Mapping[str, Any], ModelInputs], Size] | None = None

    def uses(self) -> tuple[str, ...]:
        return IMPLICIT + tuple(self.defaults)


_FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Add a family (replacing one of the same name, so re-importing a module is harmless)."""
    if not family.name.isidentifier():
        raise ValueError(f"a family name must be an identifier; got {family.name!r}")
    for name, default in family.defaults.items():
        if name in IMPLICIT:
            raise ValueError(f"family {family.name}: `{name}` is implicit; remove it from defaults")
        kind = _kind_of(default)
        for other in _FAMILIES.values():
            if other.name != family.name and name in other.defaults:
                if _kind_of(other.defaults[name]) != kind:
                    raise ValueError(
                        f"family {family.name}: `{name}` is a {kind} hyperparameter, but family "
                        f"{other.name} uses it as {_kind_of(other.defaults[name])}; rename it"
                    )
    _FAMILIES[family.name] = family
    return family


def get(name: str) -> Family:
    """The family called `name`; KeyError naming the known families otherwise."""
    try:
        return _FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown model family {name!r}; known: {', '.join(_FAMILIES)}") from None


def families() -> tuple[Family, ...]:
    """The registered families, built-ins first, in registration order."""
    return tuple(_FAMILIES.values())


def family_hyperparameters() -> dict[str, tuple[str, tuple[str, ...] | None]]:
    """Every hyperparameter some family reads -> (kind, allowed values of a string kind or None)."""
    out: dict[str, tuple[str, tuple[str, ...] | None]] = {}
    for family in _FAMILIES.values():
        for name, default in family.defaults.items():
            out.setdefault(name, (_kind_of(default), family.choices.get(name)))
    return out


def _kind_of(value: Scalar) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "str"


def import_families(
    modules: Sequence[str],
    source: str,
    base: Path | None = None,
    tuners: Callable[[], Mapping[str, object]] | None = None,
) -> None:
    """Import the user modules a sweep's `families:` names, so they register their families.

    A module beside the sweep file (`base`: `NAME.py`, or a package folder `NAME/`) is loaded
    from there by its path; any other is imported as installed (or on PYTHONPATH). Nothing is
    added to `sys.path`, so no file beside the sweep or in the working directory can stand in
    for an installed package, and a module beside the sweep that has an installed package's
    name is refused. A module that registers no family is refused too, unless it registers a
    tuner: `tuners` (from `config`, which may import the tuner registry; this module may not)
    returns the registered tuner algorithms by name.
    """
    for i, module in enumerate(modules):
        key = f"families[{i}]" if len(modules) > 1 else "families"
        before = dict(_FAMILIES)
        tuners_before = dict(tuners()) if tuners is not None else {}
        already = module in sys.modules
        try:
            where = _import_family_module(module, base, source, key)
        except UserError:
            raise
        except Exception as e:  # any failure of the user's module is bad input, not a crash
            raise UserError(
                f"cannot import module {module!r} ({type(e).__name__}: {e}); expected a "
                "module beside the sweep file (or installed, or on PYTHONPATH) that calls "
                "textsweep.models.register(...)",
                source=source,
                key=key,
            ) from None
        added = [n for n, f in _FAMILIES.items() if before.get(n) is not f]
        if tuners is not None:  # a module may add a tuner (`textsweep.tuners.register`) instead
            added += [f"tuner {n}" for n, a in tuners().items() if tuners_before.get(n) is not a]
        if added:
            _REGISTERED_BY[module] = tuple(added)
        elif not (already and (module in _REGISTERED_BY or _builds_from(module))):
            raise UserError(
                f"module {module!r} ({where}) registers no model family; expected a module "
                "that calls textsweep.models.register(Family(...)) (or textsweep.tuners."
                "register(...)), or leave it out of `families:`",
                source=source,
                key=key,
            )


# the families each `families:` module registered when it was imported
_REGISTERED_BY: dict[str, tuple[str, ...]] = {}


def _builds_from(module: str) -> bool:
    return any(getattr(f.build, "__module__", None) == module for f in _FAMILIES.values())


def _import_family_module(module: str, base: Path | None, source: str, key: str) -> str:
    """Import `module`, from `base` when its top-level name is a file or folder there; where."""
    top = module.partition(".")[0]
    local = None
    if base is not None and top.isidentifier():
        local = importlib.machinery.PathFinder.find_spec(top, [str(base)])
    if local is None or top in sys.modules and _origin(sys.modules[top]) == local.origin:
        loaded = importlib.import_module(module)
        return _origin(loaded) or module
    assert base is not None
    # a module of that name loaded earlier from beside another sweep file is replaced (two
    # projects may both have a `families.py`); any other loaded or installed one is not
    ours = top in sys.modules and _origin(sys.modules[top]) in _LOADED_BESIDE.values()
    shadowed = (
        top in sys.builtin_module_names
        or (top in sys.modules and not ours)
        or (importlib.machinery.PathFinder.find_spec(top, _installed_path(base)) is not None)
    )
    if shadowed:
        raise UserError(
            f"module {top!r} beside the sweep file ({local.origin}) has the name of an "
            "installed module; rename the file (and the entry in `families:`)",
            source=source,
            key=key,
        )
    assert local.loader is not None
    loaded = importlib.util.module_from_spec(local)
    sys.modules[top] = loaded
    previous = sys.modules.get(top)
    try:
        local.loader.exec_module(loaded)
    except BaseException:
        if previous is None:
            del sys.modules[top]
        else:
            sys.modules[top] = previous
        raise
    _LOADED_BESIDE[top] = _origin(loaded)
    if module != top:  # a submodule of a package beside the sweep: found on its __path__
        loaded = importlib.import_module(module)
    return _origin(loaded) or module


# the modules `_import_family_module` loaded from beside a sweep file: name -> file
_LOADED_BESIDE: dict[str, str | None] = {}


def _origin(module: Any) -> str | None:
    spec = getattr(module, "__spec__", None)
    return getattr(spec, "origin", None) or getattr(module, "__file__", None)


def _installed_path(base: Path) -> list[str]:
    """`sys.path` without the entries that mean the working directory or the sweep's folder."""
    here = {"", ".", str(Path.cwd()), str(base)}
    return [p for p in sys.path if p not in here and Path(p or ".").resolve() != base.resolve()]


def resolve(values: Mapping[str, Any], batch_size: int) -> dict[str, Any]:
    """A trial's values with the family's defaults filled in for every name it left out."""
    family = get(values["model"])
    out: dict[str, Any] = {"batch_size": batch_size, **family.defaults}
    out.update(values)
    return out


def used_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved values the trial's family actually reads (what is logged as params)."""
    uses = get(values["model"]).uses()
    out = {k: v for k, v in values.items() if k in uses}
    if out.get("embedding_init") != "pretrained":
        out.pop("embedding_trainable", None)
    if out.get("dense_layers") == 0:
        out.pop("dense_units", None)
    if out.get("bag_mode") != "nb":
        out.pop("nb_alpha", None)
    return out


def uses_sequences(values: Mapping[str, Any]) -> bool:
    return get(values["model"]).sequences


def build_model(values: Mapping[str, Any], inputs: ModelInputs) -> keras.Model:
    """A compiled Keras model for one trial; `values` must already be `resolve`d."""
    return get(values["model"]).build(values, inputs)


def families_table(which: Sequence[Family] | None = None) -> str:
    """The Markdown table of families (all registered by default), their layers and defaults."""
    lines = [
        "| family | reads | layers | hyperparameters (default) |",
        "|---|---|---|---|",
    ]
    for f in families() if which is None else which:
        reads = "sequences (`maxlen`)" if f.sequences else "bags of tokens"
        hps = ", ".join(f"`{k}` ({v})" for k, v in f.defaults.items())
        lines.append(f"| `{f.name}` | {reads} | {f.layers} | {hps} |")
    return "\n".join(lines) + "\n"

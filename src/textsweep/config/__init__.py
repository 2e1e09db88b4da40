"""Sweep files: the YAML schema, validated once into frozen objects, with `--set` overrides.

    sweep = load_sweep("sweeps/quickstart.yaml", overrides=["dataset.limit=2000"])
    sweep.config.tuner.max_trials, sweep.space.hyperparameters["model"]

Everything past `load_sweep` trusts these objects; a mistake raises `UserError` naming the file and
the dotted key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from textsweep import tuners
from textsweep.config.schema import (
    DEFAULT_TRACKING_URI,
    DatasetConfig,
    EarlyStoppingConfig,
    EmbeddingsConfig,
    EmbeddingsTrainConfig,
    Sweep,
    SweepConfig,
    TrackingConfig,
    TrainingConfig,
    TunerConfig,
    default_tracking_uri,
    project_root,
)
from textsweep.config.yamlfile import load_yaml
from textsweep.errors import UserError
from textsweep.search_space import SearchSpace

Scalar = bool | int | float | str

SEARCH_SPACES_DIR_ENV = "TEXTSWEEP_SEARCH_SPACES"


def read_yaml(path: Path) -> Any:
    """Parse a YAML file, turning I/O and syntax errors into `UserError`s that name the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("file not found; check the path", source=str(path)) from None
    except IsADirectoryError:
        raise UserError("expected a YAML file, found a directory", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read the file ({e})", source=str(path)) from None
    try:
        return load_yaml(text, str(path))
    except yaml.YAMLError as e:
        where = ""
        mark = getattr(e, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UserError(f"invalid YAML{where}: {problem}", source=str(path)) from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """`"training.epochs=2"` -> (["training", "epochs"], 2); the value is read as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", key):
        raise UserError(
            f"expected KEY=VALUE with a dotted key, like dataset.limit=2000; got {text!r}",
            source="--set",
        )
    try:
        value = load_yaml(raw, "--set") if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of `raw` with each `dotted.key=value` set, creating mappings on the way."""
    if not overrides:
        return raw
    out: dict[str, Any] = _deep_copy(raw)
    for text in overrides:
        keys, value = parse_override(text)
        node = out
        for i, k in enumerate(keys[:-1]):
            child = node.get(k)
            if child is None:
                child = node[k] = {}
            elif not isinstance(child, dict):
                raise UserError(
                    f"cannot set {'.'.join(keys)}: {'.'.join(keys[: i + 1])} is not a mapping",
                    source="--set",
                )
            node = child
        node[keys[-1]] = value
    return out


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def format_validation_error(
    error: ValidationError, source: str, prefix: str = "", model: type[BaseModel] | None = None
) -> UserError:
    """One line per field: `file: dotted.key: what was expected; got what`."""
    lines = []
    for item in error.errors():
        loc = [str(p) for p in item["loc"] if not str(p).startswith(("function-", "union["))]
        # pydantic reports unions under each member's tag; keep the readable path only
        loc = [p for p in loc if p not in ("str", "SearchSpace", "int", "float", "bool")]
        key = ".".join(([prefix] if prefix else []) + loc) or "(top level)"
        msg = item["msg"].removeprefix("Value error, ")
        # a model-level check names the key it is about at the start of its message
        if about := re.match(r"(hyperparameters\.[\w.]+): ", msg):
            key = f"{key}.{about.group(1)}" if key != "(top level)" else about.group(1)
            msg = msg[about.end() :]
        if item["type"] == "extra_forbidden":
            msg = "unknown key; remove it or check its spelling"
            if near := nearest_key(error.title, loc, model):
                msg = f"unknown key; did you mean `{near}`?"
        elif item["type"] == "missing":
            msg = "required key is missing"
        found = item.get("input")
        # a whole mapping (a model-level check's input) says nothing the message does not
        quiet = item["type"] in ("extra_forbidden", "missing") or isinstance(found, dict)
        got = "" if quiet or "got" in msg else f"; got {found!r}"
        lines.append(f"{key}: {msg}{got}")
    unique = list(dict.fromkeys(lines))
    return UserError(
        "\n  ".join(unique) if len(unique) == 1 else "\n  " + "\n  ".join(unique), source=source
    )


def nearest_key(
    model_name: str, loc: list[str], start: type[BaseModel] | None = None
) -> str | None:
    """The known key nearest to the unknown `loc[-1]`, at its place in the model named
    `model_name` (a ValidationError's title) or `start`, or None when nothing is close."""
    import difflib
    import typing

    from textsweep.config import schema
    from textsweep.search_space import schema as space_schema

    model = start or getattr(schema, model_name, None) or getattr(space_schema, model_name, None)

    def model_in(annotation: Any) -> tuple[Any, bool]:
        """(the pydantic model an annotation holds, whether it is a dict's value)."""
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation, False
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) is dict and len(args) == 2:
            return model_in(args[1])[0], True
        for arg in args:
            found, in_dict = model_in(arg)
            if found is not None:
                return found, in_dict
        return None, False

    skip_key = False
    for part in loc[:-1]:
        if skip_key:  # a key of a dict, e.g. a hyperparameter's name
            skip_key = False
            continue
        field = model.model_fields.get(part) if model is not None else None
        if field is None:
            return None
        model, skip_key = model_in(field.annotation)
    if model is None:
        return None
    names = [f.alias or name for name, f in model.model_fields.items()]
    close = difflib.get_close_matches(loc[-1], names, n=1, cutoff=0.6)
    return close[0] if close else None


def search_space_dirs(sweep_path: Path | None) -> list[Path]:
    """Where a search space named by a bare name is looked for, in order."""
    dirs = []
    if env := os.environ.get(SEARCH_SPACES_DIR_ENV):
        dirs.append(Path(env))
    if sweep_path is not None:
        dirs.append(sweep_path.resolve().parent.parent / "search_spaces")
    dirs.append(Path.cwd() / "search_spaces")
    return list(dict.fromkeys(dirs))


def load_search_space(ref: str, sweep_path: Path | None) -> tuple[SearchSpace, Path]:
    """Find a search space by name (a file in `search_spaces/`) or path, and validate it."""
    source = str(sweep_path) if sweep_path else "<sweep>"
    candidates: list[Path] = []
    if ref.endswith((".yaml", ".yml")) or "/" in ref:
        p = Path(ref)
        if not p.is_absolute() and sweep_path is not None and not p.exists():
            p = sweep_path.parent / p
        candidates.append(p)
    else:
        for d in search_space_dirs(sweep_path):
            candidates += [d / f"{ref}.yaml", d / f"{ref}.yml"]
    for p in candidates:
        if p.is_file():
            return parse_search_space(read_yaml(p), str(p)), p
    looked = ", ".join(str(c) for c in candidates)
    raise UserError(
        f"search space {ref!r} not found (looked for {looked}); give a name from search_spaces/, "
        "a path to a YAML file, or an inline mapping with `hyperparameters:`",
        source=source,
        key="search_space",
    )


def parse_search_space(raw: Any, source: str, prefix: str = "") -> SearchSpace:
    if not isinstance(raw, dict):
        raise UserError(
            f"expected a mapping with `hyperparameters:`; got {type(raw).__name__}",
            source=source,
            key=prefix or None,
        )
    try:
        return SearchSpace.model_validate(raw)
    except ValidationError as e:
        raise format_validation_error(e, source, prefix) from None


def load_sweep(path: str | Path, overrides: Sequence[str] = ()) -> Sweep:
    """Read, override and validate a sweep file and the search space it names."""
    path = Path(path)
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise UserError(
            f"expected a mapping of sweep keys (name, dataset, search_space, ...); got {type(raw).__name__}",
            source=str(path),
        )
    raw = apply_overrides(raw, overrides)
    return replace(sweep_from_mapping(raw, path), overrides=tuple(overrides))


def sweep_from_mapping(raw: Mapping[str, Any], path: Path | None) -> Sweep:
    source = str(path) if path else "<sweep>"
    _import_families(raw.get("families"), source, path)
    space_raw = raw.get("search_space")
    if isinstance(space_raw, dict):
        space = parse_search_space(space_raw, source, prefix="search_space")
        raw = {**raw, "search_space": space}
    if "tuner" in raw:
        raw = {**raw, "tuner": parse_tuner(raw["tuner"], source)}
    try:
        config = SweepConfig.model_validate(raw)
    except ValidationError as e:
        raise format_validation_error(e, source) from None
    space_path: Path | None = None
    if isinstance(config.search_space, str):
        space, space_path = load_search_space(config.search_space, path)
    else:
        space = config.search_space
    if config.fixed:
        try:
            space = space.with_fixed(config.fixed)
        except ValidationError as e:
            raise format_validation_error(e, source, prefix="fixed") from None
    _check_consistency(config, space, source)
    sweep = Sweep(config=config, space=space, path=path, space_path=space_path)
    tuners.of(config.tuner).check(sweep)
    return sweep


def parse_tuner(raw: Any, source: str) -> tuners.TunerOptions:
    """A `tuner:` mapping, validated by the options of its `algorithm` (default random): an
    unknown key, or another algorithm's option, is refused naming `tuner.<key>`."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError(
            f"expected a mapping like {{algorithm: random, max_trials: 10}}; got {raw!r}",
            source=source,
            key="tuner",
        )
    options = tuners.options_class(raw, source)
    try:
        return options.model_validate(raw)
    except ValidationError as e:
        raise format_validation_error(e, source, prefix="tuner", model=options) from None


def _import_families(modules: Any, source: str, path: Path | None) -> None:
    """Import a sweep's `families:` modules before anything validates a family name."""
    if modules is None:
        return
    if not isinstance(modules, list) or not all(isinstance(m, str) and m for m in modules):
        raise UserError(
            f"expected a list of module names, like [mypkg.models]; got {modules!r}",
            source=source,
            key="families",
        )
    from textsweep import tuners
    from textsweep.models import import_families

    def registered_tuners() -> dict[str, object]:
        return {a.name: a for a in tuners.algorithms()}

    base = path.resolve().parent if path is not None else None
    import_families(modules, source, base, tuners=registered_tuners)


def _check_consistency(config: SweepConfig, space: SearchSpace, source: str) -> None:
    if "model" not in space.hyperparameters:
        from textsweep.search_space import family_names

        raise UserError(
            "the search space has no `model` hyperparameter; add one (fixed or a choice of "
            f"{', '.join(family_names())}) or pin it in `fixed:`",
            source=source,
            key="search_space",
        )
    init = space.hyperparameters.get("embedding_init")
    if init is not None and "pretrained" in (init.candidates() or []) and config.embeddings is None:
        raise UserError(
            "embedding_init can be `pretrained`, but the sweep has no `embeddings:` section; "
            "add `embeddings: {path: VECTORS}` or `embeddings: {train: {dim: 100}}`",
            source=source,
            key="embeddings",
        )


__all__ = [
    "DEFAULT_TRACKING_URI",
    "DatasetConfig",
    "EarlyStoppingConfig",
    "EmbeddingsConfig",
    "EmbeddingsTrainConfig",
    "Sweep",
    "SweepConfig",
    "TrackingConfig",
    "TrainingConfig",
    "TunerConfig",
    "apply_overrides",
    "default_tracking_uri",
    "project_root",
    "format_validation_error",
    "load_search_space",
    "load_sweep",
    "parse_override",
    "parse_tuner",
    "read_yaml",
    "sweep_from_mapping",
]

"""Where a model is: a sweep's champion or a model URI, as a run's artifact, and its local copy.

    uri, ref = locate_model("sweeps/quickstart.yaml")    # the champion's run and artifact path
    folder = model_files("models:/quickstart@champion")   # $TEXTSWEEP_HOME/models/<run>/<path>
    reader, ref = resolve_model("runs:/<run id>/model")    # through tracking's Reader

`locate_model` and a cached `model_files` import no MLflow for a SQLite store, so that
`textsweep predict` is quick; a server goes through tracking's Reader.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textsweep.errors import UserError

if TYPE_CHECKING:
    from textsweep.tracking.reader import Reader

MODEL_ARTIFACT = "model"  # the artifact path of a run's logged model
CHAMPION = "champion"  # the alias of a sweep's recommended model


@dataclass(frozen=True)
class ModelRef:
    """Where a model is: the run holding it and the artifact path within the run."""

    run_id: str
    artifact_path: str
    described: str


def resolve_model(model: str, tracking_uri: str | None = None) -> tuple[Reader, ModelRef]:
    """A sweep file or name (its champion), `models:/NAME@ALIAS`, `models:/NAME/VERSION` or
    `runs:/RUN_ID/PATH`, as the run and artifact path that hold the model.

    Raises:
        UserError: nothing of that name or URI is found (names what was asked for).
    """
    from textsweep.tracking.reader import NotFound

    asked = _parse(model, tracking_uri)
    reader = _reader(asked.uri)
    if asked.ref is not None:
        return reader, asked.ref
    name, alias, version = asked.name, asked.alias, asked.version
    found = (
        reader.version(name, version)
        if version is not None
        else reader.version_by_alias(name, alias)
    )
    if found is None:
        which = f"version {version}" if version else f"alias @{alias}"
        raise _bad(
            model,
            f"the Model Registry at {asked.uri} has no model {name!r} with {which}; "
            "run the sweep (with tracking.log_models best or all) first",
        )
    if not found.run_id:
        raise _bad(model, f"model {name!r} version {found.version} names no run")
    try:
        run = reader.run(found.run_id)
    except NotFound as e:
        raise _bad(
            model,
            f"model {name!r} version {found.version} names run {found.run_id}, "
            f"which the store does not hold ({e})",
        ) from None
    return reader, _ref(
        name, str(found.version), found.run_id, found.source or "", run.info.artifact_uri
    )


@dataclass(frozen=True)
class _Asked:
    """What a MODEL argument asks for: a run's artifact (`ref`) or a registered model's version
    or alias, in the store at `uri`."""

    uri: str
    ref: ModelRef | None
    name: str = ""
    alias: str = CHAMPION
    version: str | None = None


def _parse(model: str, tracking_uri: str | None) -> _Asked:
    from textsweep.config import DEFAULT_TRACKING_URI
    from textsweep.tracking import sqlite_path

    name, alias, version, ref = None, CHAMPION, None, None
    uri = tracking_uri or DEFAULT_TRACKING_URI
    if model.startswith("runs:/"):
        parts = model[len("runs:/") :].split("/", 1)
        if not parts[0]:
            raise _bad(model, "a runs:/ URI needs a run id: runs:/<run id>/model")
        ref = ModelRef(parts[0], parts[1] if len(parts) > 1 else "", model)
    elif model.startswith("models:/"):
        rest = model[len("models:/") :]
        match = re.fullmatch(r"([^/@]+)(?:@([^/]+)|/(\d+))", rest)
        if match is None:
            raise _bad(model, "expected models:/<name>@<alias> or models:/<name>/<version>")
        name, alias, version = match.group(1), match.group(2) or CHAMPION, match.group(3)
    elif model.endswith((".yaml", ".yml")) or Path(model).is_file():
        from textsweep.config import load_sweep

        sweep = load_sweep(model)
        name, uri = sweep.name, sweep.tracking_uri(tracking_uri)
    else:
        name = model
    db = sqlite_path(uri)
    if db is not None and not db.is_file():
        raise _bad(
            model, f"there is no MLflow store at {db}; run the sweep first, or pass --tracking-uri"
        )
    return _Asked(uri, ref, name or "", alias, version)


def _reader(uri: str) -> Reader:
    from textsweep.tracking.calls import quiet_mlflow_logs
    from textsweep.tracking.reader import Reader

    quiet_mlflow_logs()
    return Reader.connect(uri)


def _ref(name: str, version: str, run_id: str, source: str, artifact_uri: str) -> ModelRef:
    prefix = artifact_uri.rstrip("/") + "/"
    path = source[len(prefix) :] if source.startswith(prefix) else MODEL_ARTIFACT
    return ModelRef(run_id, path, f"{name} version {version}")


def locate_model(model: str, tracking_uri: str | None = None) -> tuple[str, ModelRef]:
    """`resolve_model` without importing MLflow where it can: the tracking URI and the model's run
    and artifact path.

    Importing MLflow takes about 4 s of CPU, more than `textsweep predict` may take. A registered
    model in a SQLite store is looked up with a read-only query of MLflow's registry tables (the
    alias as it is now, so a moved `@champion` is seen); anything else — a server, MLflow
    workspaces, a schema this query does not know, a name not found (for MLflow's own error) —
    goes through tracking's Reader.
    """
    from textsweep.tracking import sqlite_path

    asked = _parse(model, tracking_uri)
    if asked.ref is not None:
        return asked.uri, asked.ref
    db = sqlite_path(asked.uri)
    found = _registry_row(db, asked) if db is not None else None
    if found is not None:
        return asked.uri, found
    _, ref = resolve_model(model, tracking_uri)
    return asked.uri, ref


def _registry_row(db: Path, asked: _Asked) -> ModelRef | None:
    """The model version that `asked` names, read from the store's tables; None when unsure."""
    import os
    import sqlite3

    if os.environ.get("MLFLOW_WORKSPACE") or asked.alias.lower() == "latest":
        return None
    try:
        with contextlib.closing(
            sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        ) as con:
            columns = {row[1] for row in con.execute("PRAGMA table_info(model_versions)")}
            where = " AND workspace = 'default'" if "workspace" in columns else ""
            version = asked.version
            if version is None:
                row = con.execute(
                    "SELECT version FROM registered_model_aliases WHERE name = ? "
                    f"AND alias = ?{where}",
                    (asked.name, asked.alias),
                ).fetchone()
                if row is None:
                    return None
                version = str(row[0])
            row = con.execute(
                "SELECT run_id, source FROM model_versions WHERE name = ? AND version = ? AND "
                f"current_stage != 'Deleted_Internal'{where}",
                (asked.name, int(version)),
            ).fetchone()
            if row is None or not row[0]:
                return None
            run_id, source = str(row[0]), str(row[1] or "")
            run = con.execute(
                "SELECT artifact_uri FROM runs WHERE run_uuid = ?", (run_id,)
            ).fetchone()
            if run is None:
                return None
    except (sqlite3.Error, ValueError):
        return None
    return _ref(asked.name, version, run_id, source, str(run[0]))


def _bad(model: str, why: str) -> UserError:
    return UserError(f"cannot use {model!r} as a model: {why}", source="MODEL")


MODELS_CACHE = "models"  # under $TEXTSWEEP_HOME: models/<run id>/<artifact path>/


def model_files(model: str, tracking_uri: str | None = None) -> Path:
    """The local folder of the model `model` names (see `resolve_model`): downloaded once into
    `$TEXTSWEEP_HOME/models/<run id>/<artifact path>`, read from there afterwards.

    A run's artifacts do not change once logged, so the run id and the artifact path are the
    key; which version an alias names is looked up every time (`locate_model`).
    """
    uri, ref = locate_model(model, tracking_uri)
    folder = _cache_folder(ref)
    if (folder / "MLmodel").is_file():
        return folder
    return _download(model, uri, ref, folder)


def _cache_folder(ref: ModelRef) -> Path:
    from textsweep.runtime import home_dir

    parts = [p for p in ref.artifact_path.split("/") if p] or ["artifacts"]
    if any(p in (".", "..") for p in parts) or not re.fullmatch(r"[\w-]+", ref.run_id):
        raise _bad(
            ref.described,
            f"run id {ref.run_id!r} / artifact path {ref.artifact_path!r} is not a plain name",
        )
    return home_dir().joinpath(MODELS_CACHE, ref.run_id, *parts)


def _download(model: str, uri: str, ref: ModelRef, folder: Path) -> Path:
    import shutil

    from textsweep.export.pyfunc import quiet_artifact_progress
    from textsweep.tracking.reader import NotFound

    folder.parent.mkdir(parents=True, exist_ok=True)
    # downloaded beside its place and renamed into it: an interrupted download leaves no folder
    # that looks complete
    with (
        tempfile.TemporaryDirectory(
            prefix=".download-", dir=folder.parent, ignore_cleanup_errors=True
        ) as tmp,
        quiet_artifact_progress(),
    ):
        try:
            local = Path(_reader(uri).download(ref.run_id, ref.artifact_path, Path(tmp)))
        except NotFound as e:
            raise _bad(model, str(e)) from None
        if not (local / "MLmodel").is_file():
            raise _bad(model, f"{ref.described} holds no MLflow model (no MLmodel file)")
        try:
            local.rename(folder)
        except OSError:
            if not (folder / "MLmodel").is_file():  # not another process's finished copy
                shutil.rmtree(folder, ignore_errors=True)
                local.rename(folder)
    return folder

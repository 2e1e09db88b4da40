"""Tracking URIs checked before anything is read or created: a store MLflow can keep runs in.

    check_tracking_uri("foo://bar", "--tracking-uri")   # UserError: what works instead

A wrong scheme otherwise surfaces as MLflow's registry traceback after the data are prepared,
and a plain path as MLflow's retired file store.
"""

from __future__ import annotations

from textsweep.credentials import mask
from textsweep.errors import UserError

SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")


def check_tracking_uri(uri: str, source: str, key: str | None = None) -> None:
    """Raise `UserError` (naming `source` and `key`) unless `uri` has a scheme MLflow stores in."""
    scheme = uri.split("://", 1)[0].split("+", 1)[0].lower() if "://" in uri else ""
    if scheme in SCHEMES:
        return
    if scheme in ("", "file"):
        path = uri.removeprefix("file://").rstrip("/") or "mlruns"
        hint = (
            "a path is MLflow's retired file store; give an SQLite database instead, e.g. "
            f"sqlite:///{path}/mlflow.db"
        )
    else:
        hint = f"MLflow has no store for {scheme}://"
    raise UserError(
        f"{mask(uri)} is not a tracking URI textsweep can use ({hint}); expected "
        "sqlite:///PATH.db, http(s)://HOST:PORT (an MLflow server) or a database URI "
        "(postgresql://, mysql://, mssql://)",
        source=source,
        key=key,
    )

"""`tracking/` is the one place that talks to MLflow's client: everything else asks its queries."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "textsweep"
TRACKING = PACKAGE / "tracking"


def _outside_tracking() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if TRACKING not in p.parents]


def offenders(path: Path) -> list[str]:
    """Where `path` names MLflow's client or reaches for a tracker's `.client`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Name) and node.id == "MlflowClient":
            found.append(f"{path.name}:{node.lineno}: MlflowClient")
        elif isinstance(node, ast.alias) and node.name.split(".")[-1] == "MlflowClient":
            found.append(f"{path.name}:{node.lineno}: imports MlflowClient")
        elif isinstance(node, ast.Attribute) and node.attr in ("client", "MlflowClient"):
            found.append(f"{path.name}:{node.lineno}: .{node.attr}")
    return found


def test_no_mlflow_client_outside_tracking() -> None:
    assert [o for p in _outside_tracking() for o in offenders(p)] == []


def test_the_check_catches_a_client_made_elsewhere(tmp_path: Path) -> None:
    bad = tmp_path / "sneaky.py"
    bad.write_text(
        "from mlflow import MlflowClient\n\ndef f(uri):\n    return MlflowClient(uri)\n",
        encoding="utf-8",
    )
    assert offenders(bad) == ["sneaky.py:1: imports MlflowClient", "sneaky.py:4: MlflowClient"]

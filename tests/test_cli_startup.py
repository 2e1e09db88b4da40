"""`textsweep --help` and `textsweep validate` never import TensorFlow, Keras, Keras Tuner or MLflow.

They run in a fresh interpreter (this test process may have imported anything), which runs
`cli.main` and then reports which heavy modules ended up in `sys.modules`. No timing assertions:
the import graph is what keeps them fast, and it is what is checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("tensorflow", "keras", "keras_tuner", "mlflow", "gensim", "matplotlib")

PROBE = f"""
import json, sys
from textsweep.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as e:
    code = e.code
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))
print("PROBE", json.dumps({{"code": code, "heavy": heavy}}))
"""


def cli_imports(*args: str) -> dict[str, object]:
    """Run `textsweep ARGS` through `cli.main` in a fresh interpreter; its exit code and heavy imports."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("PROBE "))
    return json.loads(line[len("PROBE ") :])


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["run", "--help"],
        ["validate", str(REPO / "sweeps" / "quickstart.yaml")],
        ["families"],
    ],
    ids=["help", "run-help", "validate", "families"],
)
def test_light_commands_import_no_heavy_library(args: list[str]) -> None:
    result = cli_imports(*args)
    assert result == {"code": 0, "heavy": []}


def test_validate_of_a_bad_file_stays_light_too(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsearch_space: {hyperparameters: {model: {type: fixed}}}\n")
    result = cli_imports("validate", str(bad))
    assert result == {"code": 2, "heavy": []}

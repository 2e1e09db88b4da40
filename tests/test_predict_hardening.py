"""`textsweep predict` against hostile files and input: a tampered preprocess.json is refused
(exit 2 naming it), non-UTF-8 input is decoded with a warning, texts are escaped in the TSV rows,
an empty text is warned about. One real sweep trains the model; every check runs on a copy of
its store, through real `textsweep predict` processes where the user reaches it that way."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import write_aclimdb

from textsweep.errors import UserError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding `seq.yaml` and the store of its finished one-trial sweep (a sequence
    model, embedding_pool with maxlen 24)."""
    root = tmp_path_factory.mktemp("predict")
    data = root / "data"
    write_aclimdb(data, per_class=20, unsup=0)
    sweep = {
        "name": "seq",
        "dataset": {"format": "imdb", "path": str(data), "num_words": 60, "seed": 1},
        "search_space": {"hyperparameters": {
            "model": {"type": "fixed", "value": "embedding_pool"},
            "maxlen": {"type": "fixed", "value": 24},
            "embedding_dim": {"type": "fixed", "value": 8}}},
        "tuner": {"algorithm": "random", "max_trials": 1, "seed": 1},
        "training": {"epochs": 1, "batch_size": 16},
        "tracking": {"uri": "sqlite:///mlruns/mlflow.db"},
    }  # fmt: skip
    (root / "seq.yaml").write_text(yaml.safe_dump(sweep), encoding="utf-8")
    done = textsweep(root, "run", "seq.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    return root


def textsweep(cwd: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TEXTSWEEP_HOME": str(cwd / "home"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "textsweep", *args], cwd=cwd, env=env,
                          input=stdin, capture_output=True, timeout=300)  # fmt: skip
    return subprocess.CompletedProcess(done.args, done.returncode,
                                       done.stdout.decode("utf-8", "replace"),
                                       done.stderr.decode("utf-8", "replace"))  # fmt: skip


@pytest.fixture
def copy(trained: Path, tmp_path: Path) -> Path:
    """A copy of the trained folder that a test may tamper with."""
    folder = tmp_path / "copy"
    shutil.copytree(trained, folder, ignore=shutil.ignore_patterns("data"))
    # the artifact location is absolute (beside the original database): point it at the copy
    import sqlite3

    with sqlite3.connect(folder / "mlruns" / "mlflow.db") as db:
        for table, column in (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                              ("model_versions", "source"), ("model_versions", "storage_location")):  # fmt: skip
            db.execute(f"UPDATE {table} SET {column} = replace({column}, ?, ?)",
                       (str(trained), str(folder)))  # fmt: skip
    return folder


def spec_files(folder: Path) -> list[Path]:
    return sorted((folder / "mlruns").rglob("preprocess.json"))


def tamper(folder: Path, change: Any) -> None:
    files = spec_files(folder)
    assert files
    for path in files:
        spec = json.loads(path.read_text(encoding="utf-8"))
        change(spec)
        path.write_text(json.dumps(spec), encoding="utf-8")


def test_the_logged_spec_carries_a_checksum_that_matches(trained: Path) -> None:
    from textsweep.export.preprocess import check_spec, spec_checksum

    for path in spec_files(trained):
        spec = json.loads(path.read_text(encoding="utf-8"))
        assert spec["sha256"] == spec_checksum(spec)
        check_spec(spec, (24,), 1)


def _empty_vocabulary(spec: dict) -> None:
    spec["vocabulary"] = []
    spec.pop("sha256")


def _cut_labels(spec: dict) -> None:
    spec["labels"] = spec["labels"][:1]
    spec.pop("sha256")


def _huge_maxlen(spec: dict) -> None:
    spec["maxlen"] = 1_000_000_000
    spec.pop("sha256")


def _labels_swapped(spec: dict) -> None:  # the checksum stays: it no longer matches
    spec["labels"] = spec["labels"][::-1]


TAMPERED = {
    "empty vocabulary": (_empty_vocabulary, r"vocabulary: expected a list of words starting"),
    "cut label list": (_cut_labels, r"labels: expected a list of at least 2 distinct class"),
    "maxlen 1e9": (_huge_maxlen, r"maxlen: expected a whole number from 1 to 100,000; got 1000000000"),
    "checksum mismatch": (_labels_swapped, r"its checksum does not match"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_a_tampered_preprocess_json_is_refused_on_load(copy: Path, case: str) -> None:
    """Issue 24 case 3, through the library: the pyfunc refuses to load."""
    import mlflow

    change, message = TAMPERED[case]
    tamper(copy, change)
    model_dir = spec_files(copy)[0].parent.parent
    with pytest.raises(UserError, match=r"preprocess\.json: " + message):
        mlflow.pyfunc.load_model(str(model_dir))


def test_predict_refuses_a_tampered_preprocess_json_with_exit_2(copy: Path) -> None:
    """Issue 24 case 3, through the CLI: exit 2 naming preprocess.json, no label printed."""
    tamper(copy, _empty_vocabulary)
    done = textsweep(copy, "predict", "seq.yaml", "a wonderful film")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "error: preprocess.json: vocabulary: expected a list of words" in done.stderr
    assert done.stdout == ""


def test_predict_escapes_texts_decodes_latin1_files_and_warns_about_empty_texts(
    trained: Path, tmp_path: Path
) -> None:
    """Issue 24 case 6 (--file, arguments): one TSV row per text, nothing raw on the terminal."""
    texts = tmp_path / "texts.txt"
    texts.write_bytes(b"caf\xe9 superb\n\nwonderful\tfilm \x1b[31mred\r\nback\\slash\n")
    done = textsweep(trained, "predict", "seq.yaml", "two\nlines", "--file", str(texts))
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()
    assert [row.split("\t")[2] for row in rows] == [
        "two\\nlines", "caf\ufffd superb", "", "wonderful\\tfilm \\x1b[31mred", "back\\\\slash"]
    assert all(len(row.split("\t")) == 3 for row in rows)
    assert "\x1b" not in done.stdout
    assert f"warning: --file {texts}: bytes that are not UTF-8; decoded as UTF-8 with U+FFFD" \
        in done.stderr  # fmt: skip
    assert "warning: 1 empty text(s) (number 3)" in done.stderr


def test_predict_decodes_non_utf8_stdin_with_a_warning(trained: Path) -> None:
    """Issue 24 case 6 (stdin): a single Latin-1 byte no longer crashes it."""
    done = textsweep(trained, "predict", "seq.yaml", stdin=b"na\xefve and superb\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\t")[2] == "na\ufffdve and superb\n"
    assert "warning: stdin: bytes that are not UTF-8; decoded as UTF-8 with U+FFFD" in done.stderr


def test_tsv_field_escapes_every_control_character() -> None:
    from textsweep.commands import tsv_field

    assert tsv_field("a\tb\nc\rd\\e\x1b[0m\x07\u202eok\u200d") == (
        "a\\tb\\nc\\rd\\\\e\\x1b[0m\\x07\\u202eok\u200d")

"""Hardening, round three (issue 24): hostile and clumsy inputs on real files and processes.

Each test names the issue case it covers. Slow ones (a `textsweep` process that imports
TensorFlow) are marked; the rest read real files in-process or run `textsweep validate`.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from textsweep.config import DatasetConfig
from textsweep.data import load_dataset
from textsweep.errors import UserError


def textsweep(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TEXTSWEEP_HOME": str(cwd / "home"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TEXTSWEEP_DATA_DIR", None)
    return subprocess.run([sys.executable, "-m", "textsweep", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def write_classes(root: Path, per_class: dict[str, list[str]]) -> Path:
    for label, texts in per_class.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for i, text in enumerate(texts):
            (root / label / f"{i}.txt").write_text(text, encoding="utf-8")
    return root


# --- case 4: folder datasets never read outside their root ----------------------------------------


def _hostile_folder(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("zzsecretword zzsecretword", encoding="utf-8")
    (tmp_path / "outside" / "more.txt").write_text("zzoutsideclass", encoding="utf-8")
    root = write_classes(tmp_path / "d", {"neg": ["bad", "awful", "poor"],
                                          "pos": ["good", "great", "fine"]})  # fmt: skip
    (root / "pos" / "leak.txt").symlink_to(secret)
    (root / "neg" / "environ.txt").symlink_to("/proc/self/environ")
    os.mkfifo(root / "neg" / "fifo.txt")  # reading it would block for ever
    (root / "evil").symlink_to(tmp_path / "outside", target_is_directory=True)
    (root / "pos" / "inside.txt").symlink_to(root / "pos" / "0.txt")  # inside the root: fine
    return root


def test_folder_dataset_skips_symlinks_out_of_its_root_and_special_files(tmp_path: Path) -> None:
    """Issue 24 case 4: skipped with a warning, never read."""
    root = _hostile_folder(tmp_path)
    d = load_dataset(DatasetConfig(format="folder", path=str(root), seed=1))
    texts = " ".join(d.train.texts + d.test.texts)
    assert "zzsecret" not in texts and "zzoutside" not in texts and "PATH=" not in texts
    assert d.class_names == ("neg", "pos")
    assert len(d.train.texts) + len(d.test.texts) == 7  # 6 files and the link inside the root
    (note,) = [w for w in d.warnings if "skipped" in w]
    assert note.startswith(f"{root}: skipped 4 entries that resolve outside the dataset folder")
    for name in ("evil", "leak.txt", "environ.txt", "fifo.txt (not a regular file)"):
        assert name in note


def test_data_describe_on_a_hostile_folder_warns_and_reads_nothing_outside(tmp_path: Path) -> None:
    root = _hostile_folder(tmp_path)
    done = textsweep(tmp_path, "data", "describe", str(root), "--format", "folder")
    assert done.returncode == 0, done.stderr
    assert "skipped 4 entries that resolve outside the dataset folder" in done.stdout + done.stderr
    assert "zzsecret" not in done.stdout + done.stderr


def test_imdb_folder_skips_review_files_linked_out_of_it(tmp_path: Path) -> None:
    from conftest import write_aclimdb

    base = write_aclimdb(tmp_path / "data", per_class=3, unsup=0)
    secret = tmp_path / "secret.txt"
    secret.write_text("zzsecretword", encoding="utf-8")
    (base / "train" / "pos" / "99_9.txt").symlink_to(secret)
    d = load_dataset(DatasetConfig(format="imdb", path=str(tmp_path / "data"), seed=1))
    assert "zzsecret" not in " ".join(d.train.texts)
    assert any("skipped 1 entry that resolve" in w and "99_9.txt" in w for w in d.warnings)


# --- case 7: tracking.experiment is validated like name -------------------------------------------


def _sweep_file(folder: Path, **extra: Any) -> Path:
    body = {
        "name": "hard",
        "dataset": {"format": "imdb", "path": str(folder / "data"), "num_words": 50},
        "search_space": {"hyperparameters": {"model": {"type": "fixed", "value": "multihot_dense"}}},
        "tuner": {"algorithm": "random", "max_trials": 1},
        **extra,
    }
    path = folder / "hard.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


@pytest.mark.parametrize("experiment", ["x" * 600, "..", "a..b", "runs/../..", "has space", ""])
def test_a_bad_experiment_name_is_refused_at_validation(tmp_path: Path, experiment: str) -> None:
    """Issue 24 case 7 (the subprocess cases are in tests/bad_inputs/experiment_*.yaml)."""
    from textsweep.config import load_sweep

    path = _sweep_file(tmp_path, tracking={"experiment": experiment})
    with pytest.raises(UserError, match=r"hard\.yaml: tracking\.experiment: expected an "
                       r"experiment name of at most 100 letters"):  # fmt: skip
        load_sweep(path)


def test_a_good_experiment_name_passes(tmp_path: Path) -> None:
    from textsweep.config import load_sweep

    assert load_sweep(_sweep_file(tmp_path, tracking={"experiment": "lstm-units_v1.2"})).experiment \
        == "lstm-units_v1.2"  # fmt: skip


# --- case 8: tables (long texts, NaN/Infinity labels, nested Parquet values) ----------------------


def _rows(n: int = 8) -> list[tuple[str, str]]:
    return [(f"text number {i} {'good' if i % 2 else 'bad'}", "pos" if i % 2 else "neg")
            for i in range(n)]  # fmt: skip


def table(path: Path, **settings: Any) -> Any:
    return load_dataset(DatasetConfig(format="table", path=str(path), seed=1, **settings))


@pytest.mark.parametrize("quoting", [True, False])
def test_a_csv_text_over_128_kib_is_read(tmp_path: Path, quoting: bool) -> None:
    """Issue 24 case 8: csv's field size limit no longer refuses it, nor with quoting: false."""
    long = "word " * 60_000  # 300 KB
    lines = ["text,label"] + [f"{t},{label}" for t, label in _rows()] + [f"{long},pos"]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    d = table(tmp_path / "r.csv", quoting=quoting)
    assert any(len(t) >= 290_000 for t in d.train.texts + d.test.texts)


def test_csv_nan_labels_are_missing_not_two_classes(tmp_path: Path) -> None:
    lines = ["text,label"] + [f"{t},{label}" for t, label in _rows()] + ["x y,NaN", "z w,nan"]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    d = table(tmp_path / "r.csv")
    assert d.class_names == ("neg", "pos")
    assert any("dropped 2 row(s) without a label (first: line 10); an empty, null or NaN label"
               in w for w in d.warnings)  # fmt: skip


def test_jsonl_infinity_label_is_refused_naming_the_line(tmp_path: Path) -> None:
    import json

    lines = [json.dumps({"text": t, "label": i % 2}) for i, (t, _) in enumerate(_rows())]
    lines.append('{"text": "forever", "label": Infinity}')
    (tmp_path / "r.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"r\.jsonl: dataset\.label_column: line 9: the label is "
                       r"Infinity, which is no class"):  # fmt: skip
        table(tmp_path / "r.jsonl")


def test_jsonl_list_text_is_refused_naming_the_line(tmp_path: Path) -> None:
    import json

    lines = [json.dumps({"text": t, "label": label}) for t, label in _rows()]
    lines.insert(3, json.dumps({"text": ["a", "list"], "label": "pos"}))
    (tmp_path / "r.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"r\.jsonl: dataset\.text_column: line 4: expected a "
                       r"string or a number; got a JSON array"):  # fmt: skip
        table(tmp_path / "r.jsonl")


@pytest.mark.parametrize("column", ["label", "text"])
def test_parquet_list_or_struct_columns_are_refused_naming_column_and_row(
    tmp_path: Path, column: str
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _rows()
    texts: list[Any] = [t for t, _ in rows]
    labels: list[Any] = [label for _, label in rows]
    if column == "label":
        labels = [None, *([[x] for x in labels[1:]])]
    else:
        texts = [{"body": t} for t in texts]
    pq.write_table(pa.table({"text": texts, "label": labels}), tmp_path / "r.parquet")
    key = "label_column" if column == "label" else "text_column"
    row = 2 if column == "label" else 1
    with pytest.raises(UserError, match=rf"r\.parquet: dataset\.{key}: column '{column}' holds "
                       rf".* values \(first at row {row}: .*\); expected one string or number"):  # fmt: skip
        table(tmp_path / "r.parquet")


# --- case 8: validate says a capped grid count is a lower bound -----------------------------------


def test_validate_shows_a_capped_grid_size_as_at_least(tmp_path: Path) -> None:
    """A 6,000,000-point grid: not "grid size: 1000000"."""
    from conftest import write_aclimdb

    write_aclimdb(tmp_path / "data", per_class=2, unsup=0)
    path = _sweep_file(tmp_path, search_space={"hyperparameters": {
        "model": {"type": "fixed", "value": "multihot_dense"},
        "dense_units": {"type": "int", "min": 1, "max": 1000},
        "dropout": {"type": "choice", "values": [i / 100 for i in range(100)]},
        "learning_rate": {"type": "choice", "values": [0.001 * (i + 1) for i in range(60)]}}},
        tuner={"algorithm": "grid"})  # fmt: skip
    done = textsweep(tmp_path, "validate", str(path))
    assert done.returncode == 0, done.stderr
    assert "  grid size: at least 1,000,000 (counting stops there)" in done.stdout
    assert "grid size: 1000000" not in done.stdout and ", 1000000 grid trials" not in done.stdout


# --- case 8: embeddings train --out an existing folder --------------------------------------------


def test_embeddings_train_out_an_existing_folder_is_exit_2_without_a_sidecar(
    tmp_path: Path,
) -> None:
    from conftest import write_aclimdb

    write_aclimdb(tmp_path / "data", per_class=3, unsup=2)
    path = _sweep_file(tmp_path)
    out = tmp_path / "vectors"
    out.mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    done = textsweep(tmp_path, "embeddings", "train", str(path), "--out", str(out),
                     "--min-count", "1", "--dim", "4", "--epochs", "1")  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert f"error: --out: {out} is a folder, where the vectors file would go; give --out a " \
        f"file path, such as {out / 'vectors.txt'}" in done.stderr  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no vectors.json beside it
    assert list(out.iterdir()) == []


# --- case 8: report while the first execution runs; hints quoted for paths with spaces ------------


@pytest.mark.slow
def test_report_during_the_first_execution_and_quoted_hints(tmp_path: Path) -> None:
    """`report` while the sweep's first (only) execution runs says it runs, counts no running
    trial as failed, and gives no --resume advice; the run's closing hint quotes its path."""
    import time

    from conftest import write_aclimdb

    folder = tmp_path / "my sweeps"
    folder.mkdir()
    write_aclimdb(folder / "data", per_class=20, unsup=0)
    sweep = {"name": "quick",
             "dataset": {"format": "imdb", "path": str(folder / "data"), "num_words": 60, "seed": 1},
             "search_space": {"hyperparameters": {
                 "model": {"type": "fixed", "value": "multihot_dense"}}},
             "tuner": {"algorithm": "random", "max_trials": 1, "seed": 1},
             "training": {"epochs": 60, "batch_size": 8},
             "tracking": {"uri": f"sqlite:///{folder / 'st ore' / 'mlflow.db'}"}}  # fmt: skip
    path = folder / "quick one.yaml"
    path.write_text(yaml.safe_dump(sweep), encoding="utf-8")
    env = {**os.environ, "TEXTSWEEP_HOME": str(tmp_path / "home"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    log = tmp_path / "run.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "textsweep", "run", str(path)],
                                   cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while "trial t0" not in log.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
        reported = textsweep(tmp_path, "report", str(path), "--out", str(tmp_path / "r"))
        still_running = process.poll() is None
        process.wait(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
    assert reported.returncode == 0, reported.stdout + reported.stderr
    assert "Traceback" not in reported.stderr
    assert still_running, "the sweep ended before the report read it; make its trial longer"
    assert re.search(r"WARNING: execution \w+ is running now \(in process \d+\); these "
                     r"numbers cover only the trials it has finished so far", reported.stdout)  # fmt: skip
    assert "--resume" not in reported.stdout
    assert "; 0 failed trials ignored)" in reported.stdout, reported.stdout
    assert process.returncode == 0, log.read_text()
    assert re.search(r"answer the question: \S*textsweep report " + re.escape(shlex.quote(str(path))), log.read_text())

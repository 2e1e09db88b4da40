"""Hardening, round three (issue 24): hostile and clumsy inputs on real files and processes.

Each test names the issue case it covers. Slow ones (a `textsweep` process that imports
TensorFlow) are marked; the rest read real files in-process or run `textsweep validate`.
"""

from __future__ import annotations

import os
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

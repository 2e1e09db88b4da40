"""`.npz` data files are read without running code: Keras's imdb.npz (object arrays of lists,
pickled by NumPy 1 under Python 2's protocol) loads, a pickle naming anything else is refused."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from textsweep.config import DatasetConfig
from textsweep.data import load_dataset
from textsweep.data.npz import load_npz
from textsweep.errors import UserError


def _old_keras_member(array: np.ndarray) -> bytes:
    """A .npy member as Keras's imdb.npz has them: NumPy 1 module names, pickle protocol 2."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        out, {"descr": "|O", "fortran_order": False, "shape": array.shape}
    )
    data = pickle.dumps(array, protocol=2).replace(b"numpy._core.", b"numpy.core.")
    return out.getvalue() + data


def _sequences(*rows: list[int]) -> np.ndarray:
    seqs = np.empty(len(rows), dtype=object)
    for i, row in enumerate(rows):
        seqs[i] = row
    return seqs


def test_a_keras_imdb_npz_loads_without_allow_pickle(tmp_path: Path) -> None:
    path = tmp_path / "imdb.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x_train.npy", _old_keras_member(_sequences([1, 5, 20], [2, 2])))
        z.writestr("x_test.npy", _old_keras_member(_sequences([3], [4, 1])))
        for name, labels in (("y_train", [0, 1]), ("y_test", [1, 0])):
            buffer = io.BytesIO()
            np.save(buffer, np.array(labels))
            z.writestr(f"{name}.npy", buffer.getvalue())
    with zipfile.ZipFile(path) as z:
        assert b"cnumpy.core.multiarray\n_reconstruct" in z.read("x_train.npy")
    ds = load_dataset(DatasetConfig(format="keras_npz", path=str(path), num_words=10))
    assert ds.train.token_ids is not None and ds.test.token_ids is not None
    assert [t.tolist() for t in ds.train.token_ids] == [[2, 6, 1], [3, 3]]
    assert [t.tolist() for t in ds.test.token_ids] == [[4], [5, 2]]


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, ("pwned", "w"))


def _evil_npz(path: Path) -> Path:
    seqs = _sequences([1, 2])
    seqs[0] = _Evil()
    np.savez(path, x_train=seqs, y_train=np.array([0]), x_test=seqs, y_test=np.array([1]))
    return path


def test_an_npz_whose_pickle_would_run_code_is_refused(tmp_path: Path) -> None:
    evil = _evil_npz(tmp_path / "evil.npz")
    env = {**os.environ, "TEXTSWEEP_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "textsweep", "data", "describe", str(evil)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "refused to read" in done.stderr and "io.open, which could run code" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "pwned").exists()


def test_badly_shaped_arrays_are_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, x_train=np.array(["a", "b"]), y_train=np.array([0, 1]),
             x_test=np.array(["c"]), y_test=np.array([0]))  # fmt: skip
    with pytest.raises(
        UserError, match=r"dataset.path: the arrays in .*bad.npz are not sequences of word ranks"
    ):
        load_dataset(DatasetConfig(format="keras_npz", path=str(path)))
    with pytest.raises(UserError, match=r"s.yaml: dataset.path: cannot read .*garbage.npz as .npz"):
        (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04 not really a zip")
        load_npz(tmp_path / "garbage.npz", "s.yaml")

"""IMDB as aclImdb (archive read directly, or a folder) and as Keras's pre-tokenized imdb.npz."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest

from textsweep.config import DatasetConfig
from textsweep.data import load_dataset
from textsweep.data.imdb import iter_imdb_unlabeled, locate_imdb
from textsweep.data.splits import stratified_sample, stratified_split
from textsweep.errors import UserError


def make_archive(folder_root: Path, out: Path) -> Path:
    with tarfile.open(out, "w:gz") as tar:
        tar.add(folder_root / "aclImdb", arcname="aclImdb")
    return out


def test_archive_and_folder_read_the_same_reviews(tiny_imdb: Path, tmp_path: Path) -> None:
    archive_dir = tmp_path / "archive"
    archive_dir.mkdir()
    make_archive(tiny_imdb, archive_dir / "aclImdb_v1.tar.gz")
    from_folder = load_dataset(DatasetConfig(path=str(tiny_imdb)))
    from_archive = load_dataset(DatasetConfig(path=str(archive_dir)))
    assert from_folder.class_names == ("neg", "pos")
    assert from_archive.train.texts == from_folder.train.texts
    assert np.array_equal(from_archive.test.labels, from_folder.test.labels)
    assert len(list(iter_imdb_unlabeled(DatasetConfig(path=str(archive_dir)), "s"))) == 10


def test_data_dir_is_used_when_no_path_is_given(tiny_imdb: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TEXTSWEEP_DATA_DIR", str(tiny_imdb))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert locate_imdb(DatasetConfig(), "s") == tiny_imdb / "aclImdb"


def test_limit_is_a_seeded_stratified_subsample(tiny_imdb: Path) -> None:
    ds = load_dataset(DatasetConfig(path=str(tiny_imdb), limit=20, seed=4))
    assert len(ds.train) == 20 and np.bincount(ds.train.labels).tolist() == [10, 10]
    again = load_dataset(DatasetConfig(path=str(tiny_imdb), limit=20, seed=4))
    assert ds.train.texts == again.train.texts


def test_stratified_split_keeps_proportions_and_every_class() -> None:
    labels = np.array([0] * 80 + [1] * 16 + [2] * 4)
    keep, held = stratified_split(labels, 0.25, seed=0)
    assert np.bincount(labels[held]).tolist() == [20, 4, 1]
    assert len(np.intersect1d(keep, held)) == 0 and len(keep) + len(held) == 100
    assert np.bincount(labels[stratified_sample(labels, 50, 0)]).tolist() == [40, 8, 2]


def test_keras_npz_shifts_ranks_and_clips_to_num_words(tmp_path: Path) -> None:
    seqs = np.empty(2, dtype=object)
    seqs[0], seqs[1] = [1, 5, 20], [2, 2]
    path = tmp_path / "imdb.npz"
    np.savez(path, x_train=seqs, y_train=np.array([0, 1]), x_test=seqs, y_test=np.array([1, 0]))
    ds = load_dataset(DatasetConfig(format="keras_npz", path=str(path), num_words=10))
    assert ds.train.token_ids is not None
    assert [t.tolist() for t in ds.train.token_ids] == [[2, 6, 1], [3, 3]]  # rank 20 -> OOV (1)
    assert ds.class_names == ("neg", "pos")


def test_missing_and_broken_sources_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"dataset.path: .*nowhere does not exist"):
        load_dataset(DatasetConfig(path=str(tmp_path / "nowhere")))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match=r"holds no aclImdb/ or aclImdb_v1.tar.gz"):
        load_dataset(DatasetConfig(path=str(empty)))
    bad = tmp_path / "broken"
    bad.mkdir()
    (bad / "aclImdb_v1.tar.gz").write_bytes(b"not a gzip file")
    with pytest.raises(UserError, match=r"aclImdb_v1.tar.gz: cannot read the IMDB archive"):
        load_dataset(DatasetConfig(path=str(bad)))
    npz = tmp_path / "x.npz"
    np.savez(npz, a=np.arange(3))
    with pytest.raises(UserError, match=r"x.npz: not a Keras dataset file: x_train, y_train, x_test, y_test missing \(found a\)"):
        load_dataset(DatasetConfig(format="keras_npz", path=str(npz)))


@pytest.mark.parametrize("holdout", [0.1, 0.5, 0.9, 3, 40])
def test_validation_never_holds_a_class_training_lacks(holdout: float) -> None:
    # many classes, most with one to three examples: each keeps one in training
    rng = np.random.default_rng(0)
    for seed in range(20):
        labels = np.repeat(np.arange(60), rng.integers(1, 4, size=60))
        keep, held = stratified_split(labels, holdout, seed)
        assert set(labels[held].tolist()) <= set(labels[keep].tolist())

"""Datasets: where texts and labels come from, read into one in-memory shape.

    dataset = load_dataset(config.dataset, source="sweeps/quickstart.yaml")
    dataset.train.texts[:2], dataset.train.labels[:2], dataset.class_names

Formats: `imdb` (aclImdb, the tar.gz read directly), `keras_npz` (Keras's pre-tokenized imdb.npz),
`folder` (root/<label>/*.txt) and `table` (CSV/TSV/JSONL/Parquet). `limit` subsamples every split.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from textsweep.config import DatasetConfig
from textsweep.data.splits import stratified_sample, stratified_split
from textsweep.errors import UserError

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Split:
    """Texts (or, for pre-tokenized data, token-id arrays) with integer class labels."""

    labels: np.ndarray
    texts: Sequence[str] | None = None
    token_ids: Sequence[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, idx: np.ndarray) -> Split:
        return Split(
            labels=self.labels[idx],
            texts=[self.texts[i] for i in idx] if self.texts is not None else None,
            token_ids=[self.token_ids[i] for i in idx] if self.token_ids is not None else None,
        )


@dataclass(frozen=True)
class TextDataset:
    """A labelled train split, a labelled test split, and the class names (label i is class_names[i])."""

    train: Split
    test: Split
    class_names: tuple[str, ...]
    test_is_holdout: bool = False
    warnings: tuple[str, ...] = field(default=())


def load_dataset(cfg: DatasetConfig, source: str = "<sweep>") -> TextDataset:
    """Read the dataset a sweep describes, apply `limit`, and check it is usable for training."""
    if cfg.format == "imdb":
        from textsweep.data.imdb import load_imdb

        dataset = load_imdb(cfg, source)
    elif cfg.format == "keras_npz":
        from textsweep.data.imdb import load_keras_npz

        dataset = load_keras_npz(cfg, source)
    elif cfg.format == "folder":
        from textsweep.data.folders import load_folder

        dataset = load_folder(cfg, source)
    else:
        from textsweep.data.tables import load_table

        dataset = load_table(cfg, source)
    if cfg.limit is not None:
        dataset = TextDataset(
            train=dataset.train.take(stratified_sample(dataset.train.labels, cfg.limit, cfg.seed)),
            test=dataset.test.take(stratified_sample(dataset.test.labels, cfg.limit, cfg.seed + 1)),
            class_names=dataset.class_names,
            test_is_holdout=dataset.test_is_holdout,
            warnings=dataset.warnings,
        )
    check_usable(dataset, source)
    return dataset


def holdout_test(train: Split, cfg: DatasetConfig) -> tuple[Split, Split]:
    """Split a dataset without a test split into (train, test) with `test_fraction`, stratified."""
    keep, held = stratified_split(train.labels, cfg.test_fraction, cfg.seed)
    return train.take(keep), train.take(held)


def check_usable(dataset: TextDataset, source: str) -> None:
    if len(dataset.train) == 0:
        raise UserError("the training split is empty; check dataset.path", source=source, key="dataset")
    if len(dataset.test) == 0:
        raise UserError("the test split is empty; check dataset.test_path", source=source, key="dataset")
    n_classes = len(np.unique(dataset.train.labels))
    if n_classes < 2:
        raise UserError(
            f"the training split has only one class ({dataset.class_names[0]!r}); "
            "a classifier needs at least two",
            source=source,
            key="dataset.label_column",
        )


def file_identity(path: Path) -> list[object]:
    """What identifies a file or folder's content cheaply: path, size and modification time."""
    path = path.resolve()
    if path.is_dir():
        entries = sorted(p for p in path.rglob("*") if p.is_file())
        stats = [(str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns) for p in entries]
        digest = hashlib.sha256(json.dumps(stats).encode()).hexdigest()
        return [str(path), "dir", digest]
    st = path.stat()
    return [str(path), st.st_size, st.st_mtime_ns]


def fingerprint(cfg: DatasetConfig, source: str = "<sweep>") -> str:
    """A key for the tokenization cache: the dataset's files and every setting that shapes the data."""
    paths = locate(cfg, source)
    payload = {
        "version": FORMAT_VERSION,
        "config": cfg.model_dump(mode="json"),
        "files": [file_identity(p) for p in paths],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def locate(cfg: DatasetConfig, source: str = "<sweep>") -> list[Path]:
    """The files or folders the dataset will be read from (downloading IMDB if it must)."""
    if cfg.format in ("imdb", "keras_npz"):
        from textsweep.data.imdb import locate_imdb

        return [locate_imdb(cfg, source)]
    paths = [require_path(cfg.path, source, "dataset.path")]
    if cfg.test_path is not None:
        paths.append(require_path(cfg.test_path, source, "dataset.test_path"))
    return paths


def require_path(path: str | None, source: str, key: str) -> Path:
    if path is None:
        raise UserError("a path is required for this dataset format", source=source, key=key)
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"{path} does not exist; check the path", source=source, key=key)
    return p


__all__ = ["Split", "TextDataset", "fingerprint", "holdout_test", "load_dataset", "locate"]

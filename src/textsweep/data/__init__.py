"""Datasets: where texts and labels come from, read into one in-memory shape.

    dataset = load_dataset(config.dataset, source="sweeps/quickstart.yaml")
    dataset.train.texts[:2], dataset.train.labels[:2], dataset.class_names

Formats: `imdb` (aclImdb, the tar.gz read directly), `keras_npz` (Keras's pre-tokenized imdb.npz),
`folder` (root/<label>/*.txt) and `table` (CSV/TSV/JSONL/Parquet). `limit` subsamples every split.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from textsweep.config import DatasetConfig
from textsweep.data.splits import stratified_sample, stratified_split
from textsweep.errors import UserError

FORMAT_VERSION = 1
_INTEGER = re.compile(r"[-+]?\d+(\.0*)?")


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


@dataclass(frozen=True)
class Records:
    """Labelled texts as read from one file or folder, before labels become class indices.

    `where[i]` says where record i came from: a file path, or a line (`unit`) number in `source`.
    `not_utf8` counts the texts whose bytes were not valid UTF-8 (decoded with U+FFFD).
    """

    source: str
    texts: list[str]
    labels: list[str]
    where: Sequence[str] | Sequence[int]
    not_utf8: int = 0
    unit: str = "line"

    def place(self, i: int) -> str:
        w = self.where[i]
        return f"{self.source}, {self.unit} {w}" if isinstance(w, int) else str(w)


def labelled_dataset(
    train: Records,
    test: Records | None,
    cfg: DatasetConfig,
    *,
    text_key: str,
    label_key: str,
    warnings: Sequence[str] = (),
) -> TextDataset:
    """Turn labels into class indices, check the classes, and hold out a test split if needed.

    Empty texts are dropped and counted in a warning (all empty is an error). Class names are the
    sorted distinct labels, numerically when every label is an integer. A class with one example,
    a single class, or a test label the training data lacks is a `UserError` naming the file.
    """
    notes = list(warnings)
    parts = [_drop_empty(r, text_key, notes) for r in (train, test) if r is not None]
    train, test = parts[0], (parts[1] if test is not None else None)
    for r in parts:
        if r.not_utf8:
            notes.append(
                f"{r.source}: {r.not_utf8} text(s) had bytes that are not UTF-8; decoded as UTF-8 "
                "with U+FFFD replacing each bad byte sequence"
            )
    canon = _canonical_labels({label for r in parts for label in r.labels})
    _check_spellings(canon, train.source, label_key, notes)
    class_names = tuple(sorted(set(canon[x] for x in train.labels), key=_label_order(canon)))
    index = {name: i for i, name in enumerate(class_names)}
    labels = np.array([index[canon[x]] for x in train.labels], dtype=np.int64)
    if len(class_names) < 2:
        raise UserError(
            f"found only one class, {class_names[0]!r} ({len(labels)} texts); a classifier "
            f"needs at least two; check {label_key}" + _notes(notes),
            source=train.source,
            key=label_key,
        )
    counts = np.bincount(labels, minlength=len(class_names))
    singles = [class_names[i] for i in np.flatnonzero(counts == 1)]
    if singles:
        first = train.place(int(np.flatnonzero(labels == index[singles[0]])[0]))
        raise UserError(
            f"class {singles[0]!r} has a single example ({first})"
            + (f", and so do {_listing(singles[1:])}" if len(singles) > 1 else "")
            + "; a stratified split needs at least two per class; add examples or remove the class"
            + _notes(notes),
            source=train.source,
            key=label_key,
        )
    split = Split(labels=labels, texts=train.texts)
    if test is None:
        kept, held = holdout_test(split, cfg)
        return TextDataset(kept, held, class_names, test_is_holdout=True, warnings=tuple(notes))
    for i, x in enumerate(test.labels):
        if canon[x] not in index:
            raise UserError(
                f"the test data has class {canon[x]!r} ({test.place(i)}), which the training data "
                f"lacks; training classes: {_listing(class_names)}",
                source=test.source,
                key=label_key,
            )
    test_labels = np.array([index[canon[x]] for x in test.labels], dtype=np.int64)
    missing = [n for i, n in enumerate(class_names) if not np.any(test_labels == i)]
    if missing:
        notes.append(f"{test.source}: the test data has no examples of {_listing(missing)}")
    return TextDataset(
        split, Split(labels=test_labels, texts=test.texts), class_names, warnings=tuple(notes)
    )


def _notes(notes: Sequence[str]) -> str:
    """What reading the files noticed, appended to an error it may explain (merged rows, say)."""
    return "".join(f"\n  note: {n}" for n in notes)


def _drop_empty(r: Records, key: str, notes: list[str]) -> Records:
    keep = [i for i, t in enumerate(r.texts) if t.strip()]
    if keep and len(keep) == len(r.texts):
        return r
    if not keep:
        raise UserError(
            f"all {len(r.texts)} texts are empty; check {key}"
            if r.texts
            else "found no texts (the file holds no rows of data)",
            source=r.source,
            key=key,
        )
    first = next(i for i, t in enumerate(r.texts) if not t.strip())
    notes.append(
        f"{r.source}: dropped {len(r.texts) - len(keep)} empty text(s) (first: {r.place(first)})"
    )
    where: list[str] | list[int] = [r.where[i] for i in keep]  # type: ignore[assignment]
    texts, labels = [r.texts[i] for i in keep], [r.labels[i] for i in keep]
    return Records(r.source, texts, labels, where, r.not_utf8, r.unit)


def _canonical_labels(labels: set[str]) -> dict[str, str]:
    """Integer labels written differently ("1", "01", "1.0") are one class, named "1"."""
    if labels and all(_INTEGER.fullmatch(x) for x in labels):
        return {x: str(int(float(x))) for x in labels}
    return {x: x for x in labels}


def _check_spellings(canon: dict[str, str], source: str, key: str, notes: list[str]) -> None:
    """One number written two ways ("0", "0.0"): one class with a warning when every label is
    an integer, else a `UserError` (they would silently be two classes)."""
    by_value: dict[float, set[str]] = {}
    for raw in canon:
        try:
            by_value.setdefault(float(raw), set()).add(raw)
        except ValueError:
            continue
    for spellings in by_value.values():
        if len(spellings) < 2:
            continue
        shown = " and ".join(repr(x) for x in sorted(spellings))
        merged = {canon[x] for x in spellings}
        if len(merged) == 1:
            notes.append(f"{source}: labels {shown} were read as one class, {merged.pop()!r}")
            continue
        raise UserError(
            f"labels {shown} are one number written two ways, but other labels are not "
            "integers, so they would be separate classes; write each label one way",
            source=source,
            key=key,
        )


def _label_order(canon: dict[str, str]) -> Callable[[str], tuple[int, str]]:
    numeric = bool(canon) and all(_INTEGER.fullmatch(x) for x in canon)
    return (lambda name: (int(name), "")) if numeric else (lambda name: (0, name))


def _listing(names: Sequence[str], most: int = 10) -> str:
    shown = ", ".join(repr(n) for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def check_usable(dataset: TextDataset, source: str) -> None:
    if len(dataset.train) == 0:
        raise UserError(
            "the training split is empty; check dataset.path", source=source, key="dataset"
        )
    if len(dataset.test) == 0:
        raise UserError(
            "the test split is empty; check dataset.test_path", source=source, key="dataset"
        )
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
        stats = [
            (str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns) for p in entries
        ]
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


__all__ = [
    "Records",
    "Split",
    "TextDataset",
    "fingerprint",
    "holdout_test",
    "labelled_dataset",
    "load_dataset",
    "locate",
]

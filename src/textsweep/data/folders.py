"""Folder-per-class datasets: `root/<label>/*.txt`, read like `text_dataset_from_directory` does.

    root/neg/1.txt, root/pos/2.txt, ...                 one folder; the test split is a holdout
    root/train/<label>/*.txt, root/test/<label>/*.txt   a train and a test folder

`dataset.test_path` names a separate test folder (same layout); without one, and without
`root/test/`, a seeded stratified `test_fraction` of the training texts is held out. Class names are
the sorted folder names; `.txt` files in subfolders of a class folder belong to that class.
"""

from __future__ import annotations

from pathlib import Path

from textsweep.config import DatasetConfig
from textsweep.data import Records, TextDataset, labelled_dataset, require_path
from textsweep.errors import UserError


def load_folder(cfg: DatasetConfig, source: str) -> TextDataset:
    """Read a folder-per-class dataset, with or without `train/` and `test/` subfolders.

    Args:
        cfg: the sweep's dataset settings (`path`, `test_path`, `test_fraction`, `seed`).
        source: the sweep file, named in errors about the settings themselves.
    """
    root = _require_folder(cfg.path, source, "dataset.path")
    train_dir, test_dir = root, None
    if _has_subfolders(root / "train"):
        train_dir = root / "train"
        if (root / "test").is_dir():
            test_dir = root / "test"
    if cfg.test_path is not None:
        test_dir = _require_folder(cfg.test_path, source, "dataset.test_path")
    notes: list[str] = []
    train = read_class_folders(train_dir, "dataset.path", notes)
    test = read_class_folders(test_dir, "dataset.test_path", notes) if test_dir else None
    return labelled_dataset(
        train, test, cfg, text_key="dataset.path", label_key="dataset.path", warnings=notes
    )


def read_class_folders(folder: Path, key: str, notes: list[str]) -> Records:
    """Every `.txt` file under `folder/<label>/`, labelled by its class folder's name.

    Bytes that are not UTF-8 are decoded with U+FFFD and counted; a class folder without `.txt`
    files is skipped with a note, since it has nothing to learn from.
    """
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        loose = sum(1 for p in folder.glob("*.txt"))
        found = f"{loose} .txt files directly in it" if loose else "no subfolders"
        raise UserError(
            f"expected one subfolder per class holding .txt files ({folder}/<label>/*.txt); "
            f"found {found}",
            source=str(folder),
            key=key,
        )
    texts: list[str] = []
    labels: list[str] = []
    where: list[str] = []
    not_utf8 = 0
    for class_dir in classes:
        files = sorted(
            p
            for p in class_dir.rglob("*")
            if p.suffix.lower() == ".txt" and p.is_file() and not p.name.startswith(".")
        )
        if not files:
            notes.append(f"{class_dir}: no .txt files; not used as a class")
            continue
        for f in files:
            try:
                raw = f.read_bytes()
            except OSError as e:
                raise UserError(f"cannot read the file ({e})", source=str(f), key=key) from None
            text, bad = decode_text(raw)
            not_utf8 += bad
            texts.append(text)
            labels.append(class_dir.name)
            where.append(str(f))
    if not texts:
        raise UserError(
            f"none of the class folders ({', '.join(p.name for p in classes)}) holds a .txt file",
            source=str(folder),
            key=key,
        )
    return Records(str(folder), texts, labels, where, not_utf8)


def decode_text(raw: bytes) -> tuple[str, bool]:
    """UTF-8 text (a byte-order mark dropped); bytes that are not UTF-8 become U+FFFD.

    Returns the text and whether any replacement was made.
    """
    try:
        return raw.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8-sig", "replace"), True


def _has_subfolders(path: Path) -> bool:
    return path.is_dir() and any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir())


def _require_folder(path: str | None, source: str, key: str) -> Path:
    p = require_path(path, source, key)
    if not p.is_dir():
        raise UserError(
            f"expected a folder with one subfolder per class (<label>/*.txt); {p} is a file. "
            "For a CSV/TSV/JSONL/Parquet file use dataset.format: table",
            source=source,
            key=key,
        )
    return p

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
    root = folder.resolve()
    skipped: list[str] = []
    classes = []
    for p in sorted(folder.iterdir()):
        if p.is_dir() and not p.name.startswith("."):
            why = unsafe_entry(p, root, directory=True)
            if why is None:
                classes.append(p)
            else:
                skipped.append(f"{p} ({why})")
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
        files = []
        for p in sorted(class_dir.rglob("*")):
            if p.suffix.lower() != ".txt" or p.name.startswith(".") or p.is_dir():
                continue
            why = unsafe_entry(p, root)
            if why is None:
                files.append(p)
            else:
                skipped.append(f"{p} ({why})")
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
    if skipped:
        notes.append(skipped_note(folder, skipped))
    if not texts:
        raise UserError(
            f"none of the class folders ({', '.join(p.name for p in classes)}) holds a .txt file",
            source=str(folder),
            key=key,
        )
    return Records(str(folder), texts, labels, where, not_utf8)


def unsafe_entry(path: Path, root: Path, directory: bool = False) -> str | None:
    """Why `path` must not be read as part of the dataset under `root` (resolved), or None.

    Refused: anything that resolves outside `root` (a symlink to /proc/self/environ, say), and
    anything that is not a regular file (a FIFO, a device; for `directory`, not a folder).
    """
    import stat

    try:
        real = path.resolve(strict=True)
        mode = real.stat().st_mode
    except (OSError, RuntimeError) as e:  # a dangling link, a loop
        return f"cannot be resolved: {getattr(e, 'strerror', None) or e}"
    if real != root and not real.is_relative_to(root):
        return f"resolves outside the dataset folder, to {real}"
    if directory and not stat.S_ISDIR(mode):
        return "not a folder"
    if not directory and not stat.S_ISREG(mode):
        return "not a regular file"
    return None


def skipped_note(folder: Path, skipped: list[str]) -> str:
    shown = "; ".join(skipped[:5]) + ("; ..." if len(skipped) > 5 else "")
    return (
        f"{folder}: skipped {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} that "
        f"resolve outside the dataset folder or are not regular files, never read them: "
        f"{shown}"
    )


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

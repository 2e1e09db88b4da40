"""The Large Movie Review Dataset (aclImdb) and Keras's pre-tokenized `imdb.npz`.

aclImdb is found at `dataset.path`, in `$TEXTSWEEP_DATA_DIR` (a folder holding `aclImdb/` or
`aclImdb_v1.tar.gz`), in the Keras download cache, or downloaded once with `keras.utils.get_file`.
The archive is read directly; nothing is extracted.
"""

from __future__ import annotations

import os
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from textsweep.config import DatasetConfig
from textsweep.data import Split, TextDataset
from textsweep.data.npz import load_npz
from textsweep.errors import UserError

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_NPZ_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz"
ARCHIVE = "aclImdb_v1.tar.gz"
CLASS_NAMES = ("neg", "pos")
DATA_DIR_ENV = "TEXTSWEEP_DATA_DIR"

_MEMBER = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg|unsup)/(\d+)_(\d+)\.txt$")


def keras_cache_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def _aclimdb_in(folder: Path) -> Path | None:
    """The aclImdb folder or archive inside `folder` (or `folder` itself), if there is one."""
    if folder.is_file() and folder.name.endswith((".tar.gz", ".tgz")):
        return folder
    if (folder / "train").is_dir() and (folder / "test").is_dir():
        return folder
    for candidate in (folder / "aclImdb", folder / ARCHIVE):
        if candidate.exists():
            return candidate
    return None


def locate_imdb(cfg: DatasetConfig, source: str) -> Path:
    """Where the IMDB data is, in PRODUCT.md's order; downloads only as the last resort."""
    npz = cfg.format == "keras_npz"
    if cfg.path is not None:
        p = Path(cfg.path).expanduser()
        if not p.exists():
            raise UserError(
                f"{cfg.path} does not exist; check the path", source=source, key="dataset.path"
            )
        found = p if npz and p.is_file() else (p / "imdb.npz" if npz else _aclimdb_in(p))
        if found is None or not found.exists():
            what = "imdb.npz" if npz else f"aclImdb/ or {ARCHIVE}"
            raise UserError(f"{cfg.path} holds no {what}", source=source, key="dataset.path")
        return found
    folders = [Path(d) for d in [os.environ.get(DATA_DIR_ENV)] if d] + [keras_cache_dir()]
    for folder in folders:
        found = (
            (folder / "imdb.npz" if (folder / "imdb.npz").is_file() else None)
            if npz
            else _aclimdb_in(folder)
        )
        if found is not None:
            return found
    return _download(npz, source)


def _download(npz: bool, source: str) -> Path:
    from textsweep.runtime import stderr_silenced

    url, name = (IMDB_NPZ_URL, "imdb.npz") if npz else (IMDB_URL, ARCHIVE)
    try:
        # TensorFlow's C++ start-up lines (oneDNN, absl) would reach the terminal; Keras reports
        # the download on stdout and its failure as an exception
        with stderr_silenced():
            from keras.utils import get_file

            path = get_file(
                name, url, cache_dir=str(keras_cache_dir().parent), cache_subdir="datasets"
            )
        return Path(path)
    except Exception as e:  # network errors come in many types
        raise UserError(
            f"the IMDB data was not found locally and could not be downloaded ({e}); set "
            f"{DATA_DIR_ENV} to a folder holding {ARCHIVE}, or set dataset.path",
            source=source,
            key="dataset.path",
        ) from None


def _read_members(
    location: Path, splits: set[str], skipped: list[str] | None = None
) -> Iterator[tuple[str, str, int, str]]:
    """(split, label, id, text) for every review file of the wanted splits ('unsup' included).

    In an extracted folder, a file that resolves outside it (a symlink) or is not a regular file
    is never read; it is added to `skipped`, with why.
    """
    if location.is_dir():
        from textsweep.data.folders import unsafe_entry

        root = location.resolve()
        for split in ("train", "test"):
            for label in ("neg", "pos", "unsup"):
                folder = location / split / label
                if (split if label != "unsup" else "unsup") not in splits or not folder.is_dir():
                    continue
                for f in folder.glob("*.txt"):
                    m = _MEMBER.search("aclImdb/" + f.relative_to(location).as_posix())
                    why = unsafe_entry(f, root) if m else None
                    if why is not None:
                        if skipped is not None:
                            skipped.append(f"{f} ({why})")
                        continue
                    if m:
                        yield (
                            split,
                            label,
                            int(m.group(3)),
                            f.read_bytes().decode("utf-8", "replace"),
                        )
        return
    try:
        with tarfile.open(location, mode="r|gz") as tar:
            for member in tar:
                m = _MEMBER.search(member.name)
                if not m or not member.isfile():
                    continue
                split, label = m.group(1), m.group(2)
                if (split if label != "unsup" else "unsup") not in splits:
                    continue
                fh = tar.extractfile(member)
                if fh is not None:
                    yield split, label, int(m.group(3)), fh.read().decode("utf-8", "replace")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise UserError(
            f"cannot read the IMDB archive ({e}); is it complete?", source=str(location)
        ) from None


def load_imdb(cfg: DatasetConfig, source: str) -> TextDataset:
    location = locate_imdb(cfg, source)
    rows: dict[str, list[tuple[str, int, str]]] = {"train": [], "test": []}
    skipped: list[str] = []
    for split, label, rid, text in _read_members(location, {"train", "test"}, skipped):
        rows[split].append((label, rid, text))
    splits = {}
    for split, items in rows.items():
        if not items:
            raise UserError(
                f"no {split} reviews found in the IMDB data (expected aclImdb/{split}/pos and "
                f"aclImdb/{split}/neg)",
                source=str(location),
                key="dataset.path",
            )
        items.sort(key=lambda r: (r[0], r[1]))
        labels = np.array([CLASS_NAMES.index(r[0]) for r in items], dtype=np.int64)
        splits[split] = Split(labels=labels, texts=[r[2] for r in items])
    from textsweep.data.folders import skipped_note

    notes = (skipped_note(location, skipped),) if skipped else ()
    return TextDataset(
        train=splits["train"], test=splits["test"], class_names=CLASS_NAMES, warnings=notes
    )


def iter_imdb_unlabeled(cfg: DatasetConfig, source: str) -> Iterator[str]:
    """The 50,000 unlabeled reviews of aclImdb (train/unsup), for training word vectors."""
    for _, _, _, text in _read_members(locate_imdb(cfg, source), {"unsup"}):
        yield text


def load_keras_npz(cfg: DatasetConfig, source: str) -> TextDataset:
    """Keras's `imdb.npz`: word ranks (1 = most frequent) per review, shifted to textsweep's ids.

    textsweep's ids are 0 = padding, 1 = out of vocabulary, and rank r -> r + 1 while r + 1 <
    num_words, so `num_words` means the same thing as for raw text.
    """
    path = locate_imdb(cfg, source)
    keys = ("x_train", "y_train", "x_test", "y_test")
    found = load_npz(path, source)
    missing = [k for k in keys if k not in found]
    if missing:
        raise UserError(
            f"not a Keras dataset file: {', '.join(missing)} missing (found {', '.join(found)}); "
            "expected the arrays keras.datasets.imdb.load_data reads",
            source=str(path),
        )
    parts = {k: found[k] for k in keys}
    shapes = {k: a.shape for k, a in parts.items()}
    if any(
        len(shapes[y]) != 1 or shapes[x][:1] != shapes[y] or len(shapes[x]) > 2
        for x, y in (("x_train", "y_train"), ("x_test", "y_test"))
    ):
        raise UserError(
            f"badly shaped arrays in {path}: {', '.join(f'{k} {list(s)}' for k, s in shapes.items())}; "
            "expected x_train and y_train (and x_test and y_test) of equal length: one "
            "sequence of word ranks and one label per review",
            source=source,
            key="dataset.path",
        )
    try:
        return _npz_dataset(parts, cfg.num_words)
    except (TypeError, ValueError, OverflowError) as e:
        raise UserError(
            f"the arrays in {path} are not sequences of word ranks and labels "
            f"({type(e).__name__}: {e}); "
            "expected what keras.datasets.imdb.load_data reads: x_* lists of non-negative "
            "integers, y_* integer labels",
            source=source,
            key="dataset.path",
        ) from None


def _npz_dataset(parts: dict[str, np.ndarray], num_words: int) -> TextDataset:
    labels_all = np.concatenate([parts["y_train"], parts["y_test"]])
    values = sorted(np.unique(labels_all).tolist())
    names = CLASS_NAMES if values == [0, 1] else tuple(str(v) for v in values)
    index = {v: i for i, v in enumerate(values)}

    def to_split(x: np.ndarray, y: np.ndarray) -> Split:
        ids = []
        for seq in x:
            a = np.asarray(seq, dtype=np.int64) + 1
            if a.ndim != 1 or (len(a) and a.min() < 1):
                raise ValueError("a sequence is not a list of non-negative integers")
            a[a >= num_words] = 1
            ids.append(a.astype(np.int32))
        return Split(labels=np.array([index[v] for v in y.tolist()], dtype=np.int64), token_ids=ids)

    return TextDataset(
        train=to_split(parts["x_train"], parts["y_train"]),
        test=to_split(parts["x_test"], parts["y_test"]),
        class_names=names,
    )

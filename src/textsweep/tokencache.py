"""Cache entries on disk: named arrays plus JSON metadata, written atomically, verified on read.

    write_entry(folder, {"flat": flat, "offsets": offsets}, {"key": key})
    arrays, meta = read_entry(folder)      # None when there is no entry; BrokenEntry if damaged

An entry is a folder holding `arrays.npz` and `meta.json`. The metadata records the archive's
size and SHA-256 and each array's dtype and shape, so a truncated, garbled or emptied file is
recognised before anything uses it. Entries are written to a temporary folder, flushed to disk
and renamed into place: a crash leaves either the old entry or the new one, never half of one.
No pickles are read (`allow_pickle=False`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

ENTRY_FORMAT = 1
ARRAYS, META = "arrays.npz", "meta.json"


class BrokenEntry(Exception):
    """A cache entry that exists but cannot be trusted; the message says what is wrong."""


def read_entry(
    folder: Path, required: Iterable[str] = ()
) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """The arrays and metadata of the entry in `folder`, checked; None when there is none.

    Raises `BrokenEntry` when a file is missing, truncated, garbled, or does not match what its
    metadata says, or when a key named in `required` is missing from the metadata.
    """
    if not folder.exists():
        return None
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        data = (folder / ARRAYS).read_bytes()
    except FileNotFoundError as e:
        raise BrokenEntry(f"{Path(e.filename).name} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BrokenEntry(f"{META} is unreadable ({e})") from None
    spec = meta.get("entry") if isinstance(meta, dict) else None
    if not isinstance(spec, dict) or spec.get("format") != ENTRY_FORMAT:
        raise BrokenEntry(f"{META} does not describe its arrays")
    missing = [key for key in required if key not in meta]
    if missing:
        raise BrokenEntry(f"{META} lacks {', '.join(missing)}")
    if len(data) != spec.get("size") or hashlib.sha256(data).hexdigest() != spec.get("sha256"):
        raise BrokenEntry(f"{ARRAYS} is not the file that was written (size or checksum differs)")
    shapes = spec.get("arrays")
    if not isinstance(shapes, dict):
        raise BrokenEntry(f"{META} does not list its arrays")
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            for name, (dtype, shape) in shapes.items():
                array = npz[name]
                if str(array.dtype) != dtype or list(array.shape) != shape:
                    raise BrokenEntry(
                        f"{ARRAYS}: {name} is {array.dtype}{list(array.shape)}, "
                        f"expected {dtype}{shape}"
                    )
                arrays[name] = array
    except (OSError, ValueError, TypeError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise BrokenEntry(f"{ARRAYS} is unreadable ({type(e).__name__}: {e})") from None
    return arrays, meta


def write_entry(folder: Path, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    """Write an entry atomically, replacing a (broken) one already in `folder`."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    try:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        data = buffer.getvalue()
        spec = {
            "format": ENTRY_FORMAT,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "arrays": {k: [str(a.dtype), list(a.shape)] for k, a in arrays.items()},
        }
        _write_synced(tmp / ARRAYS, data)
        _write_synced(tmp / META, json.dumps({**meta, "entry": spec}).encode("utf-8"))
        _sync_folder(tmp)
        if folder.exists():
            remove_entry(folder)
        try:
            os.replace(tmp, folder)
        except OSError:  # another process won the race; its entry is as good as ours
            return
        _sync_folder(folder.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_entry(folder: Path) -> None:
    """Remove an entry: renamed away first, so no reader sees it half-deleted."""
    trash = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".trash-"))
    try:
        os.replace(folder, trash / folder.name)
    except FileNotFoundError:
        pass
    shutil.rmtree(trash, ignore_errors=True)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

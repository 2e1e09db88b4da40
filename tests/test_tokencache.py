"""The tokenization cache heals: a damaged entry is recognised, rebuilt with a warning, and the
next run reads the rebuilt one. Real files under a real cache folder, damaged as a crash, a full
disk or a clumsy hand would damage them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from textsweep.config import DatasetConfig
from textsweep.tokencache import BrokenEntry, read_entry, write_entry
from textsweep.vocabulary import encode


def _truncate(folder: Path) -> None:
    path = folder / "arrays.npz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garble(folder: Path) -> None:
    path = folder / "arrays.npz"
    data = bytearray(path.read_bytes())
    for i in range(200, len(data), 97):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


def _empty(folder: Path) -> None:
    (folder / "arrays.npz").write_bytes(b"")


def _empty_meta(folder: Path) -> None:
    (folder / "meta.json").write_text("{}", encoding="utf-8")


def _garble_meta(folder: Path) -> None:
    (folder / "meta.json").write_bytes(b"\xff\xfe{not json")


def _meta_missing(folder: Path) -> None:
    (folder / "meta.json").unlink()


def _wrong_shape(folder: Path) -> None:
    # a well-formed archive whose arrays are not the ones the metadata describes
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    meta["entry"]["arrays"]["train_flat"][1] = [3]
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")


DAMAGES: dict[str, Callable[[Path], None]] = {
    "truncated": _truncate,
    "garbled": _garble,
    "empty file": _empty,
    "{} meta": _empty_meta,
    "garbled meta": _garble_meta,
    "missing meta": _meta_missing,
    "wrong shape": _wrong_shape,
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_entry_is_rebuilt_with_a_warning(
    damage: str, tiny_imdb: Path, tmp_path: Path
) -> None:
    cfg = DatasetConfig(format="imdb", path=str(tiny_imdb), num_words=100, seed=1)
    cache = tmp_path / "cache"
    first = encode(cfg, cache)
    DAMAGES[damage](cache / first.key)
    said: list[str] = []
    rebuilt = encode(cfg, cache, progress=said.append)
    assert not rebuilt.from_cache
    assert any(
        line.startswith(f"warning: the tokenization cache entry {cache / first.key} is damaged")
        and line.endswith("rebuilding it")
        for line in said
    ), said
    assert np.array_equal(rebuilt.train.flat, first.train.flat)
    again = encode(cfg, cache)
    assert again.from_cache
    assert np.array_equal(again.test_labels, first.test_labels)
    assert [p.name for p in cache.iterdir()] == [first.key]  # no temporary folders left


def test_entries_are_verified_by_checksum(tmp_path: Path) -> None:
    folder = tmp_path / "entry"
    write_entry(folder, {"a": np.arange(5, dtype=np.int32)}, {"key": "k"})
    arrays, meta = read_entry(folder, ["key"]) or ({}, {})
    assert arrays["a"].tolist() == [0, 1, 2, 3, 4] and meta["key"] == "k"
    with pytest.raises(BrokenEntry, match="lacks vocabulary"):
        read_entry(folder, ["key", "vocabulary"])
    path = folder / "arrays.npz"
    data = bytearray(path.read_bytes())
    data[-30] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(BrokenEntry, match=r"arrays.npz is not the file that was written"):
        read_entry(folder)
    assert read_entry(tmp_path / "absent") is None

"""N-grams of word ids as int64 keys: counted, looked up and written back, with NumPy only.

    keys, rows = ngram_keys(seqs, 3, key_base(seqs))   # every 1..3-gram of every text
    unique, counts = count_ngrams(train, 3, base)       # exact counts, a chunk at a time
    grams = unkeys(unique, base, 3)                     # int32 [k, 3], zero-padded

An n-gram's key is its word ids as digits in `base` (above every word id); word ids are >= 1, so
no digit is 0 and a key's length is its number of digits. Counting merges each chunk's distinct
keys and counts (`np.unique`), so memory grows with the distinct n-grams (16 bytes each), never
with a Python object per n-gram, and the counts are exact (no hashing collisions).
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from textsweep.vocabulary import OOV, Ragged


def grams_array(grams: Any) -> np.ndarray:
    """int32 [k, longest] n-grams, zero-padded on the right, from an array or a list of tuples."""
    if isinstance(grams, np.ndarray):
        if grams.size == 0:
            return np.zeros((0, 1), dtype=np.int32)
        return grams.astype(np.int32, copy=False).reshape(len(grams), -1)
    lengths = np.fromiter((len(g) for g in grams), dtype=np.int64, count=len(grams))
    out = np.zeros((len(grams), int(lengths.max(initial=1))), dtype=np.int32)
    if len(grams):
        flat = np.fromiter((w for g in grams for w in g), dtype=np.int32, count=int(lengths.sum()))
        rows = np.repeat(np.arange(len(grams)), lengths)
        within = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        out[rows, within] = flat
    return out


def grams_json(grams: np.ndarray) -> str:
    """`[[2], [3, 4], ...]`: each n-gram's word ids without its padding, as one JSON list.

    The padded rows are written whole and their zeros cut by a regular expression: a word id is
    never 0, so `, 0` before `,` or `]` is padding (a Python loop over a million rows is slow).
    """
    return _PADDING.sub("", json.dumps(grams.tolist()))


_PADDING = re.compile(r", 0(?=[,\]])")


CHUNK = 2000  # texts per chunk: ~2000 x 300 tokens x 3-grams of int64 temporaries, a few MB
_MERGE = 8_000_000  # distinct keys held before the chunks' counts are merged


def slice_rows(seqs: Ragged, a: int, b: int) -> Ragged:
    offsets = seqs.offsets[a : b + 1]
    return Ragged(seqs.flat[offsets[0] : offsets[-1]], offsets - offsets[0])


def key_base(seqs: Ragged) -> int:
    """The digit base of n-gram keys: above every word id of `seqs`."""
    return int(seqs.flat.max(initial=OOV)) + 1


def keys_of(grams: np.ndarray, base: int) -> np.ndarray:
    """int64 key of each zero-padded n-gram row: its word ids as digits in `base`."""
    key = np.zeros(len(grams), dtype=np.int64)
    for j in range(grams.shape[1]):
        digit = grams[:, j].astype(np.int64)
        key = np.where(digit > 0, key * base + digit, key)
    return key


def unkeys(keys: np.ndarray, base: int, ngrams: int) -> np.ndarray:
    """The zero-padded int32 n-grams [k, ngrams] of `keys` (word ids >= 2: no digit is 0)."""
    digits = np.zeros((len(keys), ngrams), dtype=np.int64)
    rest = keys.astype(np.int64)
    for j in range(ngrams - 1, -1, -1):
        rest, digits[:, j] = np.divmod(rest, base)
    # an n-gram shorter than `ngrams` has leading zero digits: move its words to the front
    length = np.count_nonzero(digits, axis=1)
    shift = ngrams - length
    cols = (np.arange(ngrams)[None, :] + shift[:, None]) % ngrams
    out = np.take_along_axis(digits, cols, axis=1)
    out[np.arange(ngrams)[None, :] >= length[:, None]] = 0
    return out.astype(np.int32)


def count_ngrams(train: Ragged, ngrams: int, base: int) -> tuple[np.ndarray, np.ndarray]:
    """Every distinct 1..n-gram key of `train` (sorted) and its count, a chunk at a time."""
    keys_parts: list[np.ndarray] = []
    count_parts: list[np.ndarray] = []
    held, merged = 0, 0
    for a in range(0, len(train), CHUNK):
        keys, _ = ngram_keys(slice_rows(train, a, min(a + CHUNK, len(train))), ngrams, base)
        unique, counts = np.unique(keys, return_counts=True)
        keys_parts.append(unique)
        count_parts.append(counts.astype(np.int64))
        held += len(unique)
        if held > max(_MERGE, 2 * merged):  # merged again only once the parts have doubled
            merged_keys, merged_counts = _merge(keys_parts, count_parts)
            keys_parts, count_parts = [merged_keys], [merged_counts]
            held = merged = len(merged_keys)
    if not keys_parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if len(keys_parts) == 1:
        return keys_parts[0], count_parts[0]
    return _merge(keys_parts, count_parts)


def _merge(
    keys_parts: list[np.ndarray], count_parts: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys of sorted parts and their summed counts (the parts are emptied)."""
    keys = np.concatenate(keys_parts)
    counts = np.concatenate(count_parts)
    keys_parts.clear()
    count_parts.clear()
    order = np.argsort(keys, kind="stable")
    keys, counts = keys[order], counts[order]
    del order
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return keys[starts], np.add.reduceat(counts, starts)


def ngram_keys(
    seqs: Ragged, ngrams: int, base: int, keep_oov: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """int64 keys of every 1..n-gram (one number per n-gram) and the row each comes from.

    N-grams never cross texts. An n-gram (n > 1) holding an out-of-vocabulary word gets key -1
    when `keep_oov` (it still counts, in the OOV column) and is dropped otherwise, as is the
    out-of-vocabulary word itself (it always counts in the OOV column).
    """
    if base**ngrams >= 2**63:
        raise ValueError(f"too many word ids ({base}) for {ngrams}-grams in 64-bit keys")
    flat = seqs.flat.astype(np.int64)
    row_of = np.repeat(np.arange(len(seqs), dtype=np.int64), seqs.lengths())
    keys_parts, rows_parts = [flat], [row_of]
    if not keep_oov:
        known = flat != OOV
        keys_parts, rows_parts = [flat[known]], [row_of[known]]
    key = flat.copy()
    ok = flat != OOV
    for n in range(2, ngrams + 1):
        # extend every n-1-gram starting at p by the word at p + n - 1, inside the same text
        m = len(flat) - (n - 1)
        if m <= 0:
            break
        key = key[:m] * base + flat[n - 1 :]
        ok = ok[:m] & (flat[n - 1 :] != OOV)
        same = row_of[:m] == row_of[n - 1 :]
        grams = np.where(ok, key, -1)[same]
        rows = row_of[:m][same]
        if not keep_oov:
            rows, grams = rows[grams >= 0], grams[grams >= 0]
        keys_parts.append(grams)
        rows_parts.append(rows)
    return np.concatenate(keys_parts), np.concatenate(rows_parts)

"""Bags of n-grams: the sparse inputs of `multihot_dense`, made the same way in training and export.

    spec = fit_bags(encoded.train, ngrams=2, bag_mode="tf_idf", width=50_000)
    x = bags(encoded.test, spec)             # scipy CSR [n, width], float32; never dense
    x = bags([[5, 9, 9, 2]], spec)           # raw token-id lists work too (an exported model)
    spec.to_json() == BagSpec.from_json(spec.to_json()).to_json()

Columns: with `ngrams == 1` a column is a word id (the word vocabulary already holds the
`num_words` most frequent words). With `ngrams > 1` the columns are an n-gram vocabulary: the
`width - 2` most frequent 1..n-grams of word ids in the training split (less validation), ties
broken by id; column 1 counts every n-gram outside it (and n-grams with an out-of-vocabulary
word), column 0 stays empty (padding). Values: `multi_hot` 1, `count` the count, `tf_idf` the count
times `log(1 + n_docs / (1 + df))` (Keras `TextVectorization`'s idf), df from the training split.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from textsweep.vocabulary import OOV, Ragged

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

    from textsweep.vocabulary import Encoded

BAG_MODES = ("multi_hot", "count", "tf_idf")
MAX_NGRAMS = 3
SPEC_VERSION = 1


@dataclass(frozen=True)
class BagSpec:
    """How token ids become one bag row: everything an exported model needs to redo it.

    Args:
        ngrams: the longest n-gram (1 to 3); every shorter one is counted too.
        bag_mode: `multi_hot`, `count` or `tf_idf`.
        width: the number of columns (`num_words`).
        vocabulary: for `ngrams > 1`, the n-grams (tuples of word ids) of columns 2, 3, ...;
            empty for `ngrams == 1`, where a column is a word id.
        idf: idf weights of columns 0, 1, ... up to the last one seen in training (`tf_idf`
            only); a column past them was in no training text and weighs `log(1 + documents)`.
        documents: how many training texts the idf weights were counted over.
    """

    ngrams: int
    bag_mode: str
    width: int
    vocabulary: tuple[tuple[int, ...], ...] = ()
    idf: tuple[float, ...] = ()
    documents: int = 0

    def idf_weights(self, columns: np.ndarray) -> np.ndarray:
        """float32 idf weight of each column index in `columns`."""
        known = np.asarray(self.idf, dtype=np.float32)
        out = np.full(len(columns), np.log1p(self.documents), dtype=np.float32)
        inside = columns < len(known)
        out[inside] = known[columns[inside]]
        return out

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": SPEC_VERSION,
                "ngrams": self.ngrams,
                "bag_mode": self.bag_mode,
                "width": self.width,
                "vocabulary": [list(g) for g in self.vocabulary],
                "idf": list(self.idf),
                "documents": self.documents,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> BagSpec:
        d = json.loads(text)
        if d.get("version") != SPEC_VERSION:
            raise ValueError(f"bag spec version {d.get('version')!r}; expected {SPEC_VERSION}")
        return cls(
            ngrams=int(d["ngrams"]),
            bag_mode=str(d["bag_mode"]),
            width=int(d["width"]),
            vocabulary=tuple(tuple(int(i) for i in g) for g in d["vocabulary"]),
            idf=tuple(float(v) for v in d["idf"]),
            documents=int(d["documents"]),
        )


def fit_bags(train: Ragged, ngrams: int, bag_mode: str, width: int) -> BagSpec:
    """The spec learnt from the training token ids: n-gram vocabulary and idf weights."""
    if not 1 <= ngrams <= MAX_NGRAMS:
        raise ValueError(f"ngrams must be 1 to {MAX_NGRAMS}; got {ngrams}")
    if bag_mode not in BAG_MODES:
        raise ValueError(f"bag_mode must be one of {list(BAG_MODES)}; got {bag_mode!r}")
    vocabulary: tuple[tuple[int, ...], ...] = ()
    if ngrams > 1:
        base = _base(train)
        keys, _ = _ngram_keys(train, ngrams, base)
        unique, counts = np.unique(keys, return_counts=True)
        order = np.argsort(-counts, kind="stable")[: width - 2]  # ties: smaller key first
        vocabulary = tuple(_unkey(int(k), base) for k in unique[order])
    spec = BagSpec(ngrams=ngrams, bag_mode="count", width=width, vocabulary=vocabulary)
    idf: tuple[float, ...] = ()
    if bag_mode == "tf_idf":
        df = np.bincount(bags(train, spec).indices)  # up to the last column seen, not `width`
        idf = tuple(np.log1p(len(train) / (1.0 + df)).astype(np.float32).tolist())
    return replace(spec, bag_mode=bag_mode, idf=idf, documents=len(train))


def bags(token_ids: Ragged | Sequence[Sequence[int]], spec: BagSpec) -> csr_matrix:
    """float32 CSR [n, spec.width]: one bag row per text of word ids, as `spec` says.

    Texts are bagged a chunk at a time, so the temporary n-gram arrays stay small.
    """
    from scipy.sparse import vstack

    seqs = token_ids if isinstance(token_ids, Ragged) else Ragged.from_sequences(
        [np.asarray(s, dtype=np.int32) for s in token_ids]
    )  # fmt: skip
    lookup = _Lookup(spec, seqs) if spec.ngrams > 1 else None
    parts = [
        _bag_rows(_slice(seqs, a, min(a + _CHUNK, len(seqs))), spec, lookup)
        for a in range(0, max(len(seqs), 1), _CHUNK)
    ]
    out = parts[0] if len(parts) == 1 else vstack(parts, format="csr", dtype=np.float32)
    if spec.bag_mode == "multi_hot":
        out.data[:] = 1.0
    elif spec.bag_mode == "tf_idf":
        out.data *= spec.idf_weights(out.indices)
    return out


_CHUNK = 2000  # texts per chunk: ~2000 x 300 tokens x 3-grams of int64 temporaries, a few MB


class _Lookup:
    """N-gram -> column: the vocabulary's keys sorted once, for `np.searchsorted`."""

    def __init__(self, spec: BagSpec, seqs: Ragged):
        vocab_max = max((max(g) for g in spec.vocabulary), default=OOV)
        self.base = max(_base(seqs), vocab_max + 1)
        keys = np.array([_key(g, self.base) for g in spec.vocabulary], dtype=np.int64)
        self.sorter = np.argsort(keys)
        self.sorted = keys[self.sorter]

    def columns(self, keys: np.ndarray) -> np.ndarray:
        if not len(self.sorted):
            return np.full(len(keys), OOV, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.sorted, keys), len(self.sorted) - 1)
        return np.where(self.sorted[pos] == keys, self.sorter[pos] + 2, OOV)


def _slice(seqs: Ragged, a: int, b: int) -> Ragged:
    offsets = seqs.offsets[a : b + 1]
    return Ragged(seqs.flat[offsets[0] : offsets[-1]], offsets - offsets[0])


def _bag_rows(seqs: Ragged, spec: BagSpec, lookup: _Lookup | None) -> csr_matrix:
    """Counts of each column per text (CSR), for one chunk of texts."""
    from scipy.sparse import csr_matrix

    if lookup is None:
        cols = seqs.flat.astype(np.int64)
        cols[(cols >= spec.width) | (cols < 0)] = OOV
        rows = np.repeat(np.arange(len(seqs), dtype=np.int64), seqs.lengths())
    else:
        keys, rows = _ngram_keys(seqs, spec.ngrams, lookup.base, keep_oov=True)
        cols = lookup.columns(keys)
    ones = np.ones(len(cols), dtype=np.float32)
    out = csr_matrix((ones, (rows, cols)), shape=(len(seqs), spec.width), dtype=np.float32)
    out.sum_duplicates()
    return out


def _base(seqs: Ragged) -> int:
    return int(seqs.flat.max(initial=OOV)) + 1


def _key(gram: Sequence[int], base: int) -> int:
    k = 0
    for w in gram:
        k = k * base + int(w)
    return k


def _unkey(key: int, base: int) -> tuple[int, ...]:
    # digits are word ids >= 2, never 0, so an n-gram's length is its number of digits
    out = []
    while key:
        key, w = divmod(key, base)
        out.append(w)
    return tuple(reversed(out))


def _ngram_keys(
    seqs: Ragged, ngrams: int, base: int, keep_oov: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """int64 keys of every 1..n-gram (one number per n-gram) and the row each comes from.

    N-grams never cross texts. An n-gram (n > 1) holding an out-of-vocabulary word gets key -1
    when `keep_oov` (it still counts, in the OOV column) and is dropped otherwise.
    """
    if base**ngrams >= 2**63:
        raise ValueError(f"too many word ids ({base}) for {ngrams}-grams in 64-bit keys")
    flat = seqs.flat.astype(np.int64)
    row_of = np.repeat(np.arange(len(seqs), dtype=np.int64), seqs.lengths())
    keys_parts, rows_parts = [flat], [row_of]
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


def cached_spec(
    encoded: Encoded, ngrams: int, bag_mode: str, width: int, cache: Path | None
) -> BagSpec:
    """`fit_bags` on the training split, read from (or written to) the dataset's cache folder."""
    path = cache / encoded.key / f"bags-n{ngrams}-{bag_mode}-w{width}.json" if cache else None
    if path is not None and path.is_file():
        try:
            return BagSpec.from_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError):
            pass  # a damaged entry is rebuilt, never trusted
    spec = fit_bags(encoded.train, ngrams, bag_mode, width)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-bags-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(spec.to_json())
        os.replace(tmp, path)
    return spec


@dataclass(frozen=True)
class FitInputs:
    """A trial's data in the shape `model.fit` / `model.evaluate` take them (as keyword arguments)."""

    train: dict[str, Any]
    validation: Any
    test: dict[str, Any]


class TrialData:
    """A trial's inputs, made from the cached token ids for its family and hyperparameters.

    Bag models get sparse bags fed a batch at a time (`models.feed.SparseBatches`); sequence models
    get padded arrays. Only the latest inputs are kept, so memory does not grow across trials.
    """

    def __init__(self, encoded: Encoded, cache: Path | None = None):
        from textsweep.runtime import home_dir

        self.encoded = encoded
        self.cache = cache if cache is not None else home_dir() / "cache"
        self._latest: tuple[Any, tuple[Any, ...]] | None = None

    def inputs(self, values: Mapping[str, Any], width: int) -> FitInputs:
        """Fit/evaluate arguments for a resolved trial; `width` is the model's `num_words`."""
        from textsweep.models import uses_sequences

        e = self.encoded
        batch = int(values["batch_size"])
        if uses_sequences(values):
            maxlen = int(values["maxlen"])
            arrays = self._made(("seq", maxlen), lambda: tuple(
                s.padded(maxlen) for s in (e.train, e.val, e.test)
            ))  # fmt: skip
            return FitInputs(
                train={"x": arrays[0], "y": e.train_labels, "batch_size": batch},
                validation=(arrays[1], e.val_labels),
                test={"x": arrays[2], "y": e.test_labels, "batch_size": max(256, batch)},
            )
        from textsweep.models.feed import SparseBatches

        ngrams, mode = int(values.get("ngrams", 1)), str(values.get("bag_mode", "multi_hot"))
        made = self._made(("bags", ngrams, mode, width), lambda: self._bags(ngrams, mode, width))
        train, val, test = made
        return FitInputs(
            train={"x": SparseBatches(train, e.train_labels, batch, shuffle=True)},
            validation=SparseBatches(val, e.val_labels, max(256, batch)),
            test={"x": SparseBatches(test, e.test_labels, max(256, batch))},
        )

    def _bags(self, ngrams: int, mode: str, width: int) -> tuple[Any, ...]:
        e = self.encoded
        spec = cached_spec(e, ngrams, mode, width, self.cache)
        return tuple(bags(s, spec) for s in (e.train, e.val, e.test))

    def _made(self, key: Any, make: Any) -> tuple[Any, ...]:
        if self._latest is None or self._latest[0] != key:
            self._latest = None  # release the previous inputs before making new ones
            self._latest = (key, make())
        return self._latest[1]

"""Bags of n-grams: the sparse inputs of `multihot_dense`, made the same way in training and export.

    spec = fit_bags(encoded.train, ngrams=2, bag_mode="tf_idf", width=50_000)
    spec = fit_bags(encoded.train, 3, "nb", 1_000_000, labels=encoded.train_labels)
    x = bags(encoded.test, spec)             # scipy CSR [n, width], float32; never dense
    x = bags([[5, 9, 9, 2]], spec)           # raw token-id lists work too (an exported model)
    spec == BagSpec.from_json(spec.to_json())

Columns: with `ngrams == 1` a column is a word id (the word vocabulary already holds the
`num_words` most frequent words). With `ngrams > 1` the columns are an n-gram vocabulary: the
`width - 2` most frequent 1..n-grams of word ids in the training split (less validation), ties
broken by id; column 1 counts every n-gram outside it (and n-grams with an out-of-vocabulary
word), column 0 stays empty (padding). Values: `multi_hot` 1, `count` the count, `tf_idf` the count
times `log(1 + n_docs / (1 + df))` (Keras `TextVectorization`'s idf), df from the training split,
`nb` 1 times the column's naive-Bayes log-count ratio (Wang & Manning 2012, NBSVM):

    r = log((p / |p|_1) / (q / |q|_1)),  p = alpha + sum of x over class-1 texts,
                                         q = alpha + sum of x over class-0 texts,

x the multi-hot rows of the training split only (never validation or test), alpha the smoothing
(`nb_alpha`, default 1 as in the paper; larger values shrink the ratios of rare n-grams towards
the same small value), the norms over columns 1.. (column 0 is never set; its ratio is 0).
`nb` needs two classes.

The n-grams are counted as int64 keys (an n-gram's word ids as digits), a chunk of
texts at a time, each chunk's distinct keys and counts merged with NumPy: memory grows with the
number of distinct n-grams (16 bytes each), never with Python objects per n-gram, and the count
is exact (no hashing collisions). The vocabulary is kept as one int32 array.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from textsweep.ngrams import (
    CHUNK,
    count_ngrams,
    grams_array,
    grams_json,
    key_base,
    keys_of,
    ngram_keys,
    slice_rows,
    unkeys,
)
from textsweep.vocabulary import OOV, Ragged

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix


BAG_MODES = ("multi_hot", "count", "tf_idf", "nb")
MAX_NGRAMS = 3
SPEC_VERSION = 2  # 2 added `ratios` (bag_mode nb); version 1 specs still load
NB_ALPHA = 1.0


class NeedsTwoClasses(ValueError):
    """`bag_mode: nb` was asked for on labels with more than two classes."""


def _array(values: Any, dtype: Any, ndim: int) -> np.ndarray:
    out = np.asarray(values, dtype=dtype)
    return out.reshape((0,) * ndim) if out.size == 0 else out


@dataclass(frozen=True, eq=False)
class BagSpec:
    """How token ids become one bag row: everything an exported model needs to redo it.

    Args:
        ngrams: the longest n-gram (1 to 3); every shorter one is counted too.
        bag_mode: `multi_hot`, `count`, `tf_idf` or `nb`.
        width: the number of columns (`num_words`).
        vocabulary: for `ngrams > 1`, the n-grams (word ids) of columns 2, 3, ...: an int32
            array [k, ngrams], zero-padded (or a list of tuples); empty for `ngrams == 1`, where a
            column is a word id.
        idf: idf weights of columns 0, 1, ... up to the last one seen in training (`tf_idf`
            only); a column past them was in no training text and weighs `log(1 + documents)`.
        documents: how many training texts the idf weights or ratios were counted over.
        ratios: `nb` only: the log-count ratio of each of the `width` columns (float32).
        alpha: `nb` only: the smoothing the ratios were counted with.
    """

    ngrams: int
    bag_mode: str
    width: int
    vocabulary: Any = ()
    idf: Any = ()
    documents: int = 0
    ratios: Any = ()
    alpha: float = NB_ALPHA
    _keys: dict[int, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        grams = grams_array(self.vocabulary)
        if grams.shape[1] < self.ngrams:  # always [k, ngrams], so equal specs compare equal
            grams = np.pad(grams, ((0, 0), (0, self.ngrams - grams.shape[1])))
        object.__setattr__(self, "vocabulary", grams)
        object.__setattr__(self, "idf", _array(self.idf, np.float32, 1))
        object.__setattr__(self, "ratios", _array(self.ratios, np.float32, 1))
        if not 1 <= self.ngrams <= MAX_NGRAMS:
            raise ValueError(f"ngrams must be 1 to {MAX_NGRAMS}; got {self.ngrams}")
        if self.bag_mode not in BAG_MODES:
            raise ValueError(f"bag_mode must be one of {list(BAG_MODES)}; got {self.bag_mode!r}")
        if self.width < 3:
            raise ValueError(f"a bag needs width >= 3 (padding, OOV, one more); got {self.width}")
        v = self.vocabulary
        if (
            len(v) > self.width - 2
            or v.shape[1] > self.ngrams
            or (len(v) and (v[:, 0].min() < OOV or v.min() < 0))
        ):
            raise ValueError(
                f"the n-gram vocabulary must hold at most width - 2 = {self.width - 2} n-grams of "
                f"1 to {self.ngrams} word ids (>= 1); got {len(v)} of up to {v.shape[1]}"
            )
        if not self.alpha > 0:
            raise ValueError(f"nb_alpha must be > 0; got {self.alpha}")
        if self.bag_mode == "nb" and len(self.ratios) != self.width:
            raise ValueError(
                f"an nb bag needs one ratio per column ({self.width}); got {len(self.ratios)}"
            )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BagSpec):
            return NotImplemented
        return (
            (self.ngrams, self.bag_mode, self.width, self.documents, self.alpha)
            == (other.ngrams, other.bag_mode, other.width, other.documents, other.alpha)
            and np.array_equal(self.vocabulary, other.vocabulary)
            and np.array_equal(self.idf, other.idf)
            and np.array_equal(self.ratios, other.ratios)
        )

    __hash__ = None  # type: ignore[assignment]

    def grams(self) -> tuple[tuple[int, ...], ...]:
        """The vocabulary's n-grams as tuples of word ids, in column order (from column 2)."""
        return tuple(tuple(w for w in g if w) for g in self.vocabulary.tolist())

    def idf_weights(self, columns: np.ndarray) -> np.ndarray:
        """float32 idf weight of each column index in `columns`."""
        out = np.full(len(columns), np.log1p(self.documents), dtype=np.float32)
        inside = columns < len(self.idf)
        out[inside] = self.idf[columns[inside]]
        return out

    def key_index(self, base: int) -> Any:
        """A hash index (`pandas.Index`) of the vocabulary's keys in `base`, in column order."""
        if base not in self._keys:
            import pandas as pd

            index = pd.Index(keys_of(self.vocabulary, base))
            if not index.is_unique:
                raise ValueError("the bag spec's n-gram vocabulary lists an n-gram twice")
            self._keys.clear()
            self._keys[base] = index
        return self._keys[base]

    def to_json(self) -> str:
        """The spec as JSON text (the n-grams as lists of word ids, then idf and ratios)."""
        fields = {
            **self._scalars(),
            "vocabulary": None,
            "idf": self.idf.tolist(),
            "ratios": self.ratios.tolist(),
        }
        text = json.dumps(fields)
        at = text.index('"vocabulary": null') + len('"vocabulary": ')
        return text[:at] + grams_json(self.vocabulary) + text[at + len("null") :]

    def to_dict(self) -> dict[str, Any]:
        """`json.loads(spec.to_json())`, made without writing the JSON of the numbers twice."""
        return {
            **self._scalars(),
            "vocabulary": json.loads(grams_json(self.vocabulary)),
            "idf": self.idf.tolist(),
            "ratios": self.ratios.tolist(),
        }

    def _scalars(self) -> dict[str, Any]:
        return {
            "version": SPEC_VERSION,
            "ngrams": self.ngrams,
            "bag_mode": self.bag_mode,
            "width": self.width,
            "documents": self.documents,
            "alpha": self.alpha,
        }

    @classmethod
    def from_json(cls, text: str) -> BagSpec:
        """The spec `to_json` wrote (version 1 or 2); ValueError naming what does not fit."""
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, d: Any) -> BagSpec:
        """The spec of `to_dict` (or of a parsed `to_json`); ValueError naming what does not fit."""
        if not isinstance(d, Mapping) or d.get("version") not in (1, SPEC_VERSION):
            got = d.get("version") if isinstance(d, Mapping) else type(d).__name__
            raise ValueError(f"bag spec version {got!r}; expected 1 or {SPEC_VERSION}")
        try:
            return cls(
                ngrams=int(d["ngrams"]),
                bag_mode=str(d["bag_mode"]),
                width=int(d["width"]),
                vocabulary=d["vocabulary"],
                idf=np.asarray(d["idf"], dtype=np.float32),
                documents=int(d["documents"]),
                ratios=np.asarray(d.get("ratios", []), dtype=np.float32),
                alpha=float(d.get("alpha", NB_ALPHA)),
            )
        except (KeyError, TypeError) as e:
            raise ValueError(f"the bag spec lacks or misshapes {e}") from None


def fit_bags(
    train: Ragged,
    ngrams: int,
    bag_mode: str,
    width: int,
    labels: np.ndarray | None = None,
    alpha: float = NB_ALPHA,
) -> BagSpec:
    """The spec learnt from the training token ids: n-gram vocabulary, idf weights, NB ratios.

    Args:
        train: the training split's token ids (never validation or test).
        labels: the training split's class ids; `nb` needs them (two classes).
        alpha: `nb`'s smoothing (> 0).

    Raises:
        NeedsTwoClasses: `nb` with labels of more than two classes.
    """
    if not 1 <= ngrams <= MAX_NGRAMS:
        raise ValueError(f"ngrams must be 1 to {MAX_NGRAMS}; got {ngrams}")
    if bag_mode not in BAG_MODES:
        raise ValueError(f"bag_mode must be one of {list(BAG_MODES)}; got {bag_mode!r}")
    if not alpha > 0:
        raise ValueError(f"nb_alpha must be > 0; got {alpha}")
    if bag_mode == "nb":
        if labels is None or len(labels) != len(train):
            raise ValueError("bag_mode nb needs the training labels, one per text")
        if int(np.max(labels, initial=0)) > 1:
            raise NeedsTwoClasses(
                "bag_mode nb scales each column by a two-class log-count ratio; the labels have "
                f"{int(np.max(labels)) + 1} classes"
            )
    vocabulary = np.zeros((0, 1), dtype=np.int32)
    if ngrams > 1:
        base = key_base(train)
        keys, counts = count_ngrams(train, ngrams, base)
        order = np.argsort(-counts, kind="stable")[: width - 2]  # ties: smaller key first
        vocabulary = unkeys(keys[order], base, ngrams)
        del keys, counts, order
    spec = BagSpec(ngrams=ngrams, bag_mode="count", width=width, vocabulary=vocabulary)
    idf, ratios = np.zeros(0, np.float32), np.zeros(0, np.float32)
    if bag_mode in ("tf_idf", "nb"):
        x = bags(train, spec)
        if bag_mode == "tf_idf":
            df = np.bincount(x.indices)  # up to the last column seen, not `width`
            idf = np.log1p(len(train) / (1.0 + df)).astype(np.float32)
        else:
            assert labels is not None
            ratios = nb_ratios(x, np.asarray(labels), alpha)
    return replace(
        spec, bag_mode=bag_mode, idf=idf, documents=len(train), ratios=ratios, alpha=alpha
    )


def nb_ratios(x: csr_matrix, labels: np.ndarray, alpha: float = NB_ALPHA) -> np.ndarray:
    """float32 log-count ratio of each column of the bags `x` (binarized) for labels 0/1."""
    seen = x.copy()
    seen.data[:] = 1.0
    p = alpha + np.asarray(seen[labels == 1].sum(axis=0), dtype=np.float64).ravel()
    q = alpha + np.asarray(seen[labels == 0].sum(axis=0), dtype=np.float64).ravel()
    p[0] = q[0] = 0.0  # padding: never set, left out of the norms
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log((p / p.sum()) / (q / q.sum()))
    r[0] = 0.0
    return r.astype(np.float32)


def bags(token_ids: Ragged | Sequence[Sequence[int]], spec: BagSpec) -> csr_matrix:
    """float32 CSR [n, spec.width]: one bag row per text of word ids, as `spec` says.

    Texts are bagged a chunk at a time, so the temporary n-gram arrays stay small.
    """
    from scipy.sparse import vstack

    seqs = (
        token_ids
        if isinstance(token_ids, Ragged)
        else Ragged.from_sequences([np.asarray(s, dtype=np.int32) for s in token_ids])
    )
    lookup = _Lookup(spec, seqs) if spec.ngrams > 1 else None
    parts = [
        _bag_rows(slice_rows(seqs, a, min(a + CHUNK, len(seqs))), spec, lookup)
        for a in range(0, max(len(seqs), 1), CHUNK)
    ]
    out = parts[0] if len(parts) == 1 else vstack(parts, format="csr", dtype=np.float32)
    if spec.bag_mode == "multi_hot":
        out.data[:] = 1.0
    elif spec.bag_mode == "tf_idf":
        out.data *= spec.idf_weights(out.indices)
    elif spec.bag_mode == "nb":
        out.data[:] = spec.ratios[out.indices]
    return out


class _Lookup:
    """N-gram -> column: a hash lookup of its key among the vocabulary's (6x `np.searchsorted`)."""

    def __init__(self, spec: BagSpec, seqs: Ragged):
        vocab_max = int(spec.vocabulary.max(initial=OOV))
        self.base = max(key_base(seqs), vocab_max + 1)
        self.index = spec.key_index(self.base)

    def columns(self, keys: np.ndarray) -> np.ndarray:
        row = self.index.get_indexer(keys)  # -1 where the n-gram is outside the vocabulary
        return np.where(row >= 0, row + 2, OOV)


def _bag_rows(seqs: Ragged, spec: BagSpec, lookup: _Lookup | None) -> csr_matrix:
    """Counts of each column per text (CSR), for one chunk of texts."""
    from scipy.sparse import csr_matrix

    if lookup is None:
        cols = seqs.flat.astype(np.int64)
        cols[(cols >= spec.width) | (cols < 0)] = OOV
        rows = np.repeat(np.arange(len(seqs), dtype=np.int64), seqs.lengths())
    else:
        keys, rows = ngram_keys(seqs, spec.ngrams, lookup.base, keep_oov=True)
        cols = lookup.columns(keys)
    ones = np.ones(len(cols), dtype=np.float32)
    out = csr_matrix((ones, (rows, cols)), shape=(len(seqs), spec.width), dtype=np.float32)
    out.sum_duplicates()
    return out


def bag_settings(values: Mapping[str, Any]) -> tuple[int, str, float]:
    """A trial's `ngrams`, `bag_mode` and `nb_alpha` (1 unless the mode is `nb`)."""
    mode = str(values.get("bag_mode", "multi_hot"))
    alpha = float(values.get("nb_alpha", NB_ALPHA)) if mode == "nb" else NB_ALPHA
    return int(values.get("ngrams", 1)), mode, alpha

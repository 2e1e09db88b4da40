"""Tokenization and vocabulary, computed once per sweep and cached on disk.

Token ids: 0 is padding, 1 is out-of-vocabulary, 2.. are words by training-set frequency, all below
`num_words`. Sequences are stored ragged (one flat int32 array plus offsets), so the full IMDB costs
tens of megabytes; `maxlen` padding and bags of n-grams (`features`) are made per trial from them.

    encoded = encode(sweep.config.dataset, cache_dir, source=str(sweep.path))
    x = encoded.train.padded(200)        # int32 [n, 200], pre-padded and pre-truncated like Keras
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textsweep.config import DatasetConfig
from textsweep.data.splits import stratified_split
from textsweep.tokencache import BrokenEntry, read_entry, write_entry

PAD, OOV = 0, 1
PAD_TOKEN, OOV_TOKEN = "", "[UNK]"
TOKENIZER_VERSION = 2

_BREAKS = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def tokenize(text: str) -> list[str]:
    """Lowercased word tokens, HTML line breaks removed: `"Great<br />film!"` -> `["great", "film"]`."""
    return _TOKEN.findall(_BREAKS.sub(" ", text).lower())


@dataclass(frozen=True)
class Ragged:
    """Variable-length int32 sequences as one flat array plus row offsets (len(offsets) == n + 1)."""

    flat: np.ndarray
    offsets: np.ndarray

    @classmethod
    def from_sequences(cls, seqs: Sequence[np.ndarray] | Sequence[list[int]]) -> Ragged:
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = np.empty(int(offsets[-1]), dtype=np.int32)
        for i, s in enumerate(seqs):
            flat[offsets[i] : offsets[i + 1]] = np.asarray(s, dtype=np.int32)
        return cls(flat, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def row(self, i: int) -> np.ndarray:
        return self.flat[self.offsets[i] : self.offsets[i + 1]]

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def take(self, idx: np.ndarray) -> Ragged:
        return Ragged.from_sequences([self.row(int(i)) for i in idx])

    def padded(self, maxlen: int) -> np.ndarray:
        """int32 [n, maxlen]: the last `maxlen` tokens of each row, zeros in front (Keras's defaults)."""
        n = len(self)
        out = np.zeros((n, maxlen), dtype=np.int32)
        keep = np.minimum(self.lengths(), maxlen)
        total = int(keep.sum())
        if total:
            rows = np.repeat(np.arange(n), keep)
            within = np.arange(total) - np.repeat(np.cumsum(keep) - keep, keep)
            source = np.repeat(self.offsets[1:] - keep, keep) + within
            out[rows, maxlen - np.repeat(keep, keep) + within] = self.flat[source]
        return out


@dataclass(frozen=True)
class Encoded:
    """A dataset as token ids: train/validation/test splits, vocabulary and class names."""

    train: Ragged
    train_labels: np.ndarray
    val: Ragged
    val_labels: np.ndarray
    test: Ragged
    test_labels: np.ndarray
    vocabulary: tuple[str, ...] | None
    token_counts: np.ndarray | None
    class_names: tuple[str, ...]
    key: str
    from_cache: bool = False
    warnings: tuple[str, ...] = ()
    test_is_holdout: bool = False

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def build_vocabulary(
    token_lists: Iterable[list[str]], num_words: int
) -> tuple[list[str], np.ndarray]:
    """The `num_words - 2` most frequent tokens (ties broken alphabetically) after PAD and OOV."""
    counts: Counter[str] = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: num_words - 2]
    words = [PAD_TOKEN, OOV_TOKEN] + [w for w, _ in ranked]
    oov_count = sum(counts.values()) - sum(c for _, c in ranked)
    freq = np.array([0, oov_count] + [c for _, c in ranked], dtype=np.int64)
    return words, freq


def to_ids(token_lists: Iterable[list[str]], index: dict[str, int]) -> list[np.ndarray]:
    return [np.fromiter((index.get(t, OOV) for t in toks), dtype=np.int32) for toks in token_lists]


def default_cache_dir() -> Path:
    return Path(os.environ.get("TEXTSWEEP_HOME", ".textsweep")) / "cache"


def encode(
    cfg: DatasetConfig,
    cache_dir: Path | None = None,
    source: str = "<sweep>",
    progress: Callable[[str], None] | None = None,
) -> Encoded:
    """Tokenize, build the vocabulary from the training split, and split off validation; cached.

    The cache key covers the dataset's files (path, size, mtime) and every dataset setting, so a
    second sweep over the same data and `num_words` reads the arrays back without tokenizing.
    """
    from textsweep.data import fingerprint, load_dataset

    say = progress or (lambda _msg: None)
    cache_dir = cache_dir or default_cache_dir()
    key = f"{fingerprint(cfg, source)}-t{TOKENIZER_VERSION}"
    try:
        cached = _read_cache(cache_dir / key, key)
    except BrokenEntry as e:
        say(
            f"warning: the tokenization cache entry {cache_dir / key} is damaged ({e}); rebuilding it"
        )
        cached = None
    if cached is not None:
        say(f"data: cache hit ({cache_dir / key})")
        return cached
    say("data: reading")
    dataset = load_dataset(cfg, source)
    # validation comes out of the training split first, so it never shapes the vocabulary
    keep, val = stratified_split(dataset.train.labels, cfg.validation_split, cfg.seed)
    notes = dataset.warnings + _unseen_in_training(
        dataset.train.labels, keep, val, dataset.class_names
    )
    vocab: list[str] | None
    counts: np.ndarray | None
    if dataset.train.token_ids is not None:
        assert dataset.test.token_ids is not None
        train_seqs: list[np.ndarray] = list(dataset.train.token_ids)
        test_seqs: list[np.ndarray] = list(dataset.test.token_ids)
        vocab, counts = None, None
    else:
        assert dataset.train.texts is not None and dataset.test.texts is not None
        say(f"data: tokenizing {len(dataset.train)} train and {len(dataset.test)} test texts")
        train_tokens = [tokenize(t) for t in dataset.train.texts]
        vocab, counts = build_vocabulary((train_tokens[i] for i in keep), cfg.num_words)
        index = {w: i for i, w in enumerate(vocab)}
        train_seqs = to_ids(train_tokens, index)
        del train_tokens
        test_seqs = to_ids((tokenize(t) for t in dataset.test.texts), index)
    encoded = Encoded(
        train=Ragged.from_sequences([train_seqs[i] for i in keep]),
        train_labels=dataset.train.labels[keep],
        val=Ragged.from_sequences([train_seqs[i] for i in val]),
        val_labels=dataset.train.labels[val],
        test=Ragged.from_sequences(test_seqs),
        test_labels=dataset.test.labels,
        vocabulary=tuple(vocab) if vocab is not None else None,
        token_counts=counts,
        class_names=dataset.class_names,
        key=key,
        warnings=notes,
        test_is_holdout=dataset.test_is_holdout,
    )
    _write_cache(cache_dir / key, encoded)
    return encoded


_META_KEYS = ("key", "class_names", "vocabulary", "warnings", "test_is_holdout")
_SPLITS = ("train", "val", "test")


def _unseen_in_training(
    labels: np.ndarray, keep: np.ndarray, val: np.ndarray, class_names: Sequence[str]
) -> tuple[str, ...]:
    """A warning when validation holds classes the training split lacks (it cannot learn them)."""
    unseen = sorted(set(labels[val].tolist()) - set(labels[keep].tolist()))
    if not unseen:
        return ()
    names = ", ".join(repr(class_names[i]) for i in unseen[:10])
    return (
        f"validation holds {len(unseen)} class(es) the training split lacks ({names}); lower "
        "dataset.validation_split or add examples of them",
    )


def _read_cache(folder: Path, key: str) -> Encoded | None:
    """The cached encoding in `folder`; None when absent; `BrokenEntry` when it cannot be used."""
    entry = read_entry(folder, _META_KEYS)
    if entry is None:
        return None
    parts, meta = entry
    if meta["key"] != key:
        raise BrokenEntry(f"it holds the entry {meta['key']!r}, not {key!r}")
    try:
        ragged = {s: Ragged(parts[f"{s}_flat"], parts[f"{s}_offsets"]) for s in _SPLITS}
        labels = {s: parts[f"{s}_labels"] for s in _SPLITS}
        class_names = tuple(str(c) for c in meta["class_names"])
        vocab = meta["vocabulary"]
    except (KeyError, TypeError) as e:
        raise BrokenEntry(f"an array or name is missing ({e})") from None
    for split, r in ragged.items():
        offsets = r.offsets
        if (
            r.flat.ndim != 1
            or offsets.ndim != 1
            or len(offsets) == 0
            or offsets[0] != 0
            or offsets[-1] != len(r.flat)
            or bool(np.any(np.diff(offsets) < 0))
            or len(labels[split]) != len(r)
        ):
            raise BrokenEntry(f"the {split} arrays do not fit together")
    return Encoded(
        train=ragged["train"],
        train_labels=labels["train"],
        val=ragged["val"],
        val_labels=labels["val"],
        test=ragged["test"],
        test_labels=labels["test"],
        vocabulary=tuple(vocab) if vocab is not None else None,
        token_counts=parts.get("token_counts"),
        class_names=class_names,
        key=key,
        from_cache=True,
        warnings=tuple(meta["warnings"]),
        test_is_holdout=bool(meta["test_is_holdout"]),
    )


def _write_cache(folder: Path, e: Encoded) -> None:
    """Written atomically (see `tokencache`), so a crash never leaves half a cache entry."""
    arrays = {
        "train_flat": e.train.flat,
        "train_offsets": e.train.offsets,
        "train_labels": e.train_labels,
        "val_flat": e.val.flat,
        "val_offsets": e.val.offsets,
        "val_labels": e.val_labels,
        "test_flat": e.test.flat,
        "test_offsets": e.test.offsets,
        "test_labels": e.test_labels,
    }
    if e.token_counts is not None:
        arrays["token_counts"] = e.token_counts
    meta = {
        "key": e.key,
        "class_names": list(e.class_names),
        "vocabulary": list(e.vocabulary) if e.vocabulary is not None else None,
        "warnings": list(e.warnings),
        "test_is_holdout": e.test_is_holdout,
    }
    write_entry(folder, arrays, meta)

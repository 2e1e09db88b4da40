"""Tokenization, vocabulary and the per-sweep cache; padding and bags per trial."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from textsweep.config import DatasetConfig
from textsweep.vocabulary import OOV, Ragged, build_vocabulary, encode, tokenize


def test_tokenize_lowercases_and_drops_html_breaks() -> None:
    assert tokenize("Great<br /><br />FILM, isn't it?") == ["great", "film", "isn't", "it"]


def test_vocabulary_ranks_by_frequency_after_pad_and_oov() -> None:
    words, counts = build_vocabulary([["b", "a", "b"], ["c", "b", "a"]], num_words=4)
    assert words == ["", "[UNK]", "b", "a"]
    assert counts.tolist() == [0, 1, 3, 2]  # "c" falls out of vocabulary


def test_padded_keeps_last_tokens_and_pads_in_front_like_keras() -> None:
    r = Ragged.from_sequences([np.array([5, 6, 7]), np.array([], dtype=np.int32), np.array([9])])
    assert r.padded(2).tolist() == [[6, 7], [0, 0], [0, 9]]
    assert r.bags().tolist() == [[5, 6, 7, 0], [0, 0, 0, 0], [9, 0, 0, 0]]  # a PAD in every row


def test_encode_caches_and_keeps_test_and_validation_out_of_the_vocabulary(tiny_imdb: Path, tmp_path: Path) -> None:
    test_only = tiny_imdb / "aclImdb" / "test" / "pos" / "999_9.txt"
    test_only.write_text("zyzzyva zyzzyva zyzzyva", encoding="utf-8")
    cfg = DatasetConfig(format="imdb", path=str(tiny_imdb), num_words=200, validation_split=0.25, seed=2)
    first = encode(cfg, tmp_path / "cache")
    assert not first.from_cache
    assert "zyzzyva" not in (first.vocabulary or ())
    assert (len(first.train), len(first.val), len(first.test)) == (45, 15, 61)
    assert first.test.row(len(first.test) - 1).tolist() == [OOV, OOV, OOV]
    second = encode(cfg, tmp_path / "cache")
    assert second.from_cache
    assert np.array_equal(first.train.flat, second.train.flat)
    assert np.array_equal(first.val_labels, second.val_labels)
    # a different num_words is a different cache entry
    assert encode(cfg.model_copy(update={"num_words": 50}), tmp_path / "cache").key != first.key

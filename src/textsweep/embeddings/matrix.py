"""The embedding matrix for a sweep's vocabulary, built from word vectors, with its coverage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from textsweep.vocabulary import OOV, PAD

if TYPE_CHECKING:
    from gensim.models import KeyedVectors


@dataclass(frozen=True)
class EmbeddingMatrix:
    """Initial weights of an `Embedding` layer: row i is the vector of vocabulary id i.

    Attributes:
        matrix: float32 [len(vocabulary), dim]; row 0 (padding) is zeros.
        dim: the vectors' dimension, which fixes `embedding_dim`.
        vocab_coverage: share of the vocabulary's words (ids >= 2) that have a vector.
        token_coverage: share of the training split's running tokens whose word has a vector
            (tokens outside the vocabulary count as not covered).
        missing_init: how the rows of words without a vector were initialised, as a sentence.
        source: the vectors file.
    """

    matrix: np.ndarray
    dim: int
    vocab_coverage: float
    token_coverage: float
    missing_init: str
    source: str

    def metrics(self) -> dict[str, float]:
        """What a trial logs to MLflow about its pretrained vectors."""
        return {
            "embedding_vocab_coverage": self.vocab_coverage,
            "embedding_token_coverage": self.token_coverage,
        }

    def describe(self) -> str:
        return (
            f"{self.source}: dim {self.dim}, {self.vocab_coverage:.1%} of the vocabulary and "
            f"{self.token_coverage:.1%} of training tokens have a vector; "
            f"the others: {self.missing_init}"
        )


def build_embedding_matrix(
    kv: KeyedVectors,
    vocabulary: Sequence[str],
    token_counts: np.ndarray | None,
    missing: Literal["random", "zeros"] = "random",
    seed: int = 1,
    source: str = "",
) -> EmbeddingMatrix:
    """Rows of `kv`'s vectors for each vocabulary id, and a stated initialisation for the rest.

    Each word is looked up as is, then among the vectors' words lowercased (the first, that is the
    most frequent, casing in the file wins). textsweep's vocabulary is lowercase, so "paris" finds
    "Paris" in cased vectors such as GoogleNews. The padding row is zeros; the OOV row (id 1) and
    words without a vector get `missing`: "random" draws normal(0, std of all the vectors' values)
    with `seed`, "zeros" leaves them zero.

    Args:
        kv: word vectors (`load_vectors`).
        vocabulary: words by id, 0 = padding, 1 = OOV (`Encoded.vocabulary`).
        token_counts: training-split frequency per id, index 1 = all OOV tokens
            (`Encoded.token_counts`); None leaves `token_coverage` at 0.
        missing: "random" or "zeros".
        seed: seeds the random rows.
        source: the vectors file, recorded in the result.

    Example:
        m = build_embedding_matrix(kv, encoded.vocabulary, encoded.token_counts, "random", seed=1)
        keras.layers.Embedding(len(m.matrix), m.dim, embeddings_initializer=Constant(m.matrix))
    """
    if missing not in ("random", "zeros"):
        raise ValueError(f"missing must be 'random' or 'zeros'; got {missing!r}")
    dim = int(kv.vector_size)
    rows = kv.vectors
    index = kv.key_to_index
    found = np.full(len(vocabulary), -1, dtype=np.int64)
    lowered: dict[str, int] | None = None
    for i, word in enumerate(vocabulary):
        if i in (PAD, OOV):
            continue
        j = index.get(word)
        if j is None:
            if lowered is None:
                lowered = {}
                for k, key in enumerate(kv.index_to_key):
                    lowered.setdefault(str(key).lower(), k)
            j = lowered.get(word.lower())
        if j is not None:
            found[i] = j

    matrix = np.zeros((len(vocabulary), dim), dtype=np.float32)
    covered = found >= 0
    matrix[covered] = rows[found[covered]]
    absent = ~covered
    if len(absent):
        absent[PAD] = False
    if missing == "random":
        std = float(np.std(rows)) if rows.size else 0.0
        rng = np.random.default_rng(seed)
        matrix[absent] = rng.normal(0.0, std, size=(int(absent.sum()), dim)).astype(np.float32)
        missing_init = f"normal(0, {std:.4g}, the std of the vectors' values), seed {seed}"
    else:
        missing_init = "zeros"

    real = slice(OOV + 1, None)
    vocab_coverage = float(covered[real].mean()) if len(vocabulary) > OOV + 1 else 0.0
    token_coverage = 0.0
    if token_counts is not None:
        counts = np.asarray(token_counts, dtype=np.float64)
        total = counts[OOV:].sum()
        token_coverage = float(counts[real][covered[real]].sum() / total) if total else 0.0
    return EmbeddingMatrix(
        matrix=matrix,
        dim=dim,
        vocab_coverage=vocab_coverage,
        token_coverage=token_coverage,
        missing_init=missing_init,
        source=source,
    )

"""Pretrained word vectors: reading them with gensim, the embedding matrix, and training word2vec.

    dim = check_embedding_dim(sweep)                    # at validation: the file's first line only
    matrix = vectors_for_sweep(sweep, encoded, cache_dir, progress=print)   # once per sweep
    matrix.matrix, matrix.vocab_coverage, matrix.token_coverage, matrix.missing_init

`embeddings.path` names a word2vec (text or binary), GloVe, fastText `.vec` or gensim file;
`embeddings.train` has vectors trained with gensim on the training (and, for IMDB, unlabeled) text,
never the test text, and cached. gensim is imported only by the functions that use it.
"""

from textsweep.embeddings.formats import infer_format, load_vectors, vectors_dim
from textsweep.embeddings.matrix import EmbeddingMatrix, build_embedding_matrix
from textsweep.embeddings.sweep import (
    cached_vectors_path,
    check_embedding_dim,
    train_for_sweep,
    train_options,
    vectors_for_sweep,
)
from textsweep.embeddings.word2vec import sidecar_path, texts_for_vectors, train_word2vec

__all__ = [
    "EmbeddingMatrix",
    "build_embedding_matrix",
    "cached_vectors_path",
    "check_embedding_dim",
    "infer_format",
    "load_vectors",
    "sidecar_path",
    "texts_for_vectors",
    "train_for_sweep",
    "train_options",
    "train_word2vec",
    "vectors_dim",
    "vectors_for_sweep",
]

"""Sparse bags fed to Keras as a `tf.data` pipeline: no dense n x V array, and no Python per batch.

    rows = SparseRows(x_csr, labels)                 # the rows as TensorFlow tensors, once
    model.fit(rows.batches(32, shuffle=True), epochs=3)
    model.predict(sparse_batches(x_csr, labels, 256))

The CSR matrix becomes two ragged tensors (column ids and values, split at its row offsets) a
single time; every batch is then gathered from them inside TensorFlow (`tf.gather` of its row
ids) and handed to the model as a `tf.SparseTensor`, on tf.data's threads and prefetched, so an
epoch costs the model's own steps. (Building each batch's `tf.SparseTensor` in Python, through
a `keras.utils.PyDataset`, cost several times the training step at 1,000,000 columns.)

Imports Keras and TensorFlow at the top: only `trialdata.TrialData` and the exported model
import it, inside a trial or a prediction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf


class SparseRows:
    """The rows of a CSR matrix and their labels, held as TensorFlow tensors.

    Args:
        x: a scipy CSR matrix [n, width] (its column ids are sorted here when they are not).
        y: the n labels.
    """

    def __init__(self, x: Any, y: np.ndarray):
        x = x.tocsr()
        if not x.has_sorted_indices:
            x.sort_indices()  # a SparseTensor's entries must be in row-major order
        self.n, self.width = (int(d) for d in x.shape)
        splits = tf.constant(x.indptr.astype(np.int64))
        self._columns = tf.RaggedTensor.from_row_splits(
            tf.constant(x.indices.astype(np.int32, copy=False)), splits, validate=False
        )
        self._values = tf.RaggedTensor.from_row_splits(
            tf.constant(x.data.astype(np.float32, copy=False)), splits, validate=False
        )
        self._labels = tf.constant(np.asarray(y))

    def __len__(self) -> int:
        return self.n

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0) -> tf.data.Dataset:
        """(tf.SparseTensor [b, width], labels [b]) batches; reshuffled every epoch if asked."""
        ids = tf.data.Dataset.range(self.n)
        if shuffle:
            ids = ids.shuffle(max(self.n, 1), seed=seed, reshuffle_each_iteration=True)
        return (
            ids.batch(batch_size)
            .map(self._batch, num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE)
        )

    def _batch(self, ids: tf.Tensor) -> tuple[tf.SparseTensor, tf.Tensor]:
        columns = tf.gather(self._columns, ids)
        values = tf.gather(self._values, ids)
        indices = tf.stack([columns.value_rowids(), tf.cast(columns.flat_values, tf.int64)], axis=1)
        shape = tf.stack([tf.shape(ids, out_type=tf.int64)[0], tf.constant(self.width, tf.int64)])
        return tf.SparseTensor(indices, values.flat_values, shape), tf.gather(self._labels, ids)


def sparse_batches(
    x: Any, y: np.ndarray, batch_size: int, shuffle: bool = False, seed: int = 0
) -> tf.data.Dataset:
    """`SparseRows(x, y).batches(batch_size, shuffle, seed)`: for a matrix used once."""
    return SparseRows(x, y).batches(batch_size, shuffle=shuffle, seed=seed)


SparseBatches = sparse_batches  # the name `export.pyfunc` feeds a served model's bags with

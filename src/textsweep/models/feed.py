"""Sparse bags fed to Keras a batch at a time, as `tf.SparseTensor`s: no dense n x V array, ever.

    model.fit(SparseBatches(x_csr, labels, 32, shuffle=True), epochs=3)

Imports Keras and TensorFlow at the top: only `features.TrialData` imports it, inside a trial.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf


class SparseBatches(keras.utils.PyDataset):
    """Batches of rows of a CSR matrix (and their labels), reshuffled every epoch when asked."""

    def __init__(
        self, x: Any, y: np.ndarray, batch_size: int, shuffle: bool = False, seed: int = 0
    ):
        super().__init__()
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(x.shape[0])
        if shuffle:
            self._rng.shuffle(self._order)

    def __len__(self) -> int:
        return -(-self.x.shape[0] // self.batch_size)

    def __getitem__(self, i: int) -> tuple[tf.SparseTensor, np.ndarray]:
        idx = np.sort(self._order[i * self.batch_size : (i + 1) * self.batch_size])
        part = self.x[idx]
        # CSR rows are already in order with sorted column indices: a valid SparseTensor as is
        part.sort_indices()
        rows = np.repeat(np.arange(part.shape[0], dtype=np.int64), np.diff(part.indptr))
        indices = np.stack([rows, part.indices.astype(np.int64)], axis=1)
        return tf.SparseTensor(indices, part.data, part.shape), self.y[idx]

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self._rng.shuffle(self._order)

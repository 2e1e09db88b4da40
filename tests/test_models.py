"""Each model family builds, trains on a batch, and has the head its classes need."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from textsweep.features import BagSpec, bags
from textsweep.models import ModelInputs, build_model, resolve, used_values, uses_sequences

FAMILIES = {
    "multihot_dense": {},
    "embedding_flatten": {"maxlen": 12, "embedding_dim": 8, "dropout": 0.2},
    "embedding_pool": {"maxlen": 12, "embedding_dim": 8, "dense_units": 4},
    "embedding_lstm": {"maxlen": 12, "embedding_dim": 8, "lstm_units": 4, "lstm_layers": 2,
                       "bidirectional": True, "spatial_dropout": 0.1, "dropout": 0.1},
}  # fmt: skip


def batch(values: dict, n: int = 16, num_words: int = 50) -> Any:
    """Padded ids for a sequence family; a sparse bag (as `features.bags` makes) for a bag family."""
    rng = np.random.default_rng(0)
    ids = rng.integers(2, num_words, size=(n, values.get("maxlen", 7))).astype("int32")
    if uses_sequences(values):
        return ids
    return bags(ids.tolist(), BagSpec(ngrams=1, bag_mode="multi_hot", width=num_words))


@pytest.mark.parametrize(
    "family, num_classes",
    [(f, 2) for f in FAMILIES] + [("multihot_dense", 5), ("embedding_pool", 3)],
)
def test_family_builds_and_trains_one_batch(family: str, num_classes: int) -> None:
    values = resolve({"model": family, **FAMILIES[family]}, batch_size=8)
    model = build_model(values, ModelInputs(num_words=50, num_classes=num_classes))
    x = batch(values)
    y = np.arange(16) % num_classes
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    probs = model.predict(x, verbose=0)
    assert probs.shape == (16, 1 if num_classes == 2 else num_classes)


def test_multihot_tutorial_shape_is_dense16_dense16_sigmoid() -> None:
    values = resolve({"model": "multihot_dense"}, batch_size=512)
    model = build_model(values, ModelInputs(num_words=10000, num_classes=2))
    dense = [layer for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert [d.units for d in dense] == [16, 16, 1]
    assert model.count_params() == 10000 * 16 + 16 + 16 * 16 + 16 + 17


def test_pretrained_embedding_starts_from_the_matrix_and_can_be_frozen() -> None:
    matrix = np.arange(50 * 4, dtype="float32").reshape(50, 4) / 100
    values = resolve({"model": "embedding_pool", "maxlen": 6, "embedding_init": "pretrained",
                      "embedding_trainable": False}, batch_size=8)  # fmt: skip
    model = build_model(values, ModelInputs(num_words=50, num_classes=2, embedding_matrix=matrix))
    emb = model.get_layer("embedding")
    assert not emb.trainable
    np.testing.assert_allclose(emb.get_weights()[0], matrix)
    model.fit(batch(values), np.arange(16) % 2, epochs=1, verbose=0)
    np.testing.assert_allclose(emb.get_weights()[0], matrix)


def test_used_values_drop_names_the_family_ignores() -> None:
    values = resolve({"model": "multihot_dense", "lstm_units": 64}, batch_size=32)
    assert set(used_values(values)) == {"model", "dense_units", "dense_layers", "dropout",
                                        "learning_rate", "optimizer", "batch_size", "ngrams",
                                        "bag_mode"}  # fmt: skip

"""A sweep on a small subset of the real reviews (../shared/data/aclImdb_v1.tar.gz, read directly)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_sweep_file

pytestmark = pytest.mark.slow


def test_quick_sweep_on_real_reviews_learns_sentiment(workdir: Path, real_archive: Path) -> None:
    result, parent = run_sweep_file(workdir, {
        "name": "real-subset",
        "question": "Does the bag-of-words model learn sentiment from 1,000 real reviews?",
        "dataset": {"format": "imdb", "path": str(real_archive.parent), "num_words": 5000, "limit": 1000, "seed": 1},
        "search_space": {"hyperparameters": {"model": {"type": "fixed", "value": "multihot_dense"}}},
        "tuner": {"algorithm": "random", "max_trials": 1},
        "training": {"epochs": 4, "batch_size": 64},
    })  # fmt: skip
    assert parent.data.params["data.train_size"] == "800" and parent.data.params["data.test_size"] == "1000"
    assert result.best_test_accuracy is not None and result.best_test_accuracy > 0.7

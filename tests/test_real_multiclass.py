"""A multi-class sweep on a folder-per-class dataset made from real reviews: four rating bands."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import pytest
from conftest import run_sweep_file

BANDS = {1: "awful", 2: "awful", 3: "weak", 4: "weak", 7: "good", 8: "good", 9: "great", 10: "great"}
PER_CLASS = 400

pytestmark = pytest.mark.slow


def rating_folders(archive: Path, root: Path) -> Path:
    """root/<band>/*.txt with PER_CLASS training reviews per rating band (the test split is a holdout)."""
    counts = dict.fromkeys(set(BANDS.values()), 0)
    pattern = re.compile(r"aclImdb/train/(?:pos|neg)/(\d+)_(\d+)\.txt$")
    with tarfile.open(archive, "r|gz") as tar:
        for member in tar:
            m = pattern.search(member.name)
            if not m:
                continue
            band = BANDS[int(m.group(2))]
            if counts[band] >= PER_CLASS:
                if min(counts.values()) >= PER_CLASS:
                    break
                continue
            fh = tar.extractfile(member)
            assert fh is not None
            (root / band).mkdir(parents=True, exist_ok=True)
            (root / band / f"{m.group(1)}.txt").write_bytes(fh.read())
            counts[band] += 1
    return root


def test_softmax_models_on_rating_bands_beat_chance(workdir: Path, real_archive: Path) -> None:
    folder = rating_folders(real_archive, workdir / "ratings")
    result, parent = run_sweep_file(workdir, {
        "name": "rating-bands",
        "question": "Can a bag-of-words model tell four rating bands apart?",
        "dataset": {"format": "folder", "path": str(folder), "num_words": 5000, "test_fraction": 0.25, "seed": 1},
        "search_space": {"hyperparameters": {"model": {"type": "choice", "values": ["multihot_dense", "embedding_pool"]},
                                             "maxlen": {"type": "fixed", "value": 300, "when": {"model": "embedding_pool"}},
                                             "dropout": {"type": "fixed", "value": 0.3}}},
        "tuner": {"algorithm": "grid"},
        "training": {"epochs": 8, "batch_size": 32, "early_stopping": {"monitor": "val_loss", "patience": 2}},
    })  # fmt: skip
    assert parent.data.params["classes"] == '["awful", "good", "great", "weak"]'
    # chance is 0.25 with four balanced classes
    assert result.best_test_accuracy is not None and result.best_test_accuracy > 0.40

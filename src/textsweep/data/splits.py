"""Seeded, stratified index selection: subsamples (`limit`), validation splits and test holdouts."""

from __future__ import annotations

import numpy as np


def stratified_sample(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of a seeded subsample of size min(n, len(labels)) keeping class proportions.

    Returned in ascending order so the original order of the data is kept.
    """
    labels = np.asarray(labels)
    if n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quotas = _quotas(counts, n)
    chosen = []
    for cls, quota in zip(classes, quotas, strict=True):
        members = np.flatnonzero(labels == cls)
        chosen.append(rng.choice(members, size=quota, replace=False))
    return np.sort(np.concatenate(chosen))


def stratified_split(
    labels: np.ndarray, holdout: float | int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (kept, held out): a fraction or a count, stratified and seeded.

    Every class with at least two members keeps one example on each side where possible.
    """
    labels = np.asarray(labels)
    total = len(labels)
    n_out = int(round(holdout * total)) if isinstance(holdout, float) else int(holdout)
    n_out = min(max(n_out, 1), total - 1) if total > 1 else 0
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quotas = _quotas(counts, n_out)
    out = []
    for cls, quota, count in zip(classes, quotas, counts, strict=True):
        members = np.flatnonzero(labels == cls)
        quota = min(quota, count - 1) if count > 1 else 0
        if quota == 0 and count > 1 and n_out >= len(classes):
            quota = 1
        out.append(rng.choice(members, size=quota, replace=False))
    held = np.sort(np.concatenate(out)) if out else np.array([], dtype=np.int64)
    mask = np.ones(total, dtype=bool)
    mask[held] = False
    return np.flatnonzero(mask), held


def _quotas(counts: np.ndarray, n: int) -> np.ndarray:
    """Largest-remainder allocation of n across classes in proportion to their counts."""
    exact = counts / counts.sum() * n
    quotas = np.floor(exact).astype(np.int64)
    remainder = n - quotas.sum()
    order = np.argsort(-(exact - quotas), kind="stable")
    quotas[order[:remainder]] += 1
    return np.minimum(quotas, counts)

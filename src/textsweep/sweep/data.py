"""What an execution trains on: the encoded dataset and, when asked for, pretrained vectors.

    encoded, matrix, coverage = prepare_data(sweep, progress)

Bad input found here (a broken vectors file after the data were cached) leaves nothing on disk.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from textsweep.config import Sweep
from textsweep.errors import UserError
from textsweep.runtime import home_dir
from textsweep.sweep.progress import Progress
from textsweep.vocabulary import Encoded


def prepare_data(sweep: Sweep, progress: Progress) -> tuple[Encoded, Any, dict[str, Any]]:
    """The encoded dataset (cached), the embedding matrix or None, and the vectors' coverage."""
    from textsweep.vocabulary import encode

    source = str(sweep.path) if sweep.path else "<sweep>"
    started = time.monotonic()
    with nothing_left_on_bad_input(home_dir() / "cache"):
        encoded = encode(
            sweep.config.dataset, home_dir() / "cache", source=source, progress=progress.say
        )
        refuse_nb_beyond_two_classes(sweep, encoded, source)
        for warning in encoded.warnings:
            progress.say(f"warning: {warning}")
        progress.say(
            f"data: {len(encoded.train)} train, {len(encoded.val)} validation, "
            f"{len(encoded.test)} test; {encoded.num_classes} classes; "
            f"ready in {time.monotonic() - started:.1f}s"
        )
        matrix, coverage = pretrained(sweep, encoded, progress)
    return encoded, matrix, coverage


def refuse_nb_beyond_two_classes(sweep: Sweep, encoded: Encoded, source: str) -> None:
    """`bag_mode: nb` scales by a two-class log-count ratio: bad input for more classes."""
    spec = sweep.space.hyperparameters.get("bag_mode")
    if spec is None or "nb" not in (spec.candidates() or []) or encoded.num_classes <= 2:
        return
    raise UserError(
        f"bag_mode `nb` scales each n-gram by a two-class naive-Bayes log-count ratio, but the "
        f"dataset has {encoded.num_classes} classes; use multi_hot, count or tf_idf for it",
        source=source,
        key="search_space.bag_mode",
    )


@contextlib.contextmanager
def nothing_left_on_bad_input(cache: Path) -> Iterator[None]:
    """Remove the cache entries (and folders) made here when bad input turns up after them.

    The data are cached before the vectors file is read; a broken vectors file is bad input,
    and bad input leaves nothing on disk.
    """
    made = [folder for folder in (cache.parent, cache) if not folder.exists()]
    before = set(cache.iterdir()) if cache.is_dir() else set()
    try:
        yield
    except UserError:
        for entry in set(cache.iterdir()) - before if cache.is_dir() else ():
            shutil.rmtree(entry, ignore_errors=True)
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty: another process may be using it
        raise


def pretrained(sweep: Sweep, encoded: Any, progress: Progress) -> tuple[Any, dict[str, Any]]:
    """The embedding matrix of the sweep's pretrained vectors (None without) and coverage params."""
    if not sweep.may_use_pretrained():
        return None, {}
    from textsweep.embeddings import vectors_for_sweep

    em = vectors_for_sweep(sweep, encoded, home_dir() / "cache", progress.say)
    progress.say(
        f"vectors: {em.source}, dim {em.dim}; coverage {em.vocab_coverage:.1%} of the vocabulary, "
        f"{em.token_coverage:.1%} of training tokens; missing words: {em.missing_init}"
    )
    params = {
        "embeddings.source": em.source,
        "embeddings.dim": em.dim,
        "embeddings.vocab_coverage": round(em.vocab_coverage, 4),
        "embeddings.token_coverage": round(em.token_coverage, 4),
        "embeddings.missing_init": em.missing_init,
    }
    return em.matrix, params

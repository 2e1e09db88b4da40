"""Pretrained vectors for a sweep: `embedding_dim` checked against them, trained and cached."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from textsweep.config import (
    DatasetConfig,
    EmbeddingsConfig,
    EmbeddingsTrainConfig,
    Sweep,
    format_validation_error,
)
from textsweep.embeddings.formats import load_vectors, vectors_dim
from textsweep.embeddings.matrix import EmbeddingMatrix, build_embedding_matrix
from textsweep.embeddings.word2vec import check_out, texts_for_vectors, train_word2vec
from textsweep.errors import UserError
from textsweep.vocabulary import Encoded

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

CACHE_VERSION = 1
Progress = Callable[[str], None]


def check_embedding_dim(sweep: Sweep) -> int | None:
    """The `embedding_dim` pretrained trials will use, after checking the search space allows it.

    None when the sweep cannot use pretrained vectors. Otherwise the vectors' dimension (read from
    the file's first line, or `embeddings.train.dim`); a search space whose `embedding_dim` can
    never equal it while `embedding_init` is pretrained raises `UserError`.
    """
    emb = sweep.config.embeddings
    if emb is None or not sweep.may_use_pretrained():
        return None
    source = _source(sweep)
    dim = emb.train.dim if emb.train is not None else vectors_dim(emb, source)
    spec = sweep.space.hyperparameters.get("embedding_dim")
    if spec is None:
        return dim
    when_init = (spec.when or {}).get("embedding_init")
    if when_init is not None and "pretrained" not in (
        when_init if isinstance(when_init, list) else [when_init]
    ):
        return dim  # embedding_dim only applies to random embeddings
    values = spec.candidates()
    if values is not None:
        possible = dim in values
        shown = (
            str(values)
            if len(values) <= 12
            else f"{values[0]}..{values[-1]} ({len(values)} values)"
        )
    else:
        assert spec.min is not None and spec.max is not None
        possible = spec.min <= dim <= spec.max
        shown = f"{spec.min}..{spec.max}"
    if not possible:
        origin = "embeddings.train.dim" if emb.train is not None else f"the vectors in {emb.path}"
        pinned = "embedding_dim" in sweep.config.fixed
        in_file = f" (in {sweep.space_path})" if sweep.space_path and not pinned else ""
        fix = (
            f"set fixed.embedding_dim to {dim} or remove it"
            if pinned
            else f"make it {{type: fixed, value: {dim}}}, remove it, or give it "
            "`when: {embedding_init: random}`"
        )
        raise UserError(
            f"pretrained embeddings have dimension {dim} ({origin}), but embedding_dim{in_file} "
            f"can only be {shown}; {fix}",
            source=source,
            key="fixed.embedding_dim" if pinned else "search_space.embedding_dim",
        )
    return dim


def train_options(sweep: Sweep, **overrides: int | None) -> EmbeddingsTrainConfig:
    """The sweep's `embeddings.train` options (or the defaults) with command-line overrides."""
    emb = sweep.config.embeddings
    base = emb.train.model_dump() if emb is not None and emb.train is not None else {}
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return EmbeddingsTrainConfig.model_validate({**base, **given})
    except ValidationError as e:
        raise format_validation_error(e, "command line", prefix="embeddings.train") from None


def train_for_sweep(
    sweep: Sweep, out: Path, progress: Progress | None = None, **option_overrides: int | None
) -> Path:
    """`textsweep embeddings train`: word2vec on the sweep dataset's training (+ unlabeled) text.

    Options come from `embeddings.train` (or the defaults), overridden by `dim`, `window`,
    `min_count`, `epochs` when given; the seed is `dataset.seed`. Writes word2vec text at `out`
    and a record of how it was made at `<out>.json`.
    """
    check_out(Path(out))  # before the corpus is read
    source = _source(sweep)
    cfg = sweep.config.dataset
    texts = "the training split" + (
        " and the 50,000 unlabeled reviews" if cfg.format == "imdb" else ""
    )
    record = {
        "texts": texts + "; never the test split",
        "dataset": cfg.model_dump(mode="json"),
        "sweep": str(sweep.path) if sweep.path else None,
    }
    return train_word2vec(
        texts_for_vectors(cfg, source),
        train_options(sweep, **option_overrides),
        Path(out),
        seed=cfg.seed,
        progress=progress,
        record=record,
        source=source,
    )


def cached_vectors_path(sweep: Sweep, cache_dir: Path) -> Path:
    """Where vectors trained for `embeddings.train` are cached: keyed by data, options and seed.

    Dataset settings that do not change the texts (`num_words`, `validation_split`) are left out of
    the key, so sweeps that differ only in those share their vectors.
    """
    from textsweep.data import fingerprint

    emb = sweep.config.embeddings
    assert emb is not None and emb.train is not None
    unused = ("num_words", "validation_split")
    texts_cfg = sweep.config.dataset.model_copy(
        update={k: DatasetConfig.model_fields[k].default for k in unused}
    )
    payload = {
        "version": CACHE_VERSION,
        "dataset": fingerprint(texts_cfg, _source(sweep)),
        "options": emb.train.model_dump(mode="json"),
        "seed": sweep.config.dataset.seed,
    }
    key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]
    return cache_dir / "vectors" / f"word2vec-{emb.train.dim}d-{key}.txt"


def vectors_for_sweep(
    sweep: Sweep, encoded: Encoded, cache_dir: Path, progress: Progress | None = None
) -> EmbeddingMatrix:
    """The embedding matrix for a sweep's vocabulary: from `embeddings.path`, or trained and cached.

    Call it once per sweep and hand the result to every trial: it reads the whole vectors file
    (gigabytes for GoogleNews or GloVe 840B), which must not happen once per trial. With
    `embeddings.train`, vectors are trained on the first sweep and read back from `cache_dir` by
    later sweeps over the same texts with the same options and seed.
    """
    say = progress or (lambda _msg: None)
    source = _source(sweep)
    emb = sweep.config.embeddings
    if emb is None:
        raise UserError(
            "the sweep has no `embeddings:` section; add `embeddings: {path: VECTORS}` or "
            "`embeddings: {train: {dim: 100}}`",
            source=source,
            key="embeddings",
        )
    if encoded.vocabulary is None:
        raise UserError(
            f"pretrained embeddings need the words of the vocabulary, but dataset.format "
            f"{sweep.config.dataset.format} holds only token ids; use format imdb, folder or table",
            source=source,
            key="dataset.format",
        )
    if emb.path is not None:
        say(f"embeddings: reading {emb.path}")
        kv = load_vectors(emb, source)
        where = emb.path
    else:
        kv, path = _trained_vectors(sweep, cache_dir, progress)
        where = str(path)
    return build_embedding_matrix(
        kv,
        encoded.vocabulary,
        encoded.token_counts,
        emb.missing,
        seed=sweep.config.dataset.seed,
        source=where,
    )


def _trained_vectors(
    sweep: Sweep, cache_dir: Path, progress: Progress | None
) -> tuple[KeyedVectors, Path]:
    """Vectors for `embeddings.train` from the cache, trained first if they are not there.

    Beside the word2vec text file the cache keeps a gensim copy, which reads in a second where
    the text takes tens of seconds for IMDB's 80k words.
    """
    say = progress or (lambda _msg: None)
    source = _source(sweep)
    path = cached_vectors_path(sweep, cache_dir)
    quick = path.with_suffix(".kv")
    if quick.is_file():
        try:
            kv = load_vectors(EmbeddingsConfig(path=str(quick), format="gensim"), source)
            say(f"embeddings: cache hit ({path})")
            return kv, path
        except UserError:
            pass  # a damaged copy is rebuilt from the text file below
    text = EmbeddingsConfig(path=str(path), format="word2vec")
    try:
        kv = load_vectors(text, source) if path.is_file() else None
    except UserError:
        say(f"embeddings: {path} is unreadable; training again")
        kv = None
    if kv is None:
        train_for_sweep(sweep, path, progress)
        kv = load_vectors(text, source)
    tmp = quick.with_name(f".tmp-{os.getpid()}-{quick.name}")
    kv.save(str(tmp), separately=[])  # one file, so one rename publishes it
    os.replace(tmp, quick)
    return kv, path


def _source(sweep: Sweep) -> str:
    return str(sweep.path) if sweep.path else "<sweep>"

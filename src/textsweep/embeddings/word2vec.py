"""word2vec trained with gensim on a dataset's training (and unlabeled) text, never its test."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from textsweep.config import DatasetConfig, EmbeddingsTrainConfig
from textsweep.errors import UserError
from textsweep.vocabulary import tokenize

MAX_WORKERS = 2


def texts_for_vectors(cfg: DatasetConfig, source: str = "<sweep>") -> Iterator[str]:
    """The texts word vectors may be trained on: the training split, plus IMDB's unlabeled reviews.

    That is the training split after `limit` (its validation part included: no labels are used)
    and, for `imdb`, the 50,000 reviews of train/unsup. The test split, or a test holdout, is never
    read into the vectors, so test accuracy stays an honest estimate.
    """
    from textsweep.data import load_dataset

    dataset = load_dataset(cfg, source)
    if dataset.train.texts is None:
        raise UserError(
            f"dataset.format {cfg.format} is pre-tokenized, with no words to train vectors on; "
            "use format imdb (or folder/table) for word vectors",
            source=source,
            key="dataset.format",
        )
    yield from dataset.train.texts
    if cfg.format == "imdb":
        from textsweep.data.imdb import iter_imdb_unlabeled

        yield from iter_imdb_unlabeled(cfg, source)


def train_word2vec(
    texts: Iterable[str],
    options: EmbeddingsTrainConfig,
    out: Path,
    seed: int = 1,
    progress: Callable[[str], None] | None = None,
    *,
    record: Mapping[str, Any] | None = None,
    source: str = "<sweep>",
) -> Path:
    """Train word2vec (CBOW, gensim's default) on `texts` and write the vectors as word2vec text.

    Texts are tokenized with `textsweep.vocabulary.tokenize`, so the vectors' words are the sweep
    vocabulary's words. The vectors go to `out` and a JSON record of how they were made to
    `<out>.json`, each written to a temporary file and renamed, so `out` is never half written.
    gensim runs with up to 2 worker threads, which makes results close to but not bit-for-bit
    reproducible for a given seed.

    Args:
        texts: the corpus (only training and unlabeled text; see `texts_for_vectors`).
        options: dim, window, min_count, epochs.
        out: the vectors file to write.
        seed: gensim's seed.
        progress: called with a line of text per stage and per epoch.
        record: extra facts for the JSON record (the dataset spec, the sweep file).
        source: the sweep file, named in error messages.

    Example:
        train_word2vec(["a good film", "a bad film"], EmbeddingsTrainConfig(dim=8, min_count=1),
                       Path("tiny.txt"))
    """
    from gensim.models import Word2Vec

    check_out(out)  # before the training, not after it
    say = progress or (lambda _msg: None)
    say("embeddings: tokenizing the corpus")
    sentences, n_texts, n_tokens = _tokenized(texts)
    if not sentences:
        raise UserError(
            "the corpus for word vectors is empty; check the dataset", source=source, key="dataset"
        )
    say(
        f"embeddings: {n_texts} texts, {n_tokens} tokens; "
        f"training word2vec dim {options.dim}, {options.epochs} epochs"
    )
    model = Word2Vec(
        vector_size=options.dim,
        window=options.window,
        min_count=options.min_count,
        workers=max(1, min(MAX_WORKERS, os.cpu_count() or 1)),
        seed=seed,
    )
    model.build_vocab(sentences)
    if len(model.wv) == 0:
        raise UserError(
            f"no word occurs at least min_count={options.min_count} times in the {n_tokens} tokens "
            "of the corpus; lower embeddings.train.min_count (--min-count)",
            source=source,
            key="embeddings.train.min_count",
        )
    model.train(
        sentences,
        total_examples=model.corpus_count,
        epochs=options.epochs,
        callbacks=[_epoch_reporter(say, options.epochs)],
    )

    import gensim

    info = {
        "format": "word2vec",
        "words": len(model.wv),
        "dim": options.dim,
        "options": options.model_dump(mode="json"),
        "seed": seed,
        "corpus": {
            "texts": n_texts,
            "tokens": n_tokens,
            "tokenizer": "textsweep.vocabulary.tokenize",
        },
        "algorithm": "gensim Word2Vec, CBOW",
        "gensim_version": gensim.__version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **(record or {}),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".tmp-{os.getpid()}-{out.name}")
    sidecar = sidecar_path(out)
    tmp_sidecar = sidecar.with_name(f".tmp-{os.getpid()}-{sidecar.name}")
    had_sidecar = sidecar.exists()
    try:
        model.wv.save_word2vec_format(str(tmp), binary=False)
        tmp_sidecar.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp_sidecar, sidecar)
        try:
            os.replace(tmp, out)  # last: an existing `out` means a finished file
        except OSError:
            if not had_sidecar:  # no record of vectors that were never written
                sidecar.unlink(missing_ok=True)
            raise
    finally:
        tmp.unlink(missing_ok=True)
        tmp_sidecar.unlink(missing_ok=True)
    say(f"embeddings: wrote {len(model.wv)} vectors to {out}")
    return out


def check_out(out: Path) -> None:
    """Raise `UserError` (naming --out) when the vectors file or its record cannot go at `out`."""
    sidecar = sidecar_path(out)
    for path, what in ((out, "the vectors file"), (sidecar, "the record of how it was made")):
        if path.is_dir():
            raise UserError(
                f"{path} is a folder, where {what} would go; give --out a file path, such as "
                f"{out / 'vectors.txt'}",
                source="--out",
            )
    parent = next((p for p in out.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise UserError(
            f"{parent} is a file, so {out} cannot be made; give --out a path in a folder",
            source="--out",
        )


def sidecar_path(out: Path) -> Path:
    """Where the record of how a vectors file was made lives: `<out>.json`."""
    return out.with_name(out.name + ".json")


def _tokenized(texts: Iterable[str]) -> tuple[list[list[str]], int, int]:
    """Token lists with each distinct word stored once: the IMDB corpus in a few hundred MB."""
    shared: dict[str, str] = {}
    sentences = []
    n_texts = n_tokens = 0
    for text in texts:
        n_texts += 1
        tokens = [shared.setdefault(t, t) for t in tokenize(text)]
        n_tokens += len(tokens)
        if tokens:
            sentences.append(tokens)
    return sentences, n_texts, n_tokens


def _epoch_reporter(say: Callable[[str], None], epochs: int) -> Any:
    from gensim.models.callbacks import CallbackAny2Vec

    class EpochReporter(CallbackAny2Vec):
        def __init__(self) -> None:
            self.epoch = 0
            self.started = time.monotonic()

        def on_epoch_end(self, model: Any) -> None:
            self.epoch += 1
            say(f"embeddings: epoch {self.epoch}/{epochs} ({time.monotonic() - self.started:.0f}s)")

    return EpochReporter()

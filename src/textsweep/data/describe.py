"""`textsweep data describe`: what a dataset holds, computed as plain data first and printed second.

    d = describe(DatasetConfig(format="table", path="data/tickets.csv", label_column="queue"))
    d.splits[0].size, d.length_percentiles("train"), d.coverage
    print(format_description(d))

Sizes and class balance per split (including the validation split a sweep would take), token-length
percentiles to choose `maxlen`, and, for raw text, the training vocabulary's size and the share of
running training tokens that a vocabulary of `num_words` covers. The splits, tokenizer and
vocabulary are the ones a sweep uses, so the figures are the ones a sweep will see.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textsweep.config import DatasetConfig
from textsweep.errors import UserError

PERCENTILES = (50, 75, 90, 95, 99)
COVERAGE_AT = (1000, 5000, 10000, 20000, 50000)
RESERVED_IDS = 2  # padding and out-of-vocabulary take two of the `num_words` ids


@dataclass(frozen=True)
class SplitDescription:
    """One split: its size, texts per class (in `class_names` order) and tokens per text."""

    name: str
    size: int
    class_counts: tuple[int, ...]
    length_percentiles: tuple[tuple[int, int], ...]  # (percentile, tokens); 100 is the maximum
    mean_length: float

    @property
    def class_shares(self) -> tuple[float, ...]:
        return tuple(c / self.size if self.size else 0.0 for c in self.class_counts)


@dataclass(frozen=True)
class Description:
    """A dataset as a sweep would see it. `vocabulary_size` is None for pre-tokenized data."""

    dataset: str
    test_from: str
    class_names: tuple[str, ...]
    splits: tuple[SplitDescription, ...]  # train (what is fitted on), validation, test
    vocabulary_size: int | None
    training_tokens: int
    coverage: tuple[tuple[int, float], ...]  # (num_words, share of running training tokens)
    num_words: int
    warnings: tuple[str, ...] = ()

    def split(self, name: str) -> SplitDescription:
        return next(s for s in self.splits if s.name == name)

    def length_percentiles(self, split: str = "train") -> dict[int, int]:
        return dict(self.split(split).length_percentiles)


def describe(cfg: DatasetConfig, source: str = "<sweep>") -> Description:
    """Read the dataset (with `limit` applied) and describe its splits, lengths and vocabulary.

    The vocabulary figures come from the training split after validation is taken from it,
    the text `textsweep.vocabulary.encode` builds the vocabulary from.
    """
    from textsweep.data import load_dataset
    from textsweep.data.splits import stratified_split
    from textsweep.vocabulary import tokenize

    dataset = load_dataset(cfg, source)
    keep, val = stratified_split(dataset.train.labels, cfg.validation_split, cfg.seed)
    counts: Counter[str] = Counter()
    if dataset.train.texts is not None and dataset.test.texts is not None:
        train_tokens = [tokenize(t) for t in dataset.train.texts]
        train_lengths = np.array([len(t) for t in train_tokens], dtype=np.int64)
        for i in keep:
            counts.update(train_tokens[i])
        del train_tokens
        test_lengths = np.array([len(tokenize(t)) for t in dataset.test.texts], dtype=np.int64)
        vocabulary_size: int | None = len(counts)
    else:
        assert dataset.train.token_ids is not None and dataset.test.token_ids is not None
        train_lengths = np.array([len(s) for s in dataset.train.token_ids], dtype=np.int64)
        test_lengths = np.array([len(s) for s in dataset.test.token_ids], dtype=np.int64)
        vocabulary_size = None
    n = len(dataset.class_names)
    splits = (
        _split("train", dataset.train.labels[keep], train_lengths[keep], n),
        _split("validation", dataset.train.labels[val], train_lengths[val], n),
        _split("test", dataset.test.labels, test_lengths, n),
    )
    coverage: tuple[tuple[int, float], ...] = ()
    if vocabulary_size is not None:
        coverage = token_coverage(counts.values(), sorted({*COVERAGE_AT, cfg.num_words}))
    return Description(
        dataset=_name(cfg, source),
        test_from=_test_from(cfg, dataset.test_is_holdout),
        class_names=dataset.class_names,
        splits=splits,
        vocabulary_size=vocabulary_size,
        training_tokens=int(train_lengths[keep].sum()),
        coverage=coverage,
        num_words=cfg.num_words,
        warnings=dataset.warnings,
    )


def token_coverage(
    frequencies: Iterable[int], num_words: Sequence[int]
) -> tuple[tuple[int, float], ...]:
    """Share of running tokens inside a vocabulary of each `num_words` (two ids are reserved).

    >>> token_coverage([5, 3, 2], [3, 4, 10])
    ((3, 0.5), (4, 0.8), (10, 1.0))
    """
    ranked = np.sort(np.fromiter(frequencies, dtype=np.int64))[::-1]
    total = int(ranked.sum())
    cumulative = np.concatenate([[0], np.cumsum(ranked)])
    out = []
    for n in num_words:
        kept = min(max(n - RESERVED_IDS, 0), len(ranked))
        out.append((n, float(cumulative[kept]) / total if total else 0.0))
    return tuple(out)


def _split(name: str, labels: np.ndarray, lengths: np.ndarray, n_classes: int) -> SplitDescription:
    counts = np.bincount(labels, minlength=n_classes) if len(labels) else np.zeros(n_classes, int)
    if len(lengths):
        values = np.percentile(lengths, PERCENTILES, method="inverted_cdf")
        pcts = [(p, int(v)) for p, v in zip(PERCENTILES, values, strict=True)]
        pcts.append((100, int(lengths.max())))
        mean = float(lengths.mean())
    else:
        pcts, mean = [], 0.0
    return SplitDescription(
        name=name,
        size=len(labels),
        class_counts=tuple(int(c) for c in counts),
        length_percentiles=tuple(pcts),
        mean_length=mean,
    )


def _name(cfg: DatasetConfig, source: str) -> str:
    from textsweep.data import locate

    where = cfg.path if cfg.path is not None else str(locate(cfg, source)[0])
    limit = f", limit {cfg.limit:,} per split" if cfg.limit is not None else ""
    return f"{cfg.format} {where}{limit}"


def _test_from(cfg: DatasetConfig, holdout: bool) -> str:
    if holdout:
        return f"a stratified holdout of {cfg.test_fraction:.0%} of the data (seed {cfg.seed})"
    if cfg.test_path is not None:
        return cfg.test_path
    return "the dataset's own test split"


def format_description(d: Description) -> str:
    """The description as text for a terminal: tables of classes, lengths and coverage."""
    lines = [f"dataset: {d.dataset}", f"test split: {d.test_from}", ""]
    width = max([len("class"), *(len(c) for c in d.class_names)])
    lines.append(f"{'class':<{width}}" + "".join(f"{s.name:>18}" for s in d.splits))
    for i, name in enumerate(d.class_names):
        cells = "".join(f"{s.class_counts[i]:>11,} {s.class_shares[i]:>6.1%}" for s in d.splits)
        lines.append(f"{name:<{width}}{cells}")
    lines.append(f"{'total':<{width}}" + "".join(f"{s.size:>11,}{'':>7}" for s in d.splits))
    lines.append("")
    heads = [f"p{p}" if p < 100 else "max" for p, _ in d.splits[0].length_percentiles]
    lines.append(f"{'tokens per text':<16}" + "".join(f"{h:>8}" for h in heads) + f"{'mean':>8}")
    for s in d.splits:
        values = "".join(f"{v:>8,}" for _, v in s.length_percentiles)
        lines.append(f"{s.name:<16}{values}{s.mean_length:>8.0f}")
    lines.append("(choose maxlen near a high percentile of train: longer texts are cut to maxlen)")
    lines.append("")
    if d.vocabulary_size is None:
        lines.append(
            "vocabulary: pre-tokenized data; vocabulary size and coverage are not available"
        )
    else:
        lines.append(
            f"vocabulary: {d.vocabulary_size:,} distinct tokens in {d.training_tokens:,} running "
            "tokens of training text\n(validation left out, as a sweep builds its vocabulary)"
        )
        marks = [f"{n:,}" + ("*" if n == d.num_words else "") for n, _ in d.coverage]
        lines.append(f"{'num_words':<16}" + "".join(f"{m:>9}" for m in marks))
        lines.append(f"{'token coverage':<16}" + "".join(f"{c:>9.1%}" for _, c in d.coverage))
        lines.append(
            "(* dataset.num_words; coverage = share of running training tokens in the vocabulary)"
        )
    if d.warnings:
        lines += ["", "warnings:"] + [f"  - {w}" for w in d.warnings]
    return "\n".join(line.rstrip() for line in lines)


def dataset_from_spec(spec: str, overrides: Sequence[str] = ()) -> tuple[DatasetConfig, str]:
    """The dataset settings named on the command line, and the source to name in errors.

    `spec` is a sweep file (its `dataset:` section), `imdb`, or a data path whose format is
    inferred (a folder, `.npz`, `.tar.gz`, or a table file). `overrides` are `KEY=VALUE` with keys
    such as `label_column` or `dataset.label_column`.

        dataset_from_spec("data/tickets.csv", ["label_column=queue", "limit=2000"])
    """
    from pydantic import ValidationError

    from textsweep.config import apply_overrides, format_validation_error, read_yaml

    source = spec
    path = Path(spec).expanduser()
    if spec.endswith((".yaml", ".yml")):
        raw = read_yaml(path)
        if not isinstance(raw, dict):
            raise UserError("expected a sweep file (a mapping with `dataset:`)", source=spec)
        dataset = raw.get("dataset", {}) if "dataset" in raw or "name" in raw else raw
    elif spec in ("imdb", "keras_npz"):
        dataset = {"format": spec}
    elif not path.exists():
        raise UserError(
            f"{spec} does not exist; give a sweep file, `imdb`, or a data file or folder",
            source=spec,
        )
    elif path.is_dir():
        dataset = {"format": "folder", "path": spec}
    elif path.name.endswith((".tar.gz", ".tgz")):
        dataset = {"format": "imdb", "path": spec}
    elif path.suffix.lower() == ".npz":
        dataset = {"format": "keras_npz", "path": spec}
    else:
        dataset = {"format": "table", "path": spec}
    if not isinstance(dataset, dict):
        raise UserError("expected a mapping of dataset keys", source=spec, key="dataset")
    keyed = [o if o.startswith("dataset.") else f"dataset.{o}" for o in overrides]
    dataset = apply_overrides({"dataset": dataset}, keyed)["dataset"]
    try:
        return DatasetConfig.model_validate(dataset), source
    except ValidationError as e:
        raise format_validation_error(e, source, prefix="dataset") from None

"""A trial's inputs (padded ids or sparse bags) and the cached bag spec they are made with.

spec = cached_spec(encoded, ngrams=3, bag_mode="nb", width=1_000_000, cache=folder)
data = TrialData(encoded)
fit = data.inputs(values, num_words)     # FitInputs: keyword arguments of fit / evaluate
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textsweep.features import NB_ALPHA, BagSpec, bag_settings, bags, fit_bags

if TYPE_CHECKING:
    from textsweep.vocabulary import Encoded


def cached_spec(
    encoded: Encoded,
    ngrams: int,
    bag_mode: str,
    width: int,
    cache: Path | None,
    alpha: float = NB_ALPHA,
) -> BagSpec:
    """`fit_bags` on the training split, read from (or written to) the dataset's cache folder."""
    mode = f"nb-a{alpha:g}" if bag_mode == "nb" else bag_mode
    path = cache / encoded.key / f"bags-n{ngrams}-{mode}-w{width}.json" if cache else None
    if path is not None and path.is_file():
        try:
            found = BagSpec.from_json(path.read_text(encoding="utf-8"))
            if (found.ngrams, found.bag_mode, found.width) == (ngrams, bag_mode, width) and (
                bag_mode != "nb" or found.alpha == alpha
            ):
                return found
        except (OSError, ValueError, KeyError):
            pass  # a damaged entry is rebuilt, never trusted
    labels = encoded.train_labels if bag_mode == "nb" else None
    spec = fit_bags(encoded.train, ngrams, bag_mode, width, labels=labels, alpha=alpha)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-bags-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(spec.to_json())
        os.replace(tmp, path)
    return spec


@dataclass(frozen=True)
class FitInputs:
    """A trial's data in the shape `model.fit` / `model.evaluate` take them (as keyword arguments)."""

    train: dict[str, Any]
    validation: Any
    test: dict[str, Any]


class TrialData:
    """A trial's inputs, made from the cached token ids for its family and hyperparameters.

    Bag models get sparse bags fed a batch at a time (`models.feed.SparseRows`); sequence models
    get padded arrays. Only the latest inputs are kept, so memory does not grow across trials.
    """

    def __init__(self, encoded: Encoded, cache: Path | None = None):
        from textsweep.runtime import home_dir

        self.encoded = encoded
        self.cache = cache if cache is not None else home_dir() / "cache"
        self._latest: tuple[Any, tuple[Any, ...]] | None = None

    def inputs(self, values: Mapping[str, Any], width: int) -> FitInputs:
        """Fit/evaluate arguments for a resolved trial; `width` is the model's `num_words`."""
        from textsweep.models import uses_sequences

        e = self.encoded
        batch = int(values["batch_size"])
        if uses_sequences(values):
            maxlen = int(values["maxlen"])
            arrays = self._made(
                ("seq", maxlen), lambda: tuple(s.padded(maxlen) for s in (e.train, e.val, e.test))
            )
            return FitInputs(
                train={"x": arrays[0], "y": e.train_labels, "batch_size": batch},
                validation=(arrays[1], e.val_labels),
                test={"x": arrays[2], "y": e.test_labels, "batch_size": max(256, batch)},
            )
        ngrams, mode, alpha = bag_settings(values)
        made = self._made(
            ("bags", ngrams, mode, alpha, width), lambda: self._bags(ngrams, mode, alpha, width)
        )
        train, val, test = made
        return FitInputs(
            # the pipeline reshuffles every epoch itself; Keras's own `shuffle` cannot apply
            train={"x": train.batches(batch, shuffle=True), "shuffle": False},
            validation=val.batches(max(256, batch)),
            test={"x": test.batches(max(256, batch))},
        )

    def _bags(self, ngrams: int, mode: str, alpha: float, width: int) -> tuple[Any, ...]:
        """Each split's bags as `feed.SparseRows`; a split's CSR matrix goes once it is copied."""
        from textsweep.models.feed import SparseRows

        e = self.encoded
        spec = cached_spec(e, ngrams, mode, width, self.cache, alpha)
        splits = ((e.train, e.train_labels), (e.val, e.val_labels), (e.test, e.test_labels))
        return tuple(SparseRows(bags(ids, spec), labels) for ids, labels in splits)

    def _made(self, key: Any, make: Any) -> tuple[Any, ...]:
        if self._latest is None or self._latest[0] != key:
            self._latest = None  # release the previous inputs before making new ones
            self._latest = (key, make())
        return self._latest[1]

"""Raw text to a logged model's inputs, exactly as training made them from the cached token ids.

    spec = preprocess_spec(values, encoded, 10000)         # JSON-able; saved as preprocess.json
    x = inputs_for(["a wonderful film"], spec)        # what the Keras model takes

The same tokenizer (`vocabulary.tokenize`), the same word -> id map (PAD 0, OOV 1), and the same
`Ragged.padded` / `features.bags` (with the n-gram vocabulary, idf weights and naive-Bayes ratios
of training, kept in the spec) as `trialdata.TrialData`, so a text gets the ids and the row it got
in training. Plain Python, NumPy and SciPy: a served model needs no TensorFlow here.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from textsweep.errors import UserError
from textsweep.features import BagSpec, bag_settings, bags
from textsweep.models import uses_sequences
from textsweep.trialdata import cached_spec
from textsweep.vocabulary import OOV, OOV_TOKEN, PAD_TOKEN, TOKENIZER_VERSION, Ragged, tokenize

if TYPE_CHECKING:
    from textsweep.vocabulary import Encoded

SPEC_FORMAT = 1
SEQUENCE, BAG = "sequence", "bag"
SPEC_NAME = "preprocess.json"
CHECKSUM = "sha256"  # of the spec's other keys (`spec_checksum`), recorded when it is made
MAX_MAXLEN = 100_000  # tokens per text; more is no model textsweep trains
MAX_WIDTH = 10_000_000  # vocabulary words or bag columns


class NoVocabulary(ValueError):
    """The dataset came as token ids (no words), so no model can read raw text."""


def preprocess_spec(
    values: Mapping[str, Any], encoded: Encoded, num_words: int, cache: Path | None = None
) -> dict[str, Any]:
    """What turns raw text into one trial's model inputs: vocabulary, input kind, maxlen or the
    bag spec (n-gram vocabulary, idf, NB ratios), labels.

    Args:
        values: the trial's resolved hyperparameter values (`models.resolve`).
        encoded: the execution's dataset; its vocabulary lists the words in id order.
        num_words: the sweep's `dataset.num_words` (the multi-hot width).
        cache: the tokenization cache folder training used (default `$TEXTSWEEP_HOME/cache`),
            where the bag spec of these settings already is.

    Raises:
        NoVocabulary: the dataset was given as token ids, so there are no words to map.
    """
    if encoded.vocabulary is None:
        raise NoVocabulary(
            "the dataset comes as token ids without its words, so a model cannot read raw text"
        )
    sequence = uses_sequences(values)
    bag_spec = None
    if not sequence:
        from textsweep.runtime import home_dir

        ngrams, mode, alpha = bag_settings(values)
        folder = cache if cache is not None else home_dir() / "cache"
        bag_spec = cached_spec(encoded, ngrams, mode, int(num_words), folder, alpha).to_dict()
    spec = {
        "format": SPEC_FORMAT,
        "tokenizer_version": TOKENIZER_VERSION,
        "family": values["model"],
        "input": SEQUENCE if sequence else BAG,
        "maxlen": int(values["maxlen"]) if sequence else None,
        "num_words": int(num_words),
        "bags": bag_spec,
        "vocabulary": list(encoded.vocabulary),
        "labels": [str(c) for c in encoded.class_names],
    }
    return {**spec, CHECKSUM: spec_checksum(spec)}


def spec_checksum(spec: Mapping[str, Any]) -> str:
    """sha256 of the spec without its checksum, as canonical JSON."""
    rest = {k: v for k, v in spec.items() if k != CHECKSUM}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_spec(
    spec: Any, input_shape: Sequence[int | None] | None = None, outputs: int | None = None
) -> None:
    """Refuse a preprocess.json that is not the one logged with the model: `UserError` naming it.

    Checked: its checksum (when it has one: models logged before it was recorded have none), the
    tokenizer version, a vocabulary that starts with PAD and OOV and repeats no word, the input
    kind and its sizes (maxlen, bag width, n-grams) within bounds and equal to the Keras
    model's input (`input_shape`, without the batch), and as many distinct labels as the model
    has outputs (`outputs`; one sigmoid unit for two classes).
    """

    def bad(why: str) -> UserError:
        return UserError(
            f"{why}; the model's preprocessing artifact was changed or damaged: log "
            "the model again (run the sweep again) or use another model",
            source=SPEC_NAME,
        )

    if not isinstance(spec, dict):
        raise bad(
            spec if isinstance(spec, str) else f"expected a JSON object; got {type(spec).__name__}"
        )
    recorded = spec.get(CHECKSUM)
    if recorded is not None:
        try:
            actual = spec_checksum(spec)
        except (TypeError, ValueError) as e:
            raise bad(f"cannot be checked ({e})") from None
        if recorded != actual:
            raise bad(
                f"its checksum does not match ({CHECKSUM} {str(recorded)[:16]}... recorded, "
                f"{actual[:16]}... now)"
            )
    if spec.get("tokenizer_version") != TOKENIZER_VERSION:
        raise ValueError(
            f"the model was trained with tokenizer version {spec.get('tokenizer_version')}; this "
            f"textsweep tokenizes with version {TOKENIZER_VERSION}; install the textsweep version "
            "the model was logged with"
        )
    vocabulary = spec.get("vocabulary")
    if (
        not isinstance(vocabulary, list)
        or len(vocabulary) < 3
        or vocabulary[:2] != [PAD_TOKEN, OOV_TOKEN]
        or not all(isinstance(w, str) for w in vocabulary)
    ):
        shown = f"{len(vocabulary)} entries" if isinstance(vocabulary, list) else repr(vocabulary)
        raise bad(
            f"vocabulary: expected a list of words starting with {PAD_TOKEN!r} and "
            f"{OOV_TOKEN!r}, then at least one word; got {shown}"[:300]
        )
    if len(vocabulary) > MAX_WIDTH or len(set(vocabulary)) != len(vocabulary):
        raise bad(
            f"vocabulary: expected at most {MAX_WIDTH:,} distinct words; got "
            f"{len(vocabulary):,} with {len(vocabulary) - len(set(vocabulary)):,} repeated"
        )
    num_words = _whole(spec.get("num_words"), "num_words", 3, MAX_WIDTH, bad)
    if len(vocabulary) > num_words:
        raise bad(f"vocabulary: {len(vocabulary):,} words, more than num_words {num_words:,}")
    kind = spec.get("input")
    width: int
    if kind == SEQUENCE:
        width = _whole(spec.get("maxlen"), "maxlen", 1, MAX_MAXLEN, bad)
    elif kind == BAG:
        raw = spec.get("bags")
        try:
            bag = BagSpec.from_dict(raw)
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            raise bad(f"bags: {type(e).__name__}: {e}"[:300]) from None
        width = _whole(bag.width, "bags.width", 3, MAX_WIDTH, bad)
        _whole(bag.ngrams, "bags.ngrams", 1, 3, bad)
        if len(bag.vocabulary) > width or any(
            not 0 <= i < num_words for g in bag.vocabulary for i in g
        ):
            raise bad(
                f"bags.vocabulary: expected at most {width:,} n-grams of word ids below "
                f"{num_words:,}"
            )
        if len(bag.idf) > width or not all(math.isfinite(v) and v >= 0 for v in bag.idf):
            raise bad(f"bags.idf: expected at most {width:,} finite weights >= 0")
        if bag.bag_mode == "nb" and (
            len(bag.ratios) != width or not all(math.isfinite(v) for v in bag.ratios)
        ):
            raise bad(f"bags.ratios: expected {width:,} finite naive-Bayes ratios")
    else:
        raise bad(f"input: expected {SEQUENCE!r} or {BAG!r}; got {kind!r}")
    if input_shape is not None and list(input_shape)[-1:] != [width]:
        what = "maxlen" if kind == SEQUENCE else "bags.width"
        raise bad(
            f"{what}: {width:,}, but the Keras model takes inputs of shape {tuple(input_shape)}"
        )
    labels = spec.get("labels")
    if (
        not isinstance(labels, list)
        or len(labels) < 2
        or not all(isinstance(label, str) for label in labels)
        or len(set(labels)) != len(labels)
    ):
        raise bad(
            f"labels: expected a list of at least 2 distinct class names; got {labels!r}"[:300]
        )
    if outputs is not None and outputs != (1 if len(labels) == 2 else len(labels)):
        raise bad(f"labels: {len(labels)} class names, but the Keras model has {outputs} output(s)")


def _whole(value: Any, key: str, low: int, high: int, bad: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise bad(f"{key}: expected a whole number from {low:,} to {high:,}; got {value!r}"[:300])
    return value


def token_ids(texts: Sequence[str], vocabulary: Sequence[str]) -> Ragged:
    """Each text's token ids, words outside the vocabulary as OOV (as `vocabulary.to_ids`)."""
    index = {w: i for i, w in enumerate(vocabulary)}
    return Ragged.from_sequences(
        [np.fromiter((index.get(t, OOV) for t in tokenize(text)), dtype=np.int32) for text in texts]
    )


def inputs_for(texts: Sequence[str], spec: Mapping[str, Any]) -> Any:
    """The Keras model's input for raw `texts`: int32 [n, maxlen] padded ids for a sequence
    model, a float32 CSR [n, num_words] of bags for a bag model (fed per batch as in training)."""
    if spec.get("tokenizer_version") != TOKENIZER_VERSION:
        raise ValueError(
            f"the model was trained with tokenizer version {spec.get('tokenizer_version')}; this "
            f"textsweep tokenizes with version {TOKENIZER_VERSION}; install the textsweep version "
            "the model was logged with"
        )
    ids = token_ids(texts, spec["vocabulary"])
    kind = spec["input"]
    if kind == SEQUENCE:
        return ids.padded(int(spec["maxlen"]))
    if kind == BAG:
        return bags(ids, bag_spec(spec["bags"]))
    raise ValueError(f"unknown input kind {kind!r} in preprocess.json; expected sequence or bag")


def bag_spec(fields: Mapping[str, Any]) -> BagSpec:
    """The `BagSpec` of a preprocess.json's `bags`, made once per loaded model, not per call.

    A million-column spec takes seconds to read back (its n-grams, then their sorted keys); a
    served model calls `inputs_for` per request with the same `bags` mapping, so the last one
    read is kept, keyed by identity.
    """
    if _last_bag_spec and _last_bag_spec[0] is fields:
        return _last_bag_spec[1]
    spec = BagSpec.from_dict(fields)
    _last_bag_spec[:] = [fields, spec]
    return spec


_last_bag_spec: list[Any] = []


def probabilities(outputs: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """[n, classes] class probabilities from the head's outputs (one sigmoid unit for two classes)."""
    out = np.asarray(outputs, dtype=np.float64)
    if len(labels) == 2 and out.ndim == 2 and out.shape[1] == 1:
        return np.concatenate([1.0 - out, out], axis=1)
    return out

"""Raw text to a logged model's inputs, exactly as training made them from the cached token ids.

    spec = preprocess_spec(values, encoded, 10000)         # JSON-able; saved as preprocess.json
    x = inputs_for(["a wonderful film"], spec)        # what the Keras model takes

The same tokenizer (`vocabulary.tokenize`), the same word -> id map (PAD 0, OOV 1), and the same
`Ragged.padded` / `features.bags` (with the n-gram vocabulary, idf weights and naive-Bayes ratios
of training, kept in the spec) as `trialdata.TrialData`, so a text gets the ids and the row it got
in training. Plain Python, NumPy and SciPy: a served model needs no TensorFlow here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from textsweep.features import BagSpec, bag_settings, bags
from textsweep.models import uses_sequences
from textsweep.trialdata import cached_spec
from textsweep.vocabulary import OOV, TOKENIZER_VERSION, Ragged, tokenize

if TYPE_CHECKING:
    from textsweep.vocabulary import Encoded

SPEC_FORMAT = 1
SEQUENCE, BAG = "sequence", "bag"


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
    return {
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

"""Raw text to a logged model's inputs, exactly as training made them from the cached token ids.

    spec = preprocess_spec(values, encoded, 10000)         # JSON-able; saved as preprocess.json
    x = inputs_for(["a wonderful film"], spec)        # int32 array the Keras model takes

The same tokenizer (`vocabulary.tokenize`), the same word -> id map (PAD 0, OOV 1), and the same
`Ragged.padded` / `Ragged.bags` as `sweep.hypermodel.TrialData`, so a text gets the ids and the
array row it got in training. Plain Python and NumPy: a served model needs no TensorFlow here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from textsweep.models import uses_sequences
from textsweep.vocabulary import OOV, TOKENIZER_VERSION, Ragged, tokenize

if TYPE_CHECKING:
    from textsweep.vocabulary import Encoded

SPEC_FORMAT = 1
SEQUENCE, BAG = "sequence", "bag"


class NoVocabulary(ValueError):
    """The dataset came as token ids (no words), so no model can read raw text."""


def preprocess_spec(values: Mapping[str, Any], encoded: Encoded, num_words: int) -> dict[str, Any]:
    """What turns raw text into one trial's model inputs: vocabulary, input kind, maxlen, labels.

    Args:
        values: the trial's resolved hyperparameter values (`models.resolve`).
        encoded: the execution's dataset; its vocabulary lists the words in id order.
        num_words: the sweep's `dataset.num_words` (the multi-hot width).

    Raises:
        NoVocabulary: the dataset was given as token ids, so there are no words to map.
    """
    if encoded.vocabulary is None:
        raise NoVocabulary(
            "the dataset comes as token ids without its words, so a model cannot read raw text"
        )
    sequence = uses_sequences(values)
    return {
        "format": SPEC_FORMAT,
        "tokenizer_version": TOKENIZER_VERSION,
        "family": values["model"],
        "input": SEQUENCE if sequence else BAG,
        "maxlen": int(values["maxlen"]) if sequence else None,
        "num_words": int(num_words),
        "vocabulary": list(encoded.vocabulary),
        "labels": [str(c) for c in encoded.class_names],
    }


def token_ids(texts: Sequence[str], vocabulary: Sequence[str]) -> Ragged:
    """Each text's token ids, words outside the vocabulary as OOV (as `vocabulary.to_ids`)."""
    index = {w: i for i, w in enumerate(vocabulary)}
    return Ragged.from_sequences(
        [np.fromiter((index.get(t, OOV) for t in tokenize(text)), dtype=np.int32) for text in texts]
    )


def inputs_for(texts: Sequence[str], spec: Mapping[str, Any]) -> np.ndarray:
    """The Keras model's input array for raw `texts`, by the spec's input kind.

    TODO(models branch): that branch replaces `Ragged.bags` with `textsweep.features.bags(
    token_ids, BagSpec)` (a CSR [n, num_words]; n-grams, `bag_mode` multi_hot/count/tf_idf).
    When it lands: `preprocess_spec` stores `cached_spec(encoded, ngrams, bag_mode, num_words,
    cache).to_json()` under "bags", and the BAG branch below returns
    `features.bags(ids, BagSpec.from_json(spec["bags"]))` (densified per batch for `predict` if
    the Keras model wants dense input).
    """
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
        return ids.bags()
    raise ValueError(f"unknown input kind {kind!r} in preprocess.json; expected sequence or bag")


def probabilities(outputs: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """[n, classes] class probabilities from the head's outputs (one sigmoid unit for two classes)."""
    out = np.asarray(outputs, dtype=np.float64)
    if len(labels) == 2 and out.ndim == 2 and out.shape[1] == 1:
        return np.concatenate([1.0 - out, out], axis=1)
    return out

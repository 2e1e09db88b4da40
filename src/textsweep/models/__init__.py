"""Model families, as a registry: each states its hyperparameters, their defaults and a build.

    model = build_model(resolve({"model": "embedding_pool"}, 32), ModelInputs(10000, 2))
    [f.name for f in families()]   # multihot_dense, embedding_flatten, embedding_pool, ...

A user module adds its own (a sweep's `families: [mypkg.models]` imports it):

    from textsweep.models import Family, register
    register(Family("embedding_cnn", {"filters": 64, ...}, build=build_cnn, sequences=True))

The head is one sigmoid unit with binary cross-entropy for two classes, softmax with sparse
categorical cross-entropy for more. Importing this package imports no TensorFlow.
"""

from textsweep.models import dense as _dense  # noqa: F401  (registers multihot_dense)
from textsweep.models import embedding as _embedding  # noqa: F401  (registers the embedding ones)
from textsweep.models.layers import COMMON_DEFAULTS, compiled, dense_stack, optimizer, summary_text
from textsweep.models.registry import (
    Family,
    ModelInputs,
    Size,
    build_model,
    families,
    families_table,
    family_hyperparameters,
    get,
    import_families,
    register,
    resolve,
    used_values,
    uses_sequences,
)

__all__ = [
    "COMMON_DEFAULTS",
    "Family",
    "ModelInputs",
    "Size",
    "build_model",
    "compiled",
    "dense_stack",
    "families",
    "families_table",
    "family_hyperparameters",
    "get",
    "import_families",
    "optimizer",
    "register",
    "resolve",
    "summary_text",
    "used_values",
    "uses_sequences",
]

"""How big a trial's model is, and whether the largest trial of a sweep fits in memory.

    estimate({"model": "embedding_lstm", "maxlen": 200, ...}, 10000, 2, 64)
    # Estimate(params=..., bytes=...): weights, gradients, optimizer state and activations
    check_fits(sweep)   # UserError naming the key to lower, before any data is read

A search space whose largest values cannot fit (`maxlen: 10^9`, `embedding_dim: 10^6`) would
otherwise fail, or swap the machine to a halt, only when that trial is built. The estimate is
deliberately rough (within a small factor of what TensorFlow allocates): it exists to catch
values off by orders of magnitude, not to pack memory tightly.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textsweep.errors import UserError
from textsweep.models.registry import ModelInputs, Size

if TYPE_CHECKING:
    from textsweep.config import Sweep

FLOAT = 4  # bytes
# per parameter: weights, their gradient, Adam's two moments, and the best epoch's copy
BYTES_PER_PARAM = 5 * FLOAT
# the sizes a trial's memory grows with, in the order they are blamed (then any other integer)
SIZE_NAMES = (
    "maxlen",
    "embedding_dim",
    "lstm_units",
    "lstm_layers",
    "dense_units",
    "dense_layers",
    "batch_size",
)


@dataclass(frozen=True)
class Estimate:
    """A trial's parameter count and the memory its training needs, in bytes."""

    params: int
    bytes: int


def estimate(
    values: Mapping[str, Any],
    num_words: int,
    num_classes: int,
    batch_size: int,
    build: bool = True,
) -> Estimate:
    """Parameters and training memory of the model `values` (resolved: every name present).

    The family's own `size` says (every built-in has one); a family without one has its model
    built once for these values and measured (`measured_size`), or, with `build=False`, gets
    `lower_bound` (its embedding alone).
    """
    from textsweep.models import get

    batch = int(values.get("batch_size") or batch_size)
    inputs = ModelInputs(num_words, num_classes)
    size_of = get(values["model"]).size
    if size_of is not None:
        size = size_of(values, inputs)
    else:
        size = measured_size(values, inputs) if build else lower_bound(values, inputs)
    total = size.params * BYTES_PER_PARAM + 2 * size.activations * batch * FLOAT  # fwd and bwd
    return Estimate(params=size.params, bytes=total)


def lower_bound(values: Mapping[str, Any], inputs: ModelInputs) -> Size:
    """What any family that reads `embedding_dim` needs at least: the Embedding layer
    `models.embedding.embedding` makes (`num_words x embedding_dim` weights) and its output
    (`maxlen x embedding_dim` floats per example). Checked before a model is built to be
    measured, so that a space off by orders of magnitude is refused without allocating it."""
    dim = values.get("embedding_dim")
    if not isinstance(dim, int) or isinstance(dim, bool):
        return Size(0, 0)
    maxlen = values.get("maxlen")
    length = maxlen if isinstance(maxlen, int) and not isinstance(maxlen, bool) else 1
    return Size(inputs.num_words * dim, length * dim)


def measured_size(values: Mapping[str, Any], inputs: ModelInputs) -> Size:
    """A family's model built with Keras, on the CPU, and measured: its exact parameter count,
    and the floats per example of every layer's output (what the backward pass keeps).

    For a family that states no `size`. The parameter count is exactly the trial's; the
    activations miss what a layer keeps inside itself (an LSTM's gates at every step), which a
    family with such layers should state in its own `size`. Memoised: `check_fits` asks again
    for each setting it might blame.
    """
    if values.get("embedding_init") == "pretrained":  # same shapes; no vectors needed here
        values = {**values, "embedding_init": "random"}
    return _measured(tuple(sorted(values.items())), inputs.num_words, inputs.num_classes)


@functools.lru_cache(maxsize=64)
def _measured(items: tuple[tuple[str, Any], ...], num_words: int, num_classes: int) -> Size:
    import math

    import tensorflow as tf

    from textsweep.models import build_model

    with tf.device("/CPU:0"):
        model = build_model(dict(items), ModelInputs(num_words, num_classes))
    activations = 0
    for layer in model.layers:
        outputs = layer.output if isinstance(layer.output, list | tuple) else [layer.output]
        for output in outputs:
            dims = [d for d in tuple(output.shape)[1:] if d is not None]
            activations += math.prod(dims)
    return Size(params=int(model.count_params()), activations=activations)


def total_memory() -> int:
    """This machine's physical memory in bytes (0 when unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def largest_values(sweep: Sweep) -> dict[str, dict[str, Any]]:
    """Per family in the space, each hyperparameter at the largest value the space allows."""
    from textsweep.models import resolve

    space = sweep.space.hyperparameters
    largest: dict[str, Any] = {}
    for name, spec in space.items():
        if spec.type == "boolean":
            largest[name] = True
        elif spec.type in ("int", "float"):
            largest[name] = spec.max
        else:
            values = [spec.value] if spec.type == "fixed" else list(spec.values or [])
            numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
            largest[name] = max(numbers) if numbers else (True if True in values else values[0])
    model = space.get("model")
    families = model.candidates() if model is not None else ["multihot_dense"]
    batch = sweep.config.training.batch_size
    return {str(f): resolve({**largest, "model": f}, batch) for f in families or ["multihot_dense"]}


def check_fits(sweep: Sweep, memory: int | None = None) -> None:
    """Raise `UserError` when the sweep's largest trial needs more than the machine's memory,
    naming the setting to lower (`search_space.hyperparameters.maxlen.max`, say)."""
    memory = total_memory() if memory is None else memory
    if memory <= 0:
        return
    from textsweep.models import get

    cfg = sweep.config
    words, batch = cfg.dataset.num_words, cfg.training.batch_size
    for family, values in largest_values(sweep).items():
        build = False
        need = estimate(values, words, 2, batch, build=False)
        if need.bytes <= memory and get(family).size is None:
            from textsweep.runtime import configure_tensorflow

            # before the model is built to be measured: TensorFlow's pools are fixed then
            configure_tensorflow(cfg.training.intra_op_threads, cfg.training.inter_op_threads)
            try:
                need, build = estimate(values, words, 2, batch), True
            except Exception:  # noqa: BLE001  (the family's build fails: its trials will say why)
                continue
        if need.bytes <= memory:
            continue
        name = _blame(values, words, batch, build)
        key = _key(sweep, name)
        raise UserError(
            f"the largest {family} trial ({name}={values.get(name, '?')}) needs about "
            f"{_gb(need.bytes)} ({need.params:,} parameters and their training state, plus "
            f"activations per batch), more than this machine's {_gb(memory)} of memory; lower "
            f"{key}",
            source=str(sweep.path) if sweep.path else "<sweep>",
            key=key,
        )


def _blame(values: Mapping[str, Any], num_words: int, batch_size: int, build: bool) -> str:
    """The size whose reduction to 1 saves the most memory (`dataset.num_words` included):
    the known sizes first, then any other integer the family reads."""

    def need(changed: Mapping[str, Any], words: int = num_words) -> int:
        try:
            return estimate(changed, words, 2, batch_size, build).bytes
        except Exception:  # noqa: BLE001  (a family whose model cannot be built with 1 there)
            return base

    base = estimate(values, num_words, 2, batch_size, build).bytes
    savings = {"num_words": base - need(values, 2)}
    others = [n for n, v in values.items() if isinstance(v, int) and not isinstance(v, bool)]
    for name in dict.fromkeys([*SIZE_NAMES, *others]):
        if isinstance(values.get(name), int | float) and values[name] > 1:
            savings[name] = base - need({**values, name: 1})
    return max(savings, key=lambda n: savings[n])


def _key(sweep: Sweep, name: str) -> str:
    if name == "num_words":
        return "dataset.num_words"
    if name in sweep.config.fixed:
        return f"fixed.{name}"
    spec = sweep.space.hyperparameters.get(name)
    if spec is None:
        return (
            "training.batch_size"
            if name == "batch_size"
            else f"search_space.hyperparameters.{name}"
        )
    field = {"int": "max", "float": "max", "choice": "values", "fixed": "value"}.get(spec.type, "")
    return f"search_space.hyperparameters.{name}" + (f".{field}" if field else "")


def _gb(n: int) -> str:
    return f"{n / 2**30:,.1f} GB" if n >= 2**30 else f"{n / 2**20:,.0f} MB"

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

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textsweep.errors import UserError

if TYPE_CHECKING:
    from textsweep.config import Sweep

FLOAT = 4  # bytes
# per parameter: weights, their gradient, Adam's two moments, and the best epoch's copy
BYTES_PER_PARAM = 5 * FLOAT
# the sizes a trial's memory grows with, in the order they are blamed
SIZE_NAMES = ("maxlen", "embedding_dim", "lstm_units", "lstm_layers", "dense_units",
              "dense_layers", "batch_size")  # fmt: skip


@dataclass(frozen=True)
class Estimate:
    """A trial's parameter count and the memory its training needs, in bytes."""

    params: int
    bytes: int


def estimate(
    values: Mapping[str, Any], num_words: int, num_classes: int, batch_size: int
) -> Estimate:
    """Parameters and training memory of the model `values` (resolved: every name present)."""
    family = values["model"]
    batch = int(values.get("batch_size") or batch_size)
    params, activations = 0, 0  # activations: floats per example kept for the backward pass
    if family == "multihot_dense" or "embedding_dim" not in values or "maxlen" not in values:
        width = num_words  # a bag of tokens (a user family's own layers are not counted)
        activations += num_words
    else:
        maxlen, dim = int(values["maxlen"]), int(values["embedding_dim"])
        params += num_words * dim
        activations += maxlen * dim
        if family == "embedding_flatten":
            width = maxlen * dim
        elif family != "embedding_lstm":  # embedding_pool, or a user family: its embedding
            width = dim
        else:
            units, sides = int(values["lstm_units"]), 2 if values["bidirectional"] else 1
            width = dim
            for _ in range(int(values["lstm_layers"])):
                params += sides * 4 * (units * (width + units) + units)
                activations += sides * maxlen * 6 * units  # gates, cell and output per step
                width = sides * units
    for _ in range(int(values.get("dense_layers", 0))):
        units = int(values["dense_units"])
        params += width * units + units
        activations += units
        width = units
    out = 1 if num_classes == 2 else num_classes
    params += width * out + out
    total = params * BYTES_PER_PARAM + 2 * activations * batch * FLOAT  # forward and backward
    return Estimate(params=params, bytes=total)


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
    cfg = sweep.config
    for family, values in largest_values(sweep).items():
        need = estimate(values, cfg.dataset.num_words, 2, cfg.training.batch_size)
        if need.bytes <= memory:
            continue
        name = _blame(values, cfg.dataset.num_words, cfg.training.batch_size)
        key = _key(sweep, name)
        raise UserError(
            f"the largest {family} trial ({name}={values.get(name, '?')}) needs about "
            f"{_gb(need.bytes)} ({need.params:,} parameters and their training state, plus "
            f"activations per batch), more than this machine's {_gb(memory)} of memory; lower "
            f"{key}",
            source=str(sweep.path) if sweep.path else "<sweep>",
            key=key,
        )


def _blame(values: Mapping[str, Any], num_words: int, batch_size: int) -> str:
    """The size whose reduction to 1 saves the most memory (`dataset.num_words` included)."""
    base = estimate(values, num_words, 2, batch_size).bytes
    savings = {"num_words": base - estimate(values, 2, 2, batch_size).bytes}
    for name in SIZE_NAMES:
        if isinstance(values.get(name), int | float) and values[name] > 1:
            smaller = estimate({**values, name: 1}, num_words, 2, batch_size).bytes
            savings[name] = base - smaller
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

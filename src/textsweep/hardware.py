"""What the machine offers a sweep: this process's share of the CPU cores, GPUs, the cuDNN kernel.

    thread_counts(None, None, cores=16, processes=4)   # (4, 2): intra-op, inter-op threads
    cudnn_warning(sweep.space, gpus=1)                 # a sentence, or None

Several textsweep processes on one machine (sweeps side by side, or Keras Tuner workers) divide the
cores instead of each starting one thread per core: set `TEXTSWEEP_PROCESSES` to how many share
the machine. A sweep's own `training.intra_op_threads` / `inter_op_threads` win over that share.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textsweep.errors import UserError

if TYPE_CHECKING:
    from textsweep.search_space import SearchSpace

PROCESSES_ENV = "TEXTSWEEP_PROCESSES"


def usable_cores() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota if any."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    try:  # cgroup v2: "max 100000" or "<quota> <period>"
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return cores


def processes_sharing() -> int:
    """How many textsweep processes share this machine's cores: `$TEXTSWEEP_PROCESSES`, default 1."""
    raw = os.environ.get(PROCESSES_ENV, "").strip()
    if not raw:
        return 1
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise UserError(
            f"expected a whole number >= 1 (how many textsweep processes share this machine); "
            f"got {raw!r}. Unset it for one process.",
            source=f"${PROCESSES_ENV}",
        )
    return value


def thread_counts(
    intra_op: int | None,
    inter_op: int | None,
    cores: int | None = None,
    processes: int | None = None,
) -> tuple[int, int]:
    """TensorFlow's (intra-op, inter-op) thread pool sizes for this process.

    Unset, intra-op gets this process's share of the cores (`cores // processes`, at least 1) and
    inter-op at most 2: the models here are chains of layers with little to run side by side, and
    one pool per core per process oversubscribes a machine that runs several sweeps. An explicit
    value wins; 0 hands the choice back to TensorFlow (one thread per core).

    Args:
        intra_op: `training.intra_op_threads`, or None for the default.
        inter_op: `training.inter_op_threads`, or None for the default.
        cores: usable cores; `usable_cores()` when None.
        processes: processes sharing them; `$TEXTSWEEP_PROCESSES` (default 1) when None.

    Example:
        >>> thread_counts(None, None, cores=2, processes=1)
        (2, 2)
        >>> thread_counts(None, None, cores=16, processes=3)
        (5, 2)
    """
    cores = cores if cores is not None else usable_cores()
    processes = processes if processes is not None else processes_sharing()
    share = max(1, cores // max(1, processes))
    return (
        intra_op if intra_op is not None else share,
        inter_op if inter_op is not None else min(2, share),
    )


def gpu_count() -> int:
    """GPUs TensorFlow sees (imports TensorFlow)."""
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def cudnn_blockers(values: Mapping[str, Any]) -> list[str]:
    """Why an `embedding_lstm` trial's LSTM layers cannot run on cuDNN; empty when they can.

    `models.build_model` keeps every other condition of the cuDNN kernel (tanh and sigmoid
    activations, biases, no unrolling, no mask on the LSTM family), so only the search space's
    `recurrent_dropout` can take a trial off it.

    Example:
        >>> cudnn_blockers({"model": "embedding_lstm", "recurrent_dropout": 0.2})
        ['recurrent_dropout=0.2']
    """
    if values.get("model") != "embedding_lstm":
        return []
    rate = float(values.get("recurrent_dropout") or 0.0)
    return [f"recurrent_dropout={rate:g}"] if rate > 0 else []


def max_recurrent_dropout(space: SearchSpace) -> float:
    """The largest `recurrent_dropout` an LSTM trial of `space` can get (0 when it cannot be an LSTM)."""
    from textsweep.models import get

    model = space.hyperparameters.get("model")
    families = (model.candidates() if model is not None else None) or []
    if "embedding_lstm" not in families:
        return 0.0
    spec = space.hyperparameters.get("recurrent_dropout")
    if spec is None:
        return float(get("embedding_lstm").defaults["recurrent_dropout"])
    values = spec.candidates()
    if values is not None:
        return max((float(v) for v in values), default=0.0)
    return float(spec.max or 0.0)


def cudnn_warning(space: SearchSpace, gpus: int) -> str | None:
    """The once-per-sweep warning when a GPU is present and LSTM trials may leave the cuDNN kernel."""
    worst = max_recurrent_dropout(space)
    if gpus < 1 or worst <= 0:
        return None
    return (
        f"a GPU is present, but recurrent_dropout can be > 0 in this search space (up to {worst:g}): "
        "LSTM layers with recurrent_dropout > 0 cannot use the cuDNN kernel and train several times "
        "slower. Fix recurrent_dropout to 0 and regularise with dropout or spatial_dropout to keep it."
    )

"""Where textsweep keeps its working state, and how TensorFlow is started.

home_dir()                      # $TEXTSWEEP_HOME, default .textsweep/
configure_tensorflow(2, 1)      # quiet logs, thread pools sized; before the first op
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path


def home_dir() -> Path:
    """Where textsweep keeps working state (caches, Keras Tuner projects): `$TEXTSWEEP_HOME`."""
    return Path(os.environ.get("TEXTSWEEP_HOME", ".textsweep"))


def configure_tensorflow(intra_op: int | None = None, inter_op: int | None = None) -> None:
    """Quiet TensorFlow's C++ and Python logs, and size its thread pools, before it starts.

    Unset thread counts give this process its share of the cores (`hardware.thread_counts`).
    """
    from textsweep.hardware import thread_counts

    intra_op, inter_op = thread_counts(intra_op, inter_op)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import absl.logging

    with stderr_silenced():  # oneDNN and absl print straight to fd 2 while TensorFlow loads
        import tensorflow as tf

        try:  # before the first op: afterwards the pools are fixed
            tf.config.threading.set_intra_op_parallelism_threads(intra_op)
            tf.config.threading.set_inter_op_parallelism_threads(inter_op)
        except RuntimeError:
            pass  # already initialised in this process (tests): the first setting stands
        tf.constant(0.0) + 1.0

    absl.logging.set_verbosity(absl.logging.ERROR)
    # Hyperband reloads weights without optimizer state on purpose; Keras warns every time
    warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
    tf.get_logger().setLevel("ERROR")


@contextlib.contextmanager
def stderr_silenced() -> Iterator[None]:
    """File descriptor 2 goes to /dev/null inside the block (C++ libraries write there directly)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)

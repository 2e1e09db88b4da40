"""Where textsweep keeps its working state, and how TensorFlow is started.

home_dir()                      # $TEXTSWEEP_HOME, default .textsweep/
configure_tensorflow(2, 1)      # quiet logs, thread pools sized; before the first op
textsweep_command()             # "textsweep", or ".venv/bin/textsweep" when PATH lacks it
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


def textsweep_command() -> str:
    """The `textsweep` command as this shell runs it, for the hints textsweep prints.

    The bare name when PATH finds this installation's script; else that script's path (relative
    to the working directory when inside it: `.venv/bin/textsweep` from a shell without the
    virtual environment activated); else `PYTHON -m textsweep`.
    """
    import shlex
    import shutil

    python = Path(os.path.abspath(sys.executable))  # not resolved: a venv's python is a link
    script = python.parent / "textsweep"
    if not script.is_file():
        return f"{shlex.quote(_short(python))} -m textsweep"
    found = shutil.which("textsweep")
    with contextlib.suppress(OSError):
        if found is not None and os.path.samefile(found, script):
            return "textsweep"
    return shlex.quote(_short(script))


def _short(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


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

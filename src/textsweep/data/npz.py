"""`.npz` files read without running code: arrays of numbers as usual, object arrays (Keras's
`imdb.npz` stores each review as a Python list) through an unpickler that builds only NumPy
arrays, lists and numbers.

    arrays = load_npz(Path("imdb.npz"), source="sweeps/npz.yaml")   # {"x_train": ..., ...}

`np.load(..., allow_pickle=True)` would call whatever a file's pickles name (`os.system`, say);
here a pickle that names anything else is refused with a `UserError` before it is called.
"""

from __future__ import annotations

import importlib
import pickle
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from textsweep.errors import UserError

# what the pickle of an object array of lists names; none of them can run code
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how protocol 2 writes bytes (a dtype's byte order) under Python 3
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(
                f"it holds a pickle that would call {module}.{name}, which could run code"
            )
        if module.startswith("numpy.core."):  # NumPy 2 moved numpy.core to numpy._core
            module = "numpy._core." + module.removeprefix("numpy.core.")
        return getattr(importlib.import_module(module), name)


def load_npz(path: Path, source: str, key: str = "dataset.path") -> dict[str, np.ndarray]:
    """Every array in the `.npz` at `path`; `UserError` (naming `key`) when it cannot be read."""
    try:
        with zipfile.ZipFile(path) as archive:
            return {
                name.removesuffix(".npy"): _read_member(archive.open(name))
                for name in archive.namelist()
                if name.endswith(".npy")
            }
    except pickle.UnpicklingError as e:
        raise UserError(
            f"refused to read {path}: {e}; a data file should hold only arrays. If the file "
            "comes from keras.datasets, download it again",
            source=source,
            key=key,
        ) from None
    except (OSError, ValueError, EOFError, TypeError, zipfile.BadZipFile, AttributeError) as e:
        raise UserError(
            f"cannot read {path} as .npz ({type(e).__name__}: {e}); give a file written by "
            "numpy.savez, such as Keras's imdb.npz",
            source=source,
            key=key,
        ) from None


def _read_member(handle: IO[bytes]) -> np.ndarray:
    with handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f".npy format version {version} is not supported")
        if not dtype.hasobject:
            count = int(np.prod(shape, dtype=np.int64))
            data = handle.read(count * dtype.itemsize)
            if len(data) != count * dtype.itemsize:
                raise ValueError("an array is cut short")
            array = np.frombuffer(data, dtype=dtype, count=count)
            return array.reshape(shape, order="F" if fortran else "C").copy()
        array = _ArraysOnly(handle, encoding="latin1").load()
        if not isinstance(array, np.ndarray):
            raise ValueError(f"an object array holds a {type(array).__name__}")
        return array

"""Word-vector files: which format a file is in, its dimension, and loading it with gensim.

Formats (the values of `embeddings.format`): `word2vec` (text, a "COUNT DIM" header line),
`word2vec_binary` (the C tool's binary), `glove` (text, no header line), `fasttext` (a `.vec` file,
which is word2vec text) and `gensim` (`KeyedVectors.save`, a Python pickle: read only with
`embeddings.allow_pickle: true`, for files you trust). `.gz` and `.bz2` files are read compressed.
"""

from __future__ import annotations

import bz2
import gzip
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from textsweep.config import EmbeddingsConfig
from textsweep.errors import UserError

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

Format = Literal["word2vec", "word2vec_binary", "glove", "fasttext", "gensim"]

_PEEK_BYTES = 256 * 1024
_BY_SUFFIX: dict[str, Format] = {
    ".bin": "word2vec_binary",
    ".kv": "gensim",
    ".model": "gensim",
    ".vec": "fasttext",
}
# What a file's first bytes can tell apart; a fastText .vec file is word2vec text.
_LOOKS_LIKE: dict[str, Format] = {
    "word2vec": "word2vec",
    "fasttext": "word2vec",
    "word2vec_binary": "word2vec_binary",
    "glove": "glove",
    "gensim": "gensim",
}
_DESCRIBE = {
    "word2vec": "word2vec text (a 'COUNT DIM' header line, then one word and its numbers per line)",
    "word2vec_binary": "word2vec binary (a 'COUNT DIM' header line, then binary floats)",
    "glove": "GloVe text (no header line; one word and its numbers per line)",
    "gensim": "a gensim file (a Python pickle written by KeyedVectors.save)",
}


def vectors_path(cfg: EmbeddingsConfig, source: str) -> Path:
    """`embeddings.path` as an existing file; relative paths are read from the current directory."""
    if cfg.path is None:
        raise UserError(
            "no vectors file is given; set embeddings.path to a word2vec, GloVe, fastText .vec "
            "or gensim file (or use embeddings.train to have vectors trained)",
            source=source,
            key="embeddings.path",
        )
    path = Path(cfg.path).expanduser()
    if not path.exists():
        raise UserError(
            f"vectors file {cfg.path} does not exist (relative paths are read from {Path.cwd()}); "
            "check the path, or train vectors with `textsweep embeddings train`",
            source=source,
            key="embeddings.path",
        )
    if not path.is_file():
        raise UserError(
            f"expected a vectors file; {cfg.path} is a directory",
            source=source,
            key="embeddings.path",
        )
    return path


def infer_format(path: Path, source: str = "<sweep>") -> Format:
    """A vectors file's format, from its extension or, for `.txt` and others, its first line.

    `.bin` -> word2vec_binary, `.kv`/`.model` -> gensim, `.vec` -> fasttext; a `.txt` file whose
    first line is two integers is word2vec text (binary if the rest is not text), otherwise GloVe.
    """
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".bz2")]
    if suffixes and suffixes[-1] in _BY_SUFFIX:
        return _BY_SUFFIX[suffixes[-1]]
    found = _sniff(_peek(path, source))
    if found is None:
        raise UserError(
            f"cannot tell the format of {path}: it starts with {_first_line(_peek(path, source))}, "
            "which is neither a word2vec 'COUNT DIM' header nor a GloVe 'word 0.1 0.2 ...' line; "
            "set embeddings.format (word2vec, word2vec_binary, glove, fasttext or gensim)",
            source=source,
            key="embeddings.format",
        )
    return found


def vectors_dim(cfg: EmbeddingsConfig, source: str = "<sweep>") -> int:
    """The vectors' dimension from the file's first line only (a gensim file is memory-mapped).

    Cheap enough for `textsweep validate`; raises `UserError` for a missing file or a wrong format.
    """
    path = vectors_path(cfg, source)
    fmt = _checked_format(cfg, path, source)
    if fmt == "gensim":
        return int(_load_gensim(path, source, mmap=True).vector_size)
    fields = _peek(path, source).split(b"\n", 1)[0].decode("utf-8").split()
    return int(fields[1]) if fmt != "glove" else len(fields) - 1


def load_vectors(cfg: EmbeddingsConfig, source: str = "<sweep>") -> KeyedVectors:
    """Read `embeddings.path` into gensim `KeyedVectors`, in `embeddings.format` or the inferred.

    Args:
        cfg: the sweep's `embeddings:` section (its `path` is used).
        source: the sweep file, named in error messages.

    A missing, unreadable or corrupt file, or one whose content does not fit the format, raises
    `UserError` naming `embeddings.path` or `embeddings.format` and how to fix it.

        kv = load_vectors(EmbeddingsConfig(path="vectors/glove.6B.100d.txt"))
        kv.vector_size, kv["movie"]
    """
    from gensim.models import KeyedVectors

    path = vectors_path(cfg, source)
    fmt = _checked_format(cfg, path, source)
    if fmt == "gensim":
        kv = _load_gensim(path, source, mmap=False)
    else:
        try:
            kv = KeyedVectors.load_word2vec_format(
                str(path), binary=fmt == "word2vec_binary", no_header=fmt == "glove"
            )
        except Exception as e:  # gensim signals bad content with many exception types
            raise UserError(
                f"cannot read {path} as {_DESCRIBE[_LOOKS_LIKE[fmt]]}: {type(e).__name__}: {e}; "
                "check that the file is complete and that embeddings.format is right",
                source=source,
                key="embeddings.path",
            ) from None
    if len(kv) == 0 or kv.vector_size < 1:
        raise UserError(
            f"{path} holds no vectors; give a non-empty file", source=source, key="embeddings.path"
        )
    return kv


def _checked_format(cfg: EmbeddingsConfig, path: Path, source: str) -> Format:
    """The format to read `path` in, after checking the file's first bytes agree with it."""
    fmt: Format = cfg.format or infer_format(path, source)
    key = "embeddings.format" if cfg.format else "embeddings.path"
    how = "set" if cfg.format is None else "change"
    head = _peek(path, source)
    found = _sniff(head)
    if found != _LOOKS_LIKE[fmt]:
        what = _DESCRIBE[found] if found else _first_line(head)
        fix = f"{how} embeddings.format: {found}" if found else "check embeddings.path"
        if found is None and fmt == "word2vec_binary":
            fix += " (a fastText .bin model is not supported; use its .vec file)"
        raise UserError(
            f"{path} is not {_DESCRIBE[_LOOKS_LIKE[fmt]]}; found {what}; {fix}",
            source=source,
            key=key,
        )
    if fmt == "gensim" and not cfg.allow_pickle:
        raise UserError(
            f"{path} is a gensim file, a Python pickle, and loading a pickle runs whatever code "
            "it names. If you trust the file, set embeddings.allow_pickle: true; better, "
            "convert it once with KeyedVectors.load(...).save_word2vec_format('vectors.txt') and "
            "use that",
            source=source,
            key="embeddings.allow_pickle",
        )
    return fmt


def _load_gensim(path: Path, source: str, mmap: bool) -> KeyedVectors:
    from gensim.utils import SaveLoad

    compressed = path.suffix.lower() in (".gz", ".bz2")
    try:
        obj = SaveLoad.load(str(path), mmap="r" if mmap and not compressed else None)
    except Exception as e:  # unpickling a damaged file fails in many ways
        raise UserError(
            f"cannot read {path} as a gensim KeyedVectors file: {type(e).__name__}: {e}; "
            "check that the file (and any .npy files saved beside it) is complete",
            source=source,
            key="embeddings.path",
        ) from None
    kv = getattr(obj, "wv", obj)  # a whole Word2Vec/FastText model holds its vectors in .wv
    if not hasattr(kv, "index_to_key") or not hasattr(kv, "vector_size"):
        raise UserError(
            f"{path} holds a {type(obj).__name__}, not word vectors; save them with "
            "KeyedVectors.save (or model.wv.save)",
            source=source,
            key="embeddings.path",
        )
    return kv


def _peek(path: Path, source: str) -> bytes:
    suffix = path.suffix.lower()
    try:
        if suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read(_PEEK_BYTES)
        if suffix == ".bz2":
            with bz2.open(path, "rb") as f:
                return f.read(_PEEK_BYTES)
        with open(path, "rb") as f:
            return f.read(_PEEK_BYTES)
    except (OSError, EOFError, ValueError) as e:
        raise UserError(f"cannot read {path}: {e}", source=source, key="embeddings.path") from None


def _first_line(head: bytes) -> str:
    """The first line of a file, for error messages: quoted if it is text."""
    try:
        line = head.split(b"\n", 1)[0].decode("utf-8").strip()
    except UnicodeDecodeError:
        return "binary data"
    if not line.isprintable():
        return "binary data"
    return f"a first line {line[:60]!r}" if line else "an empty first line"


def _sniff(head: bytes) -> Format | None:
    """The format a file's first bytes show (fastText .vec reads as word2vec); None if none fits."""
    if head.startswith(b"\x80"):  # every pickle of protocol 2 or later starts with this byte
        return "gensim"
    first, _, rest = head.partition(b"\n")
    try:
        fields = first.decode("utf-8").split()
    except UnicodeDecodeError:
        return None
    if len(fields) == 2 and all(f.isdigit() for f in fields):
        return "word2vec" if _is_text_body(rest, int(fields[1])) else "word2vec_binary"
    if len(fields) >= 2 and _all_numbers(fields[1:]):
        return "glove"
    return None


def _is_text_body(rest: bytes, dim: int) -> bool:
    """Whether what follows a word2vec header is text lines of a word and `dim` numbers."""
    if not rest:
        return True
    line = rest.split(b"\n", 1)[0]
    try:
        fields = line.decode("utf-8").split()
    except UnicodeDecodeError:
        return False
    return len(fields) == dim + 1 and _all_numbers(fields[1:])


def _all_numbers(fields: list[str]) -> bool:
    try:
        for f in fields:
            float(f)
    except ValueError:
        return False
    return True

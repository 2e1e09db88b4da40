"""Pretrained vectors: each file format, the embedding matrix, coverage, word2vec training."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from textsweep.config import EmbeddingsConfig, EmbeddingsTrainConfig, Sweep, sweep_from_mapping
from textsweep.embeddings import (
    build_embedding_matrix,
    cached_vectors_path,
    check_embedding_dim,
    infer_format,
    load_vectors,
    sidecar_path,
    train_for_sweep,
    train_options,
    train_word2vec,
    vectors_dim,
    vectors_for_sweep,
)
from textsweep.errors import UserError
from textsweep.vocabulary import encode

WORDS = ["good", "film", "Paris", "bad"]
VECTORS = np.array(
    [[0.1, 0.2, 0.3], [-1.0, 0.5, 2.0], [3.0, -2.0, 1.0], [0.0, 0.25, -0.75]], dtype=np.float32
)


def keyed_vectors() -> Any:
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=VECTORS.shape[1])
    kv.add_vectors(WORDS, VECTORS)
    return kv


def write_glove(path: Path) -> Path:
    lines = [
        " ".join([w, *(repr(float(x)) for x in v)]) for w, v in zip(WORDS, VECTORS, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_vectors(tmp_path: Path, fmt: str) -> Path:
    """A tiny vectors file in `fmt`, written by gensim itself (GloVe by hand: gensim cannot)."""
    kv = keyed_vectors()
    if fmt == "word2vec":
        path = tmp_path / "w2v.txt"
        kv.save_word2vec_format(str(path), binary=False)
    elif fmt == "word2vec_binary":
        path = tmp_path / "w2v.bin"
        kv.save_word2vec_format(str(path), binary=True)
    elif fmt == "fasttext":
        path = tmp_path / "ft.vec"
        kv.save_word2vec_format(str(path), binary=False)
    elif fmt == "gensim":
        path = tmp_path / "vectors.kv"
        kv.save(str(path))
    else:
        path = write_glove(tmp_path / "glove.txt")
    return path


FORMATS = ["word2vec", "word2vec_binary", "glove", "fasttext", "gensim"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_round_trips(tmp_path: Path, fmt: str) -> None:
    path = write_vectors(tmp_path, fmt)
    kv = load_vectors(EmbeddingsConfig(path=str(path), format=fmt, allow_pickle=fmt == "gensim"))  # type: ignore[arg-type]
    np.testing.assert_allclose(np.stack([kv[w] for w in WORDS]), VECTORS, rtol=1e-6)


@pytest.mark.parametrize("fmt", FORMATS)
def test_format_and_dim_are_inferred_from_the_file(tmp_path: Path, fmt: str) -> None:
    path = write_vectors(tmp_path, fmt)
    cfg = EmbeddingsConfig(path=str(path), allow_pickle=fmt == "gensim")
    assert (infer_format(path), vectors_dim(cfg)) == (fmt, 3)


def test_txt_files_are_told_apart_by_their_first_line(tmp_path: Path) -> None:
    w2v = write_vectors(tmp_path, "word2vec")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(write_vectors(tmp_path, "word2vec_binary").read_bytes())
    glove = write_glove(tmp_path / "g.txt")
    assert [infer_format(p) for p in (w2v, binary, glove)] == [
        "word2vec",
        "word2vec_binary",
        "glove",
    ]


def test_gensim_model_files_load_their_vectors(tmp_path: Path) -> None:
    from gensim.models import Word2Vec

    model = Word2Vec([["a", "b", "c"]] * 5, vector_size=4, min_count=1, epochs=1, workers=1)
    model.save(str(tmp_path / "w2v.model"))
    kv = load_vectors(EmbeddingsConfig(path=str(tmp_path / "w2v.model"), allow_pickle=True))
    np.testing.assert_array_equal(kv["b"], model.wv["b"])


def test_a_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(
        UserError, match=r"sweep.yaml: embeddings.path: vectors file .*nope.txt does not"
    ):
        load_vectors(EmbeddingsConfig(path=str(tmp_path / "nope.txt")), "sweep.yaml")


def test_a_format_that_does_not_match_the_content_is_a_user_error(tmp_path: Path) -> None:
    glove = write_glove(tmp_path / "g.txt")
    with pytest.raises(
        UserError,
        match=r"embeddings.format: .* is not word2vec text .* found GloVe text .*"
        r"change embeddings.format: glove",
    ):
        load_vectors(EmbeddingsConfig(path=str(glove), format="word2vec"))


def test_a_text_file_named_bin_says_which_format_to_set(tmp_path: Path) -> None:
    text_bin = tmp_path / "text.bin"
    text_bin.write_bytes(write_vectors(tmp_path, "word2vec").read_bytes())
    with pytest.raises(
        UserError, match=r"embeddings.path: .*found word2vec text .*set embeddings.format: word2vec"
    ):
        load_vectors(EmbeddingsConfig(path=str(text_bin)))


def test_a_truncated_file_is_a_user_error(tmp_path: Path) -> None:
    path = write_vectors(tmp_path, "word2vec")
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:3]))  # header says 4 words
    with pytest.raises(UserError, match=r"embeddings.path: cannot read .*w2v.txt as word2vec text"):
        load_vectors(EmbeddingsConfig(path=str(path)))


def test_a_corrupt_gensim_file_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.kv"
    path.write_bytes(write_vectors(tmp_path, "gensim").read_bytes()[:40])
    with pytest.raises(UserError, match=r"cannot read .*broken.kv as a gensim KeyedVectors file"):
        load_vectors(EmbeddingsConfig(path=str(path), allow_pickle=True))


def test_a_gensim_file_is_not_unpickled_without_allow_pickle(tmp_path: Path) -> None:
    # a pickle whose loading would create a file: nothing is loaded without the opt-in
    path = tmp_path / "evil.kv"
    path.write_bytes(pickle.dumps(_Evil(tmp_path / "pwned")))
    with pytest.raises(
        UserError,
        match=r"embeddings.allow_pickle: .*evil.kv is a gensim file, a Python pickle.*"
        r"set embeddings.allow_pickle: true",
    ):
        load_vectors(EmbeddingsConfig(path=str(path)))
    assert not (tmp_path / "pwned").exists()


class _Evil:
    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.target), "w"))


def test_a_text_file_named_kv_is_not_taken_for_a_pickle(tmp_path: Path) -> None:
    path = write_glove(tmp_path / "glove.kv")
    with pytest.raises(UserError, match=r"is not a gensim file .*set embeddings.format"):
        load_vectors(EmbeddingsConfig(path=str(path)))


VOCAB = ("", "[UNK]", "good", "film", "zzz", "paris", "bad")
COUNTS = np.array([0, 5, 10, 4, 1, 5, 3])  # index 1: every out-of-vocabulary token


def test_matrix_rows_are_the_vectors_and_missing_rows_follow_the_stated_init() -> None:
    m = build_embedding_matrix(keyed_vectors(), VOCAB, COUNTS, missing="random", seed=7)
    np.testing.assert_array_equal(
        m.matrix[[2, 3, 5, 6]], VECTORS[[0, 1, 2, 3]]
    )  # "paris" finds "Paris"
    expected_missing = np.random.default_rng(7).normal(0, np.std(VECTORS), size=(2, 3))
    np.testing.assert_allclose(m.matrix[[1, 4]], expected_missing, rtol=1e-6)  # OOV and "zzz"
    assert m.matrix.dtype == np.float32 and not m.matrix[0].any()
    assert "seed 7" in m.missing_init


def test_missing_rows_can_be_zeros() -> None:
    m = build_embedding_matrix(keyed_vectors(), VOCAB, COUNTS, missing="zeros", seed=7)
    assert not m.matrix[[0, 1, 4]].any() and m.missing_init == "zeros"


def test_coverage_counts_vocabulary_words_and_running_tokens() -> None:
    m = build_embedding_matrix(keyed_vectors(), VOCAB, COUNTS, missing="random", seed=1)
    # 4 of the 5 real words have a vector; their tokens are 10+4+5+3 of 5+10+4+1+5+3,
    # where the 5 OOV tokens count as missing
    assert (m.vocab_coverage, m.token_coverage) == (pytest.approx(4 / 5), pytest.approx(22 / 28))


def sweep(tmp_path: Path, **overrides: Any) -> Sweep:
    raw: dict[str, Any] = {
        "name": "emb",
        "dataset": {"format": "imdb", "path": str(tmp_path / "data"), "validation_split": 2},
        "search_space": {
            "hyperparameters": {
                "model": {"type": "fixed", "value": "embedding_pool"},
                "embedding_init": {"type": "choice", "values": ["random", "pretrained"]},
            }
        },
        "embeddings": {"train": {"dim": 8, "min_count": 1, "epochs": 2}},
    }
    raw.update(overrides)
    return sweep_from_mapping(raw, tmp_path / "sweep.yaml")


def with_embedding_dim(tmp_path: Path, spec: dict[str, Any], vectors: Path) -> Sweep:
    s = sweep(tmp_path, embeddings={"path": str(vectors)})
    hps = {k: v.model_dump(exclude_none=True) for k, v in s.space.hyperparameters.items()}
    return sweep(
        tmp_path,
        embeddings={"path": str(vectors)},
        search_space={"hyperparameters": {**hps, "embedding_dim": spec}},
    )


def test_a_search_space_whose_embedding_dim_cannot_match_the_vectors_is_an_error(
    tmp_path: Path,
) -> None:
    s = with_embedding_dim(
        tmp_path, {"type": "choice", "values": [32, 64]}, write_glove(tmp_path / "g.txt")
    )
    with pytest.raises(
        UserError,
        match=r"sweep.yaml: search_space.embedding_dim: .*dimension 3 .*can only be \[32, 64\]",
    ):
        check_embedding_dim(s)


def test_a_fixed_embedding_dim_that_disagrees_names_the_fixed_key(tmp_path: Path) -> None:
    s = sweep(
        tmp_path,
        embeddings={"path": str(write_glove(tmp_path / "g.txt"))},
        fixed={"embedding_dim": 32},
    )
    with pytest.raises(UserError, match=r"fixed.embedding_dim: .*set fixed.embedding_dim to 3"):
        check_embedding_dim(s)


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "int", "min": 2, "max": 8},
        {"type": "choice", "values": [32, 64], "when": {"embedding_init": "random"}},
    ],
)
def test_an_embedding_dim_that_can_match_the_vectors_passes(
    tmp_path: Path, spec: dict[str, Any]
) -> None:
    assert (
        check_embedding_dim(with_embedding_dim(tmp_path, spec, write_glove(tmp_path / "g.txt")))
        == 3
    )


def test_trained_vectors_fix_embedding_dim_from_their_options(tmp_path: Path) -> None:
    assert check_embedding_dim(sweep(tmp_path)) == 8


def test_command_line_options_override_the_sweep_and_are_checked(tmp_path: Path) -> None:
    assert train_options(sweep(tmp_path), dim=16, window=None).model_dump() == {
        "dim": 16, "window": 5, "min_count": 1, "epochs": 2,
    }  # fmt: skip
    with pytest.raises(UserError, match=r"embeddings.train.dim: .*greater than or equal to 1"):
        train_options(sweep(tmp_path), dim=0)


def fake_imdb(root: Path) -> None:
    """aclImdb with 6 reviews per class and split, test-only and unlabeled-only words."""
    for split in ("train", "test"):
        for label, word in (("pos", "great wonderful"), ("neg", "awful boring")):
            folder = root / "aclImdb" / split / label
            folder.mkdir(parents=True)
            for i in range(6):
                extra = " testonlyword" if split == "test" else ""
                (folder / f"{i}_{7 if label == 'pos' else 2}.txt").write_text(
                    f"This film was {word}.<br />A {word} movie{extra}, truly {i}."
                )
    unsup = root / "aclImdb" / "train" / "unsup"
    unsup.mkdir()
    for i in range(4):
        (unsup / f"{i}_0.txt").write_text("An unsupword film, an unsupword movie.")


def test_word2vec_trains_on_train_and_unlabeled_text_never_test(tmp_path: Path) -> None:
    fake_imdb(tmp_path / "data")
    messages: list[str] = []
    out = train_for_sweep(sweep(tmp_path), tmp_path / "vectors" / "w2v.txt", messages.append)
    kv = load_vectors(EmbeddingsConfig(path=str(out)))
    assert "unsupword" in kv and "wonderful" in kv and "testonlyword" not in kv
    record = json.loads(sidecar_path(out).read_text())
    assert (
        record["corpus"]["texts"] == 12 + 4
        and record["options"]["dim"] == 8
        and record["seed"] == 1
    )
    assert "never the test split" in record["texts"] and "gensim_version" in record
    assert "embeddings: epoch 2/2" in " ".join(messages)


def test_a_corpus_with_no_frequent_word_is_a_user_error(tmp_path: Path) -> None:
    options = EmbeddingsTrainConfig(dim=4, window=2, min_count=5, epochs=1)
    with pytest.raises(
        UserError, match=r"embeddings.train.min_count: no word occurs at least min_count=5"
    ):
        train_word2vec(["one two three"], options, tmp_path / "v.txt")


def test_vectors_for_a_sweep_are_trained_once_and_then_read_from_the_cache(tmp_path: Path) -> None:
    fake_imdb(tmp_path / "data")
    s = sweep(tmp_path)
    cache = tmp_path / "cache"
    encoded = encode(s.config.dataset, cache)
    first: list[str] = []
    m = vectors_for_sweep(s, encoded, cache, first.append)
    again: list[str] = []
    vectors_for_sweep(s, encoded, cache, again.append)
    assert m.matrix.shape == (len(encoded.vocabulary or ()), 8) and m.vocab_coverage == 1.0
    assert m.source == str(cached_vectors_path(s, cache))
    assert cached_vectors_path(s, cache).with_suffix(".kv").is_file()
    assert any("epoch" in msg for msg in first) and not any("epoch" in msg for msg in again)


def test_importing_the_module_does_not_import_gensim() -> None:
    code = (
        "import sys, textsweep.embeddings; "
        "print(any(m.startswith(('gensim', 'tensorflow')) for m in sys.modules))"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip()
        == "False"
    )


def test_the_command_trains_vectors_with_options_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from textsweep.cli import main

    fake_imdb(tmp_path / "data")
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(
        f"name: emb\ndataset: {{format: imdb, path: {tmp_path / 'data'}}}\n"
        "search_space: {hyperparameters: {model: {type: fixed, value: embedding_pool}}}\n"
    )
    out = tmp_path / "w2v.txt"
    args = [
        "embeddings",
        "train",
        str(sweep_file),
        "--out",
        str(out),
        "--dim",
        "5",
        "--min-count",
        "1",
    ]
    assert main([*args, "--epochs", "1"]) == 0
    assert (
        vectors_dim(EmbeddingsConfig(path=str(out))) == 5 and "epoch 1/1" in capsys.readouterr().out
    )
    assert main([*args, "--set", "dataset.path=nowhere"]) == 2

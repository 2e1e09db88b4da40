"""`textsweep data describe`: the figures as data, the text that shows them, and spec resolution."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from textsweep.config import DatasetConfig
from textsweep.data.describe import (
    Description,
    dataset_from_spec,
    describe,
    format_description,
    token_coverage,
)
from textsweep.errors import UserError
from textsweep.vocabulary import encode


def write_table(path: Path, a: int = 12, b: int = 8) -> Path:
    """Class `a`: texts of 1..a tokens "x"; class `b`: texts "y y z"."""
    rows = ["text,label"] + [f"{' '.join(['x'] * i)},a" for i in range(1, a + 1)]
    rows += ["y y z,b"] * b
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def described(tmp_path: Path) -> Description:
    cfg = DatasetConfig(
        format="table", path=str(write_table(tmp_path / "train.csv")),
        test_path=str(write_table(tmp_path / "test.csv", a=3, b=2)), validation_split=0.2,
        num_words=4,
    )  # fmt: skip
    return describe(cfg, "sweep.yaml")


def test_sizes_and_classes_per_split_include_validation(described: Description) -> None:
    assert [(s.name, s.size) for s in described.splits] == [
        ("train", 16), ("validation", 4), ("test", 5),
    ]  # fmt: skip
    assert described.class_names == ("a", "b")
    assert described.split("validation").class_counts == (2, 2)
    assert described.split("test").class_shares == (0.6, 0.4)


def test_length_percentiles_are_observed_token_counts(described: Description) -> None:
    lengths = described.length_percentiles("train")
    assert list(lengths) == [50, 75, 90, 95, 99, 100]
    assert lengths[100] == max(lengths.values()) <= 20
    assert lengths[50] <= lengths[90]


def test_vocabulary_and_coverage_come_from_the_training_text(described: Description, tmp_path: Path) -> None:
    # the same text a sweep builds its vocabulary from: the training split less validation
    cfg = DatasetConfig(
        format="table", path=str(tmp_path / "train.csv"), test_path=str(tmp_path / "test.csv"),
        validation_split=0.2, num_words=4,
    )  # fmt: skip
    encoded = encode(cfg, tmp_path / "cache")
    assert encoded.token_counts is not None
    assert described.training_tokens == int(encoded.token_counts.sum())
    coverage = dict(described.coverage)
    assert sorted(coverage) == [4, 1000, 5000, 10000, 20000, 50000]
    # num_words 4 keeps two words, since padding and out-of-vocabulary take two ids
    in_vocabulary = int(encoded.token_counts[2:].sum())
    assert coverage[4] == pytest.approx(in_vocabulary / described.training_tokens)
    assert coverage[1000] == 1.0 and described.vocabulary_size == 3


def test_token_coverage_reserves_padding_and_oov_ids() -> None:
    assert token_coverage([5, 3, 2], [3, 4, 10]) == ((3, 0.5), (4, 0.8), (10, 1.0))


def test_format_description_shows_classes_percentiles_and_coverage(described: Description) -> None:
    text = format_description(described)
    assert "validation" in text and "p90" in text and "max" in text
    assert "4*" in text  # dataset.num_words is marked among the coverage columns
    assert any(line.startswith("b ") and "40.0%" in line for line in text.splitlines())


def test_pre_tokenized_data_reports_lengths_without_vocabulary(tmp_path: Path) -> None:
    seqs = np.empty(8, dtype=object)
    for i in range(8):
        seqs[i] = list(range(1, 3 + i))
    labels = np.array([0, 1] * 4)
    np.savez(tmp_path / "imdb.npz", x_train=seqs, y_train=labels, x_test=seqs, y_test=labels)
    cfg = DatasetConfig(format="keras_npz", path=str(tmp_path / "imdb.npz"), validation_split=2)
    d = describe(cfg)
    assert d.vocabulary_size is None and d.coverage == ()
    assert d.length_percentiles("test")[100] == 9
    assert "pre-tokenized" in format_description(d)


def test_spec_infers_the_format_from_a_path(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "t.tsv").write_text("text\tlabel\n")
    assert dataset_from_spec(str(tmp_path / "d"))[0].format == "folder"
    cfg, source = dataset_from_spec(
        str(tmp_path / "t.tsv"), ["label_column=topic", "dataset.limit=5"]
    )
    assert (cfg.format, cfg.label_column, cfg.limit, source) == (
        "table",
        "topic",
        5,
        str(tmp_path / "t.tsv"),
    )
    assert dataset_from_spec("imdb")[0].format == "imdb"


def test_spec_from_a_sweep_file_reads_its_dataset_section(tmp_path: Path) -> None:
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        "name: s\ndataset: {format: table, path: t.csv, num_words: 500}\nsearch_space: x\n"
    )
    cfg, source = dataset_from_spec(str(sweep), ["num_words=700"])
    assert (cfg.path, cfg.num_words, source) == ("t.csv", 700, str(sweep))


def test_spec_errors_name_the_input(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"nothere\.csv does not exist"):
        dataset_from_spec(str(tmp_path / "nothere.csv"))
    sweep = tmp_path / "s.yaml"
    sweep.write_text("name: s\ndataset: {format: table, num_wordz: 5}\n")
    with pytest.raises(UserError, match=r"s\.yaml: dataset\.num_wordz: unknown key"):
        dataset_from_spec(str(sweep))


@pytest.mark.slow
def test_describe_real_imdb_with_a_limit() -> None:
    data_dir = os.environ.get("TEXTSWEEP_DATA_DIR")
    if not data_dir or not (Path(data_dir) / "aclImdb_v1.tar.gz").is_file():
        pytest.skip("set TEXTSWEEP_DATA_DIR to a folder holding aclImdb_v1.tar.gz")
    d = describe(DatasetConfig(format="imdb", limit=400, seed=1))
    assert d.class_names == ("neg", "pos")
    assert d.split("test").class_counts == (200, 200)
    assert 100 < d.length_percentiles("train")[50] < 300
    assert 0.85 < dict(d.coverage)[10000] < 1.0


def test_cli_data_describe_prints_the_description(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from textsweep.cli import main

    path = write_table(tmp_path / "t.csv")
    assert main(["data", "describe", str(path), "--num-words", "4", "--set", "seed=2"]) == 0
    assert "token coverage" in capsys.readouterr().out


def test_cli_data_describe_bad_data_exits_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from textsweep.cli import main

    path = write_table(tmp_path / "t.csv")
    assert main(["data", "describe", str(path), "--label-column", "topic"]) == 2
    assert f"{path}: dataset.label_column: no column named 'topic'" in capsys.readouterr().err

"""Folder and table datasets on tiny files written here: every format, labels, splits and errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from textsweep.config import DatasetConfig
from textsweep.data import TextDataset, load_dataset
from textsweep.errors import UserError

ROWS = [
    (f"review number {i} is {'good' if i % 2 else 'bad'}", "pos" if i % 2 else "neg")
    for i in range(10)
]


def table(path: Path, **settings: Any) -> TextDataset:
    return load_dataset(DatasetConfig(format="table", path=str(path), **settings), "sweep.yaml")


def folder(path: Path, **settings: Any) -> TextDataset:
    return load_dataset(DatasetConfig(format="folder", path=str(path), **settings), "sweep.yaml")


def write_classes(root: Path, per_class: dict[str, list[bytes | str]]) -> Path:
    for label, texts in per_class.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for i, text in enumerate(texts):
            data = text if isinstance(text, bytes) else text.encode("utf-8")
            (root / label / f"{i}.txt").write_bytes(data)
    return root


def all_texts(d: TextDataset) -> list[str]:
    assert d.train.texts is not None and d.test.texts is not None
    return list(d.train.texts) + list(d.test.texts)


def label_of(d: TextDataset, text: str) -> str:
    assert d.train.texts is not None and d.test.texts is not None
    for split in (d.train, d.test):
        assert split.texts is not None
        if text in split.texts:
            return d.class_names[int(split.labels[list(split.texts).index(text)])]
    raise AssertionError(f"{text!r} not found")


# --- tables ---------------------------------------------------------------------------------------


def test_csv_with_header_reads_quoted_commas_and_holds_out_a_test_split(tmp_path: Path) -> None:
    lines = ["text,label"] + [f"{t},{label}" for t, label in ROWS] + ['"great, really",pos']
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    d = table(tmp_path / "r.csv", test_fraction=0.25)
    assert d.class_names == ("neg", "pos")
    assert len(d.train) + len(d.test) == 11 and d.test_is_holdout
    assert label_of(d, "great, really") == "pos"


def test_tsv_with_unbalanced_quotes_is_read_line_by_line_when_quoting_is_false(
    tmp_path: Path,
) -> None:
    lines = ["text\tlabel", '"so bad\tneg', 'he said "hi" twice\tpos'] + [
        f"{t}\t{label}" for t, label in ROWS
    ]
    (tmp_path / "r.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    d = table(tmp_path / "r.tsv", quoting=False)
    assert len(all_texts(d)) == 12
    assert label_of(d, '"so bad') == "neg" and label_of(d, 'he said "hi" twice') == "pos"


def test_tsv_with_unbalanced_quote_and_quoting_on_reports_the_merge(tmp_path: Path) -> None:
    lines = ["text\tlabel", '"so bad\tneg'] + [f"{t}\t{label}" for t, label in ROWS]
    (tmp_path / "r.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match="quoting: false") as info:
        table(tmp_path / "r.tsv")
    assert info.value.source == str(tmp_path / "r.tsv")


def test_rows_merged_by_an_unbalanced_quote_are_pointed_out(tmp_path: Path) -> None:
    lines = ["text\tlabel", '"so bad\tneg'] + [f"{t}\t{label}" for t, label in ROWS] + ['"ok"\tpos']
    (tmp_path / "r.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(
        UserError, match=r"only one class(.|\n)*merged rows; if so set dataset\.quoting"
    ):
        table(tmp_path / "r.tsv")


def test_jsonl_with_integer_labels_sorts_classes_numerically(tmp_path: Path) -> None:
    rows = [{"body": f"text {i}", "y": [2, 10, 1][i % 3]} for i in range(12)]
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    d = table(tmp_path / "r.jsonl", text_column="body", label_column="y")
    assert d.class_names == ("1", "2", "10")
    assert label_of(d, "text 1") == "10"


def test_parquet_with_string_and_integer_columns(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = [t for t, _ in ROWS]
    labels = [1 if label == "pos" else 0 for _, label in ROWS]
    pq.write_table(
        pa.table({"id": list(range(10)), "review": texts, "stars": labels}), tmp_path / "r.parquet"
    )
    d = table(tmp_path / "r.parquet", text_column="review", label_column="stars")
    assert d.class_names == ("0", "1") and len(all_texts(d)) == 10
    assert label_of(d, ROWS[1][0]) == "1"


def test_parquet_with_bytes_that_are_not_utf8_counts_them(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = [t.encode() for t, _ in ROWS]
    texts[0] = b"caf\xe9 " + texts[0]
    labels = [label for _, label in ROWS]
    pq.write_table(
        pa.table({"text": pa.array(texts, pa.binary()), "label": labels}), tmp_path / "r.pq"
    )
    d = table(tmp_path / "r.pq")
    assert "caf\ufffd " + ROWS[0][0] in all_texts(d)
    assert any("1 text(s) had bytes that are not UTF-8" in w for w in d.warnings)


def test_headerless_file_takes_columns_by_position(tmp_path: Path) -> None:
    lines = [f"{label},{t}" for t, label in ROWS]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    d = table(tmp_path / "r.csv", header=False, text_column=1, label_column=0)
    assert len(all_texts(d)) == 10 and label_of(d, ROWS[0][0]) == "neg"


def test_txt_file_uses_the_given_delimiter(tmp_path: Path) -> None:
    lines = ["label;text"] + [f"{label};{t}" for t, label in ROWS]
    (tmp_path / "r.txt").write_text("\n".join(lines) + "\n")
    d = table(tmp_path / "r.txt", delimiter=";")
    assert len(all_texts(d)) == 10


def test_txt_file_without_a_delimiter_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_text("text;label\n")
    with pytest.raises(UserError, match=r"dataset\.delimiter: cannot tell the format of a \.txt"):
        table(tmp_path / "r.txt")


def test_tsv_extension_infers_a_tab_delimiter(tmp_path: Path) -> None:
    lines = ["text\tlabel"] + [f"{t}, with a comma\t{label}" for t, label in ROWS]
    (tmp_path / "r.tab").write_text("\n".join(lines) + "\n")
    d = table(tmp_path / "r.tab")
    assert f"{ROWS[0][0]}, with a comma" in all_texts(d)


def test_bytes_that_are_not_utf8_become_replacement_characters_and_a_warning(
    tmp_path: Path,
) -> None:
    body = b"text,label\n" + b"".join(f"{t},{label}\n".encode() for t, label in ROWS)
    (tmp_path / "r.csv").write_bytes(body + b"na\xefve \xff,pos\n")
    d = table(tmp_path / "r.csv")
    assert "na\ufffdve \ufffd" in all_texts(d)
    assert d.warnings == (
        f"{tmp_path / 'r.csv'}: 1 text(s) had bytes that are not UTF-8; decoded as UTF-8 with "
        "U+FFFD replacing each bad byte sequence",
    )


def test_integer_labels_written_as_floats_are_one_class(tmp_path: Path) -> None:
    lines = ["text,label"] + [f"{t},{'1.0' if i % 2 else '0'}" for i, (t, _) in enumerate(ROWS)]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    assert table(tmp_path / "r.csv").class_names == ("0", "1")


def test_empty_texts_and_missing_labels_are_dropped_with_warnings(tmp_path: Path) -> None:
    lines = ["text,label"] + [f"{t},{label}" for t, label in ROWS] + [",pos", "  ,neg", "no label,"]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    d = table(tmp_path / "r.csv")
    assert len(all_texts(d)) == 10
    assert any("dropped 2 empty text(s) (first: " in w and "line 12" in w for w in d.warnings)
    assert any("dropped 1 row(s) without a label (first: line 14)" in w for w in d.warnings)


def test_separate_test_file(tmp_path: Path) -> None:
    lines = ["text,label"] + [f"{t},{label}" for t, label in ROWS]
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "test.csv").write_text("text,label\nfine,pos\nawful,neg\n")
    d = table(tmp_path / "train.csv", test_path=str(tmp_path / "test.csv"))
    assert not d.test_is_holdout and len(d.train) == 10
    assert d.test.texts == ["fine", "awful"] and d.test.labels.tolist() == [1, 0]


def test_holdout_is_reproducible_with_a_seed_and_changes_with_it(tmp_path: Path) -> None:
    lines = ["text,label"] + [f"text {i},{'ab'[i % 2]}" for i in range(40)]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    first, again = table(tmp_path / "r.csv", seed=3), table(tmp_path / "r.csv", seed=3)
    other = table(tmp_path / "r.csv", seed=4)
    assert first.test.texts == again.test.texts != other.test.texts
    assert np.bincount(first.test.labels).tolist() == [4, 4]


# --- table errors ---------------------------------------------------------------------------------


def test_missing_column_is_named_with_the_columns_found(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("review,label\nx,pos\n")
    with pytest.raises(
        UserError,
        match=r"dataset\.text_column: no column named 'text'; found columns: 'review', 'label'",
    ):
        table(tmp_path / "r.csv")


def test_missing_key_in_jsonl_is_named(tmp_path: Path) -> None:
    (tmp_path / "r.jsonl").write_text('{"text": "a", "label": 1}\n{"text": "b"}\n')
    with pytest.raises(UserError, match=r"line 2 has no key 'label'; found keys: 'text'"):
        table(tmp_path / "r.jsonl")


def test_headerless_file_with_a_column_name_asks_for_a_position(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("pos,good\n")
    with pytest.raises(
        UserError, match=r"no header row .* 0-based position \(0 to 1\); got 'text'"
    ):
        table(tmp_path / "r.csv", header=False)


def test_column_position_out_of_range(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("pos,good\n")
    with pytest.raises(
        UserError, match=r"dataset\.label_column: column position 2 is out of range"
    ):
        table(tmp_path / "r.csv", header=False, text_column=1, label_column=2)


def test_row_with_the_wrong_number_of_fields_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("text,label\na,pos\nb, c,neg\n")
    with pytest.raises(UserError, match=r"line 3 has 3 fields where the first row has 2"):
        table(tmp_path / "r.csv")


def test_all_empty_texts_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("text,label\n,pos\n ,neg\n")
    with pytest.raises(UserError, match=r"dataset\.text_column: all 2 texts are empty") as info:
        table(tmp_path / "r.csv")
    assert info.value.source == str(tmp_path / "r.csv")


def test_file_without_data_rows_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("text,label\n")
    with pytest.raises(UserError, match=r"r\.csv: dataset\.text_column: found no texts"):
        table(tmp_path / "r.csv")


def test_one_class_only_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("text,label\na,pos\nb,pos\nc,pos\n")
    with pytest.raises(
        UserError, match=r"r\.csv: dataset\.label_column: found only one class, 'pos'"
    ):
        table(tmp_path / "r.csv")


def test_class_with_a_single_example_is_named(tmp_path: Path) -> None:
    lines = ["text,label"] + [f"{t},{label}" for t, label in ROWS] + ["odd one,meh"]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(
        UserError, match=r"r\.csv: .*class 'meh' has a single example \(.*r\.csv, line 12\)"
    ):
        table(tmp_path / "r.csv")


def test_test_label_unknown_to_training_is_named(tmp_path: Path) -> None:
    lines = ["text,label"] + [f"{t},{label}" for t, label in ROWS]
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "test.csv").write_text("text,label\nfine,pos\nhm,meh\n")
    with pytest.raises(UserError, match=r"test\.csv: .*class 'meh' \(.*test\.csv, line 3\)"):
        table(tmp_path / "train.csv", test_path=str(tmp_path / "test.csv"))


def test_corrupt_parquet_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "r.parquet").write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(
        UserError, match=r"r\.parquet: dataset\.path: cannot read the file as Parquet"
    ):
        table(tmp_path / "r.parquet")


def test_binary_file_named_csv_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_bytes(b"PAR1\x00\x00\x15\x04garbage")
    with pytest.raises(UserError, match="NUL bytes"):
        table(tmp_path / "r.csv")


def test_invalid_json_line_is_named(tmp_path: Path) -> None:
    (tmp_path / "r.jsonl").write_text('{"text": "a", "label": 1}\n{"text": oops}\n')
    with pytest.raises(UserError, match=r"line 2 is not valid JSON"):
        table(tmp_path / "r.jsonl")


# --- folders --------------------------------------------------------------------------------------


def test_multiclass_folder_without_splits_holds_out_a_stratified_test(tmp_path: Path) -> None:
    names = [f"topic{i:02d}" for i in range(12)]
    root = write_classes(tmp_path / "d", {n: [f"{n} text {j}" for j in range(5)] for n in names})
    d = folder(root)
    assert d.class_names == tuple(names) and d.test_is_holdout
    assert np.bincount(d.test.labels, minlength=12).tolist() == [1] * 12
    assert label_of(d, "topic07 text 3") == "topic07"


def test_folder_with_train_and_test_subfolders(tmp_path: Path) -> None:
    write_classes(tmp_path / "d" / "train", {"neg": ["bad", "awful"], "pos": ["good", "great"]})
    write_classes(tmp_path / "d" / "test", {"neg": ["poor"], "pos": ["fine"]})
    d = folder(tmp_path / "d")
    assert not d.test_is_holdout and d.class_names == ("neg", "pos")
    assert d.test.texts == ["poor", "fine"] and d.test.labels.tolist() == [0, 1]


def test_folder_with_a_separate_test_path(tmp_path: Path) -> None:
    write_classes(tmp_path / "train", {"a": ["x1", "x2"], "b": ["y1", "y2"], "c": ["z1", "z2"]})
    write_classes(tmp_path / "test", {"c": ["z3"], "a": ["x3"]})
    d = folder(tmp_path / "train", test_path=str(tmp_path / "test"))
    assert len(d.train) == 6 and d.test.labels.tolist() == [0, 2]
    assert any("no examples of 'b'" in w for w in d.warnings)


def test_folder_test_class_unknown_to_training_names_the_file(tmp_path: Path) -> None:
    write_classes(tmp_path / "d" / "train", {"neg": ["bad", "awful"], "pos": ["good", "great"]})
    write_classes(tmp_path / "d" / "test", {"meh": ["so so"], "pos": ["fine"]})
    with pytest.raises(UserError, match=r"class 'meh' \(.*meh/0\.txt\)"):
        folder(tmp_path / "d")


def test_folder_file_with_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    root = write_classes(
        tmp_path / "d", {"neg": ["bad", b"caf\xe9 awful"], "pos": ["good", "great"]}
    )
    d = folder(root)
    assert "caf\ufffd awful" in all_texts(d)
    assert any("1 text(s) had bytes that are not UTF-8" in w for w in d.warnings)


def test_folder_single_example_class_is_named(tmp_path: Path) -> None:
    root = write_classes(
        tmp_path / "d", {"neg": ["bad", "awful"], "pos": ["good", "great"], "x": ["?"]}
    )
    with pytest.raises(UserError, match=r"class 'x' has a single example \(.*x/0\.txt\)"):
        folder(root)


def test_folder_without_class_subfolders_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("loose")
    with pytest.raises(UserError, match=r"one subfolder per class .* found 1 \.txt files directly"):
        folder(tmp_path / "d")


def test_folder_path_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("text,label\n")
    with pytest.raises(
        UserError, match=r"sweep\.yaml: dataset\.path: .*use dataset\.format: table"
    ):
        folder(tmp_path / "r.csv")


def test_folder_limit_subsamples_each_split(tmp_path: Path) -> None:
    root = write_classes(tmp_path / "d", {n: [f"{n} {j}" for j in range(20)] for n in ("a", "b")})
    d = folder(root, limit=10)
    assert len(d.train) == 10 and np.bincount(d.train.labels).tolist() == [5, 5]


def test_one_integer_written_two_ways_is_one_class_with_a_warning(tmp_path: Path) -> None:
    lines = ["text,label"] + [f"{t},{['0', '0.0', '1'][i % 3]}" for i, (t, _) in enumerate(ROWS)]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    d = table(tmp_path / "r.csv")
    assert d.class_names == ("0", "1")
    assert any("labels '0' and '0.0' were read as one class, '0'" in w for w in d.warnings)


def test_one_number_written_two_ways_beside_text_labels_is_refused(tmp_path: Path) -> None:
    lines = ["text,label"] + [f"{t},{['0', '0.0', 'pos'][i % 3]}" for i, (t, _) in enumerate(ROWS)]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(
        UserError, match=r"r.csv: dataset.label_column: labels '0' and '0.0' are one number"
    ):
        table(tmp_path / "r.csv")


def test_jsonl_labels_of_mixed_types_are_refused(tmp_path: Path) -> None:
    rows = [{"text": t, "label": [1, "1", True][i % 3]} for i, (t, _) in enumerate(ROWS)]
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(
        UserError,
        match=r"r.jsonl: dataset.label_column: labels of mixed JSON types: 1 \(number, line 1\), "
        r"\"1\" \(str, line 2\), true \(boolean, line 3\)",
    ):
        table(tmp_path / "r.jsonl")

"""Table datasets: CSV, TSV, JSONL and Parquet files with a text column and a label column.

    dataset: {format: table, path: data/tickets.tsv, text_column: body, label_column: queue}
    dataset: {format: table, path: data/sms.txt, header: false, delimiter: "\t",
              text_column: 1, label_column: 0, quoting: false}

The kind is read from the extension: `.csv`, `.tsv`/`.tab`, `.jsonl`/`.ndjson` (`.json` is read as
JSONL), `.parquet`/`.pq`; any other extension (such as `.txt`) is delimited text when
`dataset.delimiter` is given. Columns are names, or 0-based positions (the only choice when
`header: false`). `quoting: false` reads `"` as an ordinary character: real files have unbalanced
quotes, and a quoting reader silently merges the lines that follow one into a single field.

Text is decoded as UTF-8; bytes that are not UTF-8 become U+FFFD and are counted in a warning.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from textsweep.config import DatasetConfig
from textsweep.data import Records, TextDataset, labelled_dataset, require_path
from textsweep.data.cells import refuse_nested_columns, refuse_non_scalar
from textsweep.errors import UserError

DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
JSON_LINES = (".jsonl", ".ndjson", ".json")
PARQUET = (".parquet", ".pq")
_PATH, _TEXT, _LABEL = "dataset.path", "dataset.text_column", "dataset.label_column"

# Bytes that are not UTF-8, kept as lone surrogates by "surrogateescape" until each text is checked;
# valid UTF-8 never decodes to these, so every one marks a bad byte.
_ESCAPED = re.compile("[\udc80-\udcff]+")
_FIELD_LIMIT = 2**31 - 1  # the largest csv accepts everywhere
# labels that mean "none" (pandas writes NaN for a missing value): dropped like empty ones
_MISSING_LABELS = ("nan",)


def load_table(cfg: DatasetConfig, source: str) -> TextDataset:
    """Read a table dataset (and its separate test file, if `dataset.test_path` is set).

    Args:
        cfg: the sweep's dataset settings (`path`, `text_column`, `label_column`, `header`,
            `delimiter`, `quoting`, `test_path`, `test_fraction`, `seed`).
        source: the sweep file, named in errors about the settings themselves.
    """
    notes: list[str] = []
    train = read_table(require_path(cfg.path, source, "dataset.path"), cfg, notes)
    test = None
    if cfg.test_path is not None:
        test = read_table(require_path(cfg.test_path, source, "dataset.test_path"), cfg, notes)
    return labelled_dataset(
        train,
        test,
        cfg,
        text_key=_TEXT,
        label_key=_LABEL,
        warnings=notes,
    )


def read_table(path: Path, cfg: DatasetConfig, notes: list[str]) -> Records:
    """The (text, label) records of one table file; rows without a label are dropped with a note."""
    if path.is_dir():
        raise UserError(
            "expected a table file (CSV/TSV/JSONL/Parquet), found a folder; "
            "for <label>/*.txt folders use dataset.format: folder",
            source=str(path),
            key="dataset.format",
        )
    suffix, unit = path.suffix.lower(), "line"
    if suffix in PARQUET:
        unit = "row"
        texts, labels, where, not_utf8 = _read_parquet(path, cfg)
    elif suffix in JSON_LINES:
        texts, labels, where, not_utf8 = _read_json_lines(path, cfg)
    else:
        delimiter = cfg.delimiter or DELIMITERS.get(suffix)
        if delimiter is None:
            raise UserError(
                f"cannot tell the format of a {suffix or 'extensionless'} file; name it .csv, "
                ".tsv, .jsonl or .parquet, or set dataset.delimiter for delimited text",
                source=str(path),
                key="dataset.delimiter",
            )
        texts, labels, where, not_utf8 = _read_delimited(path, cfg, delimiter, notes)
    unlabelled = [i for i, label in enumerate(labels) if label is None]
    if unlabelled:
        notes.append(
            f"{path}: dropped {len(unlabelled)} row(s) without a label "
            f"(first: {unit} {where[unlabelled[0]]}); an empty, null or NaN label is none"
        )
        keep = [i for i, label in enumerate(labels) if label is not None]
        texts, where = [texts[i] for i in keep], [where[i] for i in keep]
        labels = [labels[i] for i in keep]
    return Records(str(path), texts, [str(x) for x in labels], where, not_utf8, unit)


def _read_delimited(
    path: Path, cfg: DatasetConfig, delimiter: str, notes: list[str]
) -> tuple[list[str], list[str | None], list[int], int]:
    text = _decode_file(path)
    csv.field_size_limit(_FIELD_LIMIT)  # csv's default (128 KiB) refuses a long text
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        quoting=csv.QUOTE_MINIMAL if cfg.quoting else csv.QUOTE_NONE,
    )
    texts: list[str] = []
    labels: list[str | None] = []
    where: list[int] = []
    not_utf8 = merged = 0
    first_merged = 0
    width = t_col = l_col = -1
    line = 1
    try:
        for row in reader:
            start, line = line, reader.line_num + 1
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if width < 0:
                width = len(row)
                names = [n.strip() for n in row] if cfg.header else None
                t_col = _column(cfg.text_column, names, width, _TEXT, path, delimiter)
                l_col = _column(cfg.label_column, names, width, _LABEL, path, delimiter)
                if cfg.header:
                    continue
            if len(row) != width:
                raise UserError(
                    f"line {start} has {len(row)} fields where the first row has {width} "
                    f"(delimiter {delimiter!r}); "
                    + (
                        "a text may contain the delimiter unquoted, or an unbalanced quote; "
                        "quote such texts or set dataset.quoting: false"
                        if cfg.quoting
                        else "with quoting: false a text must not contain the delimiter"
                    ),
                    source=str(path),
                    key="dataset.delimiter",
                )
            body, bad = _clean(row[t_col])
            if cfg.quoting and "\n" in body and delimiter in body:
                merged += 1
                first_merged = first_merged or start
            not_utf8 += bad
            texts.append(body)
            labels.append(_label(row[l_col]))
            where.append(start)
    except csv.Error as e:
        raise UserError(
            f"cannot parse line {line} ({e}); if texts contain unbalanced quote characters, "
            "set dataset.quoting: false",
            source=str(path),
            key="dataset.quoting",
        ) from None
    if merged:
        notes.append(
            f"{path}: {merged} text(s) span several lines and contain the delimiter (first at "
            f"line {first_merged}); an unbalanced quote may have merged rows; if so set "
            "dataset.quoting: false"
        )
    return texts, labels, where, not_utf8


def _read_json_lines(
    path: Path, cfg: DatasetConfig
) -> tuple[list[str], list[str | None], list[int], int]:
    texts: list[str] = []
    labels: list[str | None] = []
    where: list[int] = []
    kinds: dict[str, tuple[int, Any]] = {}  # JSON type of the labels -> (line, value) first seen
    not_utf8 = 0
    for n, line in enumerate(_decode_file(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            array = n == 1 and line.lstrip().startswith("[")
            raise UserError(
                f"line {n} is not valid JSON ({e.msg}); expected one object per line (JSON Lines)"
                + ("; the file looks like one JSON array" if array else ""),
                source=str(path),
                key="dataset.path",
            ) from None
        value = _field(record, cfg.text_column, _TEXT, path, n)
        refuse_non_scalar(value, _TEXT, path, f"line {n}")
        body, bad = _clean("" if value is None else str(value))
        not_utf8 += bad
        texts.append(body)
        label = _field(record, cfg.label_column, _LABEL, path, n)
        refuse_non_scalar(label, _LABEL, path, f"line {n}", label=True)
        if label is not None:
            kind = "boolean" if isinstance(label, bool) else type(label).__name__
            kinds.setdefault("number" if kind in ("int", "float") else kind, (n, label))
        labels.append(_label(label))
        where.append(n)
    if len(kinds) > 1:
        seen = ", ".join(f"{json.dumps(v)} ({k}, line {n})" for k, (n, v) in kinds.items())
        raise UserError(
            f'labels of mixed JSON types: {seen}; 1, "1" and true would become separate classes '
            "or merge silently. Write every label the same way (all strings, or all numbers)",
            source=str(path),
            key=_LABEL,
        )
    return texts, labels, where, not_utf8


def _read_parquet(
    path: Path, cfg: DatasetConfig
) -> tuple[list[str], list[str | None], list[int], int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
        names = list(file.schema_arrow.names)
        width = len(names)
        t_name = names[_column(cfg.text_column, names, width, _TEXT, path, None)]
        l_name = names[_column(cfg.label_column, names, width, _LABEL, path, None)]
        table = file.read(columns=list(dict.fromkeys([t_name, l_name])))
    except (pa.ArrowException, OSError) as e:
        raise UserError(
            f"cannot read the file as Parquet ({e}); is it complete, and really Parquet?",
            source=str(path),
            key="dataset.path",
        ) from None
    refuse_nested_columns(table, {t_name: _TEXT, l_name: _LABEL}, path)
    column = table.column(t_name)
    if pa.types.is_string(column.type):
        column = column.cast(pa.binary())  # decode ourselves, so bad bytes are counted, not fatal
    elif pa.types.is_large_string(column.type):
        column = column.cast(pa.large_binary())
    texts: list[str] = []
    not_utf8 = 0
    for value in column.to_pylist():
        if isinstance(value, bytes):
            body, bad = _clean(value.decode("utf-8", "surrogateescape"))
        else:
            body, bad = ("" if value is None else str(value)), False
        texts.append(body)
        not_utf8 += bad
    labels = [_label(x) for x in table.column(l_name).to_pylist()]
    return texts, labels, list(range(1, len(texts) + 1)), not_utf8


def _column(
    spec: str | int,
    names: list[str] | None,
    width: int,
    key: str,
    path: Path,
    delimiter: str | None,
) -> int:
    """The position of a column given by name or by 0-based position."""
    if isinstance(spec, int):
        if not 0 <= spec < width:
            raise UserError(
                f"column position {spec} is out of range; the file has {width} column(s), "
                f"positions 0 to {width - 1}",
                source=str(path),
                key=key,
            )
        return spec
    if names is None:
        raise UserError(
            f"the file has no header row (dataset.header: false), so give the column as a 0-based "
            f"position (0 to {width - 1}); got {spec!r}",
            source=str(path),
            key=key,
        )
    if spec in names:
        return names.index(spec)
    hint = ""
    if len(names) == 1 and delimiter is not None:
        hint = f"; only one column was found with delimiter {delimiter!r}: is that right?"
    elif any(n.lower() == spec.lower() for n in names):
        hint = "; names are case-sensitive"
    raise UserError(
        f"no column named {spec!r}; found columns: {', '.join(repr(n) for n in names)}{hint}",
        source=str(path),
        key=key,
    )


def _field(record: Any, spec: str | int, key: str, path: Path, line: int) -> Any:
    if isinstance(record, dict) and isinstance(spec, str):
        if spec not in record:
            found = ", ".join(repr(k) for k in record)
            raise UserError(
                f"line {line} has no key {spec!r}; found keys: {found or '(none)'}",
                source=str(path),
                key=key,
            )
        return record[spec]
    if isinstance(record, list) and isinstance(spec, int):
        if not 0 <= spec < len(record):
            raise UserError(
                f"line {line} has {len(record)} values; position {spec} is out of range",
                source=str(path),
                key=key,
            )
        return record[spec]
    wanted = "a name, for objects" if isinstance(record, dict) else "a position, for arrays"
    raise UserError(
        f"line {line} holds a JSON {type(record).__name__}; give the column as {wanted}; "
        f"got {spec!r}",
        source=str(path),
        key=key,
    )


def _decode_file(path: Path) -> str:
    """The file's text: UTF-16 when it starts with a UTF-16 byte-order mark, otherwise UTF-8."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read the file ({e})", source=str(path), key=_PATH) from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16", "replace")
    if b"\x00" in raw[:8192]:
        raise UserError(
            "the file holds NUL bytes, so it is not delimited text or JSON Lines; check "
            "dataset.path, and name Parquet files .parquet",
            source=str(path),
            key="dataset.path",
        )
    return raw.decode("utf-8-sig", "surrogateescape")


def _clean(value: str) -> tuple[str, bool]:
    """The value with escaped non-UTF-8 bytes replaced by U+FFFD, and whether there were any."""
    if _ESCAPED.search(value) is None:
        return value, False
    return _ESCAPED.sub("\ufffd", value), True


def _label(value: Any) -> str | None:
    """A label as text (1.0 read as 1), or None where the row has none (empty, null or NaN)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = _clean(str(value))[0].strip()
    return text if text and text.lower() not in _MISSING_LABELS else None

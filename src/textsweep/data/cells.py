"""One text or label of a table: what may stand there. A list, an object or an infinite number
would become a made-up class or text through `str()`, so each is refused, naming where it is."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from textsweep.errors import UserError


def refuse_non_scalar(value: Any, key: str, path: Path, where: str, label: bool = False) -> None:
    """`UserError` for a JSON array or object (and, for a `label`, +-Infinity) at `where`."""
    if isinstance(value, list | dict):
        raise UserError(
            f"{where}: expected a string or a number; got a JSON "
            f"{'array' if isinstance(value, list) else 'object'} ({json.dumps(value)[:80]})",
            source=str(path),
            key=key,
        )
    if label and isinstance(value, float) and math.isinf(value):
        raise UserError(
            f"{where}: the label is {json.dumps(value)}, which is no class; write the class as a "
            "string or a finite number",
            source=str(path),
            key=key,
        )


def refuse_nested_columns(table: Any, keys: Mapping[str, str], path: Path) -> None:
    """`UserError` for a Parquet column (name -> dotted key) of lists, structs or maps."""
    import pyarrow as pa

    for name, key in keys.items():
        kind = table.column(name).type
        if pa.types.is_nested(kind):
            values = table.column(name).to_pylist()
            row = next((i + 1 for i, v in enumerate(values) if v is not None), 1)
            raise UserError(
                f"column {name!r} holds {kind} values (first at row {row}: "
                f"{str(values[row - 1])[:80]}); expected one string or number per row",
                source=str(path),
                key=key,
            )

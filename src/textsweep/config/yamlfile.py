"""YAML read safely: bounded in size, alias expansion and nesting; `1e-3` read as a number.

    load_yaml("lr: 1e-3", "sweep.yaml")   # {'lr': 0.001}; YAML 1.1 would give the string '1e-3'

A sweep or search-space file is a few dozen lines. A document past the limits below (a
"billion laughs" of nested aliases, a file thousands of levels deep) is refused with a
`UserError` before it is built, instead of exhausting memory or the interpreter's stack.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from textsweep.errors import UserError

MAX_CHARACTERS = 1_000_000
MAX_NODES = 100_000  # values after alias expansion
MAX_DEPTH = 50


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading floats without a dot (`1e-3`) as YAML 1.2 does."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


class _TooLarge(Exception):
    pass


def load_yaml(text: str, source: str) -> Any:
    """The YAML document in `text`; `yaml.YAMLError` on bad syntax, `UserError` past the limits."""
    if len(text) > MAX_CHARACTERS:
        raise UserError(
            f"the file has {len(text):,} characters; a sweep or search-space file may have at "
            f"most {MAX_CHARACTERS:,}. Check that this is the file you meant",
            source=source,
        )
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _size(node, {})
        return loader.construct_document(node)
    except RecursionError:
        raise UserError(
            f"the YAML is nested too deeply; a sweep file nests at most {MAX_DEPTH} levels",
            source=source,
        ) from None
    except _TooLarge as e:
        raise UserError(str(e), source=source) from None
    finally:
        loader.dispose()


def _size(node: yaml.Node, memo: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """(values, depth) of `node` with every alias expanded; each node is measured once."""
    known = memo.get(id(node))
    if known is not None:
        return known
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    sizes = [_size(child, memo) for child in children]
    size = (1 + sum(s for s, _ in sizes), 1 + max((d for _, d in sizes), default=0))
    if size[0] > MAX_NODES:
        raise _TooLarge(
            f"the YAML expands to more than {MAX_NODES:,} values (its aliases repeat other "
            "parts many times over); a sweep file this large is a mistake or an attack. Write "
            "the values out, or use fewer aliases"
        )
    if size[1] > MAX_DEPTH:
        raise _TooLarge(f"the YAML is nested more than {MAX_DEPTH} levels deep; flatten it")
    memo[id(node)] = size
    return size

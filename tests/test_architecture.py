"""The package's shape: no import cycles, no private names imported across modules, and Keras
Tuner's internals (its `engine`/`src` modules and private names) only in `sweep/ktcompat.py`."""

from __future__ import annotations

import ast
import importlib.util
import re
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "textsweep"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every textsweep import in `path`, top-level and inside functions."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("textsweep"):
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.startswith("textsweep")]
    return out


def _import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for module, names in _imports(path):  # lazy imports inside functions count too
            if module not in modules:
                continue
            for alias in names or [""]:
                sub = f"{module}.{alias}"
                graph[name].add(sub if sub in modules else module)
    return graph


def test_no_import_cycle() -> None:
    graph = _import_graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    # a package importing its own submodules in __init__ is not a cycle between modules
    real = [
        c for c in cycles if not any(a.startswith(b + ".") for a, b in zip(c, c[1:], strict=False))
    ]
    assert real == []


def test_no_private_names_across_modules() -> None:
    offenders = [
        f"{path.relative_to(SRC)}: {module}.{name}"
        for path in PACKAGE.rglob("*.py")
        for module, names in _imports(path)
        for name in names
        if name.startswith("_") and name != "__version__"
    ]
    assert offenders == []


KTCOMPAT = PACKAGE / "sweep" / "ktcompat.py"


@cache
def keras_tuner_private_names() -> frozenset[str]:
    """Every private method and attribute Keras Tuner defines (`def _x`, `self._x`), read from
    its source without importing it."""
    spec = importlib.util.find_spec("keras_tuner")
    assert spec is not None and spec.submodule_search_locations
    root = Path(next(iter(spec.submodule_search_locations)))
    names: set[str] = set()
    for path in root.rglob("*.py"):
        if "test" in path.name:
            continue
        text = path.read_text(encoding="utf-8")
        names |= set(re.findall(r"\bdef (_[A-Za-z]\w*)\(", text))
        names |= set(re.findall(r"\bself\.(_[A-Za-z]\w*)\b", text))
    return frozenset(n for n in names if not n.startswith("__"))


def keras_tuner_uses(path: Path) -> list[str]:
    """Where `path` reaches past Keras Tuner's public API: an import of `keras_tuner.src` or
    `keras_tuner.engine`, an attribute chain through `.engine`/`.src` of the module, a private
    Keras Tuner attribute, or a method overriding one."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases: set[str] = set()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "keras_tuner":
                    aliases.add(a.asname or "keras_tuner")
                    if a.name.startswith(("keras_tuner.src", "keras_tuner.engine")):
                        found.append(f"line {node.lineno}: import {a.name}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            ("keras_tuner.src", "keras_tuner.engine")
        ):
            found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.ImportFrom) and node.module == "keras_tuner":
            for a in node.names:
                if a.name in ("src", "engine"):
                    found.append(f"line {node.lineno}: from keras_tuner import {a.name}")
    if not aliases and not found:
        return []  # a module that never touches Keras Tuner has no Keras Tuner objects
    private = keras_tuner_private_names()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            base = node.value
            if isinstance(base, ast.Name) and base.id in aliases and node.attr in ("src", "engine"):
                found.append(f"line {node.lineno}: {base.id}.{node.attr}")
            elif node.attr in private:
                found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name in private:
                    found.append(f"line {item.lineno}: def {item.name} (in {node.name})")
    return found


def test_keras_tuner_internals_only_in_ktcompat() -> None:
    offenders = {
        str(path.relative_to(SRC)): uses
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != KTCOMPAT and (uses := keras_tuner_uses(path))
    }
    assert offenders == {}


def test_the_check_sees_keras_tuner_internals() -> None:
    """The check above finds what it is for: ktcompat itself is full of them."""
    uses = keras_tuner_uses(KTCOMPAT)
    assert any("_build_and_fit_model" in u for u in uses)
    assert any("_record_values" in u for u in uses)
    assert any("keras_tuner.src" in u for u in uses)

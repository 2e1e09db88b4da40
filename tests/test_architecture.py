"""The package's shape: no import cycles, no private names imported across modules, small modules."""

from __future__ import annotations

import ast
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
    real = [c for c in cycles if not any(a.startswith(b + ".") for a, b in zip(c, c[1:], strict=False))]
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


def test_modules_stay_small() -> None:
    sizes = {
        str(p.relative_to(SRC)): len(p.read_text(encoding="utf-8").splitlines())
        for p in PACKAGE.rglob("*.py")
    }
    assert {name: n for name, n in sizes.items() if n > 360} == {}

"""The package's shape, computed from its source: no import cycles, and only the entry points
import the magics module (everything below it gets plain values passed down)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gptmagic"
# The modules that may import gptmagic.magics (type-only imports count too): the entry points
# that load the extension, and the panel, a view whose widgets link to the live GPTMagic's
# traits (and follow it across %reload_ext). Everything else gets a CellContext.
MAGICS_IMPORTERS = {"gptmagic", "gptmagic.extension", "gptmagic.panel"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(module: str, is_package: bool, node: ast.ImportFrom, known: set[str]) -> list[str]:
    """The gptmagic modules one ``from ... import ...`` statement names: the submodules it
    imports (``from . import cache``), else the module it imports names from."""
    if node.level:
        base = module.split(".")
        if not is_package:
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, node.module] if node.module else base)
    else:
        target = node.module or ""
    submodules = [f"{target}.{alias.name}" for alias in node.names]
    return [m for m in submodules if m in known] or [target]


def type_only(tree: ast.Module) -> set[ast.AST]:
    """The import statements under ``if TYPE_CHECKING:`` (never run)."""
    found: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            found |= {n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)}
    return found


def import_graph(runtime_only: bool = False) -> dict[str, set[str]]:
    """Module -> the gptmagic modules it imports anywhere (top level or inside functions);
    with ``runtime_only``, leaving out imports made for type checkers only."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        edges: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = type_only(tree) if runtime_only else set()
        for node in ast.walk(tree):
            if node in skip:
                continue
            if isinstance(node, ast.ImportFrom):
                found = resolve(module, path.name == "__init__.py", node, set(files))
            elif isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            else:
                continue
            edges |= {name for name in found if name in files and name != module}
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path that returns to its start), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_import_graph_is_read_from_the_source():
    graph, runtime = import_graph(), import_graph(runtime_only=True)
    assert "gptmagic.magics" in graph["gptmagic.extension"]
    assert "gptmagic.magics" in graph["gptmagic.panel"]  # a type-only import
    assert "gptmagic.magics" not in runtime["gptmagic.panel"]
    assert len(graph) >= 20


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph(runtime_only=True))
    assert cycle is None, " -> ".join(cycle or [])


def test_only_the_entry_points_import_the_magics_module():
    importers = {m for m, edges in import_graph().items() if "gptmagic.magics" in edges}
    assert importers <= MAGICS_IMPORTERS, sorted(importers - MAGICS_IMPORTERS)


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
    ],
)
def test_cycle_detection_finds_a_cycle_and_only_a_cycle(graph, expected):
    assert find_cycle(graph) == expected

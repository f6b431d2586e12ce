"""llmcoder's modules import without cycles, and each one imports on its own.

The import graph is read from the source (the AST of every file under ``llmcoder/``), not by importing
it. An edge is a module-level import of another llmcoder module: a statement at the top of the file
(also inside a top-level ``if``/``try``/``with``, but not under ``if TYPE_CHECKING:``), or an import in a
module-level ``__getattr__`` (a lazy re-export is part of the package: ``from pkg import name`` runs it).
Imports inside other functions run only when called; they are read too, to check they name modules that
exist, but they are no edges of the cycle check.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_DIR = Path(importlib.util.find_spec("llmcoder").submodule_search_locations[0])  # type: ignore[index,union-attr]


@dataclass
class Imports:
    """The llmcoder modules one module imports: at module level (the graph's edges) and inside functions."""

    module_level: set[str] = field(default_factory=set)
    in_functions: set[str] = field(default_factory=set)


def modules() -> dict[str, Path]:
    """Every llmcoder module by dotted name (a package by its ``__init__.py``)."""
    found = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _targets(node: ast.Import | ast.ImportFrom, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The llmcoder modules an import statement of module ``name`` loads (``from m import sub``: ``m.sub``)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name == "llmcoder" or a.name.startswith("llmcoder.")}
    base = node.module or ""
    if node.level:
        package = name.split(".") if is_package else name.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, *([node.module] if node.module else [])])
    if base != "llmcoder" and not base.startswith("llmcoder."):
        return set()
    return {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}


def read_imports(name: str, path: Path, known: set[str]) -> Imports:
    """The llmcoder imports of one module, from its AST."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found = Imports()

    def walk(nodes: list[ast.stmt] | list[ast.excepthandler], module_level: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                target = found.module_level if module_level else found.in_functions
                target |= _targets(node, name, is_package, known)
            elif isinstance(node, ast.If) and module_level and _is_type_checking(node):
                walk(node.orelse, module_level)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lazy_export = module_level and node.name == "__getattr__"
                for child in ast.walk(node):
                    if isinstance(child, ast.Import | ast.ImportFrom):
                        target = found.module_level if lazy_export else found.in_functions
                        target |= _targets(child, name, is_package, known)
            else:  # if/try/with/for/class bodies run where they stand
                for block in ("body", "orelse", "finalbody", "handlers"):
                    walk(getattr(node, block, []), module_level)

    walk(tree.body, module_level=True)
    found.module_level.discard(name)
    found.in_functions.discard(name)
    return found


def import_graph() -> dict[str, Imports]:
    """Every llmcoder module with the llmcoder modules it imports."""
    mods = modules()
    return {name: read_imports(name, path, set(mods)) for name, path in mods.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (``[a, b, ..., a]``) of the graph, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_graph_sees_the_imports() -> None:
    """A check of the reader itself: the CLI's wiring and a lazy re-export are edges, a lazy import is not."""
    graph = import_graph()
    assert {"llmcoder.cli.code", "llmcoder.cli.errors"} <= graph["llmcoder.cli"].module_level
    assert "llmcoder.errors" in graph["llmcoder.cli.corpus"].module_level
    assert "llmcoder.coders.run" in graph["llmcoder.coders"].module_level  # in __getattr__
    assert "llmcoder.codebook" in graph["llmcoder.cli.corpus"].in_functions
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle() -> None:
    graph = import_graph()
    cycle = find_cycle({name: imports.module_level for name, imports in graph.items()})
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_every_imported_llmcoder_module_exists() -> None:
    """An import of a moved or removed module (also one inside a function, run only when called) is found here."""
    mods = modules()
    missing = sorted(f"{name} imports {target}" for name, imports in import_graph().items()
                     for target in imports.module_level | imports.in_functions if target not in mods)
    assert not missing, "\n".join(missing)


IMPORT_EACH = """
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "llmcoder" or m.startswith("llmcoder.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except BaseException:
        failed.append(name + ": " + traceback.format_exc().strip().splitlines()[-1])
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_on_its_own() -> None:
    """Each module imports first, with no other llmcoder module loaded (one interpreter, the modules
    dropped from ``sys.modules`` between imports: third-party packages stay loaded, which keeps it fast)."""
    names = [n for n in modules() if not n.endswith(".__main__")]  # a __main__ runs its command
    res = subprocess.run([sys.executable, "-c", IMPORT_EACH, *names], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"modules that do not import on their own:\n{res.stdout}{res.stderr[-2000:]}"

"""The import rules of docs/ARCHITECTURE.md, read off the source with `ast` (nothing is imported).

- no import cycle between the project's modules, counting imports inside functions too (a
  lazy import still couples two modules);
- no module (bench scripts and tests included) reaches another module's private names, by
  `from m import _name` or `m._name`; `edgerec._keras`, the one place tf_keras is imported, is
  a private *module* every TensorFlow-side module is meant to import;
- `device_bench/` imports only the standard library, numpy, a TFLite interpreter and itself;
  `converters/` imports TensorFlow (through `edgerec._keras`) and `device_bench`, no other edgerec.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("edgerec", "converters", "device_bench")
SCANNED = (*PACKAGES, "bench", "tests")
INTERPRETERS = ("ai_edge_litert", "tflite_runtime", "tensorflow.lite")
KERAS_SHIM = "edgerec._keras"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, ast.Module]:
    trees = {}
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            trees[_module_name(path)] = ast.parse(path.read_text(), filename=str(path))
    return trees


TREES = _sources()
PROJECT = {name for name in TREES if name.split(".")[0] in PACKAGES}


def _owner(dotted: str) -> str | None:
    """The project module that `dotted` (a module, or a name in one) lives in."""
    while dotted and dotted not in PROJECT:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


def _imports(tree: ast.Module) -> list[tuple[str, str | None]]:
    """(module imported, name taken from it or None) for every import statement, nested ones too."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.module, alias.name) for alias in node.names]
    return found


def _edges() -> dict[str, set[str]]:
    edges = defaultdict(set)
    for name in PROJECT:
        for module, taken in _imports(TREES[name]):
            target = f"{module}.{taken}" if taken and f"{module}.{taken}" in PROJECT else module
            owner = _owner(target)
            if owner and owner != name:
                edges[name].add(owner)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    nodes = sorted(set(edges) | {n for targets in edges.values() for n in targets})
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(nodes)))
    for node in nodes:
        if node not in index:
            visit(node)
    return found


def _private_uses(name: str, tree: ast.Module) -> list[str]:
    """`from m import _x` and `m._x` where m is another project module."""
    uses, bound = [], {}
    for module, taken in _imports(tree):
        owner = _owner(module if taken is None else f"{module}.{taken}")
        if owner is None or owner == name:
            continue
        if taken is not None and taken.startswith("_") and f"{module}.{taken}" != KERAS_SHIM:
            uses.append(f"from {module} import {taken}")
        if taken is not None and f"{module}.{taken}" in PROJECT:
            bound[taken] = f"{module}.{taken}"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.asname and f"{node.module}.{alias.name}" in PROJECT:
                    bound[alias.asname] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in PROJECT:
                    bound[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                and node.attr.startswith("_") and not node.attr.startswith("__") and bound[node.value.id] != name):
            uses.append(f"{node.value.id}.{node.attr} (line {node.lineno})")
    return uses


def test_no_import_cycles_between_project_modules():
    # execute
    cycles = _cycles(_edges())
    # assert
    assert cycles == [], f"import cycles: {cycles}"


@pytest.mark.parametrize("name", sorted(TREES))
def test_no_module_reaches_another_modules_private_names(name):
    assert _private_uses(name, TREES[name]) == []


@pytest.mark.parametrize("name", sorted(n for n in PROJECT if n.startswith("device_bench")))
def test_device_bench_imports_only_stdlib_numpy_and_an_interpreter(name):
    # setup
    allowed_roots = set(sys.stdlib_module_names) | {"numpy", "device_bench"}
    # execute
    foreign = [module for module, _ in _imports(TREES[name])
               if module.split(".")[0] not in allowed_roots and not module.startswith(INTERPRETERS)]
    # assert
    assert foreign == []


@pytest.mark.parametrize("name", sorted(n for n in PROJECT if n.startswith("converters")))
def test_converters_import_no_edgerec_module_but_the_keras_shim(name):
    reached = [module for module, taken in _imports(TREES[name])
               if module.startswith("edgerec") and module != KERAS_SHIM]
    assert reached == []


def test_the_rules_catch_what_they_forbid():
    # setup: a module importing a private name, and one reading a private attribute of another module
    tree = ast.parse("from edgerec.pipeline import _open_state\nfrom edgerec import pipeline\npipeline._open_state\n")
    # execute
    uses = _private_uses("bench.example", tree)
    # assert
    assert uses == ["from edgerec.pipeline import _open_state", "pipeline._open_state (line 3)"]
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]

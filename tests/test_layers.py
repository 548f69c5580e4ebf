"""The imports, read from the code: layers only point down, and no module imports itself back.

Every ``import`` and ``from ... import`` is read with ``ast``, those inside functions included
(a lazy import is an import all the same). The installed layers, lowest first:

    hanzi_grader (the core: settings, errors, tables)  <  models  <  scans  <  worker  <  producer
    <  api

``migrations`` stands beside ``models`` (it needs the core's tables only), and the ``hanzi``
command line (``hanzi_grader.cli``) is the front door above them all: it names its sub-commands'
modules as strings and imports each when it runs. ``benchmarks`` and ``tests`` may import
anything, but take part in the search for cycles.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Folder of the repository -> the package it is installed as (pyproject.toml's package-dir).
FOLDERS = {
    "hanzi_grader": "hanzi_grader",
    "models": "hanzi_grader.models",
    "migrations": "hanzi_grader.migrations",
    "scans": "hanzi_grader.scans",
    "worker": "hanzi_grader.worker",
    "producer": "hanzi_grader.producer",
    "api": "hanzi_grader.api",
    "benchmarks": "benchmarks",
    "tests": "tests",
}
# Layer -> its height; a module may import its own layer or a lower one, never a higher one
# nor another layer of the same height.
HEIGHTS = {"core": 0, "models": 1, "migrations": 1, "scans": 2, "worker": 3, "producer": 4,
           "api": 5, "entry": 6}
ENTRY_POINTS = {"hanzi_grader.cli", "hanzi_grader.__main__"}
UNLAYERED = ("benchmarks", "tests")  # may import any layer


def module_files() -> dict[str, Path]:
    """Every module of the repository by its importable name."""
    modules = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


def imported_names(name: str, path: Path) -> list[tuple[str, int]]:
    """What ``path`` (module ``name``) imports, with line numbers: absolute dotted names,
    ``from a import b`` given as both ``a.b`` and ``a`` (which one is a module is decided
    later)."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
            found.append((base, node.lineno))
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, dict[str, int]]:
    """Module -> {module of ours it imports: first line}."""
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        edges = graph.setdefault(name, {})
        for target, line in imported_names(name, path):
            # The longest prefix that is one of our modules: `from a.b import c` names a.b.c
            # when c is a module, else a.b.
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.setdefault(target, line)
    return graph


def layer_of(module: str) -> str | None:
    if module.startswith(UNLAYERED):
        return None
    if module in ENTRY_POINTS:
        return "entry"
    for layer in ("models", "migrations", "scans", "worker", "producer", "api"):
        if module == f"hanzi_grader.{layer}" or module.startswith(f"hanzi_grader.{layer}."):
            return layer
    return "core"


def upward_imports(graph: dict[str, dict[str, int]]) -> list[str]:
    problems = []
    for source, targets in sorted(graph.items()):
        here = layer_of(source)
        if here is None:
            continue
        for target, line in sorted(targets.items()):
            there = layer_of(target)
            if there is not None and there != here and HEIGHTS[there] >= HEIGHTS[here]:
                problems.append(f"{source} (line {line}, layer {here}) imports {target} "
                                f"(layer {there})")
    return problems


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_folder_of_the_repository_is_read():
    # Given the modules found, then each installed layer has some (a renamed folder would
    # otherwise leave its layer silently unchecked)
    modules = module_files()
    for package in FOLDERS.values():
        assert any(m == package or m.startswith(package + ".") for m in modules), package


def test_no_module_imports_from_a_layer_above_its_own():
    # Given every import of every module, lazy ones included
    graph = import_graph(module_files())

    # Then none points up (worker never imports producer; models never imports worker...)
    assert upward_imports(graph) == []


def test_no_modules_import_each_other_in_a_circle():
    assert cycles(import_graph(module_files())) == []


def test_the_checks_see_lazy_upward_imports_and_circles(tmp_path):
    # Given a worker module that imports the producer inside a function, and two producer
    # modules that import each other (one of them relatively)
    (tmp_path / "task.py").write_text("def f():\n    from hanzi_grader.producer import a\n")
    (tmp_path / "a.py").write_text("from hanzi_grader.producer.b import x\n")
    (tmp_path / "b.py").write_text("def g():\n    from . import a\n")
    modules = {"hanzi_grader.worker.task": tmp_path / "task.py",
               "hanzi_grader.producer.a": tmp_path / "a.py",
               "hanzi_grader.producer.b": tmp_path / "b.py"}

    # When the imports are read
    graph = import_graph(modules)

    # Then both are caught
    assert upward_imports(graph) == [
        "hanzi_grader.worker.task (line 2, layer worker) imports hanzi_grader.producer.a "
        "(layer producer)"]
    assert cycles(graph) == [["hanzi_grader.producer.a", "hanzi_grader.producer.b"]]

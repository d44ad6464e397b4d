"""The layout's arrows (docs/architecture.md): imports between our top-level packages run one way, and no package's
modules import each other in a cycle.

Every import counts, wherever it stands (module top, inside a function, under ``TYPE_CHECKING``), and so does a
module named to ``importlib.import_module``: a lazy import is still an arrow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
#: top-level package -> its folder
PACKAGES = {
    "bot_runtime": ROOT / "bot_runtime",
    "funding_service": ROOT / "funding_service",
    "perpdex_operator": ROOT / "operator" / "perpdex_operator",
    "perpdex_dev": ROOT / "perpdex_dev",
}
#: which of our other top-level packages each may import: the runtime is the ground floor, the deployed services
#: stand on it side by side, the developer helpers (never deployed) may use everything
ALLOWED = {
    "bot_runtime": set(),
    "funding_service": {"bot_runtime"},
    "perpdex_operator": {"bot_runtime"},
    "perpdex_dev": {"bot_runtime", "funding_service", "perpdex_operator"},
}


def module_name(package: str, folder: Path, path: Path) -> str:
    parts = [package, *path.relative_to(folder).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {
        module_name(package, folder, path): path
        for package, folder in PACKAGES.items()
        for path in sorted(folder.rglob("*.py"))
    }


def imported_names(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every name the file imports, with its line: ``from a.b import c`` yields ``a.b.c`` (a module, or a name in
    ``a.b``: :func:`resolve` tells which)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                yield f"{target}.{alias.name}", node.lineno
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value, node.lineno


def resolve(name: str, known: dict[str, Path]) -> str | None:
    """The module of ours that ``name`` is, or the nearest enclosing one (``pkg.mod.Class`` -> ``pkg.mod``)."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for target, _ in imported_names(name, path):
            found = resolve(target, known)
            if found is not None and found != name:
                edges[name].add(found)
    return edges


def top(module: str) -> str:
    return module.split(".", maxsplit=1)[0]


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of more than one module (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_walker_sees_every_kind_of_import(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text(
        "import a.b\nfrom c import d\nfrom . import e\nfrom ..f import g\n"
        "def lazy():\n    import h\n    importlib.import_module('i.j')\n"
    )
    names = {name for name, _ in imported_names("pkg.sub.mod", source)}
    assert names == {"a.b", "c.d", "pkg.sub.e", "pkg.f.g", "h", "i.j"}


def test_the_cycle_finder_finds_cycles() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert strongly_connected(edges) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_imports_between_top_level_packages_run_one_way() -> None:
    known = modules()
    wrong: list[str] = []
    for name, path in known.items():
        here = top(name)
        for target, line in imported_names(name, path):
            there = target.split(".")[0]
            if there in PACKAGES and there != here and there not in ALLOWED[here]:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {here} imports {target}")
    assert not wrong, "reverse arrows between top-level packages:\n" + "\n".join(wrong)


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_import_cycle_inside_a_package(package: str) -> None:
    edges = {
        name: {t for t in targets if top(t) == package} for name, targets in graph().items() if top(name) == package
    }
    cycles = strongly_connected(edges)
    assert not cycles, f"modules of {package} importing each other in a cycle: {cycles}"


def test_the_package_graph_has_no_cycle() -> None:
    tops: dict[str, set[str]] = {package: set() for package in PACKAGES}
    for name, targets in graph().items():
        tops[top(name)] |= {top(t) for t in targets} - {top(name)}
    assert strongly_connected(tops) == []
    assert tops["bot_runtime"] == set()

"""The layering of worker/ (LAYOUT.md), enforced by walking every module's imports.

Imports flow one way, down the data flow: schemas ← archive ← settings ← {store, fetch,
extract, digest} ← {judge, sites, custody} ← {store.jobs, pool} ← runtime ← capture ←
report ← queue ← runs ← audit ← {archive.web, cli}. Every import counts, lazy ones
inside functions included; only `if TYPE_CHECKING:` blocks (never run) are skipped.
No module imports another module's `_private` names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "archive", "worker")

# (module prefix, rank): a module may import from a lower rank, or from its own prefix.
RANKS = {
    "schemas": 0,
    "archive": 1,  # WARC bytes and what reads them: schemas only
    "worker": 2,
    "worker.settings": 2,
    "worker.timings": 2,  # bench's stopwatch: the standard library only
    "worker.collector": 2,  # gc around loading code: the standard library only
    "worker.store": 3,  # the models and their migrations
    "worker.fetch": 3,
    "worker.extract": 3,
    "worker.digest": 3,
    "worker.store.engine": 4,  # opens the database and runs the migrations
    "worker.judge": 4,
    "worker.sites": 4,
    "worker.custody": 4,
    "worker.store.jobs": 5,  # a claim and its custody entries commit together
    "worker.pool": 5,
    "worker.store.sweep": 6,  # takes over what the claims left
    "worker.runtime": 7,
    "worker.capture": 8,
    "worker.report": 9,
    "worker.queue": 10,  # the only package that imports celery
    "worker.runs": 11,
    "worker.custody.audit": 12,  # `verify`: reads everything, may seal a run
    "archive.web": 13,  # the web app: an entry point
    "worker.cli": 14,
    "worker.__main__": 15,  # the `sourcevault` command: loads the CLI
    "worker.cli.__main__": 16,  # `python -m worker.cli`: the same command
    "worker.store.migrations.__main__": 14,  # `python -m worker.store.migrations`
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(p): p
    for pkg in PACKAGES
    for p in sorted((ROOT / pkg).rglob("*.py"))
    if "versions" not in p.parts
}


def imports(path: Path) -> set[tuple[str, str]]:
    """(module, name) pairs this file imports at run time, lazily or not."""
    found: set[tuple[str, str]] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            test = node.test
            if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
            ):
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            found.update((alias.name, "") for alias in node.names)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.module and node.level == 0:
                found.update((node.module, alias.name) for alias in node.names)

    Visitor().visit(ast.parse(path.read_text("utf-8")))
    return found


def project_edges(module: str) -> set[str]:
    """The project modules `module` imports (a `from pkg import mod` counts as pkg.mod)."""
    out = set()
    for target, name in imports(MODULES[module]):
        if f"{target}.{name}" in MODULES:
            out.add(f"{target}.{name}")
        elif target in MODULES:
            out.add(target)
    return out - {module}


def rank(module: str) -> tuple[str, int]:
    prefix = max((p for p in RANKS if module == p or module.startswith(p + ".")), key=len)
    return prefix, RANKS[prefix]


def test_imports_flow_one_way() -> None:
    bad = []
    for module in MODULES:
        own_prefix, own = rank(module)
        for target in project_edges(module):
            prefix, theirs = rank(target)
            if theirs > own or (theirs == own and prefix != own_prefix):
                bad.append(f"{module} ({own_prefix}) imports {target} ({prefix})")
    assert not bad, "\n".join(sorted(bad))


def test_no_import_cycles() -> None:
    graph = {m: project_edges(m) for m in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    assert not cycles, cycles


def test_no_module_imports_another_modules_private_names() -> None:
    bad = [
        f"{module} imports {target}.{name}"
        for module, path in MODULES.items()
        for target, name in imports(path)
        if target.split(".")[0] in PACKAGES and name.startswith("_") and not name.startswith("__")
    ]
    assert not bad, bad


def test_only_the_queue_package_imports_celery() -> None:
    bad = [
        module
        for module, path in MODULES.items()
        if any(t.split(".")[0] == "celery" for t, _ in imports(path))
        and not module.startswith(("worker.queue", "worker.cli"))
    ]
    assert not bad, bad


@pytest.mark.parametrize("module", ["worker.report.build", "worker.capture.steps"])
def test_the_walker_sees_imports(module: str) -> None:
    # guard against a walker that silently finds nothing
    assert project_edges(module)
    assert "worker.runtime" in project_edges("worker.capture.steps")


def test_lazy_imports_count() -> None:
    # worker.store.migrations imports the models inside a function: that edge is seen
    assert "worker.store.models" in project_edges("worker.store.migrations")

"""The layering of CONVENTIONS.md, enforced by walking every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENTRY_MODULES = {"worker/cli.py", "worker/runner.py", "archive/replay.py"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _project_imports(package: str) -> dict[str, set[str]]:
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        out[rel] = {
            m for m in _imports(path) if m.split(".")[0] in {"schemas", "worker", "archive"}
        }
    return out


def test_schemas_import_nothing_from_the_project() -> None:
    for module, imported in _project_imports("schemas").items():
        assert all(m.startswith("schemas") for m in imported), (module, imported)


def test_archive_imports_only_schemas_and_itself() -> None:
    for module, imported in _project_imports("archive").items():
        # archive/web/ is the entry package of the web app (CONVENTIONS.md): it may call worker
        if module in ENTRY_MODULES or module.startswith(("archive/web/app", "archive/web/")):
            continue
        bad = {m for m in imported if m.startswith("worker")}
        assert not bad, f"{module} imports {bad}"


def test_worker_imports_only_the_archive_io_modules() -> None:
    allowed = (
        "archive.records",
        "archive.warc_writer",
        "archive.warc_reader",
        "archive.cdxj",
        "archive.collection",
    )
    for module, imported in _project_imports("worker").items():
        if module in ENTRY_MODULES:
            continue
        bad = {m for m in imported if m.startswith("archive") and not m.startswith(allowed)}
        assert not bad, f"{module} imports {bad}"


def test_the_walker_sees_imports() -> None:
    # guard against a walker that silently finds nothing
    assert "schemas" in {m.split(".")[0] for m in _imports(ROOT / "worker" / "report.py")}

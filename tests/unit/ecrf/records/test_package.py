"""The records package's shape: imports at module level, no cycle through it, pure rules, small modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
PACKAGE = ROOT / "ecrf" / "records"
MODULES = sorted(PACKAGE.glob("*.py"))
# The steps that touch no database and call no service.
PURE = ("document", "normalise", "validation", "scope", "rules")
SERVICES = ("ecrf.queries", "ecrf.lifecycle", "ecrf.subjects", "ecrf.api", "ecrf.views", "ecrf.records.save",
            "ecrf.records.recheck", "ecrf.records.query_sync", "ecrf.records.enrollment")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_level_imports(path: Path) -> set[str]:
    """What a module imports at its top level (not in functions, not under ``if TYPE_CHECKING``)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(path): path for path in (ROOT / "ecrf").rglob("*.py")}
    return {name: {i for i in _module_level_imports(path) if i in files and i != name} for name, path in files.items()}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_records_module_imports_inside_a_function(path):
    nested = [f"{path.name}:{node.lineno}" for function in ast.walk(ast.parse(path.read_text()))
              if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
              for node in ast.walk(function) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert nested == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_records_module_exceeds_450_lines(path):
    assert len(path.read_text().splitlines()) <= 450


def test_init_re_exports_nothing():
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    assert [type(node).__name__ for node in tree.body] == ["Expr"]  # the docstring alone


def test_no_module_level_import_cycle_passes_through_records():
    graph = _graph()

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            name = todo.pop()
            if name == goal:
                return True
            if name not in seen:
                seen.add(name)
                todo += graph.get(name, ())
        return False

    cycles = [(name, imported) for name in graph if name.startswith("ecrf.records")
              for imported in graph[name] if reaches(imported, name)]
    assert cycles == []


@pytest.mark.parametrize("name", PURE)
def test_the_lower_layers_import_no_service(name):
    imports = _module_level_imports(PACKAGE / f"{name}.py")
    assert [i for i in imports if i.startswith(SERVICES)] == []

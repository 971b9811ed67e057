"""The static checks that `make test` runs first, here too so that `pytest` alone catches what they find.

ruff (pyflakes, pycodestyle, isort, bugbear, pyupgrade) over the whole tree and
mypy over the packages pyproject.toml names; both come with the ``test``
extra, so a missing tool is a broken set-up and fails rather than skips.
"""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOGGING_CALLS = {"debug", "info", "warning", "error", "exception", "critical", "log"}


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing_in_the_tree():
    result = _run("ruff", "check", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing_in_the_typed_packages():
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def _logger_misuse(source: str, name: str) -> list[str]:
    """Lines of ``source`` that log through the root logger or name a logger other than the module's own."""
    found = []
    for node in ast.walk(ast.parse(source, name)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "logging"):
            continue
        if node.func.attr in LOGGING_CALLS:
            found.append(f"{name}:{node.lineno}: logging.{node.func.attr}() logs to the root logger")
        elif node.func.attr == "getLogger" and not (
                len(node.args) == 1 and isinstance(node.args[0], ast.Name) and node.args[0].id == "__name__"):
            found.append(f"{name}:{node.lineno}: getLogger() not named __name__")
    return found


def test_every_module_that_logs_uses_its_own_logger():
    # The application factory (ecrf/app.py) sets the package logger's level: configuration, not logging.
    modules = [path for package in ("ecrf", "audit") for path in sorted((ROOT / package).rglob("*.py"))
               if path != ROOT / "ecrf" / "app.py"]
    misuse = [line for path in modules
              for line in _logger_misuse(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert not misuse, "\n".join(misuse)


def test_a_logger_named_by_hand_and_a_root_logger_call_are_both_reported():
    source = 'import logging\nlog = logging.getLogger("ecrf")\nlogging.info("x")\nok = logging.getLogger(__name__)\n'
    assert _logger_misuse(source, "m.py") == [
        "m.py:2: getLogger() not named __name__", "m.py:3: logging.info() logs to the root logger"]

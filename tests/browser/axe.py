"""axe-core in a Playwright page: the accessibility rules a page breaks, found in the browser itself.

axe-core comes from the npm registry (package.json pins it; ``make test`` runs ``npm ci``), never from the network
at test time: the script is read from node_modules and injected into the page.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AXE_SCRIPT = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("critical", "serious")


class AxeMissing(RuntimeError):
    """axe-core is not installed where the browser tests look for it."""


def axe_source(path: Path = AXE_SCRIPT) -> str:
    """The text of axe.min.js; :raise AxeMissing: naming the path and the command that installs it."""
    if not path.is_file():
        raise AxeMissing(f"{path} not found: run `npm ci --no-audit --no-fund` (make test does) to install axe-core")
    return path.read_text(encoding="utf-8")


def violations(page, source: str | None = None) -> list[dict]:
    """Every axe-core violation on the page as it is now (WCAG 2.x A and AA rules and axe's best practices).

    Each is axe's own dict: ``id``, ``impact`` (minor, moderate, serious, critical), ``help`` and ``nodes``.
    """
    # Evaluated rather than added as a <script>: the app's Content-Security-Policy rightly refuses inline scripts.
    page.evaluate(source if source is not None else axe_source())
    return page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")


def blocking(found: list[dict]) -> list[dict]:
    """The critical and serious violations among ``found``: the ones no page may have."""
    return [violation for violation in found if violation["impact"] in BLOCKING]


def describe(found: list[dict]) -> str:
    """One line per violation and element, to read in a failing assertion."""
    return "\n".join(f"{v['impact']} {v['id']}: {v['help']} at {node['target']}"
                     for v in found for node in v["nodes"])

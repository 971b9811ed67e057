"""axe-core in a Playwright page: the accessibility rules a page breaks, found in the browser itself.

axe-core comes from the npm registry (package.json pins it; ``make test`` runs ``npm ci``), never from the network
at test time: the script is read from node_modules and injected into the page.
"""

from __future__ import annotations

import json
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


DESKTOP, PHONE = 1366, 390


def looked_at(page, shots: Path, name: str) -> list[str]:
    """Screenshots of the page at desktop and phone widths (kept in ``shots`` for a person to look at, with axe's
    findings beside them); what the page must not have at either width: axe's critical or serious violations,
    other than one h1, sideways scrolling on a phone."""
    shots.mkdir(parents=True, exist_ok=True)
    problems = []
    for width in (DESKTOP, PHONE):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
        found = violations(page)
        (shots / f"{name}-{width}.axe.json").write_text(json.dumps(found, indent=1))
        problems += [f"{name}@{width}: {line}" for line in describe(blocking(found)).splitlines()]
        if page.locator("h1").count() != 1:
            problems.append(f"{name}@{width}: {page.locator('h1').count()} h1 elements")
        if width == PHONE and page.evaluate("document.scrollingElement.scrollWidth") > PHONE:
            problems.append(f"{name}@{width}: scrolls sideways")
    page.set_viewport_size({"width": DESKTOP, "height": 900})
    return problems


SCREENSHOTS = ROOT / "test-results" / "screenshots"


def shot(page, name: str, folder: Path = SCREENSHOTS) -> Path:
    """The whole page as ``<folder>/<name>.png``, kept for a person to look at; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

"""Every page type, for every role, passes axe-core with no critical or serious violation, and fits a phone."""

import json
from pathlib import Path

import pytest
from axe import AXE_SCRIPT, AxeMissing, axe_source, blocking, describe, violations
from conftest import Api, sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
STUDY = "/studies/CD7_CART_SAA"
ROLES = ["staff01", "mon01", "inv01", "dm", "root"]
SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screens"
PHONE, DESKTOP = 390, 1366
HEADING_RULES = {"page-has-heading-one", "heading-order"}  # only "moderate" in axe, yet the issue asks for them


@pytest.fixture(scope="module")
def subject(live_app):
    """A site-01 subject with eligibility, chemistry (an out-of-range value, so a query) and two adverse events."""
    staff = Api(live_app.test_client(), live_app.tokens["staff01"], "CD7_CART_SAA")
    subject = staff.register()
    saves = [
        staff.save(subject, "SCREEN", "LB_CHEM", {"LBDTC": "2026-01-11", "ALT": 200, "AST": 20, "BILI": 10,
                                                  "CREAT": 70}),
        staff.save(subject, "LOGS", "AE", {"AE": [
            {"AETERM": "Pyrexia", "AETOXGR": 1, "AESTDTC": "2026-01-12", "AESER": False, "AEOUT": "recovering"},
            {"AETERM": "Rash", "AETOXGR": 2, "AESTDTC": "2026-01-13", "AESER": False}]}),
    ]
    assert all(response.status_code < 300 for response in saves), [r.get_json() for r in saves]
    return subject


def pages(subject: str) -> dict[str, str]:
    """Page type -> path: one of each page a signed-in person can reach."""
    record = f"{STUDY}/subjects/{subject}/events"
    return {
        "home": "/", "subjects": f"{STUDY}/subjects", "subject": f"{STUDY}/subjects/{subject}",
        "form-IE": f"{record}/SCREEN/forms/IE", "form-AE": f"{record}/LOGS/forms/AE",
        "form-LB": f"{record}/SCREEN/forms/LB_CHEM", "queries": f"{STUDY}/queries", "reports": f"{STUDY}/reports",
        "exports": f"{STUDY}/exports", "ranges": f"{STUDY}/ranges", "broken-checks": f"{STUDY}/checks/broken",
        "audit": f"{STUDY}/subjects/{subject}/audit", "admin": "/admin/", "password": "/account/password",
        "error": f"{STUDY}/subjects/NO-SUCH-SUBJECT",
    }


def check(page, name: str, width: int = DESKTOP) -> list[str]:
    """Screenshot the page at ``width`` and list what it must not have, each line prefixed with ``name``.

    That is: axe's critical and serious violations, a missing h1 or headings out of order, and more than one h1.
    Every violation found (minor ones too) is kept beside the screenshot as JSON.
    """
    page.set_viewport_size({"width": width, "height": 900})
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    found = violations(page)
    (SHOTS / f"{name}-{width}.axe.json").write_text(json.dumps(found, indent=1))
    forbidden = blocking(found) + [v for v in found if v["id"] in HEADING_RULES and v not in blocking(found)]
    headings = page.locator("h1").count()
    return [f"{name}: {line}" for line in describe(forbidden).splitlines()] + (
        [f"{name}: {headings} h1 elements"] if headings != 1 else [])


STICKING_OUT = """(limit) => [...document.querySelectorAll('body *')]
    .filter((element) => element.getBoundingClientRect().right > limit + 1)
    .filter((element) => !element.parentElement.closest('table, .scroll'))
    .slice(0, 5).map((element) => `${element.tagName.toLowerCase()}.${element.className}`)"""


def test_axe_helper_finds_axe_core_installed_by_npm():
    assert AXE_SCRIPT.is_file(), f"{AXE_SCRIPT} missing: run `npm ci --no-audit --no-fund` (make test does)"
    assert "axe.run" in axe_source() or "axe-core" in axe_source()


def test_axe_helper_names_the_missing_script_and_the_command(tmp_path):
    with pytest.raises(AxeMissing, match="npm ci"):
        axe_source(tmp_path / "axe.min.js")


def test_axe_reports_a_control_without_a_label(page):
    page.set_content('<!doctype html><html lang="en"><title>t</title><main><h1>t</h1>'
                     '<select><option>1</option></select></main></html>')
    assert "select-name" in {violation["id"] for violation in blocking(violations(page))}


def test_login_page_has_no_serious_accessibility_violation(live_app, page):
    page.goto(f"{live_app.base_url}/login")
    problems = check(page, "login") + check(page, "login", PHONE)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("person", ROLES)
def test_every_page_has_no_serious_accessibility_violation(live_app, page, subject, person):
    sign_in(page, live_app.base_url, person)
    problems: list[str] = []
    for name, path in pages(subject).items():
        page.goto(f"{live_app.base_url}{path}")
        problems += check(page, f"{person}-{name}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("person", ["staff01", "dm"])
def test_every_page_fits_a_phone_without_sideways_scrolling(live_app, page, subject, person):
    page.set_viewport_size({"width": PHONE, "height": 900})
    sign_in(page, live_app.base_url, person)
    too_wide, problems = {}, []
    for name, path in pages(subject).items():
        page.goto(f"{live_app.base_url}{path}")
        problems += check(page, f"{person}-{name}", PHONE)
        width = page.evaluate("document.scrollingElement.scrollWidth")
        if width > PHONE:
            too_wide[name] = (width, page.evaluate(STICKING_OUT, PHONE))
    assert not too_wide, too_wide
    assert not problems, "\n".join(problems)


def test_header_folds_behind_a_menu_button_on_a_phone(live_app, page):
    page.set_viewport_size({"width": PHONE, "height": 900})
    sign_in(page, live_app.base_url, "dm")
    page.goto(f"{live_app.base_url}{STUDY}/subjects")
    button, queries = page.locator(".menu-toggle"), page.locator("#nav-queries")
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(queries).to_be_hidden()
    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(queries).to_be_visible()
    page.keyboard.press("Escape")
    expect(queries).to_be_hidden()


def test_header_without_javascript_wraps_its_links_within_a_phone(live_app, browser):
    context = browser.new_context(java_script_enabled=False, viewport={"width": PHONE, "height": 900})
    page = context.new_page()
    sign_in(page, live_app.base_url, "dm")
    page.goto(f"{live_app.base_url}{STUDY}/subjects")
    expect(page.locator(".menu-toggle")).to_be_hidden()
    expect(page.locator("#nav-queries")).to_be_visible()
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE
    context.close()


def test_data_managers_header_fits_one_line_at_1366_px(live_app, page):
    page.set_viewport_size({"width": DESKTOP, "height": 900})
    sign_in(page, live_app.base_url, "dm")
    page.goto(f"{live_app.base_url}{STUDY}/subjects")
    expect(page.locator(".menu-toggle")).to_be_hidden()
    boxes = [item.bounding_box() for item in page.locator(".topbar li:visible").all()]
    assert all(box["x"] + box["width"] <= DESKTOP for box in boxes), boxes
    middles = [box["y"] + box["height"] / 2 for box in boxes]  # one line: every item centred on the same height
    assert max(middles) - min(middles) < 10, boxes

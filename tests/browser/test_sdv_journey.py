"""A monitor's SDV journey in a real browser: verify items, the site changes one, the marker shows on the form and
in the worklist, re-verification clears it; axe-core on the worklist; screenshots at 1366 and 390 px."""

import pytest
from axe import blocking, describe, violations
from conftest import ROOT, Api, sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
STUDY = "/studies/CD7_CART_SAA"
SHOTS = ROOT / "test-results" / "screenshots"
VS = {"VSDTC": "2026-01-11", "HEIGHT": 170, "WEIGHT": 70, "TEMP": 36.6, "HR": 70, "SYSBP": 118, "DIABP": 76,
      "OXYSAT": 98}
WIDTHS = (1366, 390)


def shots(page, name: str) -> None:
    """Screenshots of the page at each width; at 390 px nothing but a table's own box may scroll sideways."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        assert page.evaluate("document.scrollingElement.scrollWidth") <= width, (name, width)
    page.set_viewport_size({"width": 1366, "height": 900})


def accessible(page) -> None:
    found = blocking(violations(page))
    assert not found, describe(found)
    assert page.locator("h1").count() == 1


def test_monitor_verifies_items_sees_the_change_marker_and_clears_it(live_app, page):
    staff = Api(live_app.test_client(), live_app.tokens["staff01"], "CD7_CART_SAA")
    subject = staff.register()  # the site's first subject: every item needs SDV (first 3 per site)
    assert staff.save(subject, "SCREEN", "VS", VS).status_code == 201
    form_url = f"{live_app.base_url}{STUDY}/subjects/{subject}/events/SCREEN/forms/VS"
    sign_in(page, live_app.base_url, "mon01")
    page.set_viewport_size({"width": 1366, "height": 900})

    page.goto(form_url)
    panel = page.locator("#sdv-panel")
    expect(panel.locator("#sdv-status")).to_contain_text("Awaiting SDV")
    page.check("#sdv-WEIGHT")
    page.check("#sdv-HEIGHT")
    page.click("#verify-selected")
    expect(panel.locator('tr[data-item="/WEIGHT"]')).to_have_attribute("data-sdv", "verified")
    expect(panel.locator('tr[data-item="/VSDTC"]')).to_have_attribute("data-sdv", "awaiting")
    expect(panel.locator("#sdv-status")).to_contain_text("Partly verified")
    page.click("#verify")
    expect(panel.locator("#sdv-status")).to_contain_text("Verified")
    expect(panel.locator('input[name="item"]')).to_have_count(0)

    record = staff.get(staff.record_path(subject, "SCREEN", "VS")).get_json()
    assert staff.save(subject, "SCREEN", "VS", {**VS, "WEIGHT": 72}, version=record["version"],
                      reason="scale recalibrated").status_code == 200

    page.goto(form_url)
    expect(panel.locator("#sdv-status")).to_contain_text("Changed since SDV")
    marker = panel.locator('.sdv-marker[data-marker="/WEIGHT"]')
    expect(marker).to_contain_text("70 → 72")
    expect(marker).to_contain_text("Staff01")
    expect(marker).to_contain_text("CST")  # site 01's time, with its zone
    expect(panel.locator('tr[data-item="/HEIGHT"]')).to_have_attribute("data-sdv", "verified")
    shots(page, "sdv-form-marker")

    page.goto(f"{live_app.base_url}{STUDY}/subjects/{subject}")
    expect(page.locator('tr[data-form="VS"] td[data-event="SCREEN"]')).to_have_attribute("data-sdv", "changed")
    shots(page, "sdv-subject-grid")
    page.goto(f"{live_app.base_url}{STUDY}/subjects")
    expect(page.locator(f'tr[data-subject="{subject}"] .review-cell')).to_contain_text("1 changed since SDV")
    shots(page, "sdv-subject-list")

    page.click("#nav-sdv")
    expect(page.locator("h1")).to_have_text("SDV worklist")
    row = page.locator(f'#sdv-worklist tr[data-subject="{subject}"][data-form="VS"]')
    expect(row).to_have_attribute("data-sdv", "changed")
    expect(row.locator('.sdv-marker[data-marker="/WEIGHT"]')).to_contain_text("70 → 72")
    page.select_option("#filter-status", "changed")
    page.click("#sdv-filters button")
    expect(row).to_be_visible()
    accessible(page)
    shots(page, "sdv-worklist")

    row.locator("a").click()
    page.check("#sdv-WEIGHT")
    page.click("#verify-selected")
    expect(panel.locator("#sdv-status")).to_contain_text("Verified")
    expect(panel.locator(".sdv-marker")).to_have_count(0)
    page.goto(f"{live_app.base_url}{STUDY}/sdv?subject={subject}")
    expect(page.locator(f'#sdv-worklist tr[data-subject="{subject}"]')).to_have_count(0)
    accessible(page)
    shots(page, "sdv-worklist-empty")

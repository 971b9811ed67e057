"""The reports page in a real browser, as the data manager: completeness against the schedule, empty states,
axe-core clean, no sideways scrolling at 390 px; screenshots kept at 1366 and 390 px."""


import pytest
from axe import blocking, describe, shot, violations
from conftest import Api, sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
STUDY = "/studies/CD7_CART_SAA"


@pytest.fixture(scope="module")
def screened(live_app):
    """A subject in screening with 2 of the 12 screening forms saved."""
    staff = Api(live_app.test_client(), live_app.tokens["staff01"], "CD7_CART_SAA")
    subject = staff.register()
    assert staff.save(subject, "SCREEN", "IC", {"RFICDTC": "2026-01-05", "ICVER": "1", "ICREAD": True}) \
        .status_code == 201
    assert staff.save(subject, "SCREEN", "ECOG", {"ECOGDTC": "2026-01-11", "ECOG": 1}).status_code == 201
    return subject


def test_the_data_manager_sees_completeness_against_the_schedule(live_app, page, screened):
    sign_in(page, live_app.base_url, "dm")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.click("#nav-reports")
    row = page.locator("#completeness-subjects tbody tr", has_text=screened)
    cells = row.locator("td")
    expect(cells.nth(2)).to_have_text("12")          # forms expected by today: the screening forms
    expect(cells.nth(3)).to_have_text("2")           # saved
    expect(cells.nth(5)).to_have_text("16.7")        # complete of expected, not of saved
    expect(cells.nth(6)).to_contain_text("SCREEN/DM")
    expect(page.locator("#completeness .definition")).to_contain_text("window has opened")
    expect(page.locator("#safety-crs .empty-state")).to_have_text("No CRS graded yet.")
    expect(page.locator("#efficacy .empty-state").first).to_be_visible()
    found = violations(page)
    assert blocking(found) == [], describe(blocking(found))
    assert page.locator("h1").count() == 1
    shot(page, "reports-1366")


def test_the_reports_page_fits_a_phone(live_app, page, screened):
    sign_in(page, live_app.base_url, "dm")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_app.base_url}{STUDY}/reports")
    expect(page.locator("#completeness-subjects")).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    found = violations(page)
    assert blocking(found) == [], describe(blocking(found))
    shot(page, "reports-390")

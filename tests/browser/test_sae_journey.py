"""The SAE journey in a real browser on the real wire server: the site completes the report its serious adverse
event opened, the investigator signs and submits it with a password, the sponsor's safety reviewer acknowledges
it; each SAE page passes axe-core (0 critical, 0 serious), has one h1 and fits 390 px without sideways scrolling."""

from pathlib import Path

import pytest
from axe import blocking, describe, violations
from conftest import PASSWORD, Api, sign_in
from playwright.sync_api import expect

from ecrf.users import add_user

pytestmark = pytest.mark.browser
STUDY = "/studies/CD7_CART_SAA"
SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screens"
PHONE, DESKTOP = 390, 1366


@pytest.fixture(scope="module")
def report(live_app):
    """The id of the SAE report a site-01 subject's serious adverse event opened; a safety reviewer exists."""
    with live_app.app_context():
        add_user("safety", "safety", [], PASSWORD, full_name="Safety Reviewer")
    staff = Api(live_app.test_client(), live_app.tokens["staff01"], "CD7_CART_SAA")
    subject = staff.register()
    saved = staff.save(subject, "LOGS", "AE", {"AE": [
        {"AETERM": "Febrile neutropenia", "AETOXGR": 3, "AESTDTC": "2026-03-01", "AESER": True,
         "AESERCAT": ["hosp"], "AERELCAR": "possible", "AERELLD": "probable", "AEOUT": "recovering"}]})
    assert saved.status_code == 201, saved.get_json()
    (found,) = staff.get(f"{STUDY}/sae").get_json()
    return found["id"]


def inspect(page, name: str) -> list[str]:
    """Screenshots at 1366 and 390 px; what each width breaks: axe's blocking rules, the h1 count, sideways scroll."""
    problems = []
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (DESKTOP, PHONE):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"sae-{name}-{width}.png"), full_page=True)
        problems += [f"{name}@{width}: {line}" for line in describe(blocking(violations(page))).splitlines()]
        if page.locator("h1").count() != 1:
            problems.append(f"{name}@{width}: {page.locator('h1').count()} h1 elements")
        if (scroll := page.evaluate("document.scrollingElement.scrollWidth")) > width:
            problems.append(f"{name}@{width}: {scroll} px wide")
    page.set_viewport_size({"width": DESKTOP, "height": 900})
    return problems


def signed_in(browser, base: str, person: str):
    """A page of a fresh browser context (its own cookies) signed in as ``person``, once the sign-in has landed."""
    page = browser.new_context().new_page()
    sign_in(page, base, person)
    expect(page.locator(".who")).to_contain_text(person.title() if person != "safety" else "Safety Reviewer")
    return page


def test_the_site_reports_an_sae_and_the_safety_reviewer_acknowledges_it(live_app, browser, report):
    base, problems = live_app.base_url, []
    page = signed_in(browser, base, "staff01")
    page.click("#nav-sae")
    expect(page.locator(f'tr[data-report="{report}"] .remaining')).to_contain_text("min left")
    problems += inspect(page, "list-site")
    page.click(f'tr[data-report="{report}"] a')
    page.fill("#sae-event_term", "Febrile neutropenia " * 11)  # 220 characters: longer than a term may be
    page.click("#sae-save")
    expect(page.locator("#error-summary")).to_contain_text("Reaction / event")
    problems += inspect(page, "report-error")
    page.fill("#sae-event_term", "Febrile neutropenia")
    page.fill("#sae-onset_date", "2026-03-01")
    page.fill("#sae-awareness_at", "2026-03-01T08:00")
    page.select_option("#sae-expectedness", "unexpected")
    page.fill("#sae-narrative", "Fever 39.5 °C on day 12, admitted; cultures pending.")
    page.click("#sae-save")
    expect(page.locator(".flash.success")).to_be_visible()
    expect(page.locator("#sae-due")).to_contain_text("2026-03-02 08:00:00 CST")
    problems += inspect(page, "report-draft")

    page.context.close()
    page = signed_in(browser, base, "inv01")
    page.goto(f"{base}{STUDY}/sae/{report}")
    page.fill("#sae-password", PASSWORD)
    page.click("#sae-submit")
    expect(page.locator("#sae-state")).to_have_text("submitted")
    expect(page.locator("#sae-signature")).to_contain_text("inv01")

    page.context.close()
    page = signed_in(browser, base, "safety")
    page.click("text=CD7_CART_SAA")
    expect(page.locator("h1")).to_have_text("SAE reports")
    problems += inspect(page, "list-safety")
    page.click(f'tr[data-report="{report}"] a')
    problems += inspect(page, "report-submitted")
    page.fill("#ack-text", "Received; thank you")
    page.click("#sae-acknowledge")
    expect(page.locator("#sae-state")).to_have_text("acknowledged")
    expect(page.locator("#sae-history")).to_contain_text("sae_acknowledged")
    problems += inspect(page, "report-acknowledged")
    page.context.close()
    assert not problems, "\n".join(problems)

"""AE coding in a real browser: the site picks a CTCAE term and types an "other" term; the coder codes it
from the queue; axe on the queue; screenshots at desktop and phone widths."""

from pathlib import Path

import pytest
from axe import blocking, violations
from conftest import PASSWORD, Api, sign_in
from playwright.sync_api import expect

from ecrf.users import add_user

pytestmark = pytest.mark.browser
STUDY = "/studies/CD7_CART_SAA"
SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "coding"


def screenshots(page, name):
    """The page at 1366 and 390 px, kept under test-results/coding/; no horizontal scrolling on the phone."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1366, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        assert page.evaluate("document.scrollingElement.scrollWidth") <= width, (name, width)
    page.set_viewport_size({"width": 1366, "height": 900})


def fill_row(page, index, term, grade):
    page.fill(f"#AE-{index}-AETERM", term)
    page.select_option(f"#AE-{index}-AETOXGR", grade)
    page.fill(f"#AE-{index}-AESTDTC", "2026-03-05")
    page.check(f'input[name="AE-{index}-AESER"][value="false"]')
    page.select_option(f"#AE-{index}-AERELCAR", "probable")
    page.select_option(f"#AE-{index}-AERELLD", "not_related")
    page.select_option(f"#AE-{index}-AEOUT", "recovering")


def test_site_picks_a_term_and_enters_another_then_the_coder_codes_it_from_the_queue(live_app, browser):
    with live_app.app_context():
        add_user("coder1", "coder", [], PASSWORD, full_name="Coder One")
    subject = Api(live_app.test_client(), live_app.tokens["staff01"], "CD7_CART_SAA").register()

    site = browser.new_context().new_page()
    sign_in(site, live_app.base_url, "staff01")
    site.goto(f"{live_app.base_url}{STUDY}/subjects/{subject}/events/LOGS/forms/AE")
    site.click("button.add-row")
    # The term chooser: the CTCAE terms offered as the person types, free text allowed ("Other, specify").
    assert site.locator("#AE-0-AETERM").get_attribute("list")
    expect(site.locator(f"datalist#{site.locator('#AE-0-AETERM').get_attribute('list')} option"
                        "[value='Cytokine release syndrome']")).to_have_count(1)
    fill_row(site, 0, "Cytokine release syndrome", "3")
    site.click("#save")
    expect(site.locator("#AE-0-AETERM")).to_have_value("Cytokine release syndrome")
    site.click("button.add-row")
    fill_row(site, 1, "Foggy thinking after infusion", "2")
    site.click("#save")
    expect(site.locator("#AE-1-AETERM")).to_have_value("Foggy thinking after infusion")
    # Beside each term, how it stands: coded on save (picked from the list), or waiting for the coder.
    expect(site.locator('[data-pointer$="/AETERM"] .flag-coded')).to_have_text(
        "CTCAE 5.0: Cytokine release syndrome · 10052015")
    expect(site.locator('[data-pointer$="/AETERM"] .flag-uncoded')).to_have_text("Waiting for the coder")
    found = violations(site)
    assert blocking(found) == [], blocking(found)
    screenshots(site, "ae-chooser")

    coder = browser.new_context().new_page()
    sign_in(coder, live_app.base_url, "coder1")
    coder.goto(f"{live_app.base_url}{STUDY}/subjects")
    coder.click("#nav-coding")
    expect(coder.locator("h1")).to_have_text("Coding queue")
    entry = coder.locator(".coding-entry", has_text="Foggy thinking after infusion")
    expect(entry).to_have_count(1)
    expect(coder.locator(".coding-entry", has_text="Cytokine release syndrome")).to_have_count(0)  # coded on save
    found = violations(coder)
    assert blocking(found) == [], blocking(found)
    screenshots(coder, "coding-queue")

    # A term the coder cannot place goes back to the site as a query on the item.
    entry.locator("summary", has_text="Term unclear").click()
    entry.locator("textarea[name=text]").fill("Which neurological sign was seen? Please give the CTCAE term.")
    entry.locator("button", has_text="Raise query").click()
    expect(coder.locator(".flash.success")).to_contain_text("Query sent to the site")
    entry = coder.locator(".coding-entry", has_text="Foggy thinking after infusion")
    expect(entry.locator(".state-queried")).to_have_text("queried")
    site.reload()
    expect(site.locator('[data-pointer$="/AETERM"] details.query.state-open')).to_contain_text(
        "Which neurological sign was seen?")
    expect(site.locator('[data-pointer$="/AETERM"] .flag-uncoded')).to_have_text("Queried by the coder")

    entry.locator("input[name=code]").fill("Encephalopathy")
    entry.locator("button", has_text="Code").click()
    expect(coder.locator(".flash.success")).to_contain_text("Term coded")
    expect(coder.locator("#queue-empty")).to_be_visible()

    coder.goto(f"{live_app.base_url}{STUDY}/reports")
    table = coder.locator("#safety-table")
    expect(table.locator("tr.safety-term", has_text="Encephalopathy")).to_have_count(1)
    expect(table.locator("tr.safety-soc", has_text="Immune system disorders")).to_have_count(1)
    found = violations(coder)
    assert blocking(found) == [], blocking(found)
    table.scroll_into_view_if_needed()
    screenshots(coder, "safety-table")

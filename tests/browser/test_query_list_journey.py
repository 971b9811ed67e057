"""The query list as a monitor works it, messages by kind, and a header that fits, in a real browser."""

import csv
import io
from pathlib import Path

import pytest
from axe import blocking, describe, violations
from conftest import OVERRIDDEN, Api, sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
STUDY = "/studies/CD7_CART_SAA"
SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screens"
ROLES = ["staff01", "inv01", "mon01", "dm", "root"]
VS = {"VSDTC": "2026-01-11", "HEIGHT": 170, "WEIGHT": 70, "TEMP": 36.6, "HR": 70, "SYSBP": 118, "DIABP": 76,
      "OXYSAT": 98}


def screenshots(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"{name} scrolls sideways at {width} px ({wide} px wide)"
    page.set_viewport_size({"width": 1366, "height": 900})


@pytest.fixture(scope="module")
def raised(live_app):
    """A subject of site 01 with four manual queries on vital signs, and one at site 02."""
    client = live_app.test_client()
    staff, monitor = (Api(client, live_app.tokens[n], "CD7_CART_SAA") for n in ("staff01", "mon01"))
    subject = staff.register()
    assert staff.save(subject, "SCREEN", "VS", VS).status_code == 201
    ids = {}
    for item in ("WEIGHT", "HEIGHT", "TEMP", "HR"):
        response = monitor.post(f"{STUDY}/queries", {
            "subject": subject, "event": "SCREEN", "form": "VS", "item": f"/{item}", "text": f"Check {item}"})
        assert response.status_code == 201, response.get_json()
        ids[item] = response.get_json()["id"]
    return {"subject": subject, "ids": ids}


def test_a_monitor_filters_with_choosers_closes_three_with_one_comment_and_downloads_the_csv(live_app, page, raised):
    sign_in(page, live_app.base_url, "mon01")
    page.goto(f"{live_app.base_url}{STUDY}/queries")
    page.select_option("#f-subject", raised["subject"])
    page.select_option("#f-event", "SCREEN")
    page.select_option("#f-form", "VS")
    page.click("#apply-filters")
    rows = page.locator("table.queries tbody tr[data-query]")
    expect(rows).to_have_count(4)
    expect(page.locator("table.queries")).to_contain_text("Vital signs")
    expect(page.locator("table.queries")).not_to_contain_text("/WEIGHT")  # items by label, not by pointer
    page.select_option("#f-item", label="Weight")  # items now narrowed to the chosen form, by label
    page.click("#apply-filters")
    expect(rows).to_have_count(1)
    page.select_option("#f-item", "")
    page.click("#apply-filters")
    expect(page.locator('#state-counts li[data-state="open"] strong')).to_have_text("4")

    violations_found = blocking(violations(page))
    assert violations_found == [], describe(violations_found)
    screenshots(page, "query-list")

    for item in ("WEIGHT", "HEIGHT", "TEMP"):
        page.check(f"#pick-{raised['ids'][item]}")
    page.fill("#bulk-text", "Verified against source at the visit")
    page.click("#bulk-apply")
    expect(page.locator(".flash.success")).to_contain_text("3 queries closed")
    expect(page.locator(".flash.success")).to_have_attribute("role", "status")
    expect(rows).to_have_count(1)  # closed ones leave the list
    expect(page.locator('#state-counts li[data-state="closed"] strong')).to_have_text("3")
    expect(page.locator('#state-counts li[data-state="open"] strong')).to_have_text("1")
    screenshots(page, "query-list-after-bulk")

    page.click('#state-counts li[data-state="closed"] a')
    expect(rows).to_have_count(3)
    page.check("#pick-all")  # one box ticks every query on the page
    expect(page.locator('input[name="ids"]:checked')).to_have_count(3)
    with page.expect_download() as download_info:
        page.click("#download-csv")
    raw = download_info.value.path().read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    found = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(found) == 3 and {r["state"] for r in found} == {"closed"} and {r["form_label"] for r in found} == {
        "Vital signs"} and "Weight" in {r["item_label"] for r in found}
    assert {r["last_message"] for r in found} == {"Verified against source at the visit"}


def test_a_wrong_signature_password_shows_an_error_styled_alert(live_app, page):
    staff = Api(live_app.test_client(), live_app.tokens["staff01"], "CD7_CART_SAA")
    subject = staff.register()
    staff.save(subject, "SCREEN", "ECOG", {"ECOGDTC": "2026-01-11", "ECOG": 1})
    sign_in(page, live_app.base_url, "inv01")
    page.goto(f"{live_app.base_url}{STUDY}/subjects/{subject}/events/SCREEN/forms/ECOG")
    page.locator("#sign-visit > summary").click()
    page.fill("#sign-visit-override", "Reviewed with the coordinator")
    page.fill("#sign-visit-password", "wrong password")
    page.click("#sign-visit-submit")
    error = page.locator(".flash.error")
    expect(error).to_contain_text("wrong username or password")
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_contain_text("Error:")
    error_background = error.evaluate("e => getComputedStyle(e).backgroundColor")
    screenshots(page, "message-error")
    page.locator("#sign-visit > summary").click()
    page.fill("#sign-visit-override", "Reviewed with the coordinator")
    page.fill("#sign-visit-password", "correct horse battery")
    page.click("#sign-visit-submit")
    done = page.locator(".flash.success")
    expect(done).to_have_attribute("role", "status")
    assert done.evaluate("e => getComputedStyle(e).backgroundColor") != error_background


@pytest.mark.parametrize("who", ROLES)
def test_the_header_is_one_line_at_1366_for_every_role(live_app, page, who):
    page.set_viewport_size({"width": 1366, "height": 900})
    sign_in(page, live_app.base_url, who)
    page.goto(f"{live_app.base_url}{STUDY}/subjects" if who != "root" else f"{live_app.base_url}/admin/")
    links = page.locator(".topbar nav a:visible, .topbar nav button:visible, .topbar nav summary:visible")
    tops = {round(box["y"]) for box in (links.nth(i).bounding_box() for i in range(links.count())) if box}
    height = page.locator(".topbar").bounding_box()["height"]
    assert max(tops) - min(tops) < 20, f"{who}: header items on several lines ({sorted(tops)}, {height} px high)"
    brand = page.locator(".topbar .brand").bounding_box()["height"]
    assert height < brand * 5, f"{who}: header {height} px high"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(".topbar").screenshot(path=str(SHOTS / f"header-{who}-1366.png"))


def test_icons_are_drawn_without_relying_on_an_emoji_font(live_app, page):
    """Every icon a page shows is an inline SVG or a CSS shape: no character an emoji font would have to draw."""
    staff = Api(live_app.test_client(), live_app.tokens["staff01"], "CD7_CART_SAA")
    dm = Api(live_app.test_client(), live_app.tokens["dm"], "CD7_CART_SAA")
    subject = staff.register()
    staff.save(subject, "SCREEN", "ECOG", {"ECOGDTC": "2026-01-11", "ECOG": 1})
    locking = dm.post(f"/studies/CD7_CART_SAA/subjects/{subject}/events/SCREEN/forms/ECOG/lock", OVERRIDDEN)
    assert locking.status_code == 200
    sign_in(page, live_app.base_url, "dm")
    page.goto(f"{live_app.base_url}{STUDY}/subjects/{subject}/events/SCREEN/forms/ECOG")
    locked = page.locator("#locked")
    expect(locked.locator("svg.icon")).to_have_count(1)
    assert "\U0001f512" not in locked.inner_text()
    emoji = page.evaluate(r"() => /[\u{1F300}-\u{1FAFF}]/u.test(document.body.innerText)")
    assert not emoji

"""The subject's audit trail in a browser: sentences, one sequence, paging, filters, axe, 390 px; screenshots kept."""

import pytest
from axe import blocking, describe, violations
from conftest import ROOT, Api, sign_in
from long_history import append_long_history
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
STUDY = "/studies/CD7_CART_SAA"
SHOTS = ROOT / "test-results" / "screenshots"
VS = {"VSDTC": "2026-01-11", "HEIGHT": 170, "WEIGHT": 70, "TEMP": 36.6, "HR": 70, "SYSBP": 118, "DIABP": 76,
      "OXYSAT": 98}


@pytest.fixture(scope="module")
def edited(live_app):
    """A subject with a saved and corrected Vital signs form, a query, and 300 more events in its trail."""
    staff = Api(live_app.test_client(), live_app.tokens["staff01"], "CD7_CART_SAA")
    subject = staff.register("01")
    assert staff.save(subject, "SCREEN", "VS", VS).status_code == 201
    assert staff.save(subject, "SCREEN", "VS", {**VS, "OXYSAT": 97}, version=1,
                      reason="transcription error").status_code == 200
    monitor = Api(live_app.test_client(), live_app.tokens["mon01"], "CD7_CART_SAA")
    assert monitor.post(f"{STUDY}/queries", {"subject": subject, "event": "SCREEN", "form": "VS", "item": "/HR",
                                            "text": "Please check the pulse"}).status_code == 201
    with live_app.app_context():
        append_long_history("CD7_CART_SAA", subject, "01", 300)
        from ecrf.trail import flush_checkpoints

        flush_checkpoints()
    return subject


def _numbers(page) -> list[int]:
    return [int(n) for n in page.locator(".audit-event").evaluate_all("(items) => items.map((i) => i.dataset.number)")]


def _blocking(page) -> str:
    return describe(blocking(violations(page)))


def test_the_trail_reads_as_sentences_and_pages_through_one_sequence(live_app, page, edited):
    sign_in(page, live_app.base_url, "mon01")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_app.base_url}{STUDY}/subjects/{edited}/audit")
    expect(page.locator("h1")).to_have_text("Audit trail")
    trail = page.locator(".audit-trail")
    expect(trail).to_contain_text("registered the subject at site 01")
    expect(trail).to_contain_text("changed Oxygen saturation (SpO₂) from 98 % to 97 % (reason: transcription error)")
    expect(trail).to_contain_text("raised a query on Heart rate: “Please check the pulse”")
    assert _numbers(page) == list(range(1, 51))
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "audit-trail-1366.png"), full_page=False)
    assert _blocking(page) == ""
    with page.expect_navigation():
        page.get_by_role("link", name="Next").click()
    assert _numbers(page) == list(range(51, 101))
    with page.expect_navigation():
        page.get_by_role("link", name="Next").click()
    assert _numbers(page) == list(range(101, 151))
    with page.expect_navigation():
        page.get_by_role("link", name="Previous").click()
    assert _numbers(page) == list(range(51, 101))


def test_filters_by_form_item_and_person_keep_the_subjects_numbers(live_app, page, edited):
    sign_in(page, live_app.base_url, "mon01")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_app.base_url}{STUDY}/subjects/{edited}/audit")
    page.select_option("#filter-form", "VS")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    page.select_option("#filter-item", label="Oxygen saturation (SpO₂)")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    sentences = page.locator(".audit-sentence")
    expect(sentences).to_have_count(2)
    expect(sentences.nth(1)).to_have_text(
        "Staff01 changed Oxygen saturation (SpO₂) from 98 % to 97 % (reason: transcription error)")
    first, second = _numbers(page)
    assert 1 < first < second
    page.select_option("#filter-item", "")
    page.select_option("#filter-actor", "dm")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    numbers = _numbers(page)
    assert len(numbers) == 50 and all(b > a for a, b in zip(numbers, numbers[1:], strict=False))
    assert numbers[-1] - numbers[0] > 100  # a third of the events are dm's: the others' numbers are skipped
    assert all(text.startswith("Dm ") for text in page.locator(".audit-sentence").all_inner_texts())
    assert _blocking(page) == ""
    with page.expect_navigation():
        page.get_by_role("link", name="Next").click()
    assert _numbers(page)[0] > numbers[-1]


def test_a_bad_date_is_named_in_the_error_summary(live_app, page, edited):
    sign_in(page, live_app.base_url, "mon01")
    response = page.goto(f"{live_app.base_url}{STUDY}/subjects/{edited}/audit?since=2026-02-31")
    assert response.status == 422
    expect(page.locator("#error-summary")).to_contain_text("From: a date as YYYY-MM-DD")
    assert _blocking(page) == ""


def test_the_page_fits_a_phone_in_chinese(live_app, page, edited):
    sign_in(page, live_app.base_url, "mon01")
    page.goto(f"{live_app.base_url}/lang/zh")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_app.base_url}{STUDY}/subjects/{edited}/audit")
    expect(page.locator(".audit-trail")).to_contain_text("将血氧饱和度从 98 % 修改为 97 %（原因：transcription error）")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SHOTS / "audit-trail-390.png"), full_page=False)
    assert _blocking(page) == ""

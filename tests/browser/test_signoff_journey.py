"""Sign-off and lock that warn (issue 19), in Debian's Chromium: the investigator signs a visit with open queries,
the data manager locks a casebook and freezes the study with progress, the investigator's worklist; axe-core on
each page with its dialog open, screenshots at 1366 and 390 px."""

from pathlib import Path

import axe
import pytest
from conftest import OVERRIDDEN, Api, sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
STUDY = "/studies/CD7_CART_SAA"
SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "signoff"


def api(live_app, name: str) -> Api:
    return Api(live_app.test_client(), live_app.tokens[name], "CD7_CART_SAA")


def record_url(app, subject, event, form):
    return f"{app.base_url}{STUDY}/subjects/{subject}/events/{event}/forms/{form}"


def looked_at(page, name: str) -> list[str]:
    """Screenshots at 1366 and 390 px, and what the page must not have at either (see :func:`axe.looked_at`)."""
    return axe.looked_at(page, SHOTS, name)


@pytest.fixture(scope="module")
def visit_with_queries(live_app):
    """A subject whose screening visit has two saved forms, one with a query open on it, and ten forms not started."""
    staff = api(live_app, "staff01")
    subject = staff.register()
    assert staff.save(subject, "SCREEN", "ECOG", {"ECOGDTC": "2026-01-11", "ECOG": 1}).status_code == 201
    assert staff.save(subject, "SCREEN", "ECHO", {"ECHODTC": "2026-01-11", "LVEF": 60}).status_code == 201
    raised = api(live_app, "mon01").post(f"{STUDY}/queries", {"subject": subject, "event": "SCREEN", "form": "ECOG",
                                                              "item": "/ECOG", "text": "Source says 2?"})
    assert raised.status_code == 201, raised.get_json()
    return subject


def test_investigator_signs_a_visit_with_open_queries_only_with_a_reason(live_app, page, visit_with_queries):
    subject = visit_with_queries
    sign_in(page, live_app.base_url, "inv01")
    page.goto(record_url(live_app, subject, "SCREEN", "ECHO"))
    page.locator("#sign-visit > summary").click()
    warning = page.locator("#sign-visit-obstacles")
    expect(warning).to_be_visible()
    expect(warning.locator('li[data-kind="open_query"]')).to_contain_text("ECOG performance status")
    expect(warning.locator('li[data-kind="not_started"]')).to_have_count(10)
    expect(warning).to_contain_text("Not source-verified")
    problems = looked_at(page, "sign-visit-dialog")
    page.fill("#sign-visit-password", "correct horse battery")
    page.click("#sign-visit-submit")
    # The reason is required: the browser keeps the dialog open and nothing is signed.
    expect(page.locator("#sign-visit-override")).to_have_js_property("validity.valueMissing", True)
    assert api(live_app, "inv01").get(f"{STUDY}/subjects/{subject}/signatures").get_json() == []
    page.fill("#sign-visit-override", "Query concerns the source copy; reviewed with the coordinator")
    page.click("#sign-visit-submit")
    expect(page.locator(".flash")).to_contain_text("Visit signed")
    expect(page.locator("#signature")).to_contain_text("Inv01")
    [signature] = api(live_app, "inv01").get(f"{STUDY}/subjects/{subject}/signatures").get_json()
    assert signature["scope"] == "event" and signature["override_reason"].startswith("Query concerns")
    assert not problems, "\n".join(problems)


def test_the_investigators_worklist_counts_and_links_what_awaits_signature(live_app, page):
    staff = api(live_app, "staff01")
    subject = staff.register()
    saved = staff.save(subject, "SCREEN", "ECHO", {"ECHODTC": "2026-01-11", "LVEF": 62})
    assert saved.status_code == 201 and saved.get_json()["status"] == "complete"
    sign_in(page, live_app.base_url, "inv01")
    page.goto(f"{live_app.base_url}{STUDY}/subjects")
    count = int(page.locator("#nav-to-sign-count").inner_text())
    assert count >= 1
    page.click("#nav-to-sign")
    expect(page.locator("h1")).to_contain_text("To sign")
    row = page.locator(f'#signature-worklist tr[data-subject="{subject}"]')
    expect(row).to_have_count(1)
    expect(page.locator("#worklist-count")).to_have_text(f"({count})")
    problems = looked_at(page, "worklist")
    row.locator("a").click()
    expect(page.locator("#sign")).to_be_visible()
    assert subject in page.url and "/forms/ECHO" in page.url
    assert not problems, "\n".join(problems)


def test_the_data_manager_locks_a_casebook_from_the_subject_page(live_app, page, visit_with_queries):
    subject = visit_with_queries
    sign_in(page, live_app.base_url, "dm")
    page.goto(f"{live_app.base_url}{STUDY}/subjects/{subject}")
    page.locator("#casebook-lock > summary").click()
    warning = page.locator("#casebook-lock-obstacles")
    expect(warning.locator('li[data-kind="open_query"]')).to_have_count(1)
    expect(warning.locator('li[data-kind="not_verified"]')).to_have_count(2)
    problems = looked_at(page, "casebook-lock-dialog")
    page.fill("#casebook-lock-override", "Subject withdrew; data as collected")
    page.click("#casebook-lock-submit")
    expect(page.locator("#casebook-state")).to_have_attribute("data-state", "locked")
    expect(page.locator('#subject-grid td[data-event="SCREEN"][data-status="locked"]')).to_have_count(2)
    problems += looked_at(page, "casebook-locked")
    page.fill('#casebook-signoff input[name="reason"]', "Late lab result")
    page.click("#casebook-unlock")
    expect(page.locator("#casebook-state")).to_have_count(0)
    assert not problems, "\n".join(problems)


def test_the_data_manager_freezes_the_study_and_follows_its_progress(live_app, page, visit_with_queries):
    sign_in(page, live_app.base_url, "dm")
    page.goto(f"{live_app.base_url}{STUDY}/subjects")
    page.click("#nav-data-management > summary")  # the data manager's tools menu
    page.click("#nav-database-lock")
    expect(page.locator("#study-closure")).to_have_attribute("data-state", "open")
    page.locator("#study-freeze > summary").click()
    expect(page.locator("#study-freeze-obstacles li[data-kind='open_query']").first).to_be_visible()
    problems = looked_at(page, "database-lock-dialog")
    page.fill("#study-freeze-override", "Interim analysis cut-off agreed with the sponsor")
    page.click("#study-freeze-submit")
    expect(page.locator("#job-state")).to_have_attribute("data-state", "done", timeout=30000)
    expect(page.locator("#job-progress")).to_have_attribute("value", "100")
    expect(page.locator("#job-override")).to_contain_text("Interim analysis cut-off")
    problems += looked_at(page, "database-lock-job")
    page.click("text=Back to the database lock")
    expect(page.locator("#study-closure")).to_have_attribute("data-state", "frozen")
    expect(page.locator('#database-lock-jobs tr[data-state="done"]')).to_have_count(1)
    problems += looked_at(page, "database-lock-frozen")
    page.click("#study-unfreeze")
    expect(page.locator("#job-state")).to_have_attribute("data-state", "done", timeout=30000)
    assert api(live_app, "dm").post(f"{STUDY}/freeze", OVERRIDDEN).status_code == 200  # the API agrees: freezable
    assert api(live_app, "dm").post(f"{STUDY}/unfreeze", {}).status_code == 200
    assert not problems, "\n".join(problems)

"""The inbox in a real browser: a new query shows with the unread count, is marked read; axe and a phone's width."""

import pytest
from conftest import Api, sign_in
from playwright.sync_api import expect
from test_accessibility import PHONE, STICKING_OUT, check

from ecrf.notifications import notifier

pytestmark = pytest.mark.browser
STUDY = "CD7_CART_SAA"


@pytest.fixture(scope="module")
def queried(live_app):
    """A site-01 subject with a monitor's query on its chemistry, delivered by the notifier."""
    staff = Api(live_app.test_client(), live_app.tokens["staff01"], STUDY)
    subject = staff.register()
    assert staff.save(subject, "SCREEN", "LB_CHEM", {"LBDTC": "2026-01-11", "ALT": 20, "AST": 20, "BILI": 10,
                                                     "CREAT": 70}).status_code == 201
    monitor = Api(live_app.test_client(), live_app.tokens["mon01"], STUDY)
    assert monitor.post(f"/studies/{STUDY}/queries", {"subject": subject, "event": "SCREEN", "form": "LB_CHEM",
                                                       "item": "/ALT", "text": "Please check the source"}
                        ).status_code == 201
    with live_app.app_context():
        notifier.run(live_app.config["ECRF"])
    return subject


def test_site_staff_see_a_new_query_in_their_inbox_and_mark_it_read(live_app, page, queried):
    sign_in(page, live_app.base_url, "staff01")
    expect(page.locator("#nav-inbox .nav-count")).to_have_text("1")
    page.click("#nav-inbox")
    notice = page.locator("li.notice.unread")
    expect(notice).to_have_count(1)
    expect(notice).to_contain_text("New query at my sites")
    expect(notice).to_contain_text(queried)
    problems = check(page, "notifications-inbox") + check(page, "notifications-inbox", PHONE)
    assert page.evaluate(STICKING_OUT, PHONE) == []
    page.set_viewport_size({"width": 1366, "height": 900})
    notice.locator("input[type=checkbox]").check()
    page.click("text=Mark selected as read")
    expect(page.locator(".flash.success")).to_contain_text("Marked as read")
    expect(page.locator("li.notice.unread")).to_have_count(0)
    expect(page.locator("#nav-inbox .nav-count")).to_have_count(0)
    page.click("text=Notification preferences")
    expect(page.locator("h1")).to_have_text("Notification preferences")
    problems += check(page, "notifications-preferences") + check(page, "notifications-preferences", PHONE)
    assert page.evaluate(STICKING_OUT, PHONE) == []
    assert problems == []

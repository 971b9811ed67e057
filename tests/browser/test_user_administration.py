"""The administrator's journeys in a real browser (issue 21, item 6): create a user, change their role with a
reason, reset their password; the user signs in with the one-time password and must change it; the access review
is downloaded. The new pages pass axe-core and fit a phone; screenshots at 1366 and 390 px."""

import csv
import io
from pathlib import Path

import pytest
from axe import looked_at
from conftest import make_app, served_over_http, sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "useradmin"
NEW_PASSWORD = "quiet otter unfolds maps"


@pytest.fixture(scope="module")
def admin_app(tmp_path_factory, wire_uri):
    """The mini study served over HTTP on loopback, on the real wire-protocol server."""
    yield from served_over_http(make_app(tmp_path_factory.mktemp("useradmin"), wire_uri))


def look(page, name: str) -> list[str]:
    """Screenshots at 1366 and 390 px, and what the page must not have at either (see :func:`axe.looked_at`)."""
    return looked_at(page, SHOTS, name)


def test_an_administrator_creates_re_roles_and_resets_a_user_who_must_then_change_the_password(
        admin_app, browser):
    base = admin_app.base_url
    admin = browser.new_context(accept_downloads=True).new_page()
    sign_in(admin, base, "root")
    admin.goto(f"{base}/admin/")
    admin.click("#manage-users")
    expect(admin.locator("h1")).to_have_text("Users")
    problems = look(admin, "users")

    # Create: no initial password, so a one-time password is shown once.
    admin.fill("#user-username", "nurse1")
    admin.fill("#user-full_name", "Nurse One")
    admin.select_option("#user-role", "site_staff")
    admin.check("#user-sites-0")  # site 01
    admin.fill("#user-reason", "joins site 01 (delegation log 7)")
    admin.click("#add-user")
    expect(admin.locator("h1")).to_have_text("User nurse1")
    first_password = admin.locator("#new-secret").inner_text()
    expect(admin.locator("#user-status")).to_have_text("must change password")

    # Change role and sites, with a reason.
    admin.select_option("#role-role", "investigator")
    admin.check("#role-sites-1")  # and site 02
    admin.fill("#role-reason", "now sub-investigator at both sites")
    admin.click("#change-role")
    expect(admin.locator(".flash.success")).to_contain_text("Role and sites changed")
    expect(admin.locator("#user-role")).to_have_text("investigator")
    expect(admin.locator("#user-sites")).to_have_text("01, 02")

    # Reset the password (a reason is required): a new one-time password replaces the first.
    admin.fill("#reason-reset-password", "first password sent to the wrong person")
    admin.click("#do-reset-password")
    one_time = admin.locator("#new-secret").inner_text()
    assert one_time != first_password
    problems += look(admin, "user")

    # The user signs in with it and is held on the password page until they change it.
    user = browser.new_context().new_page()
    sign_in(user, base, "nurse1", first_password)
    expect(user.locator(".error-text, [role=alert]").first).to_be_visible()  # the first one no longer works
    sign_in(user, base, "nurse1", one_time)
    expect(user).to_have_url(f"{base}/account/password")
    user.goto(f"{base}/studies/MINI/subjects")
    expect(user).to_have_url(f"{base}/account/password")
    expect(user.locator("#must-change")).to_be_visible()
    problems += look(user, "password-forced")
    user.fill("#current", one_time)
    user.fill("#new", NEW_PASSWORD)
    user.fill("#confirm", NEW_PASSWORD)
    user.click("main button[type=submit]")
    expect(user.locator(".flash.success")).to_contain_text("Password changed")
    user.goto(f"{base}/studies/MINI/subjects")
    expect(user).to_have_url(f"{base}/studies/MINI/subjects")
    expect(user.locator("h1")).to_be_visible()

    # The access review shows each grant with since when and by whom, and downloads as CSV.
    admin.goto(f"{base}/admin/users")
    admin.click("#access-review")
    rows = admin.locator('tr[data-user="nurse1"]')
    expect(rows).to_have_count(3)
    expect(admin.locator('tr[data-user="nurse1"].ended')).to_contain_text("site_staff")
    expect(admin.locator('tr[data-user="nurse1"].current').first).to_contain_text("root")
    problems += look(admin, "access-review")
    with admin.expect_download() as download:
        admin.click("#download-csv")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    grants = {(r["role"], r["site"], r["current"], r["granted_by"]) for r in csv.DictReader(io.StringIO(text))
              if r["username"] == "nurse1"}
    assert grants == {("site_staff", "01", "no", "root"), ("investigator", "01", "yes", "root"),
                      ("investigator", "02", "yes", "root")}
    assert not problems, "\n".join(problems)

    with admin_app.app_context():
        from ecrf.db import database
        trail = [(e["action"], e["actor"], e["reason"]) for e in database().audit_events.find(
            {"stream": "user/nurse1"}, sort=[("seq", 1)])]
    assert [t for t in trail if t[1] == "root"] == [
        ("user_created", "root", "joins site 01 (delegation log 7)"),
        ("password_reset", "root", "initial one-time password"),
        ("user_role_changed", "root", "now sub-investigator at both sites"),
        ("password_reset", "root", "first password sent to the wrong person")]
    assert ("password_changed", "nurse1", None) in trail

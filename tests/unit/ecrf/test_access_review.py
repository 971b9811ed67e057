"""The access review (issue 21): every grant of a role at a site folded from the users' streams, since when and by
whom, ended ones too; as a page and as CSV whose cells never run as formulas."""

import csv
import io
import re

from conftest import login
from user_admin import act, admin_page

from ecrf.access_review import access_review, fold_grants


def test_grants_fold_from_the_trail_kept_pairs_keep_their_date():
    at = [f"2026-01-0{d}" for d in range(1, 4)]
    stream = [
        {"action": "user_created", "at": at[0], "actor": "root", "reason": None,
         "state": {"details": {"role": "site_staff", "sites": ["01"]}}},
        {"action": "login", "at": at[1], "actor": "u"},
        {"action": "user_role_changed", "at": at[1], "actor": "boss", "reason": "second site",
         "state": {"details": {"role": "site_staff", "sites": ["01", "02"]}}},
        {"action": "user_role_changed", "at": at[2], "actor": "boss", "reason": "promoted",
         "state": {"details": {"role": "data_manager", "sites": []}}},
    ]
    grants = [(g.role, g.site, g.granted_at, g.granted_by, g.ended_at, g.end_reason) for g in fold_grants("u", stream)]
    assert grants == [("site_staff", "01", at[0], "root", at[2], "promoted"),
                      ("site_staff", "02", at[1], "boss", at[2], "promoted"),
                      ("data_manager", "*", at[2], "boss", None, None)]


def test_the_access_review_csv_holds_every_grant_and_no_formula(app):
    act(admin_page(app), "staff01", "role", {"role-role": "investigator", "role-sites": ["02"],
                                            "role-reason": "=HYPERLINK(\"http://evil\")"})
    login(app.test_client(), "staff01")
    answer = admin_page(app).get("/admin/access-review.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert "attachment; filename=access-review-" in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    staff = [r for r in rows if r["username"] == "staff01"]
    assert [(r["role"], r["site"], r["current"], r["granted_by"]) for r in staff] == [
        ("site_staff", "01", "no", "system"), ("investigator", "02", "yes", "root")]
    assert staff[0]["ended_by"] == "root" and staff[0]["end_reason"].startswith("'=HYPERLINK")
    assert staff[1]["grant_reason"].startswith("'=") and staff[1]["last_login"].endswith("Z")
    assert {r["username"] for r in rows} == {"staff01", "staff02", "inv01", "mon01", "mon02", "dm", "root"}
    assert [(r["role"], r["site"]) for r in rows if r["username"] == "dm"] == [("data_manager", "*")]
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values())


def test_the_access_review_page_shows_grants_with_since_and_granted_by(app):
    act(admin_page(app), "mon01", "disable", {"reason": "left"})
    page = admin_page(app).get("/admin/access-review").get_data(as_text=True)
    row = re.search(r'<tr data-user="mon01" class="current">.*?</tr>', page, re.S).group(0)
    assert "monitor" in row and "01" in row and "system" in row and "disabled" in row and "UTC" in row
    with app.app_context():
        assert [line.status for line in access_review() if line.username == "mon01"] == ["disabled"]

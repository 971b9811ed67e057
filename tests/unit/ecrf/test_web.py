"""The browser side: sign in and out, CSRF on every form, form pages that render and save."""

import re

import pytest
from conftest import PASSWORD, login, token_in


def test_pages_need_login(client):
    response = client.get("/studies/MINI/subjects")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_login_with_the_right_password_opens_the_study(client):
    response = login(client, "staff01")
    assert response.status_code == 302
    assert client.get("/", follow_redirects=True).status_code == 200


def test_login_with_a_wrong_password_is_refused_and_audited(app, client):
    response = login(client, "staff01", "wrong password")
    assert response.status_code == 401
    assert "wrong username or password" in response.get_data(as_text=True)
    with app.app_context():
        from ecrf.trail import audit_store
        actions = [e["action"] for e in audit_store().events("user/staff01")]
    assert "login_failed" in actions


def test_unknown_user_gets_the_same_message_as_a_wrong_password(client):
    response = login(client, "nobody", "whatever")
    assert response.status_code == 401 and "wrong username or password" in response.get_data(as_text=True)


def test_five_failures_lock_the_account(client):
    for _ in range(5):
        login(client, "staff01", "wrong password")
    response = login(client, "staff01")
    assert response.status_code == 401 and "locked" in response.get_data(as_text=True)


def test_logout_ends_the_session(client):
    login(client, "staff01")
    page = client.get("/studies/MINI/subjects").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": token_in(page)}).status_code == 302
    assert client.get("/studies/MINI/subjects").status_code == 302


def test_login_without_csrf_token_is_rejected(client):
    response = client.post("/login", data={"username": "staff01", "password": PASSWORD})
    assert response.status_code == 400


def test_form_post_without_csrf_token_is_rejected_and_stores_nothing(client, as_user):
    subject = as_user("staff01").register()
    login(client, "staff01")
    url = f"/studies/MINI/subjects/{subject}/events/SCREEN/forms/VS"
    response = client.post(url, data={"WEIGHT": "70", "version": "0"})
    assert response.status_code == 400
    assert as_user("staff01").get(url).status_code == 404


def test_register_subject_through_the_page(client):
    login(client, "staff01")
    page = client.get("/studies/MINI/subjects").get_data(as_text=True)
    response = client.post("/studies/MINI/subjects",
                           data={"site": "01", "subject_id": "", "csrf_token": token_in(page)})
    assert response.status_code == 302 and response.headers["Location"].endswith("/subjects/01-001")
    matrix = client.get("/studies/MINI/subjects/01-001").get_data(as_text=True)
    assert "Demographics" in matrix and 'data-status="not_started"' in matrix


def test_form_page_renders_units_required_markers_help_and_conditions(client, as_user):
    subject = as_user("staff01").register()
    login(client, "staff01")
    page = client.get(f"/studies/MINI/subjects/{subject}/events/SCREEN/forms/VS").get_data(as_text=True)
    assert 'class="unit">kg<' in page and 'class="req"' in page
    dm = client.get(f"/studies/MINI/subjects/{subject}/events/SCREEN/forms/DM").get_data(as_text=True)
    assert 'data-item="CHILDPOT"' in dm and "data-conditions=" in dm


def test_saving_through_the_page_goes_through_the_write_path(client, as_user):
    staff = as_user("staff01")
    subject = staff.register()
    login(client, "staff01")
    url = f"/studies/MINI/subjects/{subject}/events/SCREEN/forms/VS"
    page = client.get(url).get_data(as_text=True)
    response = client.post(url, data={"csrf_token": token_in(page), "version": "0", "VSDTC": "2026-01-05",
                                      "HEIGHT": "170", "WEIGHT": "70.5", "MEASURED_AT": "2026-01-05T16:30"})
    assert response.status_code == 302
    record = staff.get(staff.record_path(subject, "SCREEN", "VS")).get_json()
    assert record["data"] == {"VSDTC": "2026-01-05", "HEIGHT": 170, "WEIGHT": 70.5,
                              "MEASURED_AT": "2026-01-05T08:30:00Z"}  # site 01 is Asia/Shanghai
    assert record["status"] == "complete" and record["derived"]["DOUBLE_WEIGHT"] == 141.0


def test_a_change_through_the_page_needs_a_reason_and_shows_the_error(client, as_user):
    staff = as_user("staff01")
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    login(client, "staff01")
    url = f"/studies/MINI/subjects/{subject}/events/SCREEN/forms/VS"
    page = client.get(url).get_data(as_text=True)
    response = client.post(url, data={"csrf_token": token_in(page), "version": "1", "WEIGHT": "71"})
    assert response.status_code == 400 and "reason for change" in response.get_data(as_text=True).lower()
    response = client.post(url,
                           data={"csrf_token": token_in(page), "version": "1", "WEIGHT": "71", "reason": "misread"})
    assert response.status_code == 302
    assert staff.get(staff.record_path(subject, "SCREEN", "VS")).get_json()["data"]["WEIGHT"] == 71


def test_field_errors_are_shown_beside_the_item(client, as_user):
    subject = as_user("staff01").register()
    login(client, "staff01")
    url = f"/studies/MINI/subjects/{subject}/events/SCREEN/forms/VS"
    page = client.get(url).get_data(as_text=True)
    response = client.post(url, data={"csrf_token": token_in(page), "version": "0", "HEIGHT": "900"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'data-item="HEIGHT"[^>]*>.*?class="field-error"', html, re.S)


def test_rows_are_added_and_removed_on_the_page(client, as_user):
    staff = as_user("staff01")
    subject = staff.register()
    login(client, "staff01")
    url = f"/studies/MINI/subjects/{subject}/events/LOGS/forms/AE"
    page = client.get(url).get_data(as_text=True)
    token = token_in(page)
    added = client.post(url, data={"csrf_token": token, "version": "0", "_add_row": "AE"}).get_data(as_text=True)
    assert 'name="AE-0-AETERM"' in added
    saved = client.post(url, data={"csrf_token": token, "version": "0", "AE-0-row_id": "", "AE-0-AETERM": "fever",
                                   "AE-0-AESTDTC": "2026-01-02", "AE-1-AETERM": "rash", "AE-1-AESTDTC": "2026-01-03"})
    assert saved.status_code == 302
    rows = staff.get(staff.record_path(subject, "LOGS", "AE")).get_json()["data"]["AE"]
    assert [r["AETERM"] for r in rows] == ["fever", "rash"]
    page = client.get(url).get_data(as_text=True)
    removed = client.post(url, data={"csrf_token": token, "version": "1", "AE-0-row_id": rows[0]["row_id"],
                                     "AE-0-AETERM": "fever",
                                     "AE-0-AESTDTC": "2026-01-02", "AE-1-row_id": rows[1]["row_id"],
                                     "AE-1-AETERM": "rash",
                                     "AE-1-AESTDTC": "2026-01-03", "_remove_row": "AE-0"}).get_data(as_text=True)
    assert 'value="rash"' in removed and 'value="fever"' not in removed


def test_script_in_data_and_reasons_is_escaped_on_every_page(client, as_user):
    staff = as_user("staff01")
    subject = staff.register()
    evil = "<script>alert(1)</script>"
    staff.save(subject, "SCREEN", "DM", {"NOTES": evil})
    staff.save(subject, "SCREEN", "DM", {"NOTES": evil + "!"}, version=1, reason=evil)
    login(client, "staff01")
    for url in (f"/studies/MINI/subjects/{subject}/events/SCREEN/forms/DM",
                f"/studies/MINI/subjects/{subject}/events/SCREEN/forms/DM/audit",
                f"/studies/MINI/subjects/{subject}/audit"):
        html = client.get(url).get_data(as_text=True)
        assert evil not in html and "&lt;script&gt;" in html


def test_pages_carry_security_headers(client):
    response = client.get("/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_language_switch_shows_chinese_labels(client, as_user):
    subject = as_user("staff01").register()
    login(client, "staff01")
    client.get("/lang/zh")
    page = client.get(f"/studies/MINI/subjects/{subject}/events/SCREEN/forms/DM").get_data(as_text=True)
    assert "人口学资料" in page and "出生日期" in page and "保存" in page


def test_error_pages_leak_no_stack_trace(client):
    login(client, "staff01")
    response = client.get("/studies/NOPE/subjects")
    assert response.status_code == 404 and "Traceback" not in response.get_data(as_text=True)


def test_record_page_shows_flags_query_threads_and_lets_the_site_answer(client, as_user):
    staff = as_user("staff01")
    subject = staff.register()
    staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 130})
    login(client, "staff01")
    url = f"/studies/MINI/subjects/{subject}/events/SCREEN/forms/LB"
    page = client.get(url).get_data(as_text=True)
    assert 'class="flag flag-H"' in page and "ALT above 3 x ULN" in page and "has-query" in page
    qid = re.search(r'data-query="([0-9a-f]+)"', page).group(1)
    answered = client.post(f"/studies/MINI/queries/{qid}/reply",
                           data={"csrf_token": token_in(page), "text": "Repeat sample sent", "next": url})
    assert answered.status_code == 302 and answered.headers["Location"].endswith(url)
    assert staff.get(f"/studies/MINI/queries/{qid}").get_json()["state"] == "answered"
    matrix = client.get(f"/studies/MINI/subjects/{subject}").get_data(as_text=True)
    assert re.search(r"icon-flag.*?</svg> 1<", matrix)  # the flag is an inline SVG: no emoji font needed


def test_monitor_raises_and_closes_a_query_from_the_pages(client, as_user):
    staff = as_user("staff01")
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    login(client, "mon01")
    url = f"/studies/MINI/subjects/{subject}/events/SCREEN/forms/VS"
    page = client.get(url).get_data(as_text=True)
    assert "Raise query" in page and 'name="WEIGHT"' in page and "disabled" in page
    client.post("/studies/MINI/queries", data={"csrf_token": token_in(page), "subject": subject, "event": "SCREEN",
                                               "form": "VS", "item": "/WEIGHT", "text": "Source?", "next": url})
    listing = client.get("/studies/MINI/queries?state=open").get_data(as_text=True)
    qid = re.search(r'data-query="([0-9a-f]+)"', listing).group(1)
    assert "Source?" in listing
    client.post(f"/studies/MINI/queries/{qid}/close", data={"csrf_token": token_in(page), "next": url})
    assert staff.get(f"/studies/MINI/queries/{qid}").get_json()["state"] == "closed"
    forbidden = client.post(f"/studies/MINI/queries/{qid}/reply",
                            data={"csrf_token": token_in(page), "text": "x", "next": url})
    assert forbidden.status_code == 302
    assert staff.get(f"/studies/MINI/queries/{qid}").get_json()["state"] == "closed"


def test_query_actions_without_csrf_change_nothing(client, as_user):
    staff = as_user("staff01")
    subject = staff.register()
    staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 130})
    qid = staff.get(staff.record_path(subject, "SCREEN", "LB")).get_json()["queries"][0]["id"]
    login(client, "staff01")
    client.post(f"/studies/MINI/queries/{qid}/reply", data={"text": "no token"})
    assert staff.get(f"/studies/MINI/queries/{qid}").get_json()["state"] == "open"


def test_data_manager_adds_and_retires_a_site_range_in_the_ui(client, as_user):
    login(client, "dm")
    page = client.get("/studies/MINI/ranges").get_data(as_text=True)
    response = client.post("/studies/MINI/ranges", data={"csrf_token": token_in(page), "site": "01", "analyte": "alt",
                                                         "unit": "U/L", "low": "5", "high": "45", "sex": "",
                                                         "valid_from": "2026-01-01"})
    assert response.status_code == 302
    page = client.get("/studies/MINI/ranges").get_data(as_text=True)
    assert "<td>ALT</td>" in page and "<td>45.0</td>" in page
    staff = as_user("staff01")
    subject = staff.register()
    assert staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-02-01", "ALT": 42}).get_json()["flags"] == []
    range_id = re.search(r"/ranges/([0-9a-f]+)/retire", page).group(1)
    client.post(f"/studies/MINI/ranges/{range_id}/retire", data={"csrf_token": token_in(page)})
    assert staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-02-01", "ALT": 43}, version=1,
                      reason="x").get_json()["flags"][0]["flag"] == "H"


def test_only_data_managers_manage_ranges_and_see_broken_checks(client):
    login(client, "staff01")
    assert client.get("/studies/MINI/ranges").status_code == 403
    assert client.get("/studies/MINI/checks/broken").status_code == 403


def test_item_audit_view_lists_only_that_items_changes(client, as_user):
    staff = as_user("staff01")
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70, "HEIGHT": 170})
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 72, "HEIGHT": 171}, version=1, reason="re-measured")
    login(client, "staff01")
    audit = f"/studies/MINI/subjects/{subject}/events/SCREEN/forms/VS/audit?item=/WEIGHT"
    page = client.get(audit).get_data(as_text=True)
    assert "changed Weight from 70 kg to 72 kg (reason: re-measured)" in page and "Height:" not in page
    assert "Asia/Shanghai" in page  # shown in site time


def test_definition_labels_with_html_are_escaped(tmp_path, client):
    import json
    import shutil

    from conftest import MINI_STUDY, make_app

    evil = tmp_path / "evil"
    shutil.copytree(MINI_STUDY, evil)
    study = json.loads((evil / "study.json").read_text())
    study["oid"], study["name"] = "EVIL", "<script>alert('study')</script>"
    (evil / "study.json").write_text(json.dumps(study))
    dm = json.loads((evil / "screening" / "DM.json").read_text())
    dm["title"] = "<img src=x onerror=alert(1)>"
    dm["properties"]["SEX"]["title"] = "<b>Sex</b>"
    (evil / "screening" / "DM.json").write_text(json.dumps(dm))
    app = make_app(tmp_path / "a", "mongomock://", study=evil)
    web = app.test_client()
    from conftest import Api
    subject = Api(web, app.tokens["staff01"], "EVIL").register()
    login(web, "staff01")
    for url in (f"/studies/EVIL/subjects/{subject}", f"/studies/EVIL/subjects/{subject}/events/SCREEN/forms/DM"):
        html = web.get(url).get_data(as_text=True)
        assert "<img src=x" not in html and "<b>Sex</b>" not in html and "<script>alert" not in html
        assert "&lt;img src=x" in html


def test_first_start_creates_an_admin_with_a_random_password_shown_once(tmp_path):
    from ecrf.app import create_app

    app = create_app({"mongodb_uri": "mongomock://", "mongodb_db": "first_start", "instance_path": str(tmp_path),
                      "secret_key": "x"})
    with app.app_context():
        from ecrf.setup import ensure_admin
        from ecrf.users import authenticate
        password = ensure_admin()
        assert password and len(password) >= 16
        assert authenticate("admin", password).role == "admin"
        assert ensure_admin() is None  # never again


def test_admin_adds_a_site_and_a_user_and_issues_a_token_once(client, app):
    login(client, "root")
    page = client.get("/admin/").get_data(as_text=True)
    token = token_in(page)
    assert client.post("/admin/sites", data={"csrf_token": token, "site-code": "03", "site-name": "Third",
                                              "site-timezone": "Asia/Shanghai"}).status_code == 302
    response = client.post("/admin/users",
                           data={"csrf_token": token, "user-username": "newmon", "user-full_name": "New Monitor",
                                 "user-role": "monitor", "user-sites": ["03"],
                                 "user-password": "a long secret"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/users/newmon")
    issued = client.post("/admin/users/newmon/token", data={"csrf_token": token}).get_data(as_text=True)
    new_token = re.search(r'<pre id="new-secret"[^>]*>(ecrf_[^<]+)</pre>', issued).group(1)
    assert app.test_client().get("/api/v1/studies", headers={"Authorization": f"Bearer {new_token}"}).status_code == 200
    bad = client.post("/admin/users", data={"csrf_token": token, "user-username": "x9", "user-role": "monitor",
                                            "user-sites": [], "user-password": "a long secret"})
    assert bad.status_code == 422 and "needs at least one site" in bad.get_data(as_text=True)


def test_non_admins_cannot_reach_administration(client):
    login(client, "dm")
    assert client.get("/admin/").status_code == 403


def test_data_manager_runs_an_export_in_the_background_and_downloads_it(client, as_user):
    import time

    staff = as_user("staff01")
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    login(client, "dm")
    page = client.get("/studies/MINI/exports").get_data(as_text=True)
    assert client.post("/studies/MINI/exports", data={"csrf_token": token_in(page), "kind": "odm"}).status_code == 302
    for _ in range(100):
        page = client.get("/studies/MINI/exports").get_data(as_text=True)
        if 'data-state="done"' in page:
            break
        time.sleep(0.1)
    link = re.search(r'class="download" href="([^"]+)"', page).group(1)
    download = client.get(link)
    assert download.status_code == 200 and b"<ODM" in download.data and subject.encode() in download.data
    login(client, "staff01")
    assert client.get(link).status_code == 403


@pytest.mark.parametrize("items, asked, number, shown, first, last", [
    (0, None, 1, 0, 0, 0),
    (250, None, 1, 100, 1, 100),
    (250, 2, 2, 100, 101, 200),
    (250, 3, 3, 50, 201, 250),
    (250, 4, 3, 50, 201, 250),     # past the end: the last page
    (250, 0, 1, 100, 1, 100),      # nonsense: the first
    (250, -2, 1, 100, 1, 100),
    (100, 2, 1, 100, 1, 100),      # exactly one page
])
def test_a_long_list_is_shown_a_page_at_a_time(items, asked, number, shown, first, last):
    from ecrf.paging import page_of

    page = page_of(list(range(1, items + 1)), asked)
    assert (page.number, len(page.items), page.first, page.last, page.total) == (number, shown, first, last, items)
    assert list(page.items) == (list(range(first, last + 1)) if shown else [])


def test_the_query_list_pages_through_thousands_keeping_its_filters(client, as_user, app):
    import datetime as dt

    staff = as_user("staff01")
    subject = staff.register()
    with app.app_context():
        from ecrf.queries import Query
        opened = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        Query._get_collection().insert_many([
            {"_id": f"q{n:04d}", "study": "MINI", "subject": subject, "site": "01", "event": "SCREEN", "form": "VS",
             "item": "/WEIGHT", "origin": "manual", "state": "open" if n % 2 else "closed", "version": 1,
             "messages": [{"at": opened, "author": "mon01", "text": f"query {n}", "action": "open"}],
             "opened_at": opened + dt.timedelta(minutes=n)} for n in range(500)])
    login(client, "mon01")
    first = client.get("/studies/MINI/queries?state=open").get_data(as_text=True)
    assert first.count("data-query=") == 100 and "1–100 of 250 queries" in first
    assert 'rel="prev"' not in first
    following = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert "state=open" in following and "page=2" in following
    last = client.get("/studies/MINI/queries?state=open&page=3").get_data(as_text=True)
    assert last.count("data-query=") == 50 and "201–250 of 250 queries" in last and 'rel="next"' not in last
    assert "query 499" in last and "query 1<" not in last   # oldest first, the newest on the last page


def test_the_reports_visit_table_pages_through_subjects_while_its_counts_cover_all(client, as_user):
    staff = as_user("staff01")
    registered = sorted(staff.register() for _ in range(130))
    login(client, "dm")
    first = client.get("/studies/MINI/reports").get_data(as_text=True)
    rows = re.findall(r"<tr><td>([^<]+)</td><td class=\"visit ", first)
    assert rows == registered[:100]
    assert "1–100 of 130 subjects" in first and 'rel="prev"' not in first
    assert re.search(r'<span class="visit later">later</span> 130', first)  # every subject counted, not the page's
    visits = first[first.index('id="visits"'):]  # the completeness table above pages on its own
    assert re.search(r'rel="next" href="([^"]+)"', first).group(1).endswith("completeness_page=2#completeness")
    following = re.search(r'rel="next" href="([^"]+)"', visits).group(1).replace("&amp;", "&")
    assert following.endswith("visits_page=2#visits")
    second = client.get(following).get_data(as_text=True)
    assert re.findall(r"<tr><td>([^<]+)</td><td class=\"visit ", second) == registered[100:]
    assert "101–130 of 130 subjects" in second and 'rel="next"' not in second[second.index('id="visits"'):]

"""Every route of the app's url_map × every role × own site / other site / anonymous.

A site-02 user or an admin never gets site-01 data in any body; anonymous
callers get 401 (API) or the login page; nothing a refused caller sends is stored.
"""

import io
import re

import pytest
from conftest import PASSWORD, PEOPLE, login
from documents import pdf_bytes

SECRET = "Zebra-Secret-Note-0173"
PUBLIC = {"static", "health.healthz", "auth.login", "auth.language", "api.openapi"}
# Callers who must never see the site-01 subject's data.
OUTSIDERS = {"staff02", "mon02", "root"}


@pytest.fixture
def world(app, as_user):
    """A site-01 subject with data, a query, a signature, an export job; ids for every path parameter."""
    staff = as_user("staff01")
    subject = staff.register("01")
    staff.save(subject, "SCREEN", "DM", {"SEX": "M", "NOTES": SECRET})
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    query = as_user("mon01").post("/studies/MINI/queries", {"subject": subject, "event": "SCREEN", "form": "DM",
                                                            "item": "/NOTES",
                                                            "text": f"about {SECRET}"}).get_json()["id"]
    as_user("staff02").register("02")
    staff01 = as_user("staff01")
    attachment = staff01.client.post(
        f"/api/v1/studies/MINI/subjects/{subject}/events/SCREEN/forms/DM/attachments",
        data={"file": (io.BytesIO(pdf_bytes()), f"{SECRET}.pdf")}, headers=staff01.headers(),
        content_type="multipart/form-data").get_json()["id"]
    with app.app_context():
        from ecrf.ranges import add_range
        from ecrf.users import get_user
        range_id = add_range(get_user("dm"), "01", "ALT", "U/L", 5, 50, valid_from="2026-01-01").range_id
    return {"study": "MINI", "subject": subject, "event": "SCREEN", "form": "DM", "query_id": query, "action": "close",
            "kind": "csv", "job_id": "0" * 24, "range_id": range_id, "username": "staff01", "code": "en",
            "verb": "close", "filename": "ecrf.css", "attachment_id": attachment, "report_id": "0" * 16,
            "version": "1", "key": "query_opened:query/none:1"}


def routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def fill(rule, values) -> str:
    path = rule.rule
    for name in rule.arguments:
        path = re.sub(rf"<(?:[a-z]+:)?{name}>", str(values[name]), path)
    return path


def call(client, rule, method, path, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs = {"headers": headers}
    if method in ("POST", "PUT"):
        kwargs["json" if rule.rule.startswith("/api/") else "data"] = {}
    return client.open(path, method=method, **kwargs)


def audit_count(app) -> int:
    with app.app_context():
        from ecrf.db import database
        return database().audit_events.count_documents({})


def test_anonymous_callers_get_401_or_the_login_page_everywhere(app, world):
    client = app.test_client()
    for rule, method in routes(app):
        if rule.endpoint in PUBLIC:
            continue
        response = call(client, rule, method, fill(rule, world))
        if rule.rule.startswith("/api/"):
            assert response.status_code == 401, (rule.rule, method, response.status_code)
        elif method == "GET":
            assert response.status_code == 302 and "/login" in response.headers["Location"], (rule.rule, method)
        else:
            assert response.status_code in (302, 400), (rule.rule, method, response.status_code)  # login or CSRF
        assert SECRET not in response.get_data(as_text=True)


@pytest.mark.parametrize("name", sorted(PEOPLE))
def test_every_route_for_every_role_never_leaks_another_sites_data_and_never_fails(app, world, name):
    api_client, web_client = app.test_client(), app.test_client()
    login(web_client, name, PASSWORD)
    before = audit_count(app)
    stored_by_outsider = []
    for rule, method in routes(app):
        if rule.endpoint in ("auth.logout", "static"):
            continue
        path = fill(rule, world)
        if rule.rule.startswith("/api/"):
            response = call(api_client, rule, method, path, app.tokens[name])
        else:
            response = call(web_client, rule, method, path)
        body = response.get_data().decode("utf-8", "replace")
        assert response.status_code < 500, (rule.rule, method, response.status_code, body[:300])
        if name in OUTSIDERS:
            assert SECRET not in body, (rule.rule, method)
            if world["subject"] in rule.rule or "<subject>" in rule.rule or "<query_id>" in rule.rule:
                assert response.status_code in (302, 400, 403, 404, 422), (rule.rule, method, response.status_code)
    if name in OUTSIDERS:
        with app.app_context():
            from ecrf.db import database
            stored_by_outsider = list(database().audit_events.find(
                {"context.subject": world["subject"], "actor": name}))
        assert stored_by_outsider == []
    assert audit_count(app) >= before


@pytest.mark.parametrize("name, status", [("staff01", 200), ("inv01", 200), ("mon01", 200), ("dm", 200),
                                          ("staff02", 404), ("mon02", 404), ("root", 403)])
def test_the_subjects_pages_by_role_and_site(app, world, name, status):
    client = app.test_client()
    login(client, name, PASSWORD)
    for path in (f"/studies/MINI/subjects/{world['subject']}",
                 f"/studies/MINI/subjects/{world['subject']}/events/SCREEN/forms/DM",
                 f"/studies/MINI/subjects/{world['subject']}/audit",
                 f"/studies/MINI/subjects/{world['subject']}/casebook.pdf"):
        assert client.get(path).status_code == status, (name, path)

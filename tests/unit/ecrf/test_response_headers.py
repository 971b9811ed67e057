"""Headers every response carries: 405 names the allowed methods; nothing with clinical data is cached."""

import re

import pytest

METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH")


def _fill(rule: str, values: dict) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(m.group(1), "x"), rule)


@pytest.fixture
def values(staff, subject):
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    return {"study": "MINI", "subject": subject, "event": "SCREEN", "form": "VS", "kind": "csv", "query_id": "x"}


def test_every_api_route_answers_an_undeclared_method_with_405_and_its_allow_header(app, client, values):
    allowed: dict[str, set] = {}  # one path may be served by a rule per method
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            allowed.setdefault(rule.rule, set()).update(rule.methods)
    checked = 0
    for path, methods in allowed.items():
        for method in (m for m in METHODS if m not in methods):
            response = client.open(_fill(path, values), method=method,
                                   headers={"Authorization": f"Bearer {app.tokens['dm']}"})
            assert response.status_code == 405, (path, method)
            assert set(response.headers["Allow"].split(", ")) == methods, (path, method)
            assert response.mimetype == "application/problem+json"
            assert response.get_json()["status"] == 405
            checked += 1
    assert checked > 100


def test_a_page_answers_an_undeclared_method_with_405_and_its_allow_header(client):
    response = client.delete("/login")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
    assert response.mimetype == "text/html"


def test_pages_api_answers_errors_and_downloads_are_never_stored_by_a_cache(app, client, as_user, values):
    dm = as_user("dm")
    responses = {
        "login page": client.get("/login"),
        "health": client.get("/healthz"),
        "record": dm.get(f"/studies/MINI/subjects/{values['subject']}/events/SCREEN/forms/VS"),
        "not found": dm.get("/studies/MINI/subjects/nobody"),
        "no token": client.get("/api/v1/studies"),
        "method not allowed": client.delete("/api/v1/studies"),
        "export": dm.get("/studies/MINI/export/csv"),
        "openapi": client.get("/api/v1/openapi.json"),
    }
    for name, response in responses.items():
        assert response.status_code in (200, 401, 404, 405), name
        assert response.headers["Cache-Control"] == "no-store", name
        assert response.headers["Pragma"] == "no-cache", name
    assert responses["export"].status_code == 200 and responses["record"].status_code == 200


def test_static_files_stay_cacheable(client):
    response = client.get("/static/ecrf.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert "Pragma" not in response.headers

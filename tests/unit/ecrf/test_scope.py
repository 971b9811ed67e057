"""ecrf.scope: the user and the study are loaded once per request, before the view, with today's refusals."""

import pytest
from conftest import login

import ecrf.scope


@pytest.fixture
def lookups(monkeypatch) -> list[str]:
    """The study OIDs looked up by the scope preprocessors during the test."""
    seen: list[str] = []
    real = ecrf.scope.current_study

    def counting(oid: str):
        seen.append(oid)
        return real(oid)

    monkeypatch.setattr(ecrf.scope, "current_study", counting)
    return seen


def test_a_form_page_looks_the_study_up_once(client, staff, subject, lookups):
    login(client, "staff01")
    lookups.clear()
    response = client.get(f"/studies/MINI/subjects/{subject}/events/SCREEN/forms/VS")
    assert response.status_code == 200
    assert lookups == ["MINI"]


def test_an_api_record_read_looks_the_study_up_once(staff, subject, lookups):
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    lookups.clear()
    assert staff.get(staff.record_path(subject, "SCREEN", "VS")).status_code == 200
    assert lookups == ["MINI"]


def test_an_unknown_study_is_404_on_pages_and_in_the_api(client, staff):
    login(client, "staff01")
    assert client.get("/studies/NOPE/subjects").status_code == 404
    response = staff.get("/studies/NOPE/subjects")
    assert response.status_code == 404 and "NOPE" in response.get_json()["detail"]


def test_an_anonymous_page_request_is_sent_to_sign_in_before_the_study_is_looked_up(client, lookups):
    response = client.get("/studies/NOPE/subjects")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert lookups == []


def test_the_api_refuses_a_missing_token_before_naming_the_study(client, lookups):
    assert client.get("/api/v1/studies/NOPE/subjects").status_code == 401
    assert lookups == []


def test_the_public_api_description_needs_no_token(client, lookups):
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert lookups == []

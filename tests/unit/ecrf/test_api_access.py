"""Who may call the API: tokens, roles, and site scoping (a site-02 user never sees site-01 data)."""

import pytest
from conftest import PEOPLE


def test_healthz_answers_without_auth(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


@pytest.mark.parametrize("header, detail", [
    (None, "missing Authorization"),
    ("Basic abc", "malformed Authorization"),
    ("Bearer nonsense", "malformed API token"),
    ("Bearer ecrf_" + "A" * 43, "unknown API token"),
])
def test_requests_without_a_valid_token_get_401_problem_json(client, header, detail):
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/studies", headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert detail in response.get_json()["detail"]
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_revoked_token_stops_working(app, as_user):
    assert as_user("staff01").get("/studies").status_code == 200
    with app.app_context():
        from ecrf.users import revoke_tokens
        assert revoke_tokens("staff01") == 1
    response = as_user("staff01").get("/studies")
    assert response.status_code == 401 and "revoked" in response.get_json()["detail"]


@pytest.mark.parametrize("change", ["disabled", "removed"])
def test_a_token_stops_working_when_its_user_is_disabled_or_gone(app, as_user, change):
    assert as_user("staff01").get("/studies").status_code == 200
    with app.app_context():
        from ecrf.users import User
        users = User.objects(username="staff01")
        users.update(set__active=False) if change == "disabled" else users.delete()
    response = as_user("staff01").get("/studies")
    assert response.status_code == 401 and response.get_json()["detail"] == "user disabled"


def test_studies_lists_the_loaded_study(as_user):
    assert as_user("staff01").get("/studies").get_json() == [
        {"oid": "MINI", "name": "Mini study for engine tests", "version": "1"}]


def test_study_metadata_follows_the_contract(as_user):
    body = as_user("monitor" and "mon01").get("/studies/MINI").get_json()
    assert {"oid", "name", "version", "events", "forms", "parameters"} <= set(body)
    d28 = next(e for e in body["events"] if e["oid"] == "D28")
    assert d28 == {**d28, "day": 28, "window": {"before": 3, "after": 3}, "forms": ["LB"]}
    assert {"oid": "DM", "title": "Demographics", "stage": "screening"} in body["forms"]


def test_form_definition_is_served_as_json_schema(as_user):
    schema = as_user("staff01").get("/studies/MINI/forms/DM").get_json()
    assert schema["properties"]["SEX"]["oneOf"][0]["const"] == "M"


def test_unknown_study_and_form_are_404(as_user):
    assert as_user("staff01").get("/studies/NOPE").status_code == 404
    assert as_user("staff01").get("/studies/MINI/forms/NOPE").status_code == 404


@pytest.mark.parametrize("name", [n for n, (role, _) in PEOPLE.items() if role not in ("site_staff", "investigator")])
def test_roles_that_do_not_enter_data_cannot_register_or_save(as_user, name):
    subject = as_user("staff01").register()
    api = as_user(name)
    assert api.post("/studies/MINI/subjects", {"site": "01"}).status_code == 403
    assert api.save(subject, "SCREEN", "DM", {"SEX": "M"}).status_code in (403, 404)


# Every role against a subject of site 01: who sees it (200) and who gets 404, never its data.
VISIBILITY = {"staff01": 200, "inv01": 200, "mon01": 200, "dm": 200, "staff02": 404, "mon02": 404, "root": 403}


@pytest.mark.parametrize("name, status", VISIBILITY.items())
def test_site_scoping_for_every_role(as_user, name, status):
    subject = as_user("staff01").register()
    assert as_user("staff01").save(subject, "SCREEN", "DM", {"SEX": "M", "NOTES": "secret note"}).status_code == 201
    api = as_user(name)
    for path in (f"/studies/MINI/subjects/{subject}",
                 f"/studies/MINI/subjects/{subject}/events/SCREEN/forms/DM",
                 f"/studies/MINI/subjects/{subject}/audit"):
        response = api.get(path)
        assert response.status_code == status, (path, response.get_json())
        if status != 200:
            assert "secret note" not in response.get_data(as_text=True)
    listed = api.get("/studies/MINI/subjects")
    ids = [s["subject_id"] for s in listed.get_json()] if listed.status_code == 200 else []
    assert (subject in ids) == (status == 200)


def test_site_filter_on_the_subject_list(as_user):
    one = as_user("staff01").register("01")
    two = as_user("staff02").register("02")
    dm = as_user("dm")
    assert [s["subject_id"] for s in dm.get("/studies/MINI/subjects?site=02").get_json()] == [two]
    assert {s["subject_id"] for s in dm.get("/studies/MINI/subjects").get_json()} == {one, two}
    assert as_user("staff01").get("/studies/MINI/subjects?site=02").get_json() == []


def test_staff_cannot_register_at_another_site(as_user):
    response = as_user("staff01").post("/studies/MINI/subjects", {"site": "02"})
    assert response.status_code == 403


def test_openapi_describes_every_api_route(app, as_user):
    spec = as_user("staff01").get("/openapi.json").get_json()
    documented = {path.replace("{", "<").replace("}", ">") for path in spec["paths"]}
    routes = {
        r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1/") and r.rule != "/api/v1/openapi.json"
    }
    assert routes <= documented, routes - documented

"""On the real wire-protocol server, a whole study walk through the API answers exactly as openapi.json says:
each status is one the operation lists, each body validates against its schema (dates, nulls and numbers as
BSON returns them), and nothing is cacheable."""

import pytest
import schemathesis
from conftest import OVERRIDDEN, SIGNING, Api

pytestmark = pytest.mark.integration


def test_a_study_walk_on_the_wire_server_answers_exactly_as_described(wire_app):
    app = wire_app
    client = app.test_client()
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    seen = []

    def check(method: str, response, status: int):
        path = response.request.path
        operation = schema.find_operation_by_path(method, path)
        assert operation is not None, (method, path)
        assert response.status_code == status, (method, path, response.get_data(as_text=True)[:300])
        assert str(status) in operation.definition.raw["responses"], (method, path, status)
        operation.validate_response(response)
        assert response.headers["Cache-Control"] == "no-store"
        seen.append((operation.label, status))
        return response.get_json(silent=True)

    staff, inv, mon, dm = (Api(client, app.tokens[name]) for name in ("staff01", "inv01", "mon01", "dm"))
    record = lambda subject: staff.record_path(subject, "SCREEN", "VS")  # noqa: E731
    check("GET", dm.get("/studies"), 200)
    check("GET", dm.get("/studies/MINI"), 200)
    check("GET", dm.get("/studies/MINI/forms/VS"), 200)
    subject = check("POST", staff.post("/studies/MINI/subjects", {"site": "01"}), 201)["subject_id"]
    check("GET", staff.get("/studies/MINI/subjects"), 200)
    check("GET", staff.get(f"/studies/MINI/subjects/{subject}"), 200)
    check("PUT", staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70}), 201)
    check("PUT", staff.save(subject, "SCREEN", "VS", {"WEIGHT": 71}, version=1, reason="typo"), 200)
    check("PUT", staff.save(subject, "SCREEN", "VS", {"WEIGHT": 72}, version=1, reason="stale"), 409)
    check("PUT", staff.save(subject, "SCREEN", "VS", {"WEIGHT": "heavy"}, version=2, reason="x"), 422)
    check("PUT", staff.put(record(subject), data="WEIGHT=1", content_type="text/plain"), 415)
    check("PUT", staff.save(subject, "LOGS", "AE", {"AE": [{"AETERM": "fever"}]}), 201)
    check("GET", staff.get(record(subject)), 200)
    check("GET", staff.get(record(subject) + "/audit"), 200)
    check("GET", staff.get(f"/studies/MINI/subjects/{subject}/audit"), 200)
    query = check("POST", mon.post("/studies/MINI/queries", {"subject": subject, "event": "SCREEN", "form": "VS",
                                                             "item": "/WEIGHT", "text": "please check"}), 201)["id"]
    check("POST", staff.post(f"/studies/MINI/queries/{query}/replies", {"text": "checked"}), 200)
    check("POST", mon.post(f"/studies/MINI/queries/{query}/close", {"text": "ok"}), 200)
    check("POST", mon.post(f"/studies/MINI/queries/{query}/reopen", {"text": "again"}), 200)
    check("GET", mon.get(f"/studies/MINI/queries/{query}"), 200)
    check("GET", mon.get("/studies/MINI/queries?state=open"), 200)
    check("POST", mon.post(record(subject) + "/sdv", {}), 200)
    check("POST", inv.post(record(subject) + "/sign", SIGNING), 201)
    check(
        "POST", inv.post(f"/studies/MINI/subjects/{subject}/sign", {**SIGNING, "meaning": "approved"}), 201
    )
    check("GET", inv.get(f"/studies/MINI/subjects/{subject}/signatures"), 200)
    check("POST", dm.post(record(subject) + "/lock", OVERRIDDEN), 200)
    check("PUT", staff.save(subject, "SCREEN", "VS", {"WEIGHT": 73}, version=2, reason="x"), 423)
    check("POST", dm.post(record(subject) + "/unlock", {"reason": "correction"}), 200)
    check("POST", dm.post(f"/studies/MINI/subjects/{subject}/freeze", OVERRIDDEN), 200)
    check("POST", dm.post(f"/studies/MINI/subjects/{subject}/unfreeze", {"reason": "reopened"}), 200)
    check("GET", dm.get("/studies/MINI/checks/broken"), 200)
    check("GET", dm.get("/studies/MINI/export/csv"), 200)
    check("GET", dm.get(f"/studies/MINI/subjects/{subject}/casebook.pdf"), 200)
    check("GET", staff.get("/studies/MINI/subjects/nobody"), 404)
    check("GET", Api(client, "not-a-token").get("/studies"), 401)
    check("GET", Api(client, app.tokens["root"]).get(f"/studies/MINI/subjects/{subject}/audit"), 403)
    check("POST", staff.post("/studies/MINI/subjects", {"site": "01", "extra": 1}), 422)
    assert {status for _label, status in seen} == {200, 201, 401, 403, 404, 409, 415, 422, 423}

    not_allowed = client.delete(f"/api/v1{record(subject)}", headers=dm.headers())
    assert not_allowed.status_code == 405 and set(not_allowed.headers["Allow"].split(", ")) == {
        "GET",
        "HEAD",
        "OPTIONS",
        "PUT",
    }

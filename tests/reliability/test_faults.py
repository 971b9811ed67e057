"""Faults: the database goes away and comes back; a write the database refuses loses nothing."""

import pymongo
import pytest
from conftest import Api, make_app

from ecrf.embedded import EmbeddedServer, free_port

pytestmark = pytest.mark.integration


def test_the_app_answers_503_while_the_database_is_down_and_recovers_by_itself(tmp_path):
    port = free_port()
    server = EmbeddedServer(tmp_path / "db", port=port)
    uri = server.start()
    try:
        app = make_app(tmp_path, uri)
        app.config["ECRF"].server_selection_timeout_ms = 1000
        client = app.test_client()
        staff = Api(client, app.tokens["staff01"])
        subject = staff.register()
        assert staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70}).status_code == 201
        server.stop()
        down = client.get("/healthz")
        assert down.status_code == 503 and down.headers["Retry-After"] == "5"
        refused = staff.save(subject, "SCREEN", "VS", {"WEIGHT": 71}, version=1, reason="while down")
        assert refused.status_code == 503 and refused.mimetype == "application/problem+json"
        page = client.get("/login")
        assert page.status_code in (200, 503) and "Traceback" not in page.get_data(as_text=True)
        server = EmbeddedServer(tmp_path / "db", port=port)
        server.start()
        assert client.get("/healthz").status_code == 200
        assert staff.get(staff.record_path(subject, "SCREEN", "VS")).get_json()["data"]["WEIGHT"] == 70
        assert staff.save(subject, "SCREEN", "VS", {"WEIGHT": 71}, version=1, reason="after").status_code == 200
        assert app.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 0
    finally:
        server.stop()


@pytest.mark.parametrize("failure", [
    pymongo.errors.WriteError("No space left on device", code=14031),
    pymongo.errors.ExecutionTimeout("operation exceeded time limit"),
])
def test_a_refused_audit_append_stores_nothing_and_verify_still_passes(wire_app, monkeypatch, failure):
    staff = Api(wire_app.test_client(), wire_app.tokens["staff01"])
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    from pymongo.collection import Collection

    def refusing(real):
        def write(self, documents, *args, **kwargs):
            batch = [documents] if isinstance(documents, dict) else list(documents)
            if self.name == "audit_events" and any(str(d.get("stream")).startswith("record/") for d in batch):
                raise failure  # the server refuses the record's audit event, whichever call carries it
            return real(self, documents, *args, **kwargs)
        return write

    with monkeypatch.context() as patch:
        patch.setattr(Collection, "insert_one", refusing(Collection.insert_one))
        patch.setattr(Collection, "insert_many", refusing(Collection.insert_many))
        response = staff.save(subject, "SCREEN", "VS", {"WEIGHT": 71}, version=1, reason="disk full")
    assert response.status_code == 503 and response.mimetype == "application/problem+json"
    record = staff.get(staff.record_path(subject, "SCREEN", "VS")).get_json()
    assert record["version"] == 1 and record["data"]["WEIGHT"] == 70
    assert wire_app.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 0


def test_duplicate_key_on_append_is_a_conflict_not_a_lost_write(wire_app):
    staff = Api(wire_app.test_client(), wire_app.tokens["staff01"])
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    with wire_app.app_context():
        from ecrf.db import database
        head = database().audit_events.find_one({"stream": f"record/MINI/{subject}/SCREEN/VS"})
        clash = {k: v for k, v in head.items() if k != "_id"}
        clash["seq"] = 2
        clash["hash"] = "f" * 64
        database().audit_events.insert_one(clash)  # another writer got seq 2 first (here: a forged one)
    response = staff.save(subject, "SCREEN", "VS", {"WEIGHT": 72}, version=1, reason="race")
    assert response.status_code == 409
    assert wire_app.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 1  # the forged event is named

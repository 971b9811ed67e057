"""Hostile input and old data on a real wire-protocol server: refused before anything reaches the database
(BSON cannot even encode a lone surrogate), and stored characters XML cannot carry exported safely."""

import io
import zipfile

import pytest
from conftest import SIGNING, Api
from lxml import etree

pytestmark = pytest.mark.integration

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
HOSTILE = ["bad\u0001char", "a\ud800b", "a\ufdd0b", "a\uffffb", "invoice\u202egpj.exe", "a\u200bb", "a\x85b"]


@pytest.fixture
def world(wire_app):
    client = wire_app.test_client()
    staff = Api(client, wire_app.tokens["staff01"])
    subject = staff.register()
    assert staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-05", "HEIGHT": 170, "WEIGHT": 70}).status_code == 201
    return wire_app, client, subject


def stored(app) -> dict:
    with app.app_context():
        from ecrf.db import database

        db = database()
        return {name: sorted(map(repr, db[name].find())) for name in sorted(db.list_collection_names())}


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_refused_with_422_on_the_real_server_and_nothing_is_stored(world, text):
    app, client, subject = world
    staff, monitor, investigator = (Api(client, app.tokens[n]) for n in ("staff01", "mon01", "inv01"))
    record = staff.record_path(subject, "SCREEN", "VS")
    before = stored(app)
    attempts = {
        "/subject_id": staff.post("/studies/MINI/subjects", {"site": "01", "subject_id": text}),
        "/AE/": staff.save(subject, "LOGS", "AE", {"AE": [{"AETERM": text, "AESTDTC": "2026-01-06"}]}),
        "/reason": staff.save(subject, "SCREEN", "VS", {"WEIGHT": 71}, version=1, reason=text),
        "/text": monitor.post("/studies/MINI/queries", {"subject": subject, "event": "SCREEN", "form": "VS",
                                                        "item": "/WEIGHT", "text": text}),
        "/meaning": investigator.post(record + "/sign", {**SIGNING, "meaning": text}),
        "/items/0": monitor.post(record + "/sdv", {"items": [text]}),
    }
    for pointer, response in attempts.items():
        assert response.status_code == 422, (pointer, response.status_code, response.get_json())
        assert any(e["path"].startswith(pointer) for e in response.get_json()["errors"]), (pointer, response.get_json())
    assert stored(app) == before


def test_deep_json_and_chunked_bodies_over_the_limit_on_the_real_server(world):
    app, client, _ = world
    staff = Api(client, app.tokens["staff01"])
    headers = {**staff.headers(), "Content-Type": "application/json"}
    deep = b'{"site": "01", "x": ' + b"[" * 989 + b"]" * 989 + b"}"
    assert client.post("/api/v1/studies/MINI/subjects", data=deep, headers=headers).status_code == 400
    big = b'{"site": "01", "subject_id": "' + b"a" * 3_000_000 + b'"}'
    response = client.post("/api/v1/studies/MINI/subjects", input_stream=io.BytesIO(big),
                           headers={**headers, "Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413


def test_control_characters_stored_before_the_rules_export_as_valid_odm_excel_and_csv(world):
    from openpyxl import load_workbook

    app, client, subject = world
    staff = Api(client, app.tokens["staff01"])
    assert staff.save(subject, "LOGS", "AE", {"AE": [{"AETERM": "fever", "AESTDTC": "2026-01-06"}]}).status_code == 201
    bad = "bad\x01char\x0b\ufffe"
    with app.app_context():
        from ecrf.db import database

        db = database()
        db.records.update_one({"subject": subject, "form": "AE"}, {"$set": {"data.AE.0.AETERM": bad}})
        db.audit_events.update_one({"context.subject": subject, "context.form": "AE"},
                                   {"$set": {"changes.0.new.0.AETERM": bad}})
    dm = {"Authorization": f"Bearer {app.tokens['dm']}"}
    odm = client.get("/api/v1/studies/MINI/export/odm", headers=dm)
    assert odm.status_code == 200
    document = etree.fromstring(odm.data)
    with app.app_context():
        from ecrf.exports.odm import odm_schema

        schema = odm_schema()
        assert schema.validate(document), [e.message for e in list(schema.error_log)[:5]]
    assert "bad\ufffdchar\ufffd\ufffd" in [i.get("Value") for i in document.iterfind(".//odm:ItemData", NS)]
    xlsx = client.get("/api/v1/studies/MINI/export/xlsx", headers=dm)
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.data))["AE"]
    assert "bad\ufffdchar\ufffd\ufffd" in [c.value for row in sheet.iter_rows() for c in row]
    csv_zip = client.get("/api/v1/studies/MINI/export/csv", headers=dm)
    assert csv_zip.status_code == 200
    assert "bad\ufffdchar\ufffd\ufffd" in zipfile.ZipFile(io.BytesIO(csv_zip.data)).read("AE.csv").decode("utf-8-sig")

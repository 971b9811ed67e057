"""A synthetic CD7-CAR-T subject through the whole schedule on the real server, and a screen failure."""

import datetime as dt

import pytest
from conftest import BUNDLED_STUDY, Api, make_app
from synthetic import form_data, schedule

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cd7_wire(tmp_path_factory, wire_uri):
    app = make_app(tmp_path_factory.mktemp("cd7"), wire_uri, study=BUNDLED_STUDY)
    return app, Api(app.test_client(), app.tokens["staff01"], "CD7_CART_SAA")


@pytest.fixture(scope="module")
def full_casebook(cd7_wire):
    """One subject with every scheduled form saved, each answered 201 and complete; (subject, forms saved)."""
    app, staff = cd7_wire
    meta = staff.get("/studies/CD7_CART_SAA").get_json()
    subject = staff.register()
    infusion = dt.date(2026, 3, 2)
    saved = 0
    for event, form, visit_date, day in schedule(meta, infusion):
        data = {k: v for k, v in form_data(form, event, visit_date, infusion=infusion,
                                           day=day).items() if v is not None}
        response = staff.save(subject, event, form, data)
        assert response.status_code == 201, (event, form, response.get_json())
        assert response.get_json()["status"] == "complete", (event, form, response.get_json()["missing"])
        saved += 1
    return subject, saved


def test_a_subject_runs_from_screening_to_month_36(cd7_wire, full_casebook):
    app, staff = cd7_wire
    subject, saved = full_casebook
    assert saved > 150
    body = staff.get(f"/studies/CD7_CART_SAA/subjects/{subject}").get_json()
    assert body["status"] == "enrolled"
    cells = [c for e in body["events"] if e["event"] != "UNSCHED" for c in e["forms"]
             if not (e["event"] == "LOGS" and c["form"] in ("DEATH", "EOS"))]
    assert {c["status"] for c in cells} == {"complete"}
    # Clean data raise no query anywhere in the casebook.
    open_queries = staff.get(f"/studies/CD7_CART_SAA/queries?subject={subject}&state=open").get_json()
    assert open_queries == [], [(q["event"], q["form"], q["check"]) for q in open_queries]
    # The derivations ran on real data along the way.
    d0 = staff.get(staff.record_path(subject, "D0", "INF")).get_json()
    assert d0["derived"]["DOSE_PER_KG"] == 3_000_000
    d2 = staff.get(staff.record_path(subject, "D2", "CRS")).get_json()
    assert d2["derived"]["CRS_GRADE"] == 2
    m3 = staff.get(staff.record_path(subject, "M3", "RESP")).get_json()
    assert m3["derived"] == {"RESPONSE": "PR"}
    assert app.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 0


def test_a_screen_failed_subject_stops_at_screening(cd7_wire):
    app, staff = cd7_wire
    subject = staff.register()
    infusion = dt.date(2026, 4, 6)
    meta = staff.get("/studies/CD7_CART_SAA").get_json()
    for event, form, visit_date, day in schedule(meta, infusion):
        if event != "SCREEN":
            continue
        data = {k: v for k, v in form_data(form, event, visit_date, infusion=infusion, fail=True, day=day).items()
                if v is not None}
        assert staff.save(subject, event, form, data).status_code == 201
    ie = staff.get(staff.record_path(subject, "SCREEN", "IE")).get_json()
    assert ie["derived"] == {"ELIGIBLE": False, "FAILED": ["IN07"]}
    assert staff.get(f"/studies/CD7_CART_SAA/subjects/{subject}").get_json()["status"] == "screen_failed"
    checks = {q["check"] for q in staff.get(f"/studies/CD7_CART_SAA/queries?subject={subject}").get_json()}
    assert checks == {"ALT_SCREEN"}  # ALT 200 = 5 × ULN: not eligible, but still grade 2 (no grade-3 query)
    assert staff.get(staff.record_path(subject, "SCREEN", "LB_CHEM")).get_json()["derived"]["ALT_GRADE"] == 2
    refused = staff.save(subject, "APH", "APH", {"APHDTC": "2026-03-20"})
    assert refused.status_code == 409 and "failed screening" in refused.get_json()["detail"]
    assert staff.save(subject, "LOGS", "EOS", {"EOSDTC": "2026-03-21", "EOSREAS": "screen_failure"}).status_code == 201
    events = [e["action"] for e in staff.get(f"/studies/CD7_CART_SAA/subjects/{subject}/audit").get_json()
              if e["stream"].startswith("subject/")]
    assert events == ["subject_registered", "subject_status"]


def test_the_full_casebook_exports_as_odm_valid_against_the_xsd_carrying_every_audit_event(cd7_wire, full_casebook,
                                                                                          tmp_path):
    import odmlib.loader as loader_module
    import odmlib.odm_loader as odm_loader
    from lxml import etree

    app, _ = cd7_wire
    subject, saved = full_casebook
    ns = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
    response = app.test_client().get(f"/api/v1/studies/CD7_CART_SAA/export/odm?subject={subject}",
                                     headers={"Authorization": f"Bearer {app.tokens['dm']}"})
    assert response.status_code == 200
    document = etree.fromstring(response.data)
    with app.app_context():
        from ecrf.db import database
        from ecrf.exports.odm import odm_schema

        schema = odm_schema()
        assert schema.validate(document), [e.message for e in list(schema.error_log)[:5]]
        events = {f"{e['stream']}#{e['seq']}" for e in database().audit_events.find(
            {"context.subject": subject, "stream": {"$regex": "^record/"}}, {"stream": 1, "seq": 1})}
    forms = document.xpath(f"//odm:SubjectData[@SubjectKey='{subject}']//odm:FormData", namespaces=ns)
    assert len(forms) == saved
    exported = {e.text.split(":")[0] for e in document.iterfind(".//odm:AuditRecord/odm:SourceID", ns)}
    assert len(events) >= saved and events <= exported
    path = tmp_path / "casebook.xml"
    path.write_bytes(response.data)
    loader = loader_module.ODMLoader(odm_loader.XMLODMLoader(model_package="odm_1_3_2", ns_uri=ns["odm"]))
    loader.open_odm_document(str(path))
    loaded = loader.load_odm()
    assert [s.SubjectKey for s in loaded.ClinicalData[0].SubjectData] == [subject]
    assert sum(len(e.FormData) for e in loaded.ClinicalData[0].SubjectData[0].StudyEventData) == saved

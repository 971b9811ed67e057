"""Clinical data import on the real wire server: the bundled study's ODM export re-imports into an empty database
with identical records and a clean audit trail; labs raise queries; re-imports change nothing; Remove removes;
the API answers 202 and the job can be polled."""

import datetime as dt
import io
import time

import pytest
from conftest import BUNDLED_STUDY, Api, make_app
from synthetic import form_data, schedule

pytestmark = pytest.mark.integration


def records(app) -> dict:
    with app.app_context():
        from ecrf.records.document import Record

        return {r["_id"]: (r["site"], r.get("data"), r.get("derived"), r.get("status"))
                for r in Record._get_collection().find({})}


def cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


@pytest.fixture
def cd7_wire(tmp_path, wire_uri):
    """The bundled study on the wire server: two subjects at two sites, a correction, an AE row removed."""
    app = make_app(tmp_path / "source", wire_uri, study=BUNDLED_STUDY)
    client = app.test_client()
    staff, staff2 = (Api(client, app.tokens[name], "CD7_CART_SAA") for name in ("staff01", "staff02"))
    meta = staff.get("/studies/CD7_CART_SAA").get_json()
    infusion = dt.date(2026, 3, 2)
    for api, site in ((staff, "01"), (staff2, "02")):
        subject = api.register(site)
        for event, form, visit, day in schedule(meta, infusion)[:30]:
            data = {k: v for k, v in form_data(form, event, visit, infusion=infusion, day=day).items() if v is not None}
            assert api.save(subject, event, form, data).status_code == 201
    staff.save("01-001", "SCREEN", "LB_CHEM", {"LBDTC": "2026-02-10", "ALT": 200, "AST": 28, "BILI": 12, "CREAT": 80},
               version=1, reason="re-read the report")
    staff.save("01-001", "LOGS", "AE", form_data("AE", "LOGS", "2026-03-03", infusion=infusion))
    staff.save("01-001", "LOGS", "AE", {"AE": []}, version=1, reason="entered in error")
    return app


def test_the_bundled_studys_export_reimports_into_an_empty_database_identically(cd7_wire, tmp_path, wire_uri):
    exported = tmp_path / "cd7.xml"
    assert cli(cd7_wire, "export", "odm", "--study", "CD7_CART_SAA", "-o", str(exported)).exit_code == 0
    empty = make_app(tmp_path / "target", wire_uri, study=BUNDLED_STUDY)
    started = time.perf_counter()
    result = cli(empty, "import", "odm", str(exported), "--study", "CD7_CART_SAA", "--as", "dm")
    seconds = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    source, target = records(cd7_wire), records(empty)
    print(f"round trip: {len(target)} records imported in {seconds:.1f} s; {result.output.strip()}")
    assert set(target) == set(source) and len(target) >= 50
    assert {key: value[:2] for key, value in target.items()} == {key: value[:2] for key, value in source.items()}
    assert target == source  # derived values and completeness too
    assert cli(empty, "audit", "verify").exit_code == 0
    again = cli(empty, "import", "odm", str(exported), "--study", "CD7_CART_SAA", "--as", "dm")
    assert "created 0, updated 0, unchanged" in again.output and "refused 0" in again.output
    assert records(empty) == target


def test_imported_out_of_range_labs_raise_queries_and_reimporting_changes_nothing(wire_app, tmp_path):
    lab = tmp_path / "central-lab.csv"
    lab.write_bytes("\ufeffsubject,site,visit,LBDTC,ALT\r\n01-001,01,SCREEN,2026-03-01,35\r\n"
                    "01-002,02,D28,2026-03-29,500\r\n".encode())
    first = cli(wire_app, "import", "csv", str(lab), "--study", "MINI", "--form", "LB", "--event-column", "visit",
                "--as", "dm")
    assert "created 2, updated 0, unchanged 0, refused 0; queries raised 2; subjects registered 2" in first.output
    with wire_app.app_context():
        from ecrf.queries import Query
        from ecrf.trail import audit_store

        assert {(q.subject, q.item) for q in Query.objects(study="MINI")} == {("01-002", "/ALT")}
        events = audit_store().collection.count_documents({})
    again = cli(wire_app, "import", "csv", str(lab), "--study", "MINI", "--form", "LB", "--event-column", "visit",
                "--as", "dm")
    assert "created 0, updated 0, unchanged 2, refused 0" in again.output
    with wire_app.app_context():
        assert audit_store().collection.count_documents({}) == events


def test_a_transactional_remove_takes_rows_and_items_away_with_a_reason(wire_app, tmp_path):
    staff = Api(wire_app.test_client(), wire_app.tokens["staff01"])
    subject = staff.register()
    staff.save(subject, "LOGS", "AE", {"AE": [{"row_id": "r1", "AETERM": "fever"}, {"row_id": "r2", "AETERM": "rash"}]})
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70, "VSDTC": "2026-03-01"})
    removal = tmp_path / "removal.xml"
    removal.write_text(f"""<?xml version="1.0"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" FileType="Transactional" ODMVersion="1.3.2" FileOID="X"
     CreationDateTime="2026-03-05T00:00:00Z"><ClinicalData StudyOID="MINI" MetaDataVersionOID="M">
 <SubjectData SubjectKey="{subject}" TransactionType="Update">
  <StudyEventData StudyEventOID="SE.LOGS"><FormData FormOID="F.AE">
   <ItemGroupData ItemGroupOID="IG.AE.AE" ItemGroupRepeatKey="r2" TransactionType="Remove">
    <AuditRecord><UserRef UserOID="USR.old"/><LocationRef LocationOID="LOC.01"/>
     <DateTimeStamp>2026-03-04T08:00:00Z</DateTimeStamp><ReasonForChange>duplicate</ReasonForChange></AuditRecord>
   </ItemGroupData></FormData></StudyEventData>
  <StudyEventData StudyEventOID="SE.SCREEN"><FormData FormOID="F.VS">
   <ItemGroupData ItemGroupOID="IG.VS"><ItemData ItemOID="IT.VS.WEIGHT" TransactionType="Remove"/></ItemGroupData>
  </FormData></StudyEventData>
 </SubjectData></ClinicalData></ODM>""")
    result = cli(wire_app, "import", "odm", str(removal), "--study", "MINI", "--as", "dm")
    assert "created 0, updated 2, unchanged 0, refused 0" in result.output, result.output
    ae = staff.get(staff.record_path(subject, "LOGS", "AE")).get_json()
    assert ae["data"] == {"AE": [{"row_id": "r1", "AETERM": "fever"}]}
    assert staff.get(staff.record_path(subject, "SCREEN", "VS")).get_json()["data"] == {"VSDTC": "2026-03-01"}
    [*_, event] = staff.get(staff.record_path(subject, "LOGS", "AE") + "/audit").get_json()
    assert (event["actor"], event["reason"]) == ("dm", "Data import from removal.xml")
    with wire_app.app_context():
        from ecrf.trail import audit_store, record_stream

        stored = audit_store().events(record_stream("MINI", subject, "LOGS", "AE"))[-1]
    assert stored["context"]["provenance"] == {"file": "removal.xml", "line": 7, "user": "USR.old",
                                               "at": "2026-03-04T08:00:00Z", "reason": "duplicate",
                                               "location": "LOC.01"}
    assert cli(wire_app, "audit", "verify").exit_code == 0


def test_the_api_answers_202_and_the_job_is_polled_to_its_end(wire_app):
    dm = Api(wire_app.test_client(), wire_app.tokens["dm"])
    response = dm.client.post(
        "/api/v1/studies/MINI/imports",
        headers=dm.headers(),
        content_type="multipart/form-data",
        data={
            "file": (io.BytesIO(b"subject,site,LBDTC,ALT\n01-001,01,2026-03-01,35\n"), "lab.csv"),
            "kind": "csv",
            "form": "LB",
            "event": "SCREEN",
        },
    )
    assert response.status_code == 202
    deadline = time.monotonic() + 60
    while (job := dm.client.get(response.headers["Location"], headers=dm.headers()).get_json())["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert (job["state"], job["counts"]["created"], job["counts"]["registered"]) == ("done", 1, 1)

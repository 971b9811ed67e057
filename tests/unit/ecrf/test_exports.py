"""Exports: ODM 1.3.2 valid against the official XSD, loaded back by odmlib, carrying every audit event;
CSV zip and Excel with coded labels, a data dictionary and the audit trail."""

import csv
import datetime as dt
import io
import re
import zipfile

import pytest
from conftest import OVERRIDDEN, SIGNING, Api, counting_calls
from lxml import etree
from synthetic import form_data, schedule

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}


@pytest.fixture
def filled(cd7_app, cd7):
    """Two subjects at two sites with history: a correction, a query, a signature, an AE row removed."""
    staff, staff2 = cd7("staff01"), cd7("staff02")
    meta = staff.get("/studies/CD7_CART_SAA").get_json()
    infusion = dt.date(2026, 3, 2)
    subjects = []
    for api, site in ((staff, "01"), (staff2, "02")):
        subject = api.register(site)
        subjects.append(subject)
        for event, form, visit, day in schedule(meta, infusion)[:40]:
            data = {k: v for k, v in form_data(form, event, visit, infusion=infusion, day=day).items() if v is not None}
            assert api.save(subject, event, form, data).status_code == 201
    one = subjects[0]
    staff.save(one, "SCREEN", "LB_CHEM", {"LBDTC": "2026-02-10", "ALT": 200, "AST": 28, "BILI": 12, "CREAT": 80},
               version=1, reason="re-read the report")
    ae = form_data("AE", "LOGS", "2026-03-03", infusion=infusion)
    staff.save(one, "LOGS", "AE", ae)
    staff.save(one, "LOGS", "AE", {"AE": []}, version=1, reason="entered in error")
    cd7("inv01").post(staff.record_path(one, "SCREEN", "ECOG") + "/sign", SIGNING)
    return cd7_app, subjects


def odm_bytes(app, **params):
    client = app.test_client()
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = client.get(
        f"/api/v1/studies/CD7_CART_SAA/export/odm?{query}", headers={"Authorization": f"Bearer {app.tokens['dm']}"}
    )
    assert response.status_code == 200 and response.mimetype == "application/xml"
    return response.data


def test_odm_export_validates_against_the_official_xsd(filled):
    app, _ = filled
    with app.app_context():
        from ecrf.exports.odm import odm_schema

        document = etree.fromstring(odm_bytes(app))
        schema = odm_schema()
        assert schema.validate(document), [e.message for e in list(schema.error_log)[:5]]


def test_odm_export_carries_every_audit_event_of_every_record(filled):
    app, subjects = filled
    document = etree.fromstring(odm_bytes(app))
    source_ids = {e.text.split(":")[0] for e in document.iterfind(".//odm:AuditRecord/odm:SourceID", NS)}
    with app.app_context():
        from ecrf.db import database

        events = {
            f"{e['stream']}#{e['seq']}"
            for e in database().audit_events.find({"stream": {"$regex": "^record/"}, "changes.0": {"$exists": True}})
        }
    assert events and events <= source_ids
    # A correction appears as an Update with the old value's history before it, and the reason kept.
    alt = document.xpath("//odm:ItemData[@ItemOID='IT.LB_CHEM.ALT']", namespaces=NS)
    assert [i.get("TransactionType") for i in alt[:2]] == ["Insert", "Update"]
    assert alt[1].find("odm:AuditRecord/odm:ReasonForChange", NS).text == "re-read the report"
    # The removed adverse-event row is a Remove transaction.
    removed = document.xpath("//odm:ItemGroupData[@ItemGroupOID='IG.AE.AE'][@TransactionType='Remove']", namespaces=NS)
    assert len(removed) == 1


def test_odm_export_has_queries_signatures_and_metadata(filled):
    app, subjects = filled
    document = etree.fromstring(odm_bytes(app))
    comments = [c.text for c in document.iterfind(".//odm:Annotation/odm:Comment", NS)]
    assert any("ALT_SCREEN" in c for c in comments)
    assert (
        document.find(".//odm:FormData[@FormOID='F.ECOG']/odm:Signature/odm:SignatureRef", NS).get("SignatureOID")
        == "SD.ATTEST"
    )
    assert document.find(".//odm:ItemDef[@OID='IT.DM.SEX']/odm:CodeListRef", NS) is not None
    assert (
        document.find(".//odm:ItemDef[@OID='IT.VS.WEIGHT']/odm:RangeCheck[@Comparator='LE']/odm:CheckValue", NS).text
        == "300"
    )
    zh = document.find(
        ".//odm:ItemDef[@OID='IT.LB_CHEM.ALT']/odm:Question/odm:TranslatedText[@{http://www.w3.org/XML/1998/namespace}lang='zh']",
        NS,
    )
    assert zh.text == "丙氨酸氨基转移酶"
    assert [s.get("SubjectKey") for s in document.iterfind(".//odm:SubjectData", NS)] == subjects


def test_odm_export_loads_back_with_odmlib(filled, tmp_path):
    import odmlib.loader as loader_module
    import odmlib.odm_loader as odm_loader

    app, subjects = filled
    path = tmp_path / "study.xml"
    path.write_bytes(odm_bytes(app))
    loader = loader_module.ODMLoader(odm_loader.XMLODMLoader(model_package="odm_1_3_2", ns_uri=NS["odm"]))
    loader.open_odm_document(str(path))
    odm = loader.load_odm()
    assert odm.ODMVersion == "1.3.2" and odm.Study[0].OID == "CD7_CART_SAA"
    assert len(odm.Study[0].MetaDataVersion[0].FormDef) == 29
    assert [s.SubjectKey for s in odm.ClinicalData[0].SubjectData] == subjects


def test_exports_are_for_data_managers_and_filter_by_site_and_subject(filled):
    app, subjects = filled
    client = app.test_client()
    refused = client.get(
        "/api/v1/studies/CD7_CART_SAA/export/odm", headers={"Authorization": f"Bearer {app.tokens['mon01']}"}
    )
    assert refused.status_code == 403
    only_02 = etree.fromstring(odm_bytes(app, site="02"))
    assert [s.get("SubjectKey") for s in only_02.iterfind(".//odm:SubjectData", NS)] == [subjects[1]]
    one = etree.fromstring(odm_bytes(app, subject=subjects[0]))
    assert [s.get("SubjectKey") for s in one.iterfind(".//odm:SubjectData", NS)] == [subjects[0]]


def test_csv_zip_has_a_file_per_form_labels_beside_codes_a_dictionary_and_the_audit_trail(filled):
    app, subjects = filled
    client = app.test_client()
    response = client.get(
        "/api/v1/studies/CD7_CART_SAA/export/csv", headers={"Authorization": f"Bearer {app.tokens['dm']}"}
    )
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = set(archive.namelist())
    assert {"DM.csv", "LB_CHEM.csv", "AE.csv", "LD.LD_DAYS.csv", "data_dictionary.csv", "audit_trail.csv"} <= names
    dm = list(csv.DictReader(io.TextIOWrapper(archive.open("DM.csv"), encoding="utf-8-sig")))
    assert [(r["subject"], r["SEX"], r["SEX_LABEL"]) for r in dm] == [
        (subjects[0], "M", "Male"),
        (subjects[1], "M", "Male"),
    ]
    assert dm[0]["AGE"] != ""
    ld = list(csv.DictReader(io.TextIOWrapper(archive.open("LD.LD_DAYS.csv"), encoding="utf-8-sig")))
    assert len(ld) == 6 and all(r["row_id"] for r in ld)  # one row per repeating row
    dictionary = list(csv.DictReader(io.TextIOWrapper(archive.open("data_dictionary.csv"), encoding="utf-8-sig")))
    sex = next(r for r in dictionary if r["table"] == "DM" and r["item"] == "SEX")
    assert sex["codes"] == "M=Male; F=Female" and sex["label_zh"] == "性别"
    audit = list(csv.DictReader(io.TextIOWrapper(archive.open("audit_trail.csv"), encoding="utf-8-sig")))
    assert any(
        r["path"] == "/ALT" and r["old"] == "30" and r["new"] == "200" and r["reason"] == "re-read the report"
        for r in audit
    )


def test_excel_has_a_sheet_per_form_with_a_frozen_bold_header(filled):
    from openpyxl import load_workbook

    app, subjects = filled
    response = app.test_client().get(
        "/api/v1/studies/CD7_CART_SAA/export/xlsx", headers={"Authorization": f"Bearer {app.tokens['dm']}"}
    )
    workbook = load_workbook(io.BytesIO(response.data))
    sheet = workbook["VS"]
    assert sheet.freeze_panes == "A2" and sheet["A1"].value == "subject" and sheet["A1"].font.bold
    header = [c.value for c in sheet[1]]
    rows = [dict(zip(header, r, strict=False)) for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert {r["subject"] for r in rows} == set(subjects)
    assert [r["BSA"] for r in rows if r["event"] == "SCREEN"] == [1.8181, 1.8181]
    assert "data_dictionary" in workbook.sheetnames


def test_cli_export_writes_the_file_with_progress(filled, tmp_path):
    app, subjects = filled
    target = tmp_path / "out.xml"
    result = app.test_cli_runner().invoke(args=["export", "odm", "--site", "01", "-o", str(target)])
    assert result.exit_code == 0, result.output
    document = etree.parse(str(target))
    assert [s.get("SubjectKey") for s in document.iterfind(".//odm:SubjectData", NS)] == [subjects[0]]
    assert not (tmp_path / "out.xml.part").exists()


def test_casebook_pdf_holds_forms_derived_values_queries_audit_and_signatures(filled):
    from pypdf import PdfReader

    app, subjects = filled
    response = app.test_client().get(
        f"/api/v1/studies/CD7_CART_SAA/subjects/{subjects[0]}/casebook.pdf",
        headers={"Authorization": f"Bearer {app.tokens['inv01']}"},
    )
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    flat = " ".join(text.split())
    for expected in (
        f"subject {subjects[0]}",
        "Demographics",
        "Body surface area",
        "1.8181",
        "ALT above 3 × ULN",
        "re-read the report",
        "entered in error",
        "Electronically signed by Inv01",
        "I attest that I have reviewed the data",
        "Audit trail",
        "Asia/Shanghai",
    ):
        assert expected in flat, expected
    other_site = app.test_client().get(
        f"/api/v1/studies/CD7_CART_SAA/subjects/{subjects[1]}/casebook.pdf",
        headers={"Authorization": f"Bearer {app.tokens['inv01']}"},
    )
    assert other_site.status_code == 404


def test_odm_metadata_import_makes_a_draft_study_that_passes_its_check(cd7_app, tmp_path):
    import json

    odm = tmp_path / "cd7.xml"
    with cd7_app.app_context():
        from ecrf.exports.odm import write_odm
        from ecrf.studies import study_runtime

        with open(odm, "wb") as out:
            write_odm(out, study_runtime("CD7_CART_SAA"), [])
    result = cd7_app.test_cli_runner().invoke(args=["study", "import-odm", str(odm), "-o", str(tmp_path / "draft")])
    assert result.exit_code == 0, result.output
    assert "29 forms and 31 events" in result.output
    dm = json.loads((tmp_path / "draft" / "screening" / "DM.json").read_text())
    assert [c["const"] for c in dm["properties"]["SEX"]["oneOf"]] == ["M", "F"]
    assert dm["properties"]["SEX"]["x-ecrf-labels"] == {"zh": "性别"}
    vs = json.loads((tmp_path / "draft" / "screening" / "VS.json").read_text())
    assert vs["properties"]["WEIGHT"]["maximum"] == 300 and vs["properties"]["WEIGHT"]["x-ecrf-unit"] == "kg"
    assert vs["properties"]["VSDTC"]["format"] == "date"
    ae = json.loads((tmp_path / "draft" / "logs" / "AE.json").read_text())
    assert ae["properties"]["AE"]["type"] == "array" and "AETERM" in ae["properties"]["AE"]["items"]["properties"]
    refused = cd7_app.test_cli_runner().invoke(args=["study", "import-odm", str(odm), "-o", str(tmp_path / "draft")])
    assert refused.exit_code == 1 and "not empty" in refused.output
    broken = tmp_path / "broken.xml"
    broken.write_text("<ODM")
    assert (
        cd7_app.test_cli_runner()
        .invoke(args=["study", "import-odm", str(broken), "-o", str(tmp_path / "d2")])
        .exit_code
        == 1
    )


# ---------------------------------------------------------------- what the exports read, and that it changes nothing


def odm_export(app, monkeypatch, **patches) -> bytes:
    """write_odm of every subject, at a fixed creation time, with module attributes patched."""
    import ecrf.exports.odm as odm
    from ecrf.exports import export_subjects
    from ecrf.exports.odm import clinical, document
    from ecrf.studies import study_runtime

    with monkeypatch.context() as patch:
        patch.setattr(document, "utc_now", lambda: dt.datetime(2026, 5, 1, tzinfo=dt.UTC))
        for name, value in patches.items():
            patch.setattr(clinical, name, value)
        with app.app_context():
            out = io.BytesIO()
            runtime = study_runtime("CD7_CART_SAA")
            odm.write_odm(out, runtime, export_subjects(runtime))
    return out.getvalue()


def per_record_odm(app, monkeypatch) -> bytes:
    """The export as it was made before: every record's stream read on its own, by name."""
    return odm_export(app, monkeypatch, _subject_events=lambda store, study, subject_id: {})


def test_odm_reads_a_subjects_events_with_one_query_and_writes_what_per_record_reads_wrote(filled, monkeypatch):
    app, subjects = filled
    expected = per_record_odm(app, monkeypatch)
    calls = counting_calls(monkeypatch, "find")
    assert odm_export(app, monkeypatch) == expected
    assert calls.count("audit_events") == len(subjects) + 1  # and one for the study's signature meanings
    assert calls.count("records") == calls.count("queries") == calls.count("signatures") == len(subjects)


def test_odm_keeps_each_stream_in_sequence_order_when_clocks_disagree(filled, monkeypatch):
    app, subjects = filled
    with app.app_context():
        from ecrf.db import database

        stream = f"record/CD7_CART_SAA/{subjects[0]}/SCREEN/LB_CHEM"
        first = database().audit_events.find_one({"stream": stream, "seq": 1})
        database().audit_events.update_one(
            {"stream": stream, "seq": 2}, {"$set": {"at": first["at"] - dt.timedelta(days=1)}}
        )
    calls = counting_calls(monkeypatch, "find")
    document = odm_export(app, monkeypatch)
    assert calls.count("audit_events") == len(subjects) + 1  # sorted, not read again by name
    assert document == per_record_odm(app, monkeypatch)
    alt = etree.fromstring(document).xpath("//odm:ItemData[@ItemOID='IT.LB_CHEM.ALT']", namespaces=NS)
    assert [i.get("TransactionType") for i in alt[:2]] == ["Insert", "Update"]


def test_odm_reads_a_stream_by_name_when_some_event_lacks_the_subjects_context(filled, monkeypatch):
    app, subjects = filled
    stream = f"record/CD7_CART_SAA/{subjects[0]}/SCREEN/LB_CHEM"
    with app.app_context():
        from ecrf.db import database

        database().audit_events.update_one({"stream": stream, "seq": 1}, {"$unset": {"context": ""}})
    document = odm_export(app, monkeypatch)
    assert document == per_record_odm(app, monkeypatch)
    assert f"{stream}#1:create".encode() in document


def reference_table(study, form, group, subject_ids) -> list[list]:
    """A table's rows as they were read before: one records query per table and subject."""
    from ecrf.exports.tables import table_rows
    from ecrf.records.document import Record

    order = {e["oid"]: n for n, e in enumerate(study.events)}
    lines = []
    for subject in subject_ids:
        records = list(Record._get_collection().find({"study": study.oid, "subject": subject, "form": form.oid}))
        lines += table_rows(form, group, sorted(records, key=lambda r: order.get(r["event"], 999)))
    return lines


def reference_csv(header, lines) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(lines)
    return text.getvalue().encode("utf-8-sig")


def test_tables_read_each_subjects_records_once_and_write_what_per_table_reads_wrote(filled, monkeypatch):
    from openpyxl import load_workbook

    app, subjects = filled
    with app.app_context():
        from ecrf.db import database
        from ecrf.exports.tables import columns, tables, write_csv_zip, write_xlsx
        from ecrf.studies import study_runtime

        stored = list(database().records.find())  # stored against schedule order: the export sorts
        database().records.delete_many({})
        database().records.insert_many(stored[::-1])

        runtime = study_runtime("CD7_CART_SAA")
        expected = {
            name: (columns(form, group), reference_table(runtime, form, group, subjects))
            for name, form, group in tables(runtime)
        }
        calls = counting_calls(monkeypatch, "find")
        zipped, workbook, progress = io.BytesIO(), io.BytesIO(), []
        assert write_csv_zip(zipped, runtime, subjects, progress=progress.append) == len(expected)
        assert calls.count("records") == len(subjects)
        write_xlsx(workbook, runtime, subjects, progress=progress.append)
    assert progress == [1] * 2 * len(expected)
    archive = zipfile.ZipFile(io.BytesIO(zipped.getvalue()))
    assert archive.namelist() == [f"{name}.csv" for name in expected] + [
        "data_dictionary.csv", "audit_trail.csv", "ae_coding.csv", "safety_table.csv"]
    assert sum(len(lines) for _, lines in expected.values()) > 40
    for name, (header, lines) in expected.items():
        assert archive.read(f"{name}.csv") == reference_csv(header, lines), name
    sheets = load_workbook(io.BytesIO(workbook.getvalue()))
    assert sheets.sheetnames == [name[:31] for name in expected] + ["data_dictionary", "ae_coding", "safety_table"]
    for name, (header, lines) in expected.items():
        rows = [["" if v is None else v for v in row] for row in sheets[name[:31]].iter_rows(values_only=True)]
        assert rows == [header] + [["" if v is None else v for v in line] for line in lines], name


def test_read_ahead_pairs_each_item_with_its_reading_in_order_holding_one_ahead():
    from ecrf.exports.readahead import read_ahead

    started, consumed, ahead = [], [], []

    def read(item):
        started.append(item)
        return item * 10

    for item, value in read_ahead(range(6), read):
        ahead.append(len(started) - len(consumed))
        consumed.append(item)
        assert value == item * 10
    assert consumed == list(range(6))
    assert max(ahead) <= 2  # the current item and the one being read next


def test_read_ahead_raises_what_reading_raised():
    from ecrf.exports.readahead import read_ahead

    def read(item):
        if item == 2:
            raise ValueError("subject 2 unreadable")
        return item

    got = []
    with pytest.raises(ValueError, match="subject 2"):
        for item, _ in read_ahead(range(5), read):
            got.append(item)
    assert got == [0, 1]


def test_odm_snapshot_carries_each_records_current_data(filled, monkeypatch):
    import ecrf.exports.odm as odm
    from ecrf.exports import export_subjects
    from ecrf.exports.odm import clinical
    from ecrf.studies import study_runtime

    app, subjects = filled
    with app.app_context():
        from ecrf.db import database

        stored = database().records.find_one({"subject": subjects[0], "event": "SCREEN", "form": "VS"})
        out = io.BytesIO()
        runtime = study_runtime("CD7_CART_SAA")
        odm.write_odm(out, runtime, export_subjects(runtime), with_audit=False)
    document = etree.fromstring(out.getvalue())
    odm.odm_schema().assertValid(document)
    assert document.get("FileType") == "Snapshot"
    items = list(document.iter(f"{{{NS['odm']}}}ItemData"))
    # Values are upserts; Context items carry only the queries that name them.
    assert {i.get("TransactionType") for i in items} == {"Upsert", "Context"}
    assert all(
        i.get("Value") is None and i.find("odm:Annotation", NS) is not None
        for i in items
        if i.get("TransactionType") == "Context"
    )
    form = document.xpath(
        f"//odm:SubjectData[@SubjectKey='{subjects[0]}']/odm:StudyEventData[@StudyEventOID='SE.SCREEN']"
        "/odm:FormData[@FormOID='F.VS']",
        namespaces=NS,
    )[0]
    values = {i.get("ItemOID"): i.get("Value") for i in form.iter(f"{{{NS['odm']}}}ItemData")}
    assert values["IT.VS.WEIGHT"] == clinical._value(stored["data"]["WEIGHT"])
    assert len(values) >= len(stored["data"])


# ---------------------------------------------------------------- the ODM is an exact copy of the trail


def odm_document(app):
    """The study's ODM, parsed, after checking it against the ODM 1.3.2 XSD."""
    document = etree.fromstring(odm_bytes(app))
    with app.app_context():
        from ecrf.exports.odm import odm_schema

        odm_schema().assertValid(document)
    return document


def form_history(document, subject: str, event: str, form: str) -> list[tuple]:
    """Every value of the form's main FormData with its AuditRecord: who, where, when, why and which event."""
    rows = []
    for item in document.xpath(
        f"//odm:SubjectData[@SubjectKey='{subject}']/odm:StudyEventData[@StudyEventOID='SE.{event}']"
        f"/odm:FormData[@FormOID='F.{form}'][@TransactionType='Upsert']//odm:ItemData",
        namespaces=NS,
    ):
        audit = item.find("odm:AuditRecord", NS)
        rows.append(
            (
                item.get("ItemOID"),
                item.get("TransactionType"),
                item.get("Value"),
                audit.find("odm:UserRef", NS).get("UserOID"),
                audit.find("odm:LocationRef", NS).get("LocationOID"),
                audit.find("odm:DateTimeStamp", NS).text,
                audit.findtext("odm:ReasonForChange", None, NS),
                audit.findtext("odm:SourceID", None, NS),
            )
        )
    return rows


def test_odm_audit_records_are_not_restamped_by_a_later_verification_signature_or_lock(filled, cd7):
    app, subjects = filled
    before = form_history(odm_document(app), subjects[0], "SCREEN", "VS")
    path = cd7("staff01").record_path(subjects[0], "SCREEN", "VS")
    assert cd7("mon01").post(path + "/sdv", {}).status_code == 200
    assert cd7("inv01").post(path + "/sign", SIGNING).status_code == 201
    assert cd7("dm").post(path + "/lock", OVERRIDDEN).status_code == 200
    after = form_history(odm_document(app), subjects[0], "SCREEN", "VS")
    assert after == before
    # The derived BSA carries the save that computed it, not a system stamp or the lock.
    bsa = [row for row in after if row[0] == "IT.VS.BSA"]
    assert [(row[3], row[7]) for row in bsa] == [
        ("USR.staff01", f"record/CD7_CART_SAA/{subjects[0]}/SCREEN/VS#1:create")
    ]


def test_odm_derived_values_carry_the_event_whose_recomputation_changed_them(filled, cd7):
    app, subjects = filled
    staff = cd7("staff01")
    stored = staff.get(staff.record_path(subjects[0], "SCREEN", "VS")).get_json()
    changed = staff.save(
        subjects[0],
        "SCREEN",
        "VS",
        {**stored["data"], "WEIGHT": stored["data"]["WEIGHT"] + 10},
        version=stored["version"],
        reason="re-weighed",
    )
    assert changed.status_code == 200
    rows = [row for row in form_history(odm_document(app), subjects[0], "SCREEN", "VS") if row[0] == "IT.VS.BSA"]
    assert [(row[1], row[2], row[6], row[7].rsplit("#", 1)[1]) for row in rows] == [
        ("Insert", _value(stored["derived"]["BSA"]), None, "1:create"),
        ("Update", _value(changed.get_json()["derived"]["BSA"]), "re-weighed", f"{stored['version'] + 1}:update"),
    ]


def _value(value):
    from ecrf.exports.odm.clinical import _value as odm_value

    return odm_value(value)


def test_odm_exports_every_signature_valid_and_voided_with_the_meaning_signed(filled, cd7, tmp_path):
    app, subjects = filled
    subject, staff, inv = subjects[0], cd7("staff01"), cd7("inv01")
    path = staff.record_path(subject, "SCREEN", "VS")
    visit = f"/studies/CD7_CART_SAA/subjects/{subject}/events/SCREEN"
    assert (
        inv.post(path + "/sign", {**SIGNING, "meaning": "Reviewed as principal investigator"}).status_code
        == 201
    )
    assert inv.post(visit + "/sign", SIGNING).status_code == 201
    stored = staff.get(path).get_json()
    staff.save(
        subject, "SCREEN", "VS", {**stored["data"], "HR": 80}, version=stored["version"], reason="monitor finding"
    )
    assert (
        inv.post(path + "/sign", {**SIGNING, "meaning": "Re-reviewed after correction"}).status_code == 201
    )
    assert inv.post(f"/studies/CD7_CART_SAA/subjects/{subject}/sign", SIGNING).status_code == 201
    listed = staff.get(f"/studies/CD7_CART_SAA/subjects/{subject}/signatures").get_json()
    assert [(s["scope"], s["valid"]) for s in listed] == [
        ("record", True),
        ("record", False),
        ("event", False),
        ("record", True),
        ("subject", True),
    ]

    document = odm_document(app)
    meanings = {d.get("OID"): d.findtext("odm:Meaning", None, NS) for d in document.iterfind(".//odm:SignatureDef", NS)}
    exported = {}
    for signature in document.iterfind(".//odm:Signature", NS):
        holder = signature.getparent()
        flags = {
            f.findtext("odm:FlagType", None, NS): f.findtext("odm:FlagValue", None, NS)
            for f in holder.iterfind("odm:Annotation/odm:Flag", NS)
        }
        exported[signature.get("ID")] = (
            etree.QName(holder).localname,
            holder.get("TransactionType"),
            meanings[signature.find("odm:SignatureRef", NS).get("SignatureOID")],
            flags,
            holder.findtext("odm:Annotation/odm:Comment", None, NS),
        )
    assert set(exported) == {f"SIG.{s['id']}" for s in listed}
    for signature in listed:
        element, transaction, meaning, flags, comment = exported[f"SIG.{signature['id']}"]
        assert (element, transaction) == (
            {"record": "FormData", "event": "StudyEventData", "subject": "SubjectData"}[signature["scope"]],
            "Context",
        )
        assert meaning == signature["meaning"]
        assert flags == {
            "signature": "valid" if signature["valid"] else "voided",
            "signature_scope": {"record": "form", "event": "visit", "subject": "casebook"}[signature["scope"]],
        }
        assert comment.endswith("valid" if signature["valid"] else f"voided: {signature['voided_reason']}")
    assert {"Reviewed as principal investigator", "Re-reviewed after correction"} <= set(meanings.values())
    # odmlib still loads it: the casebook signature is a second, Context, SubjectData of the same subject.
    odm = load_with_odmlib(etree.tostring(document), tmp_path)
    assert [(s.SubjectKey, s.TransactionType) for s in odm.ClinicalData[0].SubjectData] == [
        (subjects[0], "Insert"),
        (subjects[0], "Context"),
        (subjects[1], "Insert"),
    ]


def load_with_odmlib(data: bytes, tmp_path):
    import odmlib.loader as loader_module
    import odmlib.odm_loader as odm_loader

    path = tmp_path / "study.xml"
    path.write_bytes(data)
    loader = loader_module.ODMLoader(odm_loader.XMLODMLoader(model_package="odm_1_3_2", ns_uri=NS["odm"]))
    loader.open_odm_document(str(path))
    return loader.load_odm()


def test_odm_exports_registration_sdv_freeze_lock_and_unlock_with_their_own_audit_records(filled, cd7):
    app, subjects = filled
    subject = subjects[0]
    path = cd7("staff01").record_path(subject, "SCREEN", "LB_CHEM")
    mon, dm = cd7("mon01"), cd7("dm")
    assert mon.post(path + "/sdv", {"items": ["/ALT"]}).status_code == 200
    assert mon.post(path + "/sdv", {}).status_code == 200
    for action, body in (("freeze", OVERRIDDEN), ("unfreeze", {}), ("lock", OVERRIDDEN),
                         ("unlock", {"reason": "late lab report"})):
        assert dm.post(path + f"/{action}", body).status_code == 200, action
    assert dm.post(f"/studies/CD7_CART_SAA/subjects/{subject}/lock", OVERRIDDEN).status_code == 200
    document = odm_document(app)
    with app.app_context():
        from ecrf.db import database

        steps = list(
            database().audit_events.find(
                {
                    "stream": f"record/CD7_CART_SAA/{subject}/SCREEN/LB_CHEM",
                    "action": {"$in": ["sdv", "sdv_items", "freeze", "unfreeze", "lock", "unlock"]},
                },
                sort=[("seq", 1)],
            )
        )
    main = document.find(f".//odm:SubjectData[@SubjectKey='{subject}'][@TransactionType='Insert']", NS)
    contexts = main.xpath(
        "odm:StudyEventData[@StudyEventOID='SE.SCREEN']/odm:FormData[@FormOID='F.LB_CHEM']"
        "[@TransactionType='Context'][odm:AuditRecord]",
        namespaces=NS,
    )
    assert [c.findtext("odm:Annotation/odm:Flag/odm:FlagValue", None, NS) for c in contexts] == [
        "sdv_items",
        "sdv",
        "freeze",
        "unfreeze",
        "lock",
        "unlock",
        "lock",
    ]  # the last: the subject's lock
    assert [c.findtext("odm:AuditRecord/odm:SourceID", None, NS) for c in contexts] == [
        f"{e['stream']}#{e['seq']}:{e['action']}" for e in steps
    ]
    assert contexts[0].findtext("odm:Annotation/odm:Comment", None, NS) == "source data verified: /ALT"
    assert contexts[5].findtext("odm:AuditRecord/odm:ReasonForChange", None, NS) == "late lab report"
    assert contexts[5].find("odm:AuditRecord/odm:UserRef", NS).get("UserOID") == "USR.dm"
    # Registration is the SubjectData's own AuditRecord; the subject lock an Annotation flagged against the code list.
    assert (
        main.findtext("odm:AuditRecord/odm:SourceID", None, NS)
        == f"subject/CD7_CART_SAA/{subject}#1:subject_registered"
    )
    assert main.find("odm:AuditRecord/odm:UserRef", NS).get("UserOID") == "USR.staff01"
    flags = [f.text for f in main.iterfind("odm:Annotation/odm:Flag/odm:FlagValue", NS)]
    assert "lock" in flags
    codes = {
        i.get("CodedValue") for i in document.iterfind(".//odm:CodeList[@OID='CL.ECRF_LIFECYCLE']/odm:CodeListItem", NS)
    }
    assert set(flags) | {c.findtext("odm:Annotation/odm:Flag/odm:FlagValue", None, NS) for c in contexts} <= codes


def test_odm_attaches_a_query_naming_an_item_to_that_item(filled):
    app, subjects = filled
    document = odm_document(app)
    annotations = document.xpath(
        f"//odm:SubjectData[@SubjectKey='{subjects[0]}']//odm:FormData[@FormOID='F.LB_CHEM']/odm:ItemGroupData"
        "[@TransactionType='Context']/odm:ItemData[@ItemOID='IT.LB_CHEM.ALT'][@TransactionType='Context']/odm:Annotation",
        namespaces=NS,
    )
    assert annotations and "ALT_SCREEN" in annotations[0].findtext("odm:Comment", None, NS)
    form_level = document.xpath("//odm:FormData/odm:Annotation/odm:Comment", namespaces=NS)
    assert not any("ALT_SCREEN" in c.text for c in form_level)


def test_odm_is_written_in_the_default_namespace_without_prefixes(filled):
    app, _ = filled
    data = odm_bytes(app)
    assert re.search(rb"</?[A-Za-z0-9_.-]+:", data) is None  # no element carries a prefix
    # the only prefix declared is the vendor extension's, whose alias contexts say ecrf:…
    assert re.findall(rb"xmlns:([A-Za-z0-9_]+)=", data) == [b"ecrf"]
    assert b"<Study " in data and b"<AdminData " in data and b"<SubjectData " in data


# ---------------------------------------------------------------- hostile and careless data in exports

FORMULAS = ["=cmd|' /C calc'!A0", "+SUM(1,2)", "-2+3+cmd|' /C calc'!A0", "@SUM(1)"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture
def formula_data(app, staff):
    """AE terms and notes that a spreadsheet would run as formulas, and a negative number stored as a number."""
    subject, other = staff.register(), staff.register()
    assert (
        staff.save(
            subject, "LOGS", "AE", {"AE": [{"AETERM": t, "AESTDTC": "2026-01-06"} for t in FORMULAS]}
        ).status_code
        == 201
    )
    assert (
        staff.save(subject, "SCREEN", "DM", {"SEX": "M", "BRTHDTC": "1980-01-01", "NOTES": "\t=1+1"}).status_code == 201
    )
    assert (
        staff.save(other, "SCREEN", "DM", {"SEX": "F", "BRTHDTC": "1980-01-01", "NOTES": "\r@SUM(1)"}).status_code
        == 201
    )
    assert staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 30}).status_code == 201
    with app.app_context():
        from ecrf.db import database

        # No item of the mini study takes a negative number: stored as older data or another study would hold it.
        database().records.update_one({"subject": subject, "form": "LB"}, {"$set": {"data.ALT": -2.5}})
    return app, subject


def download(app, kind: str) -> bytes:
    response = app.test_client().get(
        f"/api/v1/studies/MINI/export/{kind}", headers={"Authorization": f"Bearer {app.tokens['dm']}"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.data


def test_csv_cells_that_a_spreadsheet_would_run_start_with_a_quote_and_numbers_stay_numbers(formula_data):
    app, _ = formula_data
    archive = zipfile.ZipFile(io.BytesIO(download(app, "csv")))

    def member(name: str) -> list[dict]:
        return list(csv.DictReader(io.TextIOWrapper(archive.open(name), encoding="utf-8-sig", newline="")))

    assert [r["AETERM"] for r in member("AE.csv")] == ["'" + f for f in FORMULAS]
    assert sorted(r["NOTES"] for r in member("DM.csv")) == ["'\t=1+1", "'\r@SUM(1)"]
    assert [r["ALT"] for r in member("LB.csv")] == ["-2.5"]
    for name in archive.namelist():
        for row in csv.reader(io.TextIOWrapper(archive.open(name), encoding="utf-8-sig", newline="")):
            for cell in row:
                if cell.startswith(FORMULA_STARTS):
                    float(cell)  # only a number may start so


def test_excel_never_holds_a_formula_cell_and_negative_numbers_stay_numbers(formula_data):
    from openpyxl import load_workbook

    app, _ = formula_data
    workbook = load_workbook(io.BytesIO(download(app, "xlsx")))
    cells = [cell for sheet in workbook.worksheets for row in sheet.iter_rows() for cell in row]
    assert cells and not [c.coordinate for c in cells if c.data_type == "f"]
    assert not [c.value for c in cells if isinstance(c.value, str) and c.value.startswith(FORMULA_STARTS)]
    ae = workbook["AE"]
    header = [c.value for c in ae[1]]
    assert [r[header.index("AETERM")] for r in ae.iter_rows(min_row=2, values_only=True)] == ["'" + f for f in FORMULAS]
    lb = workbook["LB"]
    alt = next(lb.iter_rows(min_row=2))[[c.value for c in lb[1]].index("ALT")]
    assert alt.value == -2.5 and alt.data_type == "n"


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("-x", "'-x"),
        ("\r", "'\r"),
        ("a=b", "a=b"),
        (-2.5, -2.5),
        (0, 0),
        (None, None),
        ("bad\x01\ud800", "bad\ufffd\ufffd"),
    ],
)
def test_safe_cell(value, cell):
    from ecrf.exports.tables import safe_cell

    assert safe_cell(value) == cell


# What older data may hold, that XML 1.0 cannot carry (a lone surrogate cannot be stored: BSON is UTF-8).
BAD = "bad\x01char\x0b\x1f\ufffe\uffffend"
BAD_EXPORTED = "bad\ufffdchar\ufffd\ufffd\ufffd\ufffdend"


def poison(app, collection: str, query: dict, marker: str, bad: str = BAD) -> int:
    """Put ``bad`` wherever ``marker`` stands in the matching documents, as data stored before the input rules."""

    def swap(node):
        if isinstance(node, str):
            return node.replace(marker, bad)
        if isinstance(node, dict):
            return {k: swap(v) for k, v in node.items()}
        if isinstance(node, list):
            return [swap(v) for v in node]
        return node

    with app.app_context():
        from ecrf.db import database

        found = 0
        for document in database()[collection].find(query):
            if swap(document) != document:
                database()[collection].replace_one({"_id": document["_id"]}, swap(document))
                found += 1
        return found


def stored_bad_characters(app, staff, bad: str = BAD) -> str:
    """A subject whose record, audit trail, reason and query carry characters that XML cannot."""
    subject = staff.register()
    staff.save(subject, "LOGS", "AE", {"AE": [{"AETERM": "MARKTERM", "AESTDTC": "2026-01-06"}]})
    staff.save(subject, "SCREEN", "DM", {"SEX": "M", "BRTHDTC": "1980-01-01", "NOTES": "first"})
    staff.save(subject, "SCREEN", "DM", {"NOTES": "MARKNOTE"}, version=1, reason="MARKREASON")
    monitor = Api(staff.client, app.tokens["mon01"])
    monitor.post(
        "/studies/MINI/queries",
        {"subject": subject, "event": "SCREEN", "form": "DM", "item": "/NOTES", "text": "MARKQUERY"},
    )
    for collection, query in (
        ("records", {"subject": subject}),
        ("audit_events", {"context.subject": subject}),
        ("queries", {"subject": subject}),
    ):
        for marker in ("MARKTERM", "MARKNOTE", "MARKREASON", "MARKQUERY"):
            poison(app, collection, query, marker, bad)
    return subject


def test_odm_export_of_stored_characters_xml_cannot_carry_is_valid_against_the_xsd(app, staff):
    subject = stored_bad_characters(app, staff)
    document = etree.fromstring(download(app, "odm"))
    with app.app_context():
        from ecrf.exports.odm import odm_schema

        schema = odm_schema()
        assert schema.validate(document), [e.message for e in list(schema.error_log)[:5]]
    values = [i.get("Value") for i in document.iterfind(".//odm:ItemData", NS)]
    assert BAD_EXPORTED in values
    reasons = [r.text for r in document.iterfind(".//odm:ReasonForChange", NS)]
    assert BAD_EXPORTED in reasons
    assert any("bad\ufffdchar" in c.text for c in document.iterfind(".//odm:Annotation/odm:Comment", NS))
    assert subject in [s.get("SubjectKey") for s in document.iterfind(".//odm:SubjectData", NS)]


def test_csv_excel_and_casebook_of_stored_bad_characters_are_written_with_u_fffd(app, staff):
    from openpyxl import load_workbook
    from pypdf import PdfReader

    subject = stored_bad_characters(app, staff)
    archive = zipfile.ZipFile(io.BytesIO(download(app, "csv")))
    ae = list(csv.DictReader(io.TextIOWrapper(archive.open("AE.csv"), encoding="utf-8-sig")))
    assert [r["AETERM"] for r in ae] == [BAD_EXPORTED]
    workbook = load_workbook(io.BytesIO(download(app, "xlsx")))
    assert BAD_EXPORTED in [c.value for row in workbook["AE"].iter_rows() for c in row]
    response = app.test_client().get(
        f"/api/v1/studies/MINI/subjects/{subject}/casebook.pdf",
        headers={"Authorization": f"Bearer {app.tokens['inv01']}"},
    )
    assert response.status_code == 200
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    assert "charend" not in text and "bad" in text


def test_a_failed_cli_export_leaves_neither_the_file_nor_a_part_file(app, staff, monkeypatch, tmp_path):
    import ecrf.exports

    staff.register()

    def fails_halfway(kind, out, *args, **kwargs):
        out.write(b"<ODM half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(ecrf.exports, "write_export", fails_halfway)
    target = tmp_path / "out.xml"
    result = app.test_cli_runner().invoke(args=["export", "odm", "-o", str(target)])
    assert result.exit_code != 0
    assert not target.exists() and not (tmp_path / "out.xml.part").exists()


# ---------------------------------------------------------------- the casebook at every field's maximum length


def words(count_chars: int, last: str) -> str:
    """Text of ordinary words exactly ``count_chars`` long, ending with the word ``last``."""
    body = ("lorem ipsum dolor sit amet " * (count_chars // 27 + 1))[: count_chars - len(last) - 1]
    return f"{body} {last}"


def test_casebook_renders_every_text_at_its_maximum_length(cd7):
    from pypdf import PdfReader

    from ecrf.text import MAX_MEANING, MAX_MESSAGE, MAX_REASON

    staff, monitor, investigator, dm = cd7("staff01"), cd7("mon01"), cd7("inv01"), cd7("dm")
    subject = staff.register("01", "S" * 39 + "Z")  # the longest subject id
    echo = {"ECHODTC": "2026-02-10", "LVEF": 60, "ECHOCOM": words(4000, "COMMENTEND")}
    assert staff.save(subject, "SCREEN", "ECHO", echo).status_code == 201
    no_spaces = "x" * (4000 - len("SOLIDEND")) + "SOLIDEND"  # one 4,000-character word: split inside the cell
    assert (
        staff.save(
            subject, "SCREEN", "ECHO", {"ECHOCOM": no_spaces}, version=1, reason=words(MAX_REASON, "REASONEND")
        ).status_code
        == 200
    )
    assert (
        staff.save(
            subject,
            "SCREEN",
            "ECHO",
            {"ECHOCOM": "中" * 3998 + "结束"},
            version=2,
            reason="r" * (MAX_REASON - len("SOLIDREASON")) + "SOLIDREASON",
        ).status_code
        == 200
    )
    query = monitor.post(
        "/studies/CD7_CART_SAA/queries",
        {
            "subject": subject,
            "event": "SCREEN",
            "form": "ECHO",
            "item": "/ECHOCOM",
            "text": words(MAX_MESSAGE, "QUERYEND"),
        },
    )
    assert query.status_code == 201
    reply = staff.post(
        f"/studies/CD7_CART_SAA/queries/{query.get_json()['id']}/replies",
        {"text": "\n".join(["a line of the answer"] * 180) + "\n" + words(MAX_MESSAGE - 180 * 21, "REPLYEND")},
    )
    assert reply.status_code == 200, reply.get_json()
    record = staff.record_path(subject, "SCREEN", "ECHO")
    signed = investigator.post(
        record + "/sign", {**SIGNING, "meaning": words(MAX_MEANING, "MEANINGEND")}
    )
    assert signed.status_code == 201, signed.get_json()
    assert dm.post(record + "/lock", {"reason": words(MAX_REASON, "LOCKEND"), **OVERRIDDEN}).status_code == 200
    response = investigator.client.get(
        f"/api/v1/studies/CD7_CART_SAA/subjects/{subject}/casebook.pdf", headers=investigator.headers()
    )
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    pages = PdfReader(io.BytesIO(response.data)).pages
    solid = "".join("".join(page.extract_text() for page in pages).split())
    for end in (
        "COMMENTEND",
        "SOLIDEND",
        "结束",
        "REASONEND",
        "SOLIDREASON",
        "QUERYEND",
        "REPLYEND",
        "MEANINGEND",
        "LOCKEND",
        "S" * 39 + "Z",
    ):
        assert end in solid, end
    assert len(pages) > 3

"""A batch goes through the write path: queries from imported labs, idempotence, dry run, all or nothing,
provenance under the audit hash, refusals by line, pointer and label, data managers only."""

import csv
import io

import pytest

from ecrf.data_import.batch import run_batch, write_refusals
from ecrf.data_import.catalogue import Catalogue
from ecrf.data_import.csv_file import Options, read_table
from ecrf.errors import Forbidden

LAB = b"subject,site,visit,LBDTC,ALT\n01-001,01,SCREEN,2026-03-01,35\n01-002,01,D28,2026-03-29,500\n"


@pytest.fixture
def context(app):
    with app.app_context():
        from ecrf.studies import study_runtime
        from ecrf.users import get_user

        yield study_runtime("MINI"), get_user("dm")


def lab_rows(tmp_path, study, raw: bytes = LAB, name: str = "lab.csv"):
    path = tmp_path / name
    path.write_bytes(raw)
    return read_table(path, Catalogue(study), Options("LB", event_column="visit"))


def audit_count() -> int:
    from ecrf.trail import audit_store

    return audit_store().collection.count_documents({})


def test_out_of_range_labs_raise_queries_and_new_subjects_are_registered(tmp_path, context):
    from ecrf.queries import Query
    from ecrf.records.document import Record

    study, dm = context
    summary = run_batch(study, dm, lab_rows(tmp_path, study), "lab.csv")
    assert (summary.created, summary.refused, summary.registered, summary.written) == (2, 0, 2, True)
    assert Record.objects(subject="01-002", event="D28", form="LB").first().data == {"LBDTC": "2026-03-29", "ALT": 500}
    queries = Query.objects(subject="01-002")  # above 3 x ULN, and at least 5 x ULN
    assert summary.queries == len(queries) == 2
    assert {(q.item, q.origin, q.state) for q in queries} == {("/ALT", "system", "open")}
    assert Query.objects(subject="01-001").count() == 0


def test_reimporting_the_same_file_changes_nothing_and_appends_no_event(tmp_path, context):
    study, dm = context
    run_batch(study, dm, lab_rows(tmp_path, study), "lab.csv")
    events = audit_count()
    again = run_batch(study, dm, lab_rows(tmp_path, study), "lab.csv")
    assert (again.created, again.updated, again.unchanged, again.registered) == (0, 0, 2, 0)
    assert audit_count() == events


def test_an_update_gives_the_import_reason_and_keeps_the_source_provenance(tmp_path, context):
    from ecrf.trail import audit_store, record_stream

    study, dm = context
    run_batch(study, dm, lab_rows(tmp_path, study), "lab.csv")
    changed = LAB.replace(b",35\n", b",36\n")
    summary = run_batch(study, dm, lab_rows(tmp_path, study, changed, "lab-v2.csv"), "lab-v2.csv")
    assert (summary.updated, summary.unchanged) == (1, 1)
    store = audit_store()
    stream = record_stream("MINI", "01-001", "SCREEN", "LB")
    last = store.events(stream)[-1]
    assert (last["actor"], last["reason"], last["context"]["provenance"]) == (
        "dm", "Data import from lab-v2.csv", {"file": "lab-v2.csv", "line": 2})
    assert store.verify_stream(stream, store.events(stream)) == []
    store.collection.update_one({"_id": last["_id"]}, {"$set": {"context.provenance.line": 3}})
    assert [problem.message.split(":")[0] for problem in store.verify_stream(stream, store.events(stream))] == [
        f"event at seq {last['seq']} was altered"]


def test_a_dry_run_reports_what_would_happen_and_writes_nothing(tmp_path, context):
    from ecrf.subjects import Subject

    study, dm = context
    events = audit_count()
    summary = run_batch(study, dm, lab_rows(tmp_path, study, LAB + b"01-003,01,SCREEN,2026-03-01,lots\n"), "lab.csv",
                        dry_run=True)
    assert (summary.created, summary.refused, summary.registered, summary.written) == (2, 1, 2, False)
    assert [row["outcome"] for row in summary.rows] == ["created", "created", "refused"]
    assert audit_count() == events and Subject.objects.count() == 0


def test_all_or_nothing_writes_nothing_when_a_row_is_refused(tmp_path, context):
    study, dm = context
    events = audit_count()
    rows = lab_rows(tmp_path, study, LAB + b"01-003,01,SCREEN,2026-02-30,40\n")
    summary = run_batch(study, dm, rows, "lab.csv", all_or_nothing=True)
    assert (summary.created, summary.refused, summary.written) == (2, 1, False)
    assert audit_count() == events
    partial = run_batch(study, dm, rows, "lab.csv")
    assert (partial.created, partial.refused, partial.written) == (2, 1, True)


def test_refusals_name_line_item_pointer_label_and_reason_in_the_errors_file(tmp_path, context):
    study, dm = context
    raw = b"subject,site,visit,LBDTC,ALT\n01-001,01,SCREEN,2026-03-01,-1\n01-009,,SCREEN,2026-03-01,=HYPERLINK()\n"
    summary = run_batch(study, dm, lab_rows(tmp_path, study, raw), "lab.csv")
    out = io.StringIO()
    write_refusals(out, summary.refusals)
    lines = list(csv.reader(io.StringIO(out.getvalue())))
    assert lines[0] == ["line", "subject", "event", "form", "item", "label", "reason"]
    assert lines[1][:6] == ["2", "01-001", "SCREEN", "LB", "/ALT", "ALT"] and "minimum of 0" in lines[1][6]
    assert lines[2] == ["3", "01-009", "SCREEN", "LB", "/ALT", "ALT",
                        "column 'ALT' (ALT): a spreadsheet formula, not a value"]


def test_a_new_subject_needs_a_site_and_a_locked_record_is_refused(tmp_path, context):
    from ecrf.records.document import Record

    study, dm = context
    run_batch(study, dm, lab_rows(tmp_path, study), "lab.csv")
    Record._get_collection().update_one({"subject": "01-001", "event": "SCREEN"}, {"$set": {"locked": {"by": "dm"}}})
    raw = b"subject,visit,LBDTC,ALT\n01-001,SCREEN,2026-03-01,30\n01-005,SCREEN,2026-03-01,30\n"
    summary = run_batch(study, dm, lab_rows(tmp_path, study, raw), "lab.csv")
    assert [(r.line, r.item, r.reason) for r in summary.refusals] == [
        (2, "/", "LB at SCREEN is locked"), (3, "/site", "subject 01-005 is not registered and the file names no site")]


def test_only_data_managers_import(tmp_path, context):
    from ecrf.users import get_user

    study, _ = context
    with pytest.raises(Forbidden):
        run_batch(study, get_user("staff01"), lab_rows(tmp_path, study), "lab.csv")


def test_a_row_naming_another_site_for_an_existing_subject_is_refused(tmp_path, context):
    study, dm = context
    run_batch(study, dm, lab_rows(tmp_path, study), "lab.csv")
    raw = b"subject,site,visit,LBDTC,ALT\n01-001,02,SCREEN,2026-03-01,30\n"
    summary = run_batch(study, dm, lab_rows(tmp_path, study, raw), "lab.csv")
    assert [(r.item, r.reason) for r in summary.refusals] == [("/site", "subject 01-001 is at site 01, not 02")]


@pytest.mark.parametrize("raw", [
    pytest.param(b"subject,visit,ALT\n01-001,SCREEN,36\n", id="a file without the item's column"),
    pytest.param(b"subject,visit,LBDTC,ALT\n01-001,SCREEN,,36\n", id="an empty cell"),
])
def test_a_row_with_some_items_keeps_the_record_s_other_items(tmp_path, context, raw):
    from ecrf.records.document import Record

    study, dm = context
    run_batch(study, dm, lab_rows(tmp_path, study), "lab.csv")
    summary = run_batch(study, dm, lab_rows(tmp_path, study, raw, "alt.csv"), "alt.csv")
    assert (summary.updated, summary.refused) == (1, 0)
    stored = Record.objects(subject="01-001", event="SCREEN", form="LB").first()
    assert stored.data == {"LBDTC": "2026-03-01", "ALT": 36}

"""The subject summaries on a real wire-protocol server: brought up to date by their readers with what saves,
reviews and re-derivations changed (a save sends them nothing), never moved back to an older version, recomputed
by replay, and what the reports page reads."""

import datetime as dt

import pytest
from conftest import BUNDLED_STUDY, Api, login, make_app, sent_commands
from test_query_plans import planned_stage

pytestmark = pytest.mark.integration
STUDY = "CD7_CART_SAA"
IC = {"RFICDTC": "2026-01-05", "ICVER": "1", "ICREAD": True}
ECOG = {"ECOGDTC": "2026-01-11", "ECOG": 1}


@pytest.fixture
def app(tmp_path, wire_uri):
    return make_app(tmp_path, wire_uri, study=BUNDLED_STUDY)


def test_the_summary_follows_saves_reviews_and_replay_on_the_wire(app):
    staff = Api(app.test_client(), app.tokens["staff01"], STUDY)
    monitor = Api(app.test_client(), app.tokens["mon01"], STUDY)
    subject = staff.register()
    assert staff.save(subject, "SCREEN", "IC", IC).status_code == 201
    assert staff.save(subject, "SCREEN", "ECOG", ECOG).status_code == 201
    assert monitor.post(staff.record_path(subject, "SCREEN", "ECOG") + "/sdv", {}).status_code == 200
    assert staff.save(subject, "SCREEN", "ECOG", {**ECOG, "ECOG": 2}, version=2, reason="typo").status_code == 200
    with app.app_context():
        from ecrf.db import database
        from ecrf.integrity import replay_all, verify_all
        from ecrf.records.summary import read_cell, refresh, summary_problems

        db = database()
        assert summary_problems(db.records, STUDY) == []  # as a reader would see them: after a refresh
        refresh(db.records)
        stored = db.subject_summaries.find_one({"_id": f"{STUDY}/{subject}"})
        ecog = read_cell(stored["SCREEN/ECOG"])
        assert (ecog["version"], ecog["status"], ecog["sdv"]) == (3, "complete", False)  # the change cleared SDV
        assert read_cell(stored["SCREEN/IC"])["data"] == {"RFICDTC": "2026-01-05"}
        assert summary_problems(db.records, STUDY) == []
        db.subject_summaries.delete_many({})
        assert replay_all() > 0
        assert summary_problems(db.records, STUDY) == []
        assert verify_all() == []  # the summaries are no stream's projection: verify still holds


def test_an_older_record_never_overwrites_a_newer_cell_on_the_wire(app):
    staff = Api(app.test_client(), app.tokens["staff01"], STUDY)
    subject = staff.register()
    assert staff.save(subject, "SCREEN", "ECOG", ECOG).status_code == 201
    assert staff.save(subject, "SCREEN", "ECOG", {**ECOG, "ECOG": 2}, version=1, reason="typo").status_code == 200
    with app.app_context():
        from ecrf.db import database
        from ecrf.records.summary import read_cell, refresh, summarise

        db = database()
        refresh(db.records)
        record = db.records.find_one({"subject": subject, "form": "ECOG"})
        summarise(db.subject_summaries, {**record, "version": 1, "status": "incomplete"})  # a late, older writer
        cell = read_cell(db.subject_summaries.find_one({"_id": f"{STUDY}/{subject}"})["SCREEN/ECOG"])
        assert (cell["version"], cell["status"]) == (2, "complete")
        summarise(db.subject_summaries, {**record, "version": 3, "status": "incomplete"})  # a newer one lands
        cell = read_cell(db.subject_summaries.find_one({"_id": f"{STUDY}/{subject}"})["SCREEN/ECOG"])
        assert (cell["version"], cell["status"]) == (3, "incomplete")


def test_the_reports_page_shows_completeness_from_the_summaries_on_the_wire(app):
    staff = Api(app.test_client(), app.tokens["staff01"], STUDY)
    subject = staff.register()
    assert staff.save(subject, "SCREEN", "IC", IC).status_code == 201
    client = app.test_client()
    login(client, "dm")
    page = client.get(f"/studies/{STUDY}/reports").get_data(as_text=True)
    row = page[page.index('id="completeness-subjects"'):]
    row = row[row.index(f"<td>{subject}</td>"):row.index("</tr>", row.index(f"<td>{subject}</td>"))]
    assert "<td>12</td><td>1</td><td>1</td><td>8.3</td>" in row  # 1 of the 12 forms expected by today


def test_a_save_sends_what_it_did_before_the_summaries_and_nothing_to_them(app):
    staff = Api(app.test_client(), app.tokens["staff01"], STUDY)
    subject = staff.register()
    assert staff.save(subject, "SCREEN", "IC", IC).status_code == 201
    with sent_commands() as sent:
        assert staff.save(subject, "SCREEN", "ECOG", ECOG).status_code == 201
    # Who calls and which study version (every request), then the save: its one read, its two writes, and the reads
    # of the records and queries its rules touch (this form has some) -- as before the summaries, none to them.
    assert sent == ["aggregate api_tokens", "find studies", "aggregate subjects", "insert audit_events",
                    "update records", "find records", "find queries"], sent
    assert not [name for name in sent if "subject_summaries" in name or "subject_summary_cursor" in name]


def test_a_refresh_reads_only_the_records_changed_since_its_cursor_through_an_index(app):
    staff = Api(app.test_client(), app.tokens["staff01"], STUDY)
    subject = staff.register()
    assert staff.save(subject, "SCREEN", "IC", IC).status_code == 201
    with app.app_context():
        from ecrf.db import database
        from ecrf.records.summary import SLACK, read_cell, refresh

        db = database()
        refresh(db.records)
        # Within the slack the same record is read again: its cell is there at that version (a duplicate key on
        # the upsert), which the bulk write passes over.
        assert refresh(db.records) == 1
        assert read_cell(db.subject_summaries.find_one({"_id": f"{STUDY}/{subject}"})["SCREEN/IC"])["version"] == 1
        # Age the records already summarised: a later refresh must not read them again.
        db.records.update_many({}, {"$set": {"updated_at": dt.datetime(2020, 1, 1)}})
        assert refresh(db.records) == 0
    assert staff.save(subject, "SCREEN", "ECOG", ECOG).status_code == 201
    with app.app_context(), sent_commands(whole=True) as sent:
        assert refresh(database().records) == 1  # the one record saved since
        reads = [command for name, command in sent if name == "find records"]
        assert len(reads) == 1 and set(reads[0]["filter"]) == {"updated_at"}
        assert "COLLSCAN" not in planned_stage(database(), reads[0]), planned_stage(database(), reads[0])
        cursor = database().subject_summary_cursor.find_one({})["at"]
        assert reads[0]["filter"]["updated_at"]["$gte"] <= cursor - SLACK
        stored = database().subject_summaries.find_one({"_id": f"{STUDY}/{subject}"})
        assert read_cell(stored["SCREEN/ECOG"])["version"] == 1 and "SCREEN/IC" in stored


def test_a_projection_brought_forward_late_writes_its_own_cell(app):
    staff = Api(app.test_client(), app.tokens["staff01"], STUDY)
    subject = staff.register()
    assert staff.save(subject, "SCREEN", "ECOG", ECOG).status_code == 201
    with app.app_context():
        from ecrf.catchup import catch_up
        from ecrf.db import database
        from ecrf.records.summary import read_cell, refresh, summary_problems

        db = database()
        refresh(db.records)
        stream = f"record/{STUDY}/{subject}/SCREEN/ECOG"
        # A crash after an audit append, long ago: the stream is one event ahead, its time before the cursor.
        stored = db.records.find_one({"_id": stream})
        db.records.update_one({"_id": stream}, {"$set": {"updated_at": dt.datetime(2020, 1, 1)}})
    assert staff.save(subject, "SCREEN", "ECOG", {**ECOG, "ECOG": 2}, version=1, reason="typo").status_code == 200
    with app.app_context():
        db.records.replace_one({"_id": stream}, {**stored, "updated_at": dt.datetime(2020, 1, 1)})
        db.audit_events.update_one({"stream": stream, "seq": 2}, {"$set": {"at": dt.datetime(2020, 1, 2)}})
        db.subject_summaries.update_one({"_id": f"{STUDY}/{subject}"},
                                        {"$set": {"SCREEN/ECOG": stored_cell(stored)}})
        assert stream in catch_up()
        cell = read_cell(db.subject_summaries.find_one({"_id": f"{STUDY}/{subject}"})["SCREEN/ECOG"])
        assert cell["version"] == 2
        assert summary_problems(db.records, STUDY) == []


def stored_cell(record: dict) -> str:
    from ecrf.records.summary import cell

    return cell(record)


def test_audit_verify_names_a_summary_that_differs_from_its_records(app):
    staff = Api(app.test_client(), app.tokens["staff01"], STUDY)
    subject = staff.register()
    assert staff.save(subject, "SCREEN", "ECOG", ECOG).status_code == 201
    runner = app.test_cli_runner()
    held = runner.invoke(args=["audit", "verify"])
    assert held.exit_code == 0, held.output  # not refreshed yet: verify sees what a reader would after a refresh
    with app.app_context():
        from ecrf.db import database
        from ecrf.records.summary import refresh

        refresh(database().records)
        # Edited outside the application: a later version than the record's, so no refresh would repair it.
        database().subject_summaries.update_one({"_id": f"{STUDY}/{subject}"},
                                                {"$set": {"SCREEN/ECOG": "0000000009|complete||"}})
    differs = runner.invoke(args=["audit", "verify"])
    assert differs.exit_code == 1, differs.output
    assert f"DIFFERS summary/{STUDY}/{subject}: the summary differs from its records" in differs.output
    assert runner.invoke(args=["audit", "replay"]).exit_code == 0
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0

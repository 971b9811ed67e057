"""The subject summaries on a real wire-protocol server: kept by saves, reviews and re-derivations, never moved
back to an older version, recomputed by replay, and what the reports page reads."""

import pytest
from conftest import BUNDLED_STUDY, Api, login, make_app

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
        from ecrf.records.summary import read_cell, summary_problems

        db = database()
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
        from ecrf.records.summary import read_cell, summarise

        db = database()
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

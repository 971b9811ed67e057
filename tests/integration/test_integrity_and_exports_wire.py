"""verify_all and the exports on a real wire-protocol server: its sort order, projections and distinct."""

import datetime as dt
import io
import zipfile

import pytest
from conftest import Api, save_several_streams

pytestmark = pytest.mark.integration


@pytest.fixture
def filled(wire_app):
    return wire_app, save_several_streams(Api(wire_app.test_client(), wire_app.tokens["staff01"]))


def test_verify_all_holds_then_names_each_problem(filled):
    app, subjects = filled
    vs = f"record/MINI/{subjects[0]}/SCREEN/VS"
    with app.app_context():
        from ecrf.db import database
        from ecrf.integrity import verify_all

        db = database()
        assert verify_all() == []
        db.audit_events.update_one({"stream": vs, "seq": 1}, {"$set": {"changes.0.new": 700}})
        db.records.delete_one({"_id": f"record/MINI/{subjects[0]}/SCREEN/DM"})
        db.audit_events.delete_many({"stream": f"record/MINI/{subjects[1]}/LOGS/AE"})
        db.records.insert_one({"_id": "record/MINI/zz-orphan", "version": 1})
        found = [(p.stream, p.message.split(":")[0].split(" (")[0]) for p in verify_all()]
    assert found == [
        (f"record/MINI/{subjects[0]}/SCREEN/DM", "stream has no projection"),
        (vs, "event at seq 1 was altered"),
        (f"record/MINI/{subjects[1]}/LOGS/AE", "stream deleted"),  # named by the checkpoint ...
        (f"record/MINI/{subjects[1]}/LOGS/AE", "projection has no audit stream"),  # ... and by its orphan
        ("record/MINI/zz-orphan", "projection has no audit stream"),
    ]


def test_exports_read_per_subject_and_write_what_per_record_reads_wrote(filled, monkeypatch):
    import ecrf.exports.odm as odm
    from ecrf.exports import export_subjects
    from ecrf.exports.tables import write_csv_zip

    app, subjects = filled
    monkeypatch.setattr(odm.document, "utc_now", lambda: dt.datetime(2026, 5, 1, tzinfo=dt.UTC))
    with app.app_context():
        from ecrf.studies import study_runtime

        runtime = study_runtime("MINI")
        outputs = []
        for patches in ({}, {"_subject_events": lambda store, study, subject_id: {}}):
            with monkeypatch.context() as patch:
                for name, value in patches.items():
                    patch.setattr(odm.clinical, name, value)
                out = io.BytesIO()
                assert odm.write_odm(out, runtime, export_subjects(runtime)) == 2
                outputs.append(out.getvalue())
        zipped = io.BytesIO()
        write_csv_zip(zipped, runtime, subjects)
    assert outputs[0] == outputs[1] and b"fix" in outputs[0]
    vs = zipfile.ZipFile(io.BytesIO(zipped.getvalue())).read("VS.csv").decode("utf-8-sig").splitlines()
    assert [line.split(",")[0] for line in vs[1:]] == subjects

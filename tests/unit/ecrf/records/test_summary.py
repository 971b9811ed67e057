"""Property: whatever saves, reviews, re-derivations and replays happen, each subject's summary equals one
computed afresh from its records (ecrf.records.summary), and the reports read the same from either."""

import datetime as dt

from conftest import BUNDLED_STUDY, Api, make_app
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthetic import form_data, schedule

STUDY = "CD7_CART_SAA"
INFUSION = dt.date(2026, 3, 2)
# Forms whose saves exercise each path: plain creates, subject facts (consent, infusion, death), a form whose
# save re-derives dependent records (SCREEN/LB_CHEM -> IE), repeating rows (AE), graded safety, response.
PLAN = [("SCREEN", "IC"), ("SCREEN", "DM"), ("SCREEN", "LB_HEM"), ("SCREEN", "LB_CHEM"), ("SCREEN", "IE"),
        ("D0", "INF"), ("D1", "CRS"), ("D1", "LB_HEM"), ("M3", "RESP"), ("M3", "SURV"), ("LOGS", "AE"),
        ("LOGS", "DEATH")]
STEP = st.one_of(
    st.tuples(st.just("save"), st.sampled_from(["A", "B"]), st.sampled_from(PLAN)),
    st.tuples(st.just("edit"), st.sampled_from(["A", "B"]), st.sampled_from(PLAN)),
    st.tuples(st.just("sdv"), st.sampled_from(["A", "B"]), st.sampled_from(PLAN)),
    st.tuples(st.just("replay"), st.just(""), st.just(("", ""))),
    st.tuples(st.just("lose"), st.sampled_from(["A", "B"]), st.just(("", ""))),
)


def _data(app, event: str, form: str) -> dict:
    with app.app_context():
        from ecrf.studies import study_runtime

        plan = {(e, f): (visit, day) for e, f, visit, day in schedule(study_runtime(STUDY).metadata(), INFUSION)}
    visit, day = plan.get((event, form), (INFUSION.isoformat(), 0))
    if form == "DEATH":
        return {"DTHDTC": (INFUSION + dt.timedelta(days=200)).isoformat(), "DTHCAUSE": "infection"}
    return {k: v for k, v in form_data(form, event, visit, infusion=INFUSION, day=day).items() if v is not None}


def _stored_and_fresh(app):
    with app.app_context():
        from ecrf.db import database
        from ecrf.records.summary import refresh, summaries_from, summary_problems

        records = database().records
        problems = summary_problems(records)  # before the refresh: what a reader would see after it
        refresh(records)
        fresh = summaries_from(records.find({}))
        stored = {d["_id"]: d for d in database().subject_summaries.find({})}
        return stored, fresh, problems + summary_problems(records)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=10))
def test_the_summary_stays_what_the_records_say(tmp_path_factory, steps):
    app = make_app(tmp_path_factory.mktemp("s"), "mongomock://", study=BUNDLED_STUDY)
    client = app.test_client()
    staff = Api(client, app.tokens["staff01"], STUDY)
    monitor = Api(client, app.tokens["mon01"], STUDY)
    for subject in ("A", "B"):
        staff.register("01", subject)
    for action, subject, (event, form) in steps:
        path = staff.record_path(subject, event, form) if event else None
        stored = staff.get(path).get_json() if path else None
        version = stored.get("version") if stored and "version" in stored else None
        if action == "save" and not version:
            assert staff.save(subject, event, form, _data(app, event, form)).status_code in (200, 201, 409, 422)
        elif action == "edit" and version:
            data = {**stored["data"], **({"AE": []} if form == "AE" else {})}
            data = {k: v for k, v in data.items() if k not in ("IE", "ELIGIBLE")}
            staff.save(subject, event, form, data, version=version, reason="property test")
        elif action == "sdv" and version:
            monitor.post(f"{path}/sdv", {})
        elif action == "replay":
            with app.app_context():
                from ecrf.integrity import replay_all

                replay_all()  # a migration-like rewrite of every record projection
        elif action == "lose":
            with app.app_context():
                from ecrf.catchup import catch_up
                from ecrf.db import database

                # A database from before summaries were kept: catch-up writes the lacking ones.
                database().subject_summaries.delete_one({"_id": f"{STUDY}/{subject}"})
                catch_up()
    stored, fresh, problems = _stored_and_fresh(app)
    assert problems == []
    assert stored == fresh


def test_the_reports_read_the_same_from_the_summaries_as_from_the_records(cd7_app, cd7):
    staff = cd7("staff01")
    staff.register("01", "S1")
    for event, form in PLAN:
        assert staff.save("S1", event, form, _data(cd7_app, event, form)).status_code in (200, 201), form
    with cd7_app.app_context():
        from ecrf import report_reading
        from ecrf.records.document import Record
        from ecrf.records.summary import REPORTED, REPORTED_ROWS
        from ecrf.studies import study_runtime
        from ecrf.users import User

        runtime, user = study_runtime(STUDY), User.objects(username="dm").first()
        reading = report_reading.Reading(runtime, user)
        for form in [*REPORTED, *REPORTED_ROWS]:
            data, derived = REPORTED.get(form, (tuple(REPORTED_ROWS.get(form, {})), ()))
            summarised = sorted(((r["event"], r.get("data") or {}, r.get("derived") or {})
                                 for r in reading.records(form, data=data, derived=derived)), key=str)
            read = sorted(((r["event"], {k: v for k, v in (r.get("data") or {}).items() if k in data},
                            {k: v for k, v in (r.get("derived") or {}).items() if k in derived})
                           for r in Record.objects(study=STUDY, form=form).as_pymongo()), key=str)
            if form in REPORTED_ROWS:
                read = [(e, {g: [{k: v for k, v in row.items() if k in REPORTED_ROWS[form][g]} for row in rows]
                             for g, rows in d.items()}, x) for e, d, x in read]
            assert summarised == read, form


def test_summaries_written_in_an_earlier_format_are_rebuilt_by_their_next_reader(cd7_app, cd7):
    staff = cd7("staff01")
    staff.register("01", "S1")
    assert staff.save("S1", "LOGS", "AE", _data(cd7_app, "LOGS", "AE")).status_code == 201
    assert staff.save("S1", "SCREEN", "IC", _data(cd7_app, "SCREEN", "IC")).status_code == 201
    with cd7_app.app_context():
        import orjson

        from audit import ROW_ID
        from ecrf import reports
        from ecrf.db import database
        from ecrf.records.summary import FORMAT, read_cell, refresh, summary_problems
        from ecrf.studies import study_runtime
        from ecrf.users import User

        db = database()
        refresh(db.records)
        key = f"{STUDY}/S1"
        rows = read_cell(db.subject_summaries.find_one({"_id": key})["LOGS/AE"])["data"]["AE"]
        assert rows and all(ROW_ID in row for row in rows)
        # As format 1 wrote them: AE rows without their ids, and a cursor without a format.
        text = db.subject_summaries.find_one({"_id": key})["LOGS/AE"]
        head, encoded = text.rsplit("|", 1)
        old = orjson.loads(encoded)
        old["d"]["AE"] = [{k: v for k, v in row.items() if k != ROW_ID} for row in old["d"]["AE"]]
        db.subject_summaries.update_one({"_id": key}, {"$set": {"LOGS/AE": f"{head}|{orjson.dumps(old).decode()}"}})
        db.subject_summary_cursor.update_many({}, {"$unset": {"format": ""}})
        assert summary_problems(db.records, STUDY) == []  # what a reader sees: rebuilt first
        runtime, dm = study_runtime(STUDY), User.objects(username="dm").first()
        table = reports.safety(runtime, dm)
        assert {r["term"] for r in table if r["level"] == "term"} >= {row["AETERM"].strip() for row in rows}
        rebuilt = read_cell(db.subject_summaries.find_one({"_id": key})["LOGS/AE"])["data"]["AE"]
        assert rebuilt == rows
        assert db.subject_summary_cursor.find_one({})["format"] == FORMAT
        # Once in this format, a tampered cell is named again.
        db.subject_summaries.update_one({"_id": key}, {"$set": {"LOGS/AE": f"{head}|{orjson.dumps(old).decode()}"}})
        assert summary_problems(db.records, STUDY) == [f"{key}: the summary differs from its records"]

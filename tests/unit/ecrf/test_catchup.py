"""Catch-up at start (ecrf.catchup): projections left behind their audit stream by a crash are brought forward."""

from ecrf.catchup import catch_up, lagging_streams
from ecrf.db import database
from ecrf.integrity import verify_all


def vs(subject):
    return f"record/MINI/{subject}/SCREEN/VS"


def dm(subject):
    return f"record/MINI/{subject}/SCREEN/DM"


def crashed_between_append_and_projection(app, staff, subject):
    """VS: its second event appended, its projection still at the first; DM: an event and no projection."""
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    with app.app_context():
        before = database().records.find_one({"_id": vs(subject)})
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 71}, version=1, reason="fix")
    staff.save(subject, "SCREEN", "DM", {"SEX": "F"})
    staff.save(subject, "LOGS", "AE", {"AE": [{"AETERM": "fever"}]})
    with app.app_context():
        database().records.replace_one({"_id": vs(subject)}, before)
        database().records.delete_one({"_id": dm(subject)})


def test_catch_up_projects_exactly_the_lagging_streams_and_verify_then_holds(app, staff, subject):
    crashed_between_append_and_projection(app, staff, subject)
    with app.app_context():
        assert {p.stream for p in verify_all()} == {vs(subject), dm(subject)}
        assert lagging_streams() == sorted([vs(subject), dm(subject)])
        assert catch_up() == sorted([vs(subject), dm(subject)])
        assert verify_all() == []
        record = database().records.find_one({"_id": vs(subject)})
        assert record["version"] == 2 and record["data"]["WEIGHT"] == 71
        assert database().records.find_one({"_id": dm(subject)})["data"] == {"SEX": "F"}


def test_catch_up_leaves_projections_at_their_head_alone(app, staff, subject):
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    with app.app_context():
        before = list(database().records.find({}, sort=[("_id", 1)]))
        assert catch_up() == []
        assert list(database().records.find({}, sort=[("_id", 1)])) == before

"""The reports and the query list read through an index on the real server, for a data manager and for site staff.

The embedded server uses an index only when it covers every field of a
filter (a user's sites, an ``$in``, in the last place); without one, each of
the reports page's by-form reads scanned every record of the study. The
reports page now reads the subject summaries instead of the records, after
bringing them up to date with the records changed since the last reader
(through the records' ``updated_at`` index).
"""

import pytest
from conftest import login, sent_commands

pytestmark = pytest.mark.integration


def planned_stage(db, command: dict) -> str:
    plan = db.command({"explain": {"find": command["find"], "filter": command["filter"]},
                       "verbosity": "queryPlanner"})["queryPlanner"]["winningPlan"]
    plan = plan.get("queryPlan", plan)  # MongoDB's slot-based engine nests the plan one level down
    stages = []
    while plan:
        stages.append(plan.get("stage"))
        plan = plan.get("inputStage")
    return " <- ".join(stages)


@pytest.mark.parametrize("username", ["dm", "staff01"])
def test_the_reports_page_reads_the_summaries_and_the_changed_records_through_indexes(tmp_path, wire_uri, username):
    from conftest import BUNDLED_STUDY, Api, make_app

    app = make_app(tmp_path, wire_uri, study=BUNDLED_STUDY)  # its reports read by form, by event and by fact
    with app.app_context():
        from ecrf.catchup import catch_up

        catch_up()  # as `ecrf serve` does at start: the summaries' cursor exists from then on
    staff = Api(app.test_client(), app.tokens["staff01"], "CD7_CART_SAA")
    subject = staff.register()
    assert staff.save(subject, "SCREEN", "ECOG", {"ECOGDTC": "2026-01-11", "ECOG": 1}).status_code == 201
    client = app.test_client()
    login(client, username)
    with sent_commands(whole=True) as sent:
        assert client.get("/studies/CD7_CART_SAA/reports").status_code == 200
    # Every report of the page reads the subjects' summaries (ecrf.records.summary), once, and the records only
    # to bring them up to date: those changed since the summaries' cursor, by their updated_at. The safety table
    # too reads the AE rows from the summaries (their row ids find the codings).
    records = [command for name, command in sent if name == "find records"]
    refresh = [c for c in records if set(c["filter"]) == {"updated_at"}]
    assert len(refresh) == 1 and len(records) == 1, records
    assert not [name for name, _ in sent if name.endswith(" records") and name != "find records"]
    reads = [command for name, command in sent if name == "find subject_summaries"]
    assert len(reads) == 1
    with app.app_context():
        from ecrf.db import database

        plans = {repr(sorted(c["filter"])): planned_stage(database(), c) for c in [*reads, *records]}
    assert all("COLLSCAN" not in stage for stage in plans.values()), plans
    assert any("IXSCAN" in stage for stage in plans.values()), plans


@pytest.mark.parametrize("username", ["dm", "staff01"])
@pytest.mark.parametrize("filters", ["", "?state=open", "?subject=01-001", "?site=01&state=answered"])
def test_every_read_of_the_query_list_uses_an_index(tmp_path, wire_uri, username, filters):
    from conftest import Api, make_app

    app = make_app(tmp_path, wire_uri)
    subject = Api(app.test_client(), app.tokens["staff01"], "MINI").register()
    client = app.test_client()
    login(client, username)
    with sent_commands(whole=True) as sent:
        assert client.get(f"/studies/MINI/queries{filters.replace('01-001', subject)}").status_code == 200
    reads = [command for name, command in sent if name == "find queries"]
    with app.app_context():
        from ecrf.db import database

        plans = {repr(sorted(c["filter"])): planned_stage(database(), c) for c in reads}
    assert plans and all("COLLSCAN" not in stage for stage in plans.values()), plans

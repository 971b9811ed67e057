"""Edit checks raise queries, which close themselves when fixed; the manual query workflow per role."""

import pytest

from ecrf import queries


def queries_of(api, subject, **filters):
    params = "&".join(f"{k}={v}" for k, v in {"subject": subject, **filters}.items())
    return api.get(f"/studies/MINI/queries?{params}").get_json()


def open_checks(api, subject):
    return sorted((q["check"], q["item"]) for q in queries_of(api, subject) if q["state"] in ("open", "answered"))


def test_range_check_against_a_uln_multiple_raises_one_query_and_closes_when_fixed(staff, subject):
    first = staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 130}).get_json()
    assert [(q["check"], q["item"], q["origin"], q["state"]) for q in first["queries"]] == [
        ("ALT_LIMIT", "/ALT", "system", "open")]
    assert "ALT above 3 x ULN" in first["queries"][0]["messages"][0]["text"]
    # Saving again with the same failing value opens no duplicate.
    again = staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 131}, version=1, reason="re-read")
    assert len(again.get_json()["queries"]) == 1
    fixed = staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 31}, version=2, reason="decimal point")
    assert fixed.get_json()["queries"] == []
    closed = queries_of(staff, subject, state="closed")
    assert len(closed) == 1 and "change 3 by staff01" in closed[0]["messages"][-1]["text"]
    # Failing again opens a new query; the closed one stays closed.
    staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 200}, version=3, reason="repeat sample")
    states = sorted(q["state"] for q in queries_of(staff, subject, check="ALT_LIMIT") if q["check"] == "ALT_LIMIT")
    assert states == ["closed", "open"]


def test_required_if_check_and_a_query_on_an_item_that_becomes_hidden(staff, subject):
    staff.save(subject, "SCREEN", "DM", {"SEX": "F"})
    assert open_checks(staff, subject) == [("CHILDPOT_IF_FEMALE", "/CHILDPOT")]
    staff.save(subject, "SCREEN", "DM", {"SEX": "M"}, version=1, reason="wrong sex ticked")
    assert open_checks(staff, subject) == []
    (query,) = queries_of(staff, subject)
    assert query["state"] == "not_applicable"


def test_cross_form_date_order_check(staff, subject):
    staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-10"})
    staff.save(subject, "D28", "LB", {"LBDTC": "2026-01-09", "ALT": 20})
    assert open_checks(staff, subject) == [("LB_AFTER_VS", "/LBDTC")]


def test_derived_value_threshold_check(staff, subject):
    staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 200})
    assert open_checks(staff, subject) == [("ALT_LIMIT", "/ALT"), ("ALT_RATIO", "/ALT")]


def test_range_flags_mark_values_outside_the_normal_range(staff, subject):
    high = staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 41}).get_json()
    assert high["flags"] == [{"item": "/ALT", "flag": "H", "low": 7.0, "high": 40.0}] or \
        high["flags"] == [{"item": "/ALT", "flag": "H", "low": 7, "high": 40}]
    low = staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 5}, version=1, reason="x").get_json()
    assert low["flags"][0]["flag"] == "L"
    normal = staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 40}, version=2, reason="x").get_json()
    assert normal["flags"] == []


def test_a_check_that_fails_at_run_time_blocks_nothing_and_is_reported(app, staff, subject):
    response = staff.save(subject, "SCREEN", "DM", {"SEX": "M", "NOTES": "not a number"})
    assert response.status_code == 201
    with app.app_context():
        from ecrf.db import database
        broken = database().broken_checks.find_one({"check": "NOTES_NUMERIC"})
    assert broken is not None and broken["form"] == "DM"
    dm = app.test_client()
    body = dm.get("/api/v1/studies/MINI/checks/broken",
                  headers={"Authorization": f"Bearer {app.tokens['dm']}"}).get_json()
    assert [b["check"] for b in body] == ["NOTES_NUMERIC"]


def test_manual_query_full_cycle(as_user, staff, subject):
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    monitor = as_user("mon01")
    raised = monitor.post("/studies/MINI/queries", {"subject": subject, "event": "SCREEN", "form": "VS",
                                                    "item": "/WEIGHT", "text": "Please confirm against source"})
    assert raised.status_code == 201
    query = raised.get_json()
    assert query["origin"] == "manual" and query["state"] == "open" and query["check"] is None
    qid = query["id"]
    answered = staff.post(f"/studies/MINI/queries/{qid}/replies", {"text": "Confirmed, 70 kg"})
    assert answered.status_code == 200 and answered.get_json()["state"] == "answered"
    closed = monitor.post(f"/studies/MINI/queries/{qid}/close", {"text": "Thanks"})
    assert closed.get_json()["state"] == "closed"
    reopened = monitor.post(f"/studies/MINI/queries/{qid}/reopen", {"text": "Source says 72"})
    assert reopened.get_json()["state"] == "open"
    thread = monitor.get(f"/studies/MINI/queries/{qid}").get_json()["messages"]
    assert [(m["author"], m["action"]) for m in thread] == [
        ("mon01", "opened"), ("staff01", "answered"), ("mon01", "closed"), ("mon01", "reopened")]
    events = staff.get(f"/studies/MINI/subjects/{subject}/audit").get_json()
    assert [e["action"] for e in events if e["stream"].startswith("query/")] == [
        "query_opened", "query_answered", "query_closed", "query_reopened"]


@pytest.mark.parametrize("actor, action, status", [
    ("staff01", "raise", 403), ("inv01", "raise", 403), ("root", "raise", 403),
    ("mon01", "reply", 403), ("dm", "reply", 403),
    ("staff01", "close", 403), ("inv01", "reopen", 403),
    ("dm", "close", 200), ("mon02", "close", 404), ("staff02", "reply", 404),
])
def test_forbidden_query_actions_are_refused_per_role(as_user, staff, subject, actor, action, status):
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    qid = as_user("mon01").post("/studies/MINI/queries", {"subject": subject, "event": "SCREEN", "form": "VS",
                                                          "item": "/WEIGHT", "text": "check"}).get_json()["id"]
    api = as_user(actor)
    if action == "raise":
        response = api.post("/studies/MINI/queries", {"subject": subject, "event": "SCREEN", "form": "VS",
                                                      "item": "/WEIGHT", "text": "again"})
    elif action == "reply":
        response = api.post(f"/studies/MINI/queries/{qid}/replies", {"text": "answer"})
    else:
        response = api.post(f"/studies/MINI/queries/{qid}/{action}", {"text": "why"})
    assert response.status_code == status


def test_impossible_transitions_are_409(as_user, staff, subject):
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    monitor = as_user("mon01")
    qid = monitor.post("/studies/MINI/queries", {"subject": subject, "event": "SCREEN", "form": "VS",
                                                 "item": "/WEIGHT", "text": "check"}).get_json()["id"]
    assert monitor.post(f"/studies/MINI/queries/{qid}/reopen", {"text": "not closed"}).status_code == 409
    monitor.post(f"/studies/MINI/queries/{qid}/close", {})
    assert monitor.post(f"/studies/MINI/queries/{qid}/close", {}).status_code == 409
    assert staff.post(f"/studies/MINI/queries/{qid}/replies", {"text": "late"}).status_code == 409


@pytest.mark.parametrize("body, path", [
    ({"subject": "S", "event": "SCREEN", "form": "VS", "item": "/WEIGHT"}, "/text"),
    ({"subject": "S", "event": "SCREEN", "form": "VS", "item": "/NOPE", "text": "x"}, "/item"),
    ({"subject": "S", "event": "SCREEN", "form": "VS", "item": "/WEIGHT", "text": "   "}, "/text"),
])
def test_bad_query_bodies_name_the_field(as_user, staff, subject, body, path):
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    body = {**body, "subject": subject}
    response = as_user("mon01").post("/studies/MINI/queries", body)
    assert response.status_code == 422 and path in [e["path"] for e in response.get_json()["errors"]]


def test_query_lists_are_site_scoped(as_user):
    one = as_user("staff01").register("01")
    two = as_user("staff02").register("02")
    as_user("staff01").save(one, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 500})
    as_user("staff02").save(two, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 500})
    assert {q["subject"] for q in as_user("mon01").get("/studies/MINI/queries").get_json()} == {one}
    assert {q["subject"] for q in as_user("dm").get("/studies/MINI/queries").get_json()} == {one, two}
    assert as_user("mon01").get("/studies/MINI/queries?site=02").get_json() == []
    other = as_user("mon02").get("/studies/MINI/queries").get_json()[0]["id"]
    assert as_user("mon01").get(f"/studies/MINI/queries/{other}").status_code == 404


def test_rerunning_checks_after_a_rule_change_opens_and_closes_the_right_queries(app, as_user, tmp_path):
    import json
    import shutil

    from conftest import MINI_STUDY

    staff = as_user("staff01")
    a, b = staff.register(), staff.register()
    staff.save(a, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 100})   # 2.5 x ULN: passes at 3 x
    staff.save(b, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 130})   # 3.25 x ULN: fails at 3 x
    assert open_checks(staff, a) == [] and open_checks(staff, b) == [("ALT_LIMIT", "/ALT")]
    changed = tmp_path / "study"
    shutil.copytree(MINI_STUDY, changed)
    study = json.loads((changed / "study.json").read_text())
    study["version"], study["parameters"]["alt_limit"] = "2", 2
    (changed / "study.json").write_text(json.dumps(study))
    runner = app.test_cli_runner()
    assert runner.invoke(args=["study", "load", str(changed)]).exit_code == 0
    # Casebooks stay on their version until migrated (issue 21): the migration re-runs their checks.
    assert runner.invoke(args=["checks", "run", "--study", "MINI"]).exit_code == 0
    assert open_checks(staff, a) == []
    result = runner.invoke(args=["study", "migrate", "--to", "2", "--reason", "ALT limit 2 x ULN", "--as", "dm"])
    assert result.exit_code == 0, result.output
    assert open_checks(staff, a) == [("ALT_LIMIT", "/ALT")]
    study["version"], study["parameters"]["alt_limit"] = "3", 4
    (changed / "study.json").write_text(json.dumps(study))
    runner.invoke(args=["study", "load", str(changed)])
    runner.invoke(args=["study", "migrate", "--to", "3", "--reason", "ALT limit 4 x ULN", "--as", "dm"])
    assert open_checks(staff, a) == [] and open_checks(staff, b) == []
    again = runner.invoke(args=["checks", "run"])   # idempotent: nothing more to do
    assert "updated" not in again.output
    assert len(queries_of(staff, b)) == 1


def test_site_ranges_override_study_defaults_from_their_valid_from_date(app, as_user):
    staff = as_user("staff01")
    subject = staff.register()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["ranges", "add", "--site", "01", "--analyte", "ALT", "--unit", "U/L", "--low", "5",
                                 "--high", "50", "--valid-from", "2026-03-01", "--as", "dm"])
    assert result.exit_code == 0, result.output
    before = staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-02-28", "ALT": 45}).get_json()
    assert before["flags"][0]["flag"] == "H" and before["derived"]["ALT_X_ULN"] == 45 / 40
    after = staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-03-01", "ALT": 45}, version=1, reason="date").get_json()
    assert after["flags"] == [] and after["derived"]["ALT_X_ULN"] == 45 / 50
    refused = runner.invoke(args=["ranges", "add", "--site", "01", "--analyte", "ALT", "--unit", "U/L", "--low", "60",
                                  "--high", "50", "--valid-from", "2026-03-01", "--as", "dm"])
    assert refused.exit_code == 1 and "/low" in refused.output
    not_dm = runner.invoke(args=["ranges", "add", "--site", "01", "--analyte", "ALT", "--unit", "U/L", "--high", "50",
                                 "--valid-from", "2026-03-01", "--as", "staff01"])
    assert not_dm.exit_code == 1


def stored_queries(app, specs):
    """Queries written straight into the collection: (id, site, state, opened days ago, closed days ago or None)."""
    import datetime as dt

    from audit import utc_now

    now = utc_now()
    with app.app_context():
        from ecrf.queries import Query
        Query._get_collection().insert_many([
            {"_id": key, "study": "MINI", "subject": f"{site}-001", "site": site, "event": "SCREEN", "form": "VS",
             "item": "/WEIGHT", "origin": "manual", "state": state, "version": 1,
             "messages": [{"at": now, "author": "mon01", "text": key, "action": "open"}],
             "opened_at": now - dt.timedelta(days=opened, minutes=1),
             "closed_at": None if closed is None else now - dt.timedelta(days=closed)}
            for key, site, state, opened, closed in specs])


def paged(app, username, number, **kw):
    with app.app_context():
        from ecrf.queries import query_page
        from ecrf.studies import study_runtime
        from ecrf.users import get_user
        page = query_page(study_runtime("MINI"), get_user(username), number, **kw)
        return [q.query_id for q in page.items], page.total, page.pages


def test_a_page_of_queries_is_ordered_counted_and_scoped_like_the_whole_list(app):
    # q-b and q-a opened at the same moment: the id orders them.
    stored_queries(app, [("q-d", "01", "open", 1, None), ("q-c", "02", "open", 2, None),
                         ("q-b", "01", "closed", 3, 0), ("q-a", "01", "open", 3, None),
                         ("q-e", "01", "answered", 0, None)])
    assert paged(app, "dm", 1, per_page=2) == (["q-a", "q-b"], 5, 3)
    assert paged(app, "dm", 3, per_page=2) == (["q-e"], 5, 3)
    assert paged(app, "dm", 9, per_page=2) == (["q-e"], 5, 3)                # past the end: the last page
    assert paged(app, "staff01", 1, per_page=2) == (["q-a", "q-b"], 4, 2)    # site 02's query is not counted
    assert paged(app, "staff01", 1, site="02") == ([], 0, 1)                 # nor shown when asked for
    assert paged(app, "dm", 1, state="open") == (["q-a", "q-c", "q-d"], 3, 1)
    assert paged(app, "dm", 1, site="01", state="open") == (["q-a", "q-d"], 2, 1)


@pytest.mark.parametrize("min_age, expected", [
    (None, ["q-old-closed-fast", "q-old-open", "q-new-open"]),
    (0, ["q-old-closed-fast", "q-old-open", "q-new-open"]),    # 0: no filter, as an empty box
    (1, ["q-old-closed-fast", "q-old-open", "q-new-open"]),
    (2, ["q-old-closed-fast", "q-old-open"]),    # closed after 8 of its 10 days: its age stops at closing
    (8, ["q-old-closed-fast", "q-old-open"]),
    (9, ["q-old-open"]),
    (11, []),
])
def test_the_minimum_age_counts_an_open_query_to_now_and_a_closed_one_to_its_closing(app, min_age, expected):
    stored_queries(app, [("q-old-open", "01", "open", 10, None), ("q-old-closed-fast", "01", "closed", 10, 2),
                         ("q-new-open", "01", "open", 1, None)])
    found, total, _ = paged(app, "dm", 1, min_age=min_age)
    assert sorted(found) == sorted(expected) and total == len(expected)


def _raised(as_user, staff, subject) -> str:
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    return as_user("mon01").post("/studies/MINI/queries", {"subject": subject, "event": "SCREEN", "form": "VS",
                                                           "item": "/WEIGHT", "text": "check"}).get_json()["id"]


def _stale_reads(monkeypatch, app, qid):
    """Make the next query actions start from the query as it stands now, as a request that lost a race does."""
    with app.app_context():
        stale = queries.Query.objects(query_id=qid).first()
    monkeypatch.setattr(queries, "get_query", lambda study, user, query_id: queries.Query._from_son(stale.to_mongo()))


def test_a_reply_that_loses_a_race_to_another_reply_lands_after_it(app, as_user, staff, subject, monkeypatch):
    qid = _raised(as_user, staff, subject)
    _stale_reads(monkeypatch, app, qid)
    assert staff.post(f"/studies/MINI/queries/{qid}/replies", {"text": "first"}).status_code == 200
    second = staff.post(f"/studies/MINI/queries/{qid}/replies", {"text": "second"})
    assert second.status_code == 200
    assert [m["text"] for m in second.get_json()["messages"]] == ["check", "first", "second"]


def test_a_reply_that_loses_a_race_to_a_close_is_409_and_stores_nothing(app, as_user, staff, subject, monkeypatch):
    qid = _raised(as_user, staff, subject)
    _stale_reads(monkeypatch, app, qid)
    assert as_user("mon01").post(f"/studies/MINI/queries/{qid}/close", {}).status_code == 200
    late = staff.post(f"/studies/MINI/queries/{qid}/replies", {"text": "late"})
    assert late.status_code == 409 and "the query is closed" in late.get_json()["detail"]
    events = staff.get(f"/studies/MINI/subjects/{subject}/audit").get_json()
    assert [e["action"] for e in events if e["stream"] == f"query/{qid}"] == ["query_opened", "query_closed"]


def test_a_transition_whose_projection_was_never_stored_is_caught_up_by_the_next(app, as_user, staff, subject,
                                                                                  monkeypatch):
    qid = _raised(as_user, staff, subject)
    projected = queries._project
    monkeypatch.setattr(queries, "_project", lambda query, event: (_ for _ in ()).throw(RuntimeError("crash")))
    assert staff.post(f"/studies/MINI/queries/{qid}/replies", {"text": "stored, not projected"}).status_code == 500
    monkeypatch.setattr(queries, "_project", projected)
    closed = as_user("mon01").post(f"/studies/MINI/queries/{qid}/close", {"text": "thanks"})
    assert closed.status_code == 200
    assert [(m["action"], m["text"]) for m in closed.get_json()["messages"]] == [
        ("opened", "check"), ("answered", "stored, not projected"), ("closed", "thanks")]

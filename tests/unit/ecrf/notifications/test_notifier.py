"""Each trigger reaches the inbox of the users it concerns, once, and nobody at another site."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import OVERRIDDEN

from ecrf.notifications import inbox, notifier
from ecrf.notifications.inbox import Notification
from ecrf.trail import audit_store


def run(app, now=None):
    with app.app_context():
        return notifier.run(app.config["ECRF"], now, clocks=now is not None)


def holders(app, kind):
    """Who holds a notification of ``kind``, with how many each."""
    with app.app_context():
        found: dict[str, int] = {}
        for item in Notification.objects(kind=kind):
            found[item.user] = found.get(item.user, 0) + 1
        return found


def raise_query(as_user, subject):
    return as_user("mon01").post("/studies/MINI/queries", {
        "subject": subject, "event": "SCREEN", "form": "VS", "item": "/HEIGHT", "text": "Source says 171?"})


def test_a_new_query_reaches_the_site_team_of_its_site_once_however_often_the_notifier_runs(app, as_user, saved):
    assert raise_query(as_user, saved).status_code == 201
    assert run(app) == 2
    assert run(app) == 0  # read again within the overlap: nothing new
    assert holders(app, "query_opened") == {"staff01": 1, "inv01": 1}  # not staff02 (site 02), not the monitor


def test_an_answered_query_reaches_the_monitor_of_its_site_and_the_data_manager(app, as_user, saved):
    query = raise_query(as_user, saved).get_json()
    assert as_user("staff01").post(f"/studies/MINI/queries/{query['id']}/replies",
                                   {"text": "Yes, 171"}).status_code == 200
    run(app)
    assert holders(app, "query_answered") == {"mon01": 1, "dm": 1}


def test_an_unlocked_record_reaches_the_site_team_and_its_monitor(app, as_user, staff, saved):
    dm = as_user("dm")
    path = staff.record_path(saved, "SCREEN", "VS")
    assert dm.post(path + "/lock", OVERRIDDEN).status_code == 200
    assert dm.post(path + "/unlock", {"reason": "late lab correction"}).status_code == 200
    run(app)
    assert holders(app, "record_unlocked") == {"staff01": 1, "inv01": 1, "mon01": 1}


def synthetic(app, stream, action, *, site="01", subject="01-777", state=None, actor="someone"):
    with app.app_context():
        store = audit_store()
        head = store.head(stream)
        return store.append(stream, head["seq"] if head else 0, actor=actor, action=action, state=state or {},
                            context={"study": "MINI", "subject": subject, "site": site, "event": "SCREEN",
                                     "form": "LB"})


def test_a_lab_grade_of_3_or_more_is_told_once_per_record_analyte_and_grade(app):
    stream = "record/MINI/01-777/SCREEN/LB"
    synthetic(app, stream, "create", state={"derived": {"NEUT_GRADE": 2, "PLAT_GRADE": 3}})
    synthetic(app, stream, "update", state={"derived": {"NEUT_GRADE": 2, "PLAT_GRADE": 3}})  # same grade again
    run(app)
    assert holders(app, "lab_grade") == {"inv01": 1, "mon01": 1, "dm": 1}
    synthetic(app, stream, "update", state={"derived": {"NEUT_GRADE": 4, "PLAT_GRADE": 3}})  # a new one
    run(app)
    assert holders(app, "lab_grade") == {"inv01": 2, "mon01": 2, "dm": 2}


@pytest.mark.parametrize("action, kind", [("sae_opened", "sae_opened"), ("sae_submitted", "sae_submitted")])
def test_sae_actions_reach_the_safety_people_of_the_site_only(app, action, kind):
    synthetic(app, "sae/MINI/02-001/1", action, site="02", subject="02-001", actor="staff02")
    run(app)
    assert holders(app, kind) == {"mon02": 1, "dm": 1}  # site 02's monitor, the data manager; nobody of site 01


def test_an_sae_not_submitted_24_hours_after_opening_is_overdue_once(app):
    opened = synthetic(app, "sae/MINI/01-777/1", "sae_opened", actor="inv01")
    at = opened["at"] if opened["at"].tzinfo else opened["at"].replace(tzinfo=dt.UTC)
    run(app, at + dt.timedelta(hours=23))
    assert holders(app, "sae_overdue") == {}
    run(app, at + dt.timedelta(hours=25))
    run(app, at + dt.timedelta(hours=26))
    assert holders(app, "sae_overdue") == {"inv01": 1, "mon01": 1, "dm": 1}
    synthetic(app, "sae/MINI/01-888/1", "sae_opened", subject="01-888")
    synthetic(app, "sae/MINI/01-888/1", "sae_submitted", subject="01-888")
    run(app, at + dt.timedelta(hours=50))
    with app.app_context():
        assert Notification.objects(kind="sae_overdue", subject="01-888").count() == 0


def test_the_actor_is_not_told_of_their_own_action(app):
    synthetic(app, "sae/MINI/01-777/2", "sae_opened", actor="inv01")
    run(app)
    assert "inv01" not in holders(app, "sae_opened")


def test_marking_read_is_the_users_own_and_audited(app, as_user, saved):
    raise_query(as_user, saved)
    run(app)
    with app.app_context():
        (mine,) = Notification.objects(user="staff01")
        (theirs,) = Notification.objects(user="inv01")
        assert inbox.mark_read("staff01", [mine.key, theirs.key]) == 1
        assert inbox.unread_count("staff01") == 0 and inbox.unread_count("inv01") == 1
        (event,) = audit_store().events("notifications/staff01")
        assert event["action"] == "notifications_read" and event["state"]["details"]["ids"] == [mine.key]


def test_a_saved_neutrophil_count_of_grade_4_is_told_to_the_investigator_monitor_and_data_manager(cd7_app, cd7):
    staff = cd7("staff01")
    subject = staff.register()
    saved = staff.save(subject, "SCREEN", "LB_HEM", {"LBDTC": "2026-01-05", "NEUT": 0.3})
    assert saved.status_code == 201 and saved.get_json()["derived"]["NEUT_GRADE"] == 4
    with cd7_app.app_context():
        notifier.run(cd7_app.config["ECRF"])
        found = sorted((n.user, n.item, n.detail["grade"]) for n in Notification.objects(kind="lab_grade"))
    assert found == [("dm", "NEUT_GRADE", 4), ("inv01", "NEUT_GRADE", 4), ("mon01", "NEUT_GRADE", 4)]


def test_the_digest_day_and_the_clock_period_are_taken_by_one_caller_each(app):
    settings = app.config["ECRF"]
    morning = dt.datetime(2026, 3, 1, settings.digest_hour_utc, 5, tzinfo=dt.UTC)
    with app.app_context():
        assert not notifier.digest_due(settings, morning - dt.timedelta(hours=1))  # before the hour
        assert [notifier.digest_due(settings, morning) for _ in range(3)] == [True, False, False]
        assert notifier.digest_due(settings, morning + dt.timedelta(days=1))  # the next day
        assert [notifier.clocks_due(morning) for _ in range(2)] == [True, False]
        assert notifier.clocks_due(morning + notifier.CLOCKS_EVERY)

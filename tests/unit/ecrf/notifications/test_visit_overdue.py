"""A scheduled visit whose window closed with nothing saved is told to the site team once (CD7 schedule)."""

from __future__ import annotations

import datetime as dt

from ecrf.notifications import notifier
from ecrf.notifications.inbox import Notification


def test_an_overdue_visit_is_told_once_to_the_site_team_of_its_site(cd7_app, cd7):
    staff = cd7("staff01")
    subject = staff.register()
    saved = staff.save(subject, "D0", "INF", {"INFDTC": "2026-01-01T09:00:00Z"})
    assert saved.status_code == 201, saved.get_json()
    now = dt.datetime(2026, 1, 20, 12, tzinfo=dt.UTC)  # D1 .. D14 have closed, D28 is not due yet
    with cd7_app.app_context():
        settings = cd7_app.config["ECRF"]
        notifier.run(settings, now)
        notifier.run(settings, now + dt.timedelta(hours=1))
        found = sorted((n.user, n.event) for n in Notification.objects(kind="visit_overdue", subject=subject))
    visits = sorted({event for _, event in found})
    assert "D7" in visits and "D28" not in visits and "D0" not in visits
    assert found == sorted((user, visit) for user in ("inv01", "staff01") for visit in visits)  # once each

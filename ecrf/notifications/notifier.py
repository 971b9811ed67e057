"""The notifier: reads the audit trail after its cursor, turns events into notices and delivers them.

One run, in named steps:

1. read the audit events of the watched actions from the cursor (less an overlap) on, oldest first;
2. each event's notices (:func:`ecrf.notifications.kinds.notices`), and the SAE clocks they start or stop;
3. the clocks: visits whose window closed with nothing saved, SAE reports not submitted when due;
4. each notice fanned out to the active users of the recipient roles who see its site (never the actor),
   each with the delivery they chose, into the inbox by the notice's key: once per recipient;
5. the cursor moved on; then the e-mails due now are sent (never by a save: a save only appends its event).

Runs may overlap (several processes, a run repeated): the keys make every delivery happen once, the
cursor only moves forward, and events appended late within ``OVERLAP`` of the cursor are still read.
"""

from __future__ import annotations

import datetime as dt
import logging

from pymongo.errors import DuplicateKeyError

from audit import utc_now
from ecrf.config import Settings
from ecrf.db import database
from ecrf.notifications import mail
from ecrf.notifications.inbox import deliver
from ecrf.notifications.kinds import (
    RECIPIENT_ROLES,
    SAE_OPENED,
    SAE_SUBMITTED,
    WATCHED_ACTIONS,
    Notice,
    notices,
    sae_overdue,
    visit_overdue,
)
from ecrf.notifications.preferences import all_choices
from ecrf.reports import visit_status
from ecrf.roles import ALL_SITES, Role
from ecrf.studies import loaded_studies, study_runtime
from ecrf.trail import AUDIT_COLLECTION
from ecrf.users import User

log = logging.getLogger(__name__)
# Events are read again this far behind the cursor: an append stamped before another that was stored after it
# (clocks of parallel writers) is still seen; the keys make the repeat harmless.
OVERLAP = dt.timedelta(minutes=5)
# A notifier that never ran starts this far back rather than from the beginning of the trail.
FIRST_LOOKBACK = dt.timedelta(days=1)
BATCH = 2000
SAE_DUE = dt.timedelta(hours=24)
CURSOR_ID = "audit"
CLOCKS_EVERY = dt.timedelta(minutes=15)


def _state():
    return database()["notifier_state"]


def _clocks():
    return database()["notification_clocks"]


def ensure_indexes() -> None:
    """The audit trail's time index the notifier reads by, and the clocks' due index."""
    database()[AUDIT_COLLECTION].create_index([("at", 1), ("action", 1)], name="at_action")
    _clocks().create_index([("done", 1), ("due", 1)], name="open_due")


def _cursor(now: dt.datetime) -> dt.datetime:
    found = _state().find_one({"_id": CURSOR_ID})
    return _aware(found["at"]) if found else now - FIRST_LOOKBACK


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _events(since: dt.datetime):
    """Step 1: the watched events from ``since`` on, oldest first (a save's data is not read, only what it derived)."""
    return database()[AUDIT_COLLECTION].find(
        {"at": {"$gte": since}, "action": {"$in": list(WATCHED_ACTIONS)}},
        {"stream": 1, "seq": 1, "at": 1, "actor": 1, "action": 1, "context": 1, "state.derived": 1,
         "state.details": 1, "state.due_at": 1}, sort=[("at", 1), ("_id", 1)], batch_size=BATCH)


def _track_sae(event: dict) -> None:
    """Step 2: an opened SAE report starts its 24-hour clock (from the site's awareness, if the event says it);
    a submitted one stops it."""
    context = event.get("context") or {}
    state = event.get("state") or {}
    # The report's own clock when its event carries it (ecrf.safety: due_at, moved when the awareness is corrected).
    due = _aware(state["due_at"]) if isinstance(state.get("due_at"), dt.datetime) else None
    if event["action"] == "sae_opened":
        awareness = (state.get("details") or {}).get("awareness")
        start = _aware(awareness) if isinstance(awareness, dt.datetime) else _aware(event["at"])
        _clocks().update_one({"_id": event["stream"]}, {"$setOnInsert": {
            "study": context.get("study"), "site": context.get("site"), "subject": context.get("subject"),
            "due": due or start + SAE_DUE, "done": False}}, upsert=True)
    elif event["action"] == "sae_updated" and due is not None:
        _clocks().update_one({"_id": event["stream"], "done": False}, {"$set": {"due": due}})
    elif event["action"] == "sae_submitted":
        _clocks().update_one({"_id": event["stream"]}, {"$set": {"done": True}}, upsert=True)


def _sae_overdue(now: dt.datetime) -> list[Notice]:
    """Step 3: SAE reports whose initial report is due and not submitted."""
    return [sae_overdue(clock, now) for clock in _clocks().find({"done": False, "due": {"$lte": now}})
            if clock.get("subject")]


# Reads every site's schedule: a notifier of the whole study, not a person (no account exists by this name).
_SCHEDULE_READER = User(username="notifier", role=Role.DATA_MANAGER.value, sites=[])


def _overdue_visits(now: dt.datetime) -> list[Notice]:
    """Step 3: each scheduled visit of each loaded study whose window has closed with nothing saved."""
    found = []
    for study in loaded_studies():
        status = visit_status(study_runtime(study.oid), _SCHEDULE_READER, today=now.date())
        for row in status["subjects"]:
            found += [visit_overdue(study.oid, row["site"], row["subject"], visit, now)
                      for visit, state in row["events"].items() if state == "overdue"]
    return found


class _Audience:
    """The active users and their choices, read once per run."""

    def __init__(self):
        self.users = [u for u in User._get_collection().find({"active": {"$ne": False}},
                                                              {"role": 1, "sites": 1})]
        self.choices = all_choices([u["_id"] for u in self.users])

    def of(self, notice: Notice) -> list[tuple[str, str]]:
        """Step 4: ``(username, delivery)`` of everyone the notice is for."""
        roles = RECIPIENT_ROLES[notice.kind]
        return [(u["_id"], self.choices[u["_id"]][notice.kind]) for u in self.users
                if u.get("role") in roles and u["_id"] != notice.actor
                and (_all_sites(u.get("role")) or notice.site in (u.get("sites") or []))]


def _all_sites(role: str | None) -> bool:
    try:
        return Role(role) in ALL_SITES
    except ValueError:  # a role this engine does not know (another part's): bound to its sites
        return False


def run(settings: Settings, now: dt.datetime | None = None, *, clocks: bool = True) -> int:
    """Deliver what happened since the last run (and, with ``clocks``, what fell overdue), then send the
    e-mails due now. Returns how many inbox items were new. Never raises for a failed e-mail."""
    now = now or utc_now()
    audience: _Audience | None = None
    new = read = 0
    last = None
    for event in _events(_cursor(now) - OVERLAP):
        read, last = read + 1, event["at"]
        if event["action"] in (SAE_OPENED, SAE_SUBMITTED, "sae_updated"):
            _track_sae(event)
        for notice in notices(event):
            audience = audience or _Audience()
            new += deliver(notice, audience.of(notice), now)
    if clocks:
        for notice in _sae_overdue(now) + _overdue_visits(now):
            audience = audience or _Audience()
            new += deliver(notice, audience.of(notice), now)
    if last is not None:
        _state().update_one({"_id": CURSOR_ID}, {"$max": {"at": last}}, upsert=True)
    mail.send_pending(settings, now)
    if new:
        log.info("notifier delivered %d notification(s) from %d event(s)", new, read)
    return new


def _take(name: str, value: str) -> bool:
    """True for the one caller that moves the ``name`` mark to ``value`` (it was elsewhere or unset)."""
    if _state().find_one_and_update({"_id": name, "value": {"$ne": value}}, {"$set": {"value": value}}):
        return True
    try:
        _state().insert_one({"_id": name, "value": value})
    except DuplicateKeyError:  # another process took it first
        return False
    return True


def clocks_due(now: dt.datetime | None = None, every: dt.timedelta = CLOCKS_EVERY) -> bool:
    """True for the first caller in each period of ``every``: the time checks need not run on every pass."""
    now = now or utc_now()
    return _take("clocks", str(int(now.timestamp() // every.total_seconds())))


def digest_due(settings: Settings, now: dt.datetime | None = None) -> bool:
    """True for the first caller on a day at or after the digest hour (the day is then taken: one digest a day)."""
    now = now or utc_now()
    return now.hour >= settings.digest_hour_utc and _take("digest", now.date().isoformat())

"""The access review: who holds which role at which site, since when, granted by whom — what an auditor asks for.

Grants are not stored anywhere of their own: they are folded from the users' audit streams (``user_created``
and ``user_role_changed`` events), so the review shows the whole history, ended grants included, and
cannot disagree with the trail. Last login and status come from the user documents (themselves checked
against the same streams by ``ecrf audit verify``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field

from audit import utc_now
from ecrf.db import database
from ecrf.exports.tables import safe_cell
from ecrf.roles import ALL_SITES
from ecrf.times import iso
from ecrf.trail import AUDIT_COLLECTION
from ecrf.users import User, is_locked

GRANT_ACTIONS = ("user_created", "user_role_changed")
ALL = "*"  # the site of a grant that spans every site (data managers, administrators)
CSV_COLUMNS = ["username", "full_name", "role", "site", "granted_at", "granted_by", "grant_reason", "ended_at",
               "ended_by", "end_reason", "current", "last_login", "status"]
ACTIVE, DISABLED, LOCKED, MUST_CHANGE = "active", "disabled", "locked", "must change password"
STATUSES = (ACTIVE, DISABLED, LOCKED, MUST_CHANGE)
_ROLES_OVER_ALL_SITES = frozenset(role.value for role in ALL_SITES)


@dataclass
class Grant:
    """One role at one site, held by one user from ``granted_at`` until ``ended_at`` (None: still held)."""

    username: str
    role: str
    site: str
    granted_at: dt.datetime
    granted_by: str
    grant_reason: str | None = None
    ended_at: dt.datetime | None = None
    ended_by: str | None = None
    end_reason: str | None = None

    @property
    def current(self) -> bool:
        return self.ended_at is None


@dataclass
class AccessLine:
    """A user with every grant they have held, newest first, and their account as it stands."""

    username: str
    full_name: str
    status: str
    last_login: dt.datetime | None
    grants: list[Grant] = field(default_factory=list)


def _pairs(role: str | None, sites: list[str] | None) -> list[tuple[str, str]]:
    """The (role, site) pairs one role assignment grants; a role that spans every site grants ``*``."""
    if not role:
        return []
    if role in _ROLES_OVER_ALL_SITES:
        return [(role, ALL)]
    return [(role, site) for site in sites or []]


def fold_grants(username: str, events: list[dict]) -> list[Grant]:
    """The grants of one user's stream, oldest first: each assignment starts the pairs it adds and ends the
    pairs it drops; a pair kept across a change keeps its first date."""
    held: dict[tuple[str, str], Grant] = {}
    done: list[Grant] = []
    for event in events:
        if event.get("action") not in GRANT_ACTIONS:
            continue
        details = (event.get("state") or {}).get("details") or {}
        wanted = _pairs(details.get("role"), details.get("sites"))
        for pair in [p for p in held if p not in wanted]:
            grant = held.pop(pair)
            grant.ended_at, grant.ended_by, grant.end_reason = event["at"], event["actor"], event.get("reason")
            done.append(grant)
        for role, site in wanted:
            if (role, site) not in held:
                held[(role, site)] = Grant(username, role, site, event["at"], event["actor"], event.get("reason"))
    return sorted([*done, *held.values()], key=lambda g: (g.granted_at, g.role, g.site))


def account_status(user: User, now: dt.datetime) -> str:
    """``disabled``, ``locked``, ``must change password`` or ``active`` (the first that holds)."""
    if not user.active:
        return DISABLED
    if is_locked(user, now):
        return LOCKED
    if user.must_change_password:
        return MUST_CHANGE
    return ACTIVE


def access_review(now: dt.datetime | None = None) -> list[AccessLine]:
    """Every user (by username) with every grant they have held, folded from the audit trail.

    One read of the grant events of every user stream, in stream order.
    """
    now = now or utc_now()
    events: dict[str, list[dict]] = {}
    for event in database()[AUDIT_COLLECTION].find(
            {"stream": {"$regex": "^user/"}, "action": {"$in": list(GRANT_ACTIONS)}},
            {"stream": 1, "seq": 1, "at": 1, "actor": 1, "action": 1, "reason": 1, "state": 1},
            sort=[("stream", 1), ("seq", 1)]):
        events.setdefault(event["stream"].removeprefix("user/"), []).append(event)
    return [AccessLine(user.username, user.full_name or "", account_status(user, now), user.last_login,
                       fold_grants(user.username, events.get(user.username, [])))
            for user in User.objects.order_by("username")]


def access_review_rows(lines: list[AccessLine]) -> list[dict]:
    """One flat row per grant (a user without any grant: one row without a role), times as UTC ISO text."""
    rows = []
    for line in lines:
        account = {"username": line.username, "full_name": line.full_name, "last_login": iso(line.last_login),
                   "status": line.status}
        for grant in line.grants or [None]:
            rows.append({**account, **({
                "role": grant.role, "site": grant.site, "granted_at": iso(grant.granted_at),
                "granted_by": grant.granted_by, "grant_reason": grant.grant_reason, "ended_at": iso(grant.ended_at),
                "ended_by": grant.ended_by, "end_reason": grant.end_reason, "current": grant.current,
            } if grant else {"role": None, "site": None, "granted_at": None, "granted_by": None,
                             "grant_reason": None, "ended_at": None, "ended_by": None, "end_reason": None,
                             "current": False})})
    return rows


def access_review_csv(lines: list[AccessLine]) -> str:
    """The review as CSV (UTF-8 text, a header line, one line per grant); no cell a spreadsheet would run."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in access_review_rows(lines):
        writer.writerow([_cell(row[column]) for column in CSV_COLUMNS])
    return out.getvalue()


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return safe_cell(value)


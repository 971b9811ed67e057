"""What a stream decides of its document: the fields of a query, a user and a site's ranges, folded from events.

:class:`ecrf.projections.ProjectionCheck` compares these with what the
collections hold; each function follows the code that writes the document.
"""

from __future__ import annotations

import datetime as dt

from audit import fold
from ecrf.field_differences import as_utc

PASSWORD_DIGEST = "password_hash digest"


def query_fields(events: list[dict]) -> dict:
    """The fields of a query document that its stream decides.

    Each event adds one message (``/messages/N``) and sets the state, as
    :func:`ecrf.queries._transition` writes them.
    """
    projection = fold(events)
    messages = (projection.get("data") or {}).get("messages") or {}
    thread = [messages[k] for k in sorted(messages, key=lambda k: int(k) if str(k).isdigit() else -1)]
    context = (events[0].get("context") or {}) if events else {}
    state = projection.get("state")
    return {
        **{k: context.get(k) for k in ("study", "subject", "site", "event", "form", "item")},
        "origin": projection.get("origin"), "check": projection.get("check"), "state": state,
        "messages": thread, "version": projection["version"],
        "opened_at": thread[0].get("at") if thread else None,
        "closed_at": thread[-1].get("at") if thread and state in ("closed", "not_applicable") else None,
    }


def user_fields(events: list[dict]) -> dict:
    """The fields of a user document that its stream decides.

    Role and sites (as created or last changed), active (the last enable or disable),
    ``last_login`` (the newest login event) and, where the stream keeps
    them (users created or given a password since it does), the full name
    and the SHA-256 of the password hash (``password_hash digest``); once an administrator has reset
    the password, whether the user must still change it.
    """
    details = event_details(events, "user_created")
    fields = {"role": details.get("role"), "sites": details.get("sites") or [], "active": True, "last_login": None}
    if "full_name" in details:
        fields["full_name"] = details["full_name"]
    for event in events:
        action, said = event.get("action"), (event.get("state") or {}).get("details") or {}
        if action in ("user_enabled", "user_disabled"):
            fields["active"] = action == "user_enabled"
        elif action == "user_role_changed":
            fields["role"], fields["sites"] = said.get("role"), said.get("sites") or []
        elif action == "login":
            fields["last_login"] = _later(fields["last_login"], event.get("at"))
        if action == "password_reset":
            fields["must_change_password"] = True
        elif action == "password_changed" and "must_change_password" in fields:
            fields["must_change_password"] = False
        if action in ("user_created", "password_changed", "password_reset"):
            if "password" in said:
                fields[PASSWORD_DIGEST] = said["password"]
            else:  # set by a version that kept no digest: nothing to compare the hash with
                fields.pop(PASSWORD_DIGEST, None)
    return fields


def range_fields(events: list[dict]) -> dict[str, dict]:
    """Each range of a ``ranges/<site>`` stream by id: its fields as added, who added it, whether retired."""
    ranges: dict[str, dict] = {}
    for event in events:
        details = (event.get("state") or {}).get("details") or {}
        if event.get("action") == "range_added" and details.get("id"):
            ranges[details["id"]] = {**{k: details.get(k) for k in (
                "site", "analyte", "unit", "low", "high", "sex", "age_min", "age_max", "valid_from")},
                "created_by": event.get("actor"), "retired": False}
        elif event.get("action") == "range_retired" and details.get("id") in ranges:
            ranges[details["id"]]["retired"] = True
    return ranges


def _later(one: dt.datetime | None, other: dt.datetime | None) -> dt.datetime | None:
    return max((as_utc(v) for v in (one, other) if isinstance(v, dt.datetime)), default=None)


def event_details(events: list[dict], action: str) -> dict:
    """The details of the stream's first event of ``action`` (empty when none)."""
    for event in events:
        if event.get("action") == action:
            return (event.get("state") or {}).get("details") or {}
    return {}

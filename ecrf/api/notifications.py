"""The caller's notifications: ``/api/v1/notifications`` (inbox, read marks) and their preferences."""

from __future__ import annotations

from flask import jsonify, request

from ecrf.api.blueprint import api, json_body
from ecrf.api.fields.notifications import notification_json
from ecrf.auth import api_user
from ecrf.errors import FieldError, Invalid
from ecrf.notifications import inbox
from ecrf.notifications.preferences import check_choices, choices, set_choices
from ecrf.users import normalised_email, set_email


@api.get("/notifications")
def notifications():
    user = api_user()
    raw = request.args.get("page")
    if raw is not None and not (raw.isascii() and raw.isdigit() and int(raw) >= 1):
        raise Invalid("page is not a page number", [FieldError("/page", "a whole number from 1")])
    page = inbox.inbox_page(user.username, int(raw) if raw else None,
                            unread_only=request.args.get("unread") in ("1", "true"))
    return jsonify({"items": [notification_json(n) for n in page.items], "page": page.number, "pages": page.pages,
                    "total": page.total, "unread": inbox.unread_count(user.username)})


@api.post("/notifications/read")
def notifications_read():
    user = api_user()
    body = json_body()
    changed = inbox.mark_read(user.username, body.get("ids"), everything=body.get("all") is True)
    return jsonify({"marked": changed, "unread": inbox.unread_count(user.username)})


def _settings(user) -> dict:
    return {"email": user.email, "choices": choices(user.username)}


@api.get("/notifications/preferences")
def notification_preferences():
    return jsonify(_settings(api_user()))


@api.put("/notifications/preferences")
def set_notification_preferences():
    user = api_user()
    body = json_body()
    unknown = [FieldError(f"/{key}", "unknown member; send email and/or choices") for key in body
               if key not in ("email", "choices")]
    if unknown:
        raise Invalid("invalid notification preferences", unknown)
    # Both checked before either is stored: a refused body changes nothing.
    if "email" in body:
        normalised_email(body["email"])
    if "choices" in body:
        set_choices(user.username, check_choices(body["choices"], "/choices"))
    if "email" in body:
        user = set_email(user.username, body["email"], user.username)
    return jsonify(_settings(user))

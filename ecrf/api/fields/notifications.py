"""JSON of a notification (an inbox item) and of a user's notification settings."""

from __future__ import annotations

from ecrf.notifications.inbox import Notification
from ecrf.times import iso


def notification_json(item: Notification) -> dict:
    """An inbox item as the API shows it (its e-mail bookkeeping left out)."""
    return {
        "id": item.key, "kind": item.kind, "study": item.study, "site": item.site, "subject": item.subject,
        "event": item.event or None, "form": item.form or None, "item": item.item or None,
        "actor": item.actor or None, "detail": dict(item.detail or {}), "at": iso(item.at),
        "read": bool(item.read), "read_at": iso(item.read_at) if item.read_at else None, "delivery": item.delivery,
    }

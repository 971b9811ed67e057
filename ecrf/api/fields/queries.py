"""A query as the API shows it."""

from __future__ import annotations

from ecrf.queries import Query
from ecrf.times import iso


def query_json(query: Query) -> dict:
    """The query with its thread, times as UTC ISO-8601 text and its age in whole days."""
    return {
        "id": query.query_id, "subject": query.subject, "site": query.site, "event": query.event,
        "form": query.form, "item": query.item, "origin": query.origin, "check": query.check,
        "state": query.state, "opened_at": iso(query.opened_at), "closed_at": iso(query.closed_at),
        "age_days": query.age_days(),
        "messages": [{"at": iso(m["at"]), "author": m["author"], "text": m["text"], "action": m.get("action")}
                     for m in query.messages],
    }

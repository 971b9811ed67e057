"""A subject edited for years, made in seconds: many audit events appended through the trail's own API.

Events go through :meth:`audit.AuditStore.append_all` (hash-chained, keyed, one round trip per batch of
distinct streams): weight changes on the subject's Vital signs stream, answers on query streams about
Height. Only the audit trail is written (no projections): it is what the audit page reads.
"""

from __future__ import annotations

ACTORS = ("staff01", "mon01", "dm")
QUERY_STREAMS = 49


def append_long_history(study: str, subject: str, site: str, count: int) -> None:
    """Append ``count`` events to the subject's trail (call inside an app context)."""
    from ecrf.trail import audit_store

    store = audit_store()
    streams = [f"record/{study}/{subject}/SCREEN/VS"] + [f"query/{subject}-q{n}" for n in range(QUERY_STREAMS)]
    heads: dict[str, dict | None] = {stream: store.head(stream) for stream in streams}
    made = 0
    while made < count:
        batch = []
        for stream in streams[:count - made]:
            head = heads[stream]
            seq = head["seq"] if head else 0
            batch.append(long_history_entry(study, subject, site, stream, seq, head, made + len(batch)))
        for event in store.append_all(batch):
            heads[event["stream"]] = event
        made += len(batch)


def long_history_entry(study: str, subject: str, site: str, stream: str, seq: int, head: dict | None, n: int) -> dict:
    """:meth:`audit.AuditStore.append` arguments of the ``n``-th event, at ``seq + 1`` of ``stream``."""
    actor = ACTORS[n % len(ACTORS)]
    context = {"study": study, "subject": subject, "site": site, "event": "SCREEN", "form": "VS"}
    if stream.startswith("record/"):
        return {"stream": stream, "expected_version": seq, "head": head, "actor": actor,
                "action": "create" if seq == 0 else "update", "reason": None if seq == 0 else "transcription error",
                "changes": [{"path": "/WEIGHT", "old": 60 + seq % 20 if seq else None, "new": 60 + (seq + 1) % 20}],
                "context": context}
    message = {"author": actor, "text": f"answer {seq}", "action": "answered" if seq else "opened"}
    return {"stream": stream, "expected_version": seq, "head": head, "actor": actor,
            "action": "query_answered" if seq else "query_opened",
            "changes": [{"path": f"/messages/{seq}", "old": None, "new": message}],
            "state": {"state": "answered" if seq else "open"},
            "context": {**context, "item": "/HEIGHT", "query": f"{subject}-q"}}

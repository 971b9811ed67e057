"""An SAE report as the API shows it."""

from __future__ import annotations

import datetime as dt

from ecrf.safety.reports import SaeReport
from ecrf.times import iso


def sae_json(report: SaeReport, now: dt.datetime) -> dict:
    """The report with its content, its clock against ``now`` and its latest signature; times as UTC text."""
    remaining = report.remaining(now)
    signature = report.signature or {}
    message = report.message or {}
    return {
        "id": report.report_id, "subject": report.subject, "site": report.site, "event": report.event,
        "form": report.form, "row": report.row, "kind": report.kind, "trigger": report.trigger,
        "state": report.state, "version": report.version, "content": report.data,
        "awareness_at": iso(report.awareness_at), "due_at": iso(report.due_at),
        "overdue": report.is_overdue(now),
        "seconds_remaining": None if remaining is None else int(remaining.total_seconds()),
        "opened_at": iso(report.opened_at), "submitted_at": iso(report.submitted_at),
        "acknowledged_at": iso(report.acknowledged_at), "closed_at": iso(report.closed_at),
        "followup_due_at": iso(report.followup_due_at), "submissions": report.submissions,
        "signature": {**signature, "at": iso(signature["at"])} if signature else None,
        "message": {**message, "at": iso(message["at"])} if message else None,
    }

"""A subject's progress: each event's forms with their status and open queries (the subject page's matrix).

Above both records and queries, which it reads; subjects stay below them.
"""

from __future__ import annotations

from ecrf.queries import OPEN_STATES, Query
from ecrf.records.document import Record
from ecrf.studies import StudyRuntime
from ecrf.subjects import Subject


def status_matrix(study: StudyRuntime, subject: Subject) -> list[dict]:
    """Each event with each of its forms' status (``not_started`` when nothing is saved)."""
    saved = {
        (r.event, r.form): r for r in Record.objects(study=study.oid, subject=subject.subject_id)
        .only("event", "form", "status", "version")
    }
    open_queries: dict[tuple[str, str], int] = {}
    for query in Query.objects(study=study.oid, subject=subject.subject_id, state__in=list(OPEN_STATES)).only(
        "event", "form"
    ):
        open_queries[(query.event, query.form)] = open_queries.get((query.event, query.form), 0) + 1
    matrix = []
    for event in study.events:
        cells = []
        for form in event["forms"]:
            record = saved.get((event["oid"], form))
            cells.append(
                {
                    "form": form,
                    "status": record.status if record else "not_started",
                    "version": record.version if record else 0,
                    "open_queries": open_queries.get((event["oid"], form), 0),
                }
            )
        matrix.append({"event": event["oid"], "name": event["name"], "forms": cells})
    return matrix

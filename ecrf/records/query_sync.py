"""Query sync: the record's system queries opened, auto-closed and retired from its check findings."""

from __future__ import annotations

import logging

from ecrf.definitions import ROW_ID, CompiledForm
from ecrf.queries import record_queries, sync_system_queries
from ecrf.records.rules import Finding
from ecrf.studies import StudyRuntime

log = logging.getLogger(__name__)


def sync_queries(study: StudyRuntime, form: CompiledForm, identity: dict, data: dict, findings: list[Finding],
                 change: str, new_record: bool = False) -> dict:
    """Open, auto-close and retire the record's queries after a write; never fails the write.

    The write is already in the audit trail when this runs: a failure here is
    logged and repaired by the next save or by ``ecrf checks run``. A record
    saved for the first time has no queries yet (a query needs saved data).
    """
    try:
        if new_record and not any(f.severity == "query" for f in findings):
            return {}
        existing = [] if new_record else record_queries(
            study.oid, identity["subject"], identity["event"], identity["form"])
        hidden = form.hidden_items(data)
        for item in form.items:
            if item.kind == "group":
                present = {row.get(ROW_ID) for row in data.get(item.oid) or []}
                hidden |= {f"/{item.oid}/{rid}" for rid in _queried_rows(existing, item.oid) - present}
        return sync_system_queries(study, identity, findings, hidden, actor="system", change=change,
                                   existing=existing)
    except Exception:
        log.exception("query sync failed for %s", identity)
        return {}


def _queried_rows(queries: list, group: str) -> set[str]:
    prefix = f"/{group}/"
    return {query.item[len(prefix):].split("/")[0] for query in queries if query.item.startswith(prefix)}



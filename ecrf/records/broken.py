"""Broken checks: edit checks that could not be evaluated on some data, remembered for data managers."""

from __future__ import annotations

import logging

from audit import utc_now
from ecrf.db import database
from ecrf.definitions import CompiledForm
from ecrf.studies import StudyRuntime

log = logging.getLogger(__name__)


def report_broken(study: StudyRuntime, form: CompiledForm, broken: list[dict], stream: str) -> None:
    """Remember checks that failed to evaluate, for data managers to see; never raises."""
    if not broken:
        return
    log.warning("broken edit checks in %s: %s", form.oid, broken)
    try:
        for entry in broken:
            database().broken_checks.update_one(
                {"_id": f"{study.oid}/{form.oid}/{entry['check']}"},
                {"$set": {"study": study.oid, "form": form.oid, "check": entry["check"], "item": entry["item"],
                          "error": entry["error"], "stream": stream, "at": utc_now()},
                 "$inc": {"count": 1}},
                upsert=True,
            )
    except Exception:  # reporting must never turn a save into an error
        log.exception("could not record broken checks")


def broken_checks(study: StudyRuntime) -> list[dict]:
    """Checks of the study that failed to evaluate on some data, most recent first."""
    return [{k: v for k, v in doc.items() if k != "_id"}
            for doc in database().broken_checks.find({"study": study.oid}).sort("at", -1)]



"""Recheck: a saved record's derivations and checks run again (after a rule change or a save it reads)."""

from __future__ import annotations

import logging

from audit import StaleVersion
from ecrf.records.broken import report_broken
from ecrf.records.document import Record, current, project
from ecrf.records.query_sync import sync_queries
from ecrf.records.reads import read_scope
from ecrf.records.rules import evaluate
from ecrf.studies import StudyRuntime
from ecrf.subjects import Subject, subject_key, subject_runtime
from ecrf.trail import audit_store, record_stream

log = logging.getLogger(__name__)


def recheck_record(study: StudyRuntime, stored: dict, actor: str = "system", subject: Subject | None = None, *,
                   record_failing: bool = False) -> str:
    """Run a record's derivations and checks again (after a rule change); sync its queries.

    Data never change. A record whose derived values or flags change gets a
    ``recheck`` audit event; a locked or frozen record is left alone (its
    derived values are data too). Returns what happened: ``locked``,
    ``frozen``, ``unchanged`` or ``updated``. With ``record_failing`` (a migration to another study
    version) a change in what the checks find is recorded too, under the version that found it.
    """
    if stored.get("locked") or stored.get("frozen"):
        return "locked" if stored.get("locked") else "frozen"
    if subject is None:
        subject = Subject.objects(key=subject_key(study.oid, stored["subject"])).first()
    study = subject_runtime(study, subject) if subject is not None else study
    form = study.form(stored["form"])
    event = study.event(stored["event"])
    data = stored.get("data") or {}
    rules = evaluate(study, form, read_scope(study, subject, event, form, data))
    identity = {k: stored[k] for k in ("study", "subject", "site", "event", "form")}
    report_broken(study, form, rules.broken, stored["_id"])
    outcome = "unchanged"
    if rules.differs_from(stored) or (record_failing and rules.state["failing"] != stored.get("failing")):
        try:
            appended = audit_store().append(stored["_id"], stored["version"], actor=actor, action="recheck",
                                            state=rules.state, context=identity,
                                            head={"seq": stored["version"], "hash": stored.get("head")})
        except StaleVersion:
            current(stored["_id"])
            return "conflict"
        project(appended, identity, stored)
        outcome = "updated"
    sync_queries(study, form, identity, data, rules.findings, "checks re-run")
    return outcome


def dependent_forms(study: StudyRuntime, event_oid: str, form_oid: str) -> set[str]:
    """Forms whose derivations, checks or range flags read the given form instance (directly or via subject facts)."""
    touches_facts = (event_oid, form_oid) in study.fact_sources
    return {
        oid for oid, form in study.forms.items()
        if (event_oid, form_oid) in form.record_refs
        or (form.reads_records and not form.record_refs_complete)
        or (touches_facts and (form.reads_subject or form.has_ranges))
    }


def recheck_dependents(study: StudyRuntime, subject: Subject, event_oid: str, form_oid: str) -> int:
    """Re-derive and re-check the subject's other records that read what was just saved.

    A baseline lab changes later grades; a consent or infusion date moves
    every visit window; a pregnancy test answers the demographics check.
    Never fails the save that triggered it.
    """
    forms = dependent_forms(study, event_oid, form_oid)
    if not forms:
        return 0
    done = 0
    try:
        own = record_stream(study.oid, subject.subject_id, event_oid, form_oid)
        streams = sorted({record_stream(study.oid, subject.subject_id, event["oid"], oid)
                          for event in study.events for oid in event["forms"] if oid in forms} - {own})
        for stored in Record._get_collection().find({"_id": {"$in": streams}}).sort("_id", 1):
            if recheck_record(study, stored, subject=subject) == "updated":
                done += 1
    except Exception:
        log.exception("re-checking records that depend on %s/%s failed", event_oid, form_oid)
    return done


def recheck_all(study: StudyRuntime, form_oid: str | None = None, progress=None) -> dict:
    """Re-run derivations and checks over every saved record of the study (optionally one form)."""
    query = {"study": study.oid, **({"form": form_oid} if form_oid else {})}
    counts: dict[str, int] = {}
    for stored in Record._get_collection().find(query).sort("_id", 1):
        stored = current(stored["_id"]) or stored
        outcome = recheck_record(study, stored)
        counts[outcome] = counts.get(outcome, 0) + 1
        if progress:
            progress(1)
    return counts



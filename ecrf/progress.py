"""A subject's progress: each event's forms with their lifecycle and open queries, the event × form grid, the list.

Above both records and queries, which it reads; subjects stay below them.
Every function reads each collection once, whatever the number of cells.
"""

from __future__ import annotations

from collections import Counter

from ecrf.clinical.visits import visit_window
from ecrf.lifecycle import lifecycle_state
from ecrf.queries import OPEN_STATES, Query
from ecrf.records.document import Record
from ecrf.sdv import SdvPlan, sdv_status, site_ranks
from ecrf.studies import StudyRuntime
from ecrf.subjects import Subject

# A cell's lifecycle, in the order a record moves through it (``frozen`` stops data but not review).
LIFECYCLE = ("not_started", "incomplete", "complete", "verified", "signed", "frozen", "locked")
DONE = frozenset(LIFECYCLE[2:])
_STATE_FIELDS = {"event": 1, "form": 1, "status": 1, "version": 1, "sdv": 1, "sdv_items": 1, "sdv_changes": 1,
                 "signature": 1, "locked": 1, "frozen": 1}


def _day0_source(study: StudyRuntime) -> tuple[str, str, str] | None:
    """``(event, form, item)`` of the study's day 0 (its ``infusion_date`` subject fact), if it has one."""
    path = study.definition.get("subject_facts", {}).get("infusion_date")
    return tuple(path.split(".")) if path else None


def _window(event: dict, day0) -> dict:
    window = visit_window(day0, event.get("day"), event.get("window"))
    dates = {"planned": None, "opens": None, "closes": None} if window is None else \
        {key: value.isoformat() for key, value in window._asdict().items()}
    return {"day": event.get("day"), "window": event.get("window"), **dates}


def status_matrix(study: StudyRuntime, subject: Subject) -> list[dict]:
    """Each event (its study day, planned date and window) with each of its forms' status and open queries.

    A cell's ``status`` is the record's completeness (``not_started`` when
    nothing is saved), its ``lifecycle`` where the record stands in review
    (:func:`ecrf.lifecycle.lifecycle_state`), ``sdv`` where it stands in source data verification
    (:func:`ecrf.sdv.sdv_status`), ``signed`` and ``locked`` whether it is. Planned dates count from day 0
    (the ``infusion_date`` subject fact) and are None until it is known.
    One read of the subject's records and one of its open queries.
    """
    source = _day0_source(study)
    fields = {**_STATE_FIELDS, **({f"data.{source[2]}": 1} if source else {})}
    saved = {(r["event"], r["form"]): r for r in
             Record._get_collection().find({"study": study.oid, "subject": subject.subject_id}, fields)}
    open_queries = Counter(
        (q["event"], q["form"]) for q in Query._get_collection().find(
            {"study": study.oid, "subject": subject.subject_id, "state": {"$in": list(OPEN_STATES)}},
            {"event": 1, "form": 1}))
    day0 = ((saved.get(source[:2]) or {}).get("data") or {}).get(source[2]) if source else None
    plan = SdvPlan.of(study.parameters)
    rank = site_ranks(study.oid, subject.site).get(subject.subject_id) if plan.ranked else None
    matrix = []
    for event in study.events:
        cells = []
        for form in event["forms"]:
            record = saved.get((event["oid"], form))
            cells.append({
                "form": form,
                "status": (record.get("status") or "incomplete") if record else "not_started",
                "lifecycle": lifecycle_state(record),
                "version": record.get("version", 0) if record else 0,
                "open_queries": open_queries[(event["oid"], form)],
                "sdv": sdv_status(record, plan.items(study.form(form), rank)),
                "signed": bool(record and record.get("signature")),
                "locked": bool(record and record.get("locked")),
            })
        matrix.append({"event": event["oid"], "name": event["name"], **_window(event, day0), "forms": cells})
    return matrix


def form_grid(study: StudyRuntime, matrix: list[dict]) -> list[dict]:
    """The matrix turned to forms as rows and events as columns (REDCap's record home page).

    Rows follow the study's first use of each form; a form not in an event
    has None in that event's column.
    """
    order: list[str] = []
    for event in study.events:
        order.extend(form for form in event["forms"] if form not in order)
    by_event = [{cell["form"]: cell for cell in column["forms"]} for column in matrix]
    return [{"form": form, "cells": [column.get(form) for column in by_event]} for form in order]


def subjects_progress(study: StudyRuntime, subjects: list[Subject]) -> dict[str, dict]:
    """For each subject id: forms done (complete or further on) of those planned, open queries, and review:
    saved forms by SDV status (``sdv``), signed forms and locked forms.

    ``planned`` counts the forms of every event that is neither repeating nor a
    log; a screen failure's plan stops at the study's screening events. One
    read of the records and one of the open queries for all the subjects.
    """
    ids = [s.subject_id for s in subjects]
    scheduled = [e for e in study.events if not e.get("repeating") and not e.get("log")]
    screening = set(study.definition.get("enrollment", {}).get("screening_events", []))
    plans = {"all": {(e["oid"], f) for e in scheduled for f in e["forms"]},
             "screening": {(e["oid"], f) for e in scheduled if e["oid"] in screening for f in e["forms"]}}
    done: dict[str, set] = {sid: set() for sid in ids}
    plan = SdvPlan.of(study.parameters)
    ranks = site_ranks(study.oid) if plan.ranked else {}
    review: dict[str, Counter] = {sid: Counter() for sid in ids}
    for record in Record._get_collection().find({"study": study.oid, "subject": {"$in": ids}},
                                                {"subject": 1, **_STATE_FIELDS}):
        if lifecycle_state(record) in DONE:
            done[record["subject"]].add((record["event"], record["form"]))
        counts = review[record["subject"]]
        counts[sdv_status(record, plan.items(study.form(record["form"]), ranks.get(record["subject"])))] += 1
        counts["signed"] += bool(record.get("signature"))
        counts["locked"] += bool(record.get("locked"))
    queries = Counter(q["subject"] for q in Query._get_collection().find(
        {"study": study.oid, "subject": {"$in": ids}, "state": {"$in": list(OPEN_STATES)}}, {"subject": 1}))
    progress = {}
    for subject in subjects:
        plan = plans["screening" if subject.status == "screen_failed" and plans["screening"] else "all"]
        progress[subject.subject_id] = {"done": len(done[subject.subject_id] & plan), "planned": len(plan),
                                        "open_queries": queries[subject.subject_id],
                                        "review": review[subject.subject_id]}
    return progress

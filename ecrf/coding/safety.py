"""Safety tables: subjects by system organ class, preferred term and worst CTCAE grade, from the coded AE terms."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from audit import ROW_ID
from ecrf.coding.codings import Coding
from ecrf.records.document import Record
from ecrf.roles import Action, require
from ecrf.studies import StudyRuntime
from ecrf.subjects import Subject

AE_FORM, AE_GROUP, AE_TERM, AE_GRADE = "AE", "AE", "AETERM", "AETOXGR"
GRADES = (1, 2, 3, 4, 5)
UNCODED = "Not yet coded"


def tabulate(events: list[dict], subjects: int) -> list[dict]:
    """The table from AE rows ``{"subject", "soc", "term", "grade"}`` over ``subjects`` subjects in scope.

    One row per system organ class (``level`` "soc") followed by its preferred terms (``level`` "term"), each
    with ``subjects`` (subjects with any event there), ``pct`` (of ``subjects`` in scope, None for none),
    and ``worst`` (subjects by their worst grade there: {1: n, ..., 5: n}, ``None`` for an ungraded event).
    Classes and terms are ordered by subjects, most first, then by name.
    """
    worst: dict[tuple[str, str], dict[str, int | None]] = defaultdict(dict)
    soc_worst: dict[str, dict[str, int | None]] = defaultdict(dict)
    for e in events:
        grade = e.get("grade") if isinstance(e.get("grade"), int) and e.get("grade") in GRADES else None
        for table, key in ((worst, (e["soc"], e["term"])), (soc_worst, e["soc"])):
            by_subject = table[key]
            if e["subject"] not in by_subject:
                by_subject[e["subject"]] = grade
            else:
                by_subject[e["subject"]] = _max(by_subject[e["subject"]], grade)

    def line(level: str, soc: str, term: str, by_subject: dict[str, int | None]) -> dict[str, Any]:
        counts = {g: sum(1 for w in by_subject.values() if w == g) for g in GRADES}
        counts[None] = sum(1 for w in by_subject.values() if w is None)  # type: ignore[index]
        n = len(by_subject)
        return {"level": level, "soc": soc, "term": term, "subjects": n,
                "pct": (100.0 * n / subjects) if subjects else None, "worst": counts}

    rows = []
    for soc in sorted(soc_worst, key=lambda s: (-len(soc_worst[s]), s)):
        rows.append(line("soc", soc, "", soc_worst[soc]))
        terms = [t for (s, t) in worst if s == soc]
        for term in sorted(terms, key=lambda t: (-len(worst[(soc, t)]), t)):
            rows.append(line("term", soc, term, worst[(soc, term)]))
    return rows


def _max(seen: int | None, grade: int | None) -> int | None:
    # An ungraded event never lowers a known worst grade.
    if seen is None:
        return grade
    return seen if grade is None else max(seen, grade)


def ae_events(study: StudyRuntime, user) -> tuple[list[dict], int]:
    """Every AE row at the user's sites (see :func:`coded_events`), and how many subjects those sites hold."""
    require(user, Action.VIEW_DATA)
    sites = user.site_filter()
    events = coded_events(study.oid, {"site": {"$in": sites}} if sites is not None else {})
    count_query = {"study": study.oid, **({"site__in": sites} if sites is not None else {})}
    return events, Subject.objects(**count_query).count()


def coded_events(study: str, where: dict) -> list[dict]:
    """Every AE row of the study's records matching ``where`` (a filter on records), with its coding.

    Each: subject, site, event, row, verbatim, grade, and the coding's soc, term, code, dictionary,
    dictionary_version, meddra_version, state, method, coded_by, coded_at; a term not yet coded counts under
    "Not yet coded" with its verbatim as the term.
    """
    found = Record._get_collection().find({"study": study, **where, "form": AE_FORM},
                                          {"subject": 1, "site": 1, "event": 1, "data": 1}).sort("subject", 1)
    return events_of(study, list(found))


def events_of(study: str, records: list[dict]) -> list[dict]:
    """The AE rows of these AE records (as :func:`coded_events` gives them), their codings read in one query."""
    subjects = sorted({r["subject"] for r in records})
    codings = {(c.subject, c.event, c.item): c for c in Coding.objects(study=study, form=AE_FORM, subject__in=subjects)}
    events = []
    for record in records:
        for row in (record.get("data") or {}).get(AE_GROUP) or []:
            verbatim = row.get(AE_TERM).strip() if isinstance(row.get(AE_TERM), str) else ""
            if not verbatim:
                continue
            pointer = f"/{AE_GROUP}/{row.get(ROW_ID)}/{AE_TERM}"
            coding = codings.get((record["subject"], record["event"], pointer))
            coded = coding is not None and coding.state == "coded"
            events.append({
                "subject": record["subject"], "site": record["site"], "event": record["event"], "row": row.get(ROW_ID),
                "verbatim": verbatim, "grade": row.get(AE_GRADE),
                "soc": coding.soc if coded else UNCODED, "term": coding.term if coded else verbatim,
                "code": coding.code if coded else "", "dictionary": coding.dictionary if coded else "",
                "dictionary_version": coding.dictionary_version if coded else "",
                "meddra_version": coding.meddra_version if coded else "",
                "state": coding.state if coding else "uncoded", "method": (coding.method or "") if coded else "",
                "coded_by": (coding.coded_by or "") if coded else "", "coded_at": coding.coded_at if coded else None,
            })
    return events


def safety_table(study: StudyRuntime, user) -> list[dict]:
    """The safety table (see :func:`tabulate`) over the AE form of the user's sites."""
    events, subjects = ae_events(study, user)
    return tabulate(events, subjects)

"""Study reports as numbers: enrollment, visits, completeness, queries, review progress and safety.

Pure computations over a :class:`ecrf.report_reading.Reading` (efficacy is in
:mod:`ecrf.efficacy`; charts are drawn elsewhere). Every report is scoped to
the caller's sites and needs ``view data``.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict

from audit import utc_now
from ecrf.clinical.dates import as_date
from ecrf.clinical.visits import visit_window
from ecrf.coding.safety import AE_FORM, AE_GROUP, events_of, tabulate
from ecrf.queries import OPEN_STATES, Query
from ecrf.records.summary import VERSION_WIDTH
from ecrf.report_reading import Reading, deaths, reading_of, reviewed, study_day, subject_fact, tally_of
from ecrf.roles import Action, require
from ecrf.studies import StudyRuntime

# ---------------------------------------------------------------- enrollment


def enrollment(study: StudyRuntime, user, reading: Reading | None = None) -> dict:
    """Cumulative registrations by month and site, screen failures and the criteria they failed."""
    reading = reading_of(study, user, reading)
    subjects = reading.subjects()
    consent = subject_fact(study, user, "consent_date", reading)
    by_month: dict[str, Counter] = defaultdict(Counter)
    for subject in subjects:
        day = as_date(consent.get(subject.subject_id)) or (subject.created_at.date() if subject.created_at else None)
        if day:
            by_month[day.strftime("%Y-%m")][subject.site] += 1
    sites = sorted({s.site for s in subjects})
    months = sorted(by_month)
    running = Counter()
    cumulative = []
    for month in months:
        running.update(by_month[month])
        cumulative.append({"month": month, **{site: running[site] for site in sites}, "total": sum(running.values())})
    failed = [s.subject_id for s in subjects if s.status == "screen_failed"]
    criteria: Counter = Counter()
    rule = study.definition.get("enrollment")
    if rule and failed:
        event, form, _ = rule["eligibility"].split(".")
        for record in reading.records(form, event, derived=("FAILED",)):
            if record["subject"] in failed:
                criteria.update((record.get("derived") or {}).get("FAILED") or [])
    statuses = Counter(s.status for s in subjects)
    return {"sites": sites, "cumulative": cumulative, "statuses": dict(statuses),
            "screen_failures": len(failed), "failed_criteria": criteria.most_common()}


# ---------------------------------------------------------------- visits


def record_states(study: StudyRuntime, user, reading: Reading | None = None) -> list[dict]:
    """Where every record in the user's scope stands (subject, site, event, form, status, review stamps).

    One dict per record (:meth:`Reading.states`); :func:`visit_status`, :func:`review_progress` and
    :func:`completeness` take them as ``records`` (:func:`ecrf.report_reading.tally_of`), or read the
    reading's one pass over the summaries.
    """
    return reading_of(study, user, reading).states()


def _unsaved_state(day0: dt.date | None, event: dict, today: dt.date, horizon_days: int) -> str:
    """Where a scheduled event with nothing saved stands on ``today``: overdue, due, upcoming or later."""
    window = visit_window(day0, event["day"], event.get("window"))
    if window is None:
        return "later"
    if today > window.closes:
        return "overdue"
    if today >= window.opens:
        return "due"
    return "upcoming" if (window.opens - today).days <= horizon_days else "later"


def visit_status(study: StudyRuntime, user, today: dt.date | None = None, horizon_days: int = 30,
                 records: list[dict] | None = None, reading: Reading | None = None) -> dict:
    """For each subject and scheduled event: done, incomplete, due, overdue, upcoming or later.

    Planned dates count from the infusion date (day 0); an event is overdue once
    its window has closed with nothing saved, due while its window is open.
    ``records`` as :func:`record_states` gives them, if already read.
    """
    today = today or utc_now().date()
    reading = reading_of(study, user, reading)
    infusion = {k: as_date(v) for k, v in subject_fact(study, user, "infusion_date", reading).items()}
    scheduled = [e for e in study.events if e.get("day") is not None and not e.get("repeating") and not e.get("log")]
    planned = {event["oid"]: [f"{event['oid']}/{form}" for form in event["forms"]] for event in scheduled}
    tally = reading.tally() if records is None else tally_of(records)
    at, held = tally.events, tally.cells
    rows, counts = [], Counter()
    unsaved: dict[dt.date | None, dict[str, str]] = {}
    for subject in reading.subjects():
        day0 = infusion.get(subject.subject_id)
        if day0 not in unsaved:  # subjects infused on the same day share every window
            unsaved[day0] = {event["oid"]: _unsaved_state(day0, event, today, horizon_days) for event in scheduled}
        cells = dict(unsaved[day0])
        events, saved = at.get(subject.subject_id, ()), held.get(subject.subject_id, {})
        for oid in events:
            if oid in planned:
                cells[oid] = "done" if all(name in saved for name in planned[oid]) else "incomplete"
        counts.update(cells.values())
        rows.append(
            {
                "subject": subject.subject_id,
                "site": subject.site,
                "infusion": day0.isoformat() if day0 else None,
                "events": cells,
            }
        )
    return {
        "events": [e["oid"] for e in scheduled],
        "subjects": rows,
        "counts": dict(counts),
        "today": today.isoformat(),
    }


# ---------------------------------------------------------------- completeness against the schedule


def _off_study(reading: Reading) -> dict[str, dt.date]:
    """The day each subject left the study: the earlier of a death date and an end-of-study date."""
    ended = dict(deaths(reading))
    for record in reading.records("EOS", data=("EOSDTC",)):
        day = as_date((record.get("data") or {}).get("EOSDTC"))
        if day and (record["subject"] not in ended or day < ended[record["subject"]]):
            ended[record["subject"]] = day
    return ended


def expected_forms(study: StudyRuntime, status: str, day0: dt.date | None, until: dt.date) -> list[tuple[str, str]]:
    """``(event, form)`` of every scheduled form a subject is expected to have by ``until``.

    Scheduled events are those neither repeating nor a log. The study's
    screening events are expected from registration; a screen failure is
    expected nothing more. Other events without a study day (apheresis) are
    expected once the subject is enrolled; an event with a study day once
    its window has opened (:func:`ecrf.clinical.visits.visit_window`, counted
    from day 0, the infusion): on the day it opens, not the day before, and
    never while day 0 is unknown. ``until`` is today, or the day the subject
    left the study if earlier: nothing is expected of a subject off study.
    """
    screening = set(study.definition.get("enrollment", {}).get("screening_events", []))
    expected = []
    for event in study.events:
        if event.get("repeating") or event.get("log"):
            continue
        if event["oid"] in screening:
            due = True
        elif status == "screen_failed":
            due = False
        elif event.get("day") is None:
            due = status == "enrolled"
        else:
            window = visit_window(day0, event["day"], event.get("window"))
            due = window is not None and window.opens <= until
        if due:
            expected.extend((event["oid"], form) for form in event["forms"])
    return expected


def _share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


_COMPLETE = "|complete|"  # a cell's status part when complete (its version before it, zero-padded)


def _has_status(text: str | None) -> bool:
    """Whether a cell is there and holds a status (a record without one counts as not saved)."""
    return text is not None and text[VERSION_WIDTH + 1] != "|"


def completeness(study: StudyRuntime, user, today: dt.date | None = None, records: list[dict] | None = None,
                 reading: Reading | None = None) -> dict:
    """Forms expected by today from the schedule (:func:`expected_forms`) against those saved and complete.

    ``{"subjects": [{subject, site, status, expected, saved, complete, percent, missing}], "sites": {site:
    {subjects, expected, saved, complete, percent}}, "total": {...}, "today"}``: ``saved`` and ``complete``
    count only expected forms (a form saved early or outside the schedule adds nothing), ``percent`` is
    complete of expected (None when nothing is expected yet), ``missing`` the expected ``EVENT/FORM`` not
    saved. ``records`` as :func:`record_states` gives them, if already read.
    """
    today = today or utc_now().date()
    reading = reading_of(study, user, reading)
    infusion = {k: as_date(v) for k, v in subject_fact(study, user, "infusion_date", reading).items()}
    ended = _off_study(reading)
    held = (reading.tally() if records is None else tally_of(records)).cells
    rows = []
    sites: dict[str, Counter] = defaultdict(Counter)
    plans: dict[tuple, list[tuple[str, str]]] = {}
    for subject in reading.subjects():
        sid = subject.subject_id
        until = min(today, ended.get(sid, today))
        plan = (subject.status, infusion.get(sid), until)
        if plan not in plans:  # subjects infused on the same day share their plan
            plans[plan] = [f"{event}/{form}" for event, form in expected_forms(study, *plan)]
        expected = plans[plan]
        kept = held.get(sid, {})
        found = [kept.get(name) for name in expected]
        missing = [name for name, text in zip(expected, found, strict=True) if not _has_status(text)]
        saved = len(expected) - len(missing)
        complete = sum(1 for text in found if text is not None and text.startswith(_COMPLETE, VERSION_WIDTH))
        rows.append({"subject": sid, "site": subject.site, "status": subject.status, "expected": len(expected),
                     "saved": saved, "complete": complete, "percent": _share(complete, len(expected)),
                     "missing": missing})
        sites[subject.site].update(subjects=1, expected=len(expected), saved=saved, complete=complete)
    total = sum(sites.values(), Counter())

    def summed(counter: Counter) -> dict:
        return {key: counter[key] for key in ("subjects", "expected", "saved", "complete")} | {
            "percent": _share(counter["complete"], counter["expected"])}

    return {"subjects": rows, "sites": {site: summed(c) for site, c in sorted(sites.items())},
            "total": summed(total), "today": today.isoformat()}


# ---------------------------------------------------------------- queries


AGE_BUCKETS = ((0, 7, "0–7 d"), (8, 14, "8–14 d"), (15, 30, "15–30 d"), (31, 10**6, "> 30 d"))


def query_metrics(study: StudyRuntime, user, now: dt.datetime | None = None) -> dict:
    """Open queries by site, form and age; days to resolution of closed ones."""
    query = {"study": study.oid}
    sites = user.site_filter()
    require(user, Action.VIEW_DATA)
    found = Query.objects(**query, **({"site__in": sites} if sites is not None else {}))
    now = now or utc_now()
    open_by_site, open_by_form, by_age = Counter(), Counter(), Counter()
    resolution = []
    for q in found:
        if q.state in OPEN_STATES:
            open_by_site[q.site] += 1
            open_by_form[q.form] += 1
            age = q.age_days(now)
            by_age[next(label for low, high, label in AGE_BUCKETS if low <= age <= high)] += 1
        elif q.state == "closed" and q.closed_at:
            resolution.append(q.age_days())
    return {
        "open_by_site": sorted(open_by_site.items()),
        "open_by_form": sorted(open_by_form.items()),
        "open_by_age": [(label, by_age[label]) for _, _, label in AGE_BUCKETS],
        "closed": len(resolution),
        "median_days_to_close": statistics.median(resolution) if resolution else None,
        "mean_days_to_close": round(statistics.fmean(resolution), 2) if resolution else None,
    }


# ---------------------------------------------------------------- review


def review_progress(study: StudyRuntime, user, records: list[dict] | None = None,
                    reading: Reading | None = None) -> dict:
    """Share of saved records complete, verified, signed and locked, by site and by form.

    ``records`` as :func:`record_states` gives them, if already read.
    """
    # Counted by kind first (a few hundred kinds for 175,000 records), then summed by site and by form.
    tally = reading_of(study, user, reading).tally() if records is None else tally_of(records)
    kinds: Counter = Counter()
    for (site, form, status, marks), n in tally.kinds.items():
        kinds[(site, form, status == "complete", *reviewed({"marks": marks}))] += n
    totals: dict[str, dict[str, Counter]] = {"site": defaultdict(Counter), "form": defaultdict(Counter)}
    for (site, form, complete, verified, signed, locked), n in kinds.items():
        for bucket in (totals["site"][site], totals["form"][form]):
            bucket["saved"] += n
            bucket["complete"] += n * complete
            bucket["verified"] += n * verified
            bucket["signed"] += n * signed
            bucket["locked"] += n * locked

    def shares(counter: Counter) -> dict:
        saved = counter["saved"]
        return {
            "saved": saved,
            **{k: round(100 * counter[k] / saved, 1) for k in ("complete", "verified", "signed", "locked")},
        }

    return {axis: {key: shares(c) for key, c in sorted(groups.items())} for axis, groups in totals.items()}


# ---------------------------------------------------------------- safety



def toxicity_by_day(study: StudyRuntime, user, form: str, grade: str, date_item: str,
                    reading: Reading | None = None) -> dict:
    """Worst grade per subject per day after infusion, and how many subjects reached each grade per day."""
    reading = reading_of(study, user, reading)
    infusion = {k: as_date(v) for k, v in subject_fact(study, user, "infusion_date", reading).items()}
    worst: dict[str, dict[int, int]] = defaultdict(dict)
    for record in reading.records(form, data=(date_item,), derived=(grade,)):
        value = (record.get("derived") or {}).get(grade)
        day = study_day(infusion.get(record["subject"]), (record.get("data") or {}).get(date_item))
        if value is None or day is None:
            continue
        worst[record["subject"]][day] = max(value, worst[record["subject"]].get(day, 0))
    days = sorted({d for per in worst.values() for d in per})
    by_day = {d: Counter(per[d] for per in worst.values() if d in per) for d in days}
    max_grade = {s: max(per.values()) for s, per in worst.items()}
    return {
        "days": days,
        "per_subject": {s: dict(sorted(p.items())) for s, p in sorted(worst.items())},
        "by_day": {d: dict(sorted(c.items())) for d, c in by_day.items()},
        "max_grade": dict(sorted(Counter(max_grade.values()).items())),
    }


def adverse_events(study: StudyRuntime, user, reading: Reading | None = None) -> list[tuple[str, int, int]]:
    """(term, grade, count) over every adverse event row."""
    counts = Counter()
    for record in reading_of(study, user, reading).records("AE", data=("AE",)):
        for row in (record.get("data") or {}).get("AE", []):
            if row.get("AETERM") and row.get("AETOXGR"):
                counts[(row["AETERM"].strip(), row["AETOXGR"])] += 1
    return sorted(((t, g, n) for (t, g), n in counts.items()), key=lambda x: (-x[2], x[0], x[1]))


def safety(study: StudyRuntime, user, reading: Reading | None = None) -> list[dict]:
    """The safety table (:func:`ecrf.coding.safety.tabulate`: subjects by organ class, coded term and worst
    grade) over the AE rows the subject summaries keep, with their codings, for the subjects in scope."""
    reading = reading_of(study, user, reading)
    records = list(reading.records(AE_FORM, data=(AE_GROUP,)))
    return tabulate(events_of(study.oid, records), len(reading.subjects()))

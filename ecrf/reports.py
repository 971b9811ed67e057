"""Study reports as numbers: enrollment, visits, queries, review progress, safety and efficacy.

Pure computations over the current records (charts are drawn elsewhere). Every
report is scoped to the caller's sites and needs ``view data``.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, NamedTuple

from audit import utc_now
from ecrf.clinical.dates import as_date
from ecrf.clinical.visits import visit_window
from ecrf.coding.safety import AE_FORM, AE_GROUP, events_of, tabulate
from ecrf.lazy import lazy_module
from ecrf.queries import OPEN_STATES, Query
from ecrf.records.document import Record
from ecrf.records.summary import (
    IDENTITY,
    REPORTED,
    REPORTED_ROWS,
    VERSION_WIDTH,
    SubjectSummary,
    cells,
    decode_values,
    refresh,
)
from ecrf.roles import Action, require
from ecrf.studies import StudyRuntime
from ecrf.subjects import Subject

scipy_stats = lazy_module("scipy.stats")
lifelines = lazy_module("lifelines")


def _scope(study: StudyRuntime, user) -> dict:
    require(user, Action.VIEW_DATA)
    query: dict[str, Any] = {"study": study.oid}
    sites = user.site_filter()
    if sites is not None:
        query["site"] = {"$in": sites}
    return query


def _covered(form: str, data: tuple[str, ...], derived: tuple[str, ...]) -> bool:
    """Whether the subject summaries hold these items of ``form`` (else the records themselves are read)."""
    if form in REPORTED_ROWS:
        return not derived and set(data) <= set(REPORTED_ROWS[form])
    kept = REPORTED.get(form)
    return kept is not None and set(data) <= set(kept[0]) and set(derived) <= set(kept[1])


class Tally(NamedTuple):
    """What one pass over the subject summaries of a study gives the reports (see :meth:`Reading.tally`).

    ``kinds``: records counted by ``(site, form, status, review marks)``; ``events``: the events each subject
    has any record at; ``reported``: per form the summaries keep values of, ``(subject, site, event, status,
    marks, encoded values)`` of each record; ``cells``: each subject's summary (``"<event>/<form>"`` -> cell).
    """

    kinds: Counter
    events: dict[str, set[str]]
    reported: dict[str, list[tuple[str, str, str, str, str, str]]]
    cells: dict[str, dict[str, str]]


_IDENTITY = frozenset(IDENTITY)
_REPORTED_FORMS = frozenset(REPORTED) | frozenset(REPORTED_ROWS)


class Reading:
    """What the reports read of one study for one user: the subject summaries, once.

    A thousand casebooks are 175,000 records but a thousand summaries
    (:mod:`ecrf.records.summary`, brought up to date first with the records
    changed since the last reader): every report of a page reads from one
    :class:`Reading`, which walks the summaries' cells once (:meth:`tally`)
    and decodes a form's reported values as a report reads them
    (:meth:`records`). A report needing an item the summaries do not keep
    reads the records of that form.
    """

    def __init__(self, study: StudyRuntime, user):
        self.study, self.user = study, user
        self.scope = _scope(study, user)
        self._summaries: list[dict] | None = None
        self._tally: Tally | None = None
        self._states: list[dict] | None = None
        self._facts: dict[str, dict[str, Any]] = {}
        self._subjects: list[SubjectRow] | None = None

    def subjects(self) -> list[SubjectRow]:
        """The subjects in scope, by subject id (read once)."""
        if self._subjects is None:
            self._subjects = _subjects(self.study, self.user)
        return self._subjects

    def summaries(self) -> list[dict]:
        """The subject summaries in scope, brought up to date with the records first (read once)."""
        if self._summaries is None:
            refresh(Record._get_collection())
            self._summaries = list(SubjectSummary._get_collection().find(self.scope))
        return self._summaries

    def tally(self) -> Tally:
        """One pass over every cell of the summaries in scope (see :class:`Tally`), made once.

        175,000 cells at a thousand casebooks: each is split once and counted, and kept (as its text's parts)
        only if its form is one whose values the reports read (:data:`ecrf.records.summary.REPORTED`).
        """
        if self._tally is None:
            # Counted in a dict as it goes, not collected then counted: 175,000 keys alive at once cost more in
            # garbage collection than the counting itself.
            kinds: dict[tuple[str, str, str, str], int] = {}
            events: dict[str, set[str]] = {}
            reported: dict[str, list] = defaultdict(list)
            cells: dict[str, dict[str, str]] = {}
            for summary in self.summaries():
                subject, site = summary["subject"], summary["site"]
                cells[subject] = summary
                at = events[subject] = set()
                for name, text in summary.items():
                    if name in _IDENTITY:
                        continue
                    event, _, form = name.partition("/")
                    _, status, marks, values = text.split("|", 3)
                    kind = (site, form, status, marks)
                    kinds[kind] = kinds.get(kind, 0) + 1
                    at.add(event)
                    if form in _REPORTED_FORMS:
                        reported[form].append((subject, site, event, status, marks, values))
            self._tally = Tally(Counter(kinds), events, reported, cells)
        return self._tally

    def states(self) -> list[dict]:
        """Every record in scope as ``{subject, site, event, form, status, marks}``: ``marks`` the letters of its
        review marks (:data:`ecrf.records.summary.MARKS`, see :func:`reviewed`). The page's reports use
        :meth:`tally` instead; this is the same content one dict per record."""
        if self._states is None:
            self._states = [{"subject": summary["subject"], "site": summary["site"], "event": event, "form": form,
                             "status": text.split("|", 3)[1] or None, "marks": text.split("|", 3)[2]}
                            for summary in self.summaries() for event, form, text in cells(summary)]
        return self._states

    def records(self, form: str, event: str | None = None, data: tuple[str, ...] = (),
                derived: tuple[str, ...] = ()) -> Iterator[dict]:
        """The records of ``form`` (at ``event``) in scope, with at least the named data and derived items.

        From the summaries where they keep these items, else from the records themselves. Given one at a
        time, each decoded as it is reached: 77,000 decoded records kept at once cost a third of a second
        in garbage collection.
        """
        if _covered(form, data, derived):
            for subject, site, at, status, marks, values in self.tally().reported.get(form, ()):
                if event is None or at == event:
                    yield {"subject": subject, "site": site, "event": at, "status": status or None, "marks": marks,
                           **decode_values(values)}
            return
        query = {**self.scope, "form": form, **({"event": event} if event else {})}
        yield from Record._get_collection().find(query, {"subject": 1, "site": 1, "event": 1, "data": 1,
                                                         "derived": 1, "status": 1, "sdv": 1, "signature": 1,
                                                         "locked": 1})

    def fact(self, name: str) -> dict[str, Any]:
        """A subject fact (e.g. ``infusion_date``, as the study's ``subject_facts`` place it) for every subject
        in scope that has it, by subject id (worked out once per reading)."""
        if name not in self._facts:
            path = self.study.definition.get("subject_facts", {}).get(name)
            found: dict[str, Any] = {}
            if path:
                event, form, item = path.split(".")
                found = {r["subject"]: (r.get("data") or {}).get(item)
                         for r in self.records(form, event, data=(item,))
                         if (r.get("data") or {}).get(item) is not None}
            self._facts[name] = found
        return self._facts[name]


def reviewed(record: dict) -> tuple[bool, bool, bool]:
    """Whether a record (as :meth:`Reading.states` or the records collection give it) is verified, signed, locked."""
    marks = record.get("marks")
    if marks is not None:
        return "v" in marks, "s" in marks, "l" in marks
    return bool(record.get("sdv")), bool(record.get("signature")), bool(record.get("locked"))


def _reading(study: StudyRuntime, user, reading: Reading | None) -> Reading:
    return reading if reading is not None else Reading(study, user)


class SubjectRow(NamedTuple):
    """What the reports read of a subject (a thousand subjects as documents cost a tenth of a second)."""

    subject_id: str
    site: str
    status: str
    created_at: dt.datetime | None


def _subjects(study: StudyRuntime, user) -> list[SubjectRow]:
    """The subjects in scope, by subject id."""
    query = _scope(study, user)
    if "site" in query:
        query = {"study": study.oid, "site": query["site"]}
    found = Subject._get_collection().find(query, {"subject_id": 1, "site": 1, "status": 1, "created_at": 1})
    return sorted((SubjectRow(d["subject_id"], d["site"], d.get("status") or "screening", d.get("created_at"))
                   for d in found), key=lambda row: row.subject_id)


def _fact(study: StudyRuntime, user, name: str, reading: Reading | None = None) -> dict[str, Any]:
    """A subject fact (e.g. infusion_date) for every subject in scope, by subject id."""
    return _reading(study, user, reading).fact(name)


# ---------------------------------------------------------------- enrollment


def enrollment(study: StudyRuntime, user, reading: Reading | None = None) -> dict:
    """Cumulative registrations by month and site, screen failures and the criteria they failed."""
    reading = _reading(study, user, reading)
    subjects = reading.subjects()
    consent = _fact(study, user, "consent_date", reading)
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

    One read of the subject summaries (:meth:`Reading.states`), shared by :func:`visit_status`,
    :func:`review_progress` and :func:`completeness`.
    """
    return _reading(study, user, reading).states()


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
    reading = _reading(study, user, reading)
    infusion = {k: as_date(v) for k, v in _fact(study, user, "infusion_date", reading).items()}
    scheduled = [e for e in study.events if e.get("day") is not None and not e.get("repeating") and not e.get("log")]
    planned = {event["oid"]: [f"{event['oid']}/{form}" for form in event["forms"]] for event in scheduled}
    if records is None:
        tally = reading.tally()
        at, held = tally.events, tally.cells
    else:
        at, held = defaultdict(set), defaultdict(dict)
        for record in records:
            at[record["subject"]].add(record["event"])
            held[record["subject"]][f"{record['event']}/{record['form']}"] = ""
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
    ended = dict(_deaths(reading))
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


def _as_cell(status: str | None) -> str:
    """A stand-in cell for a record given as a dict: only its status part matters to :func:`completeness`."""
    return f"{0:0{VERSION_WIDTH}d}|{status or ''}|"


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
    reading = _reading(study, user, reading)
    infusion = {k: as_date(v) for k, v in _fact(study, user, "infusion_date", reading).items()}
    ended = _off_study(reading)
    if records is None:
        held = reading.tally().cells
    else:
        held = defaultdict(dict)
        for record in records:
            held[record["subject"]][f"{record['event']}/{record['form']}"] = _as_cell(record.get("status"))
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
    if records is None:
        kinds = Counter()
        for (site, form, status, marks), n in _reading(study, user, reading).tally().kinds.items():
            kinds[(site, form, status == "complete", *reviewed({"marks": marks}))] += n
    else:
        kinds = Counter((record["site"], record["form"], record.get("status") == "complete", *reviewed(record))
                        for record in records)
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


@lru_cache(maxsize=4096)
def _iso_date(text: str) -> dt.date | None:
    # Tens of thousands of dates a page, most of them repeats: each text parsed once.
    return as_date(text)


def _study_day(day0: dt.date | None, value: Any) -> int | None:
    """Days from ``day0`` to ``value`` (a date or ISO text), as :func:`ecrf.clinical.dates.days_between` counts."""
    if not day0:
        return None
    when = _iso_date(value) if isinstance(value, str) else as_date(value)
    return None if when is None else (when - day0).days


def toxicity_by_day(study: StudyRuntime, user, form: str, grade: str, date_item: str,
                    reading: Reading | None = None) -> dict:
    """Worst grade per subject per day after infusion, and how many subjects reached each grade per day."""
    reading = _reading(study, user, reading)
    infusion = {k: as_date(v) for k, v in _fact(study, user, "infusion_date", reading).items()}
    worst: dict[str, dict[int, int]] = defaultdict(dict)
    for record in reading.records(form, data=(date_item,), derived=(grade,)):
        value = (record.get("derived") or {}).get(grade)
        day = _study_day(infusion.get(record["subject"]), (record.get("data") or {}).get(date_item))
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
    for record in _reading(study, user, reading).records("AE", data=("AE",)):
        for row in (record.get("data") or {}).get("AE", []):
            if row.get("AETERM") and row.get("AETOXGR"):
                counts[(row["AETERM"].strip(), row["AETOXGR"])] += 1
    return sorted(((t, g, n) for (t, g), n in counts.items()), key=lambda x: (-x[2], x[0], x[1]))


def safety(study: StudyRuntime, user, reading: Reading | None = None) -> list[dict]:
    """The safety table (:func:`ecrf.coding.safety.tabulate`: subjects by organ class, coded term and worst
    grade) over the AE rows the subject summaries keep, with their codings, for the subjects in scope."""
    reading = _reading(study, user, reading)
    records = list(reading.records(AE_FORM, data=(AE_GROUP,)))
    return tabulate(events_of(study.oid, records), len(reading.subjects()))


# ---------------------------------------------------------------- efficacy


def _deaths(reading: Reading) -> dict[str, dt.date]:
    """Each subject's date of death, where a death report gives one."""
    return {r["subject"]: d for r in reading.records("DEATH", data=("DTHDTC",))
            if (d := as_date((r.get("data") or {}).get("DTHDTC")))}


def clopper_pearson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval for a binomial proportion."""
    alpha = 1 - confidence
    low = 0.0 if successes == 0 else float(scipy_stats.beta.ppf(alpha / 2, successes, trials - successes + 1))
    high = 1.0 if successes == trials else float(scipy_stats.beta.ppf(1 - alpha / 2, successes + 1, trials - successes))
    return low, high


ORR_POPULATIONS = {
    "itt": "Intention-to-treat: every infused subject; a subject with no assessment at the visit, "
    "or who died before it, counts as a non-responder",
    "evaluable": "Evaluable: the infused subjects with a response assessment at the visit",
}


def _rate(responders: int, n: int) -> dict:
    low, high = clopper_pearson(responders, n) if n else (None, None)
    return {"responders": responders, "n": n, "rate": responders / n if n else None, "ci_low": low, "ci_high": high}


def response_rates(study: StudyRuntime, user, today: dt.date | None = None,
                   reading: Reading | None = None) -> list[dict]:
    """CR/PR/NR at each response visit and the ORR (CR + PR) intention-to-treat and among the evaluable.

    Per visit: ``CR``, ``PR``, ``NR`` of the infused subjects assessed there;
    ``infused``; ``not_assessed`` and ``died_before`` (no assessment, and the
    death date before the visit's planned day), ``not_yet_due`` of the not
    assessed (the visit's window still open or ahead on ``today``: the ITT
    rate counts them as non-responders all the same); ``evaluable``
    (assessed); and ``orr`` = ``{"itt": rate, "evaluable": rate}`` (see
    :data:`ORR_POPULATIONS`), each rate ``{"responders", "n", "rate",
    "ci_low", "ci_high"}`` with its exact 95 % interval (None without
    subjects). A subject is infused once the study's ``infusion_date`` fact
    is recorded; assessments of others are left out.
    """
    today = today or utc_now().date()
    reading = _reading(study, user, reading)
    infusion = {k: d for k, v in _fact(study, user, "infusion_date", reading).items() if (d := as_date(v))}
    death = _deaths(reading)
    results = []
    for visit in study.parameters.get("response_visits", []):
        event = study.event(visit)
        day, after = event.get("day") or 0, (event.get("window") or {}).get("after", 0)
        assessed = {
            r["subject"]: (r.get("derived") or {}).get("RESPONSE")
            for r in reading.records("RESP", visit, derived=("RESPONSE",))
        }
        outcomes, not_assessed, died_before, not_yet_due = Counter(), 0, 0, 0
        for subject, day0 in infusion.items():
            outcome = assessed.get(subject)
            if outcome in ("CR", "PR", "NR"):
                outcomes[outcome] += 1
            elif subject in death and death[subject] < day0 + dt.timedelta(days=day):
                died_before += 1
            else:
                not_assessed += 1
                not_yet_due += today <= day0 + dt.timedelta(days=day + after)
        responders, evaluable = outcomes["CR"] + outcomes["PR"], sum(outcomes.values())
        results.append(
            {
                "visit": visit,
                "day": day,
                "CR": outcomes["CR"],
                "PR": outcomes["PR"],
                "NR": outcomes["NR"],
                "infused": len(infusion),
                "not_assessed": not_assessed,
                "died_before": died_before,
                "not_yet_due": not_yet_due,
                "evaluable": evaluable,
                "orr": {"itt": _rate(responders, len(infusion)), "evaluable": _rate(responders, evaluable)},
            }
        )
    return results


SURVIVAL_RULES = {
    "os": "Event: death from any cause. Censored at the last date the subject was known alive "
    "(the latest survival follow-up), or at infusion without one. Day 0 = infusion.",
    "pfs": "Event: progression or relapse, or death, whichever comes first. Censored at the last "
    "survival follow-up without either, or at infusion without one. Day 0 = infusion.",
}


def survival_data(study: StudyRuntime, user, reading: Reading | None = None) -> dict[str, list[tuple[str, int, bool]]]:
    """(subject, days from infusion, event happened) for overall and progression-free survival.

    Every infused subject, by the rules :data:`SURVIVAL_RULES` states (shown beside the charts).
    """
    reading = _reading(study, user, reading)
    infusion = {k: as_date(v) for k, v in _fact(study, user, "infusion_date", reading).items()}
    death = _deaths(reading)
    last_seen: dict[str, dt.date] = {}
    progression: dict[str, dt.date] = {}
    for record in reading.records("SURV", data=("SURVDTC", "DISSTAT", "PROGDTC")):
        data = record.get("data") or {}
        seen = as_date(data.get("SURVDTC"))
        if seen and (record["subject"] not in last_seen or seen > last_seen[record["subject"]]):
            last_seen[record["subject"]] = seen
        if data.get("DISSTAT") == "progression" and data.get("PROGDTC"):
            when = as_date(data["PROGDTC"])
            if when and (record["subject"] not in progression or when < progression[record["subject"]]):
                progression[record["subject"]] = when
    overall, pfs = [], []
    for subject, day0 in sorted(infusion.items()):
        if day0 is None:
            continue
        died = death.get(subject)
        last = max([d for d in (last_seen.get(subject), died) if d] or [day0])
        overall.append((subject, (died - day0).days if died else (last - day0).days, died is not None))
        firsts = [d for d in (progression.get(subject), died) if d]
        if firsts:
            pfs.append((subject, (min(firsts) - day0).days, True))
        else:
            pfs.append((subject, (last - day0).days, False))
    return {"os": overall, "pfs": pfs}


def kaplan_meier(points: list[tuple[str, int, bool]], at: list[int] | None = None) -> dict:
    """Kaplan–Meier estimate (lifelines): the survival curve, numbers at risk at given days, and the censored
    observations as ``(day, survival there)``, for the chart's censoring marks."""
    if not points:
        return {"times": [], "survival": [], "at_risk": [], "median": None, "n": 0, "events": 0, "censored": []}
    durations = [max(p[1], 0) for p in points]
    events = [p[2] for p in points]
    fitter = lifelines.KaplanMeierFitter().fit(durations, events)
    curve = fitter.survival_function_.iloc[:, 0]
    at = at if at is not None else [0, 90, 180, 365, 730, 1095]
    at_risk = [(t, sum(1 for d in durations if d >= t)) for t in at]
    median = fitter.median_survival_time_
    censored = sorted(d for d, event in zip(durations, events, strict=False) if not event)
    return {
        "times": [float(t) for t in curve.index],
        "survival": [float(s) for s in curve.values],
        "at_risk": at_risk,
        "median": None if median == float("inf") else float(median),
        "n": len(points),
        "events": sum(events),
        # One lookup for every censored time (one call per time cost seconds at a thousand subjects).
        "censored": [(float(t), float(s)) for t, s in
                     zip(censored, fitter.survival_function_at_times(censored).values, strict=True)]
        if censored else [],
    }


def blood_counts(study: StudyRuntime, user, analytes=("NEUT", "HGB_STD", "PLAT"),
                 reading: Reading | None = None) -> dict:
    """Per analyte of the haematology form: each subject's values by study day, and their spread by visit.

    ``{analyte: {"subjects": {subject: [(day, value), ...]}, "visits": [spread, ...]}}``; a spread is
    ``{"visit", "day", "n", "q1", "median", "q3"}`` over the subjects' values at one scheduled visit
    (quartiles inclusive of the extremes, as numpy and R compute them by default), at the visit's planned
    study day, or at the median day measured for a visit without one (screening). Values without a
    study day (no infusion date yet) and from unscheduled or log events are left out.
    """
    reading = _reading(study, user, reading)
    infusion = {k: as_date(v) for k, v in _fact(study, user, "infusion_date", reading).items()}
    scheduled = {e["oid"]: e for e in study.events if not e.get("repeating") and not e.get("log")}
    series: dict[str, dict[str, list]] = {a: defaultdict(list) for a in analytes}
    at_visit: dict[str, dict[str, list]] = {a: defaultdict(list) for a in analytes}
    days_at_visit: dict[str, list[int]] = defaultdict(list)
    for record in reading.records("LB_HEM", data=("LBDTC", *analytes), derived=tuple(analytes)):
        day = _study_day(infusion.get(record["subject"]), (record.get("data") or {}).get("LBDTC"))
        if day is None:
            continue
        values = {**(record.get("data") or {}), **(record.get("derived") or {})}
        visit = record.get("event") if record.get("event") in scheduled else None
        if visit:
            days_at_visit[visit].append(day)
        for analyte in analytes:
            if values.get(analyte) is not None:
                series[analyte][record["subject"]].append((day, values[analyte]))
                if visit:
                    at_visit[analyte][visit].append(values[analyte])
    planned = {
        oid: scheduled[oid].get("day") if scheduled[oid].get("day") is not None else statistics.median(days)
        for oid, days in days_at_visit.items()
    }
    return {
        a: {
            "subjects": {s: sorted(points) for s, points in sorted(series[a].items())},
            "visits": sorted(
                (_spread(visit, planned[visit], values) for visit, values in at_visit[a].items()),
                key=lambda spread: spread["day"],
            ),
        }
        for a in analytes
    }


def _spread(visit: str, day: float, values: list[float]) -> dict:
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
    return {"visit": visit, "day": day, "n": len(values), "q1": q1, "median": median, "q3": q3}

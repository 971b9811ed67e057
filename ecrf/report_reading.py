"""What the reports read of a study for one user: the subject summaries, walked once.

The reports (:mod:`ecrf.reports`, :mod:`ecrf.efficacy`) are computed from a
:class:`Reading`: the subjects in scope, the per-subject summaries
(:mod:`ecrf.records.summary`) brought up to date first, one pass over their
cells, and the values of the few forms the reports read, decoded as each
report reaches them. Every report is scoped to the caller's sites and needs
``view data``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any, NamedTuple

from ecrf.clinical.dates import as_date
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
            self._subjects = subjects_in_scope(self.study, self.user)
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


def tally_of(states: Iterable[dict]) -> Tally:
    """The :class:`Tally` of records given one dict each (as :meth:`Reading.states` gives them): the counts,
    events and cells a pass over their summaries makes, each cell holding its status and review marks only."""
    kinds: Counter = Counter()
    events: dict[str, set[str]] = defaultdict(set)
    cells: dict[str, dict[str, str]] = defaultdict(dict)
    for record in states:
        marks = record.get("marks")
        if marks is None:
            marks = "".join(letter for letter, set_ in zip("vsl", reviewed(record), strict=True) if set_)
        status = record.get("status") or ""
        kinds[(record["site"], record["form"], status, marks)] += 1
        events[record["subject"]].add(record["event"])
        cells[record["subject"]][f"{record['event']}/{record['form']}"] = f"{0:0{VERSION_WIDTH}d}|{status}|{marks}|"
    return Tally(kinds, dict(events), {}, dict(cells))


def reading_of(study: StudyRuntime, user, reading: Reading | None) -> Reading:
    """``reading``, or a new :class:`Reading` of ``study`` for ``user`` when none is given."""
    return reading if reading is not None else Reading(study, user)


class SubjectRow(NamedTuple):
    """What the reports read of a subject (a thousand subjects as documents cost a tenth of a second)."""

    subject_id: str
    site: str
    status: str
    created_at: dt.datetime | None


def subjects_in_scope(study: StudyRuntime, user) -> list[SubjectRow]:
    """The subjects in scope, by subject id."""
    query = _scope(study, user)
    if "site" in query:
        query = {"study": study.oid, "site": query["site"]}
    found = Subject._get_collection().find(query, {"subject_id": 1, "site": 1, "status": 1, "created_at": 1})
    return sorted((SubjectRow(d["subject_id"], d["site"], d.get("status") or "screening", d.get("created_at"))
                   for d in found), key=lambda row: row.subject_id)


def subject_fact(study: StudyRuntime, user, name: str, reading: Reading | None = None) -> dict[str, Any]:
    """A subject fact (e.g. infusion_date) for every subject in scope, by subject id."""
    return reading_of(study, user, reading).fact(name)


@lru_cache(maxsize=4096)
def _iso_date(text: str) -> dt.date | None:
    # Tens of thousands of dates a page, most of them repeats: each text parsed once.
    return as_date(text)


def study_day(day0: dt.date | None, value: Any) -> int | None:
    """Days from ``day0`` to ``value`` (a date or ISO text), as :func:`ecrf.clinical.dates.days_between` counts."""
    if not day0:
        return None
    when = _iso_date(value) if isinstance(value, str) else as_date(value)
    return None if when is None else (when - day0).days


def deaths(reading: Reading) -> dict[str, dt.date]:
    """Each subject's date of death, where a death report gives one."""
    return {r["subject"]: d for r in reading.records("DEATH", data=("DTHDTC",))
            if (d := as_date((r.get("data") or {}).get("DTHDTC")))}

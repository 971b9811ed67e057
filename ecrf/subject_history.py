"""A subject's audit trail a page at a time: one numbered sequence over all its streams, filtered, keyset-paged.

Pages read the subject's index (:mod:`ecrf.subject_trail`, brought up to date first) by ranges of the
event's number ``n``, never the whole subject: the embedded server reads every match of a query before it
sorts or limits, so a page costs the index documents its ranges hold. Unfiltered, a page after ``n0`` is
the range ``(n0, n0 + per_page + 1]``. Filtered, the range is read on the index of the most selective
filter (item, then form or visit, then person) in windows that start at four pages of numbers and grow
eightfold while too few match; the other filters are applied here. Dates become bounds on ``n`` first (the
first event at or after the first day, the last before the day after the last), found in windows of time
on the ``(subject, at)`` index. Then the page's events are read whole by ``_id``. Each event's number is
its ``n``: its place in the subject's sequence, the same in every filter.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field

from ecrf.audit_sentences import row_numbers
from ecrf.errors import FieldError, Invalid
from ecrf.records.document import Record
from ecrf.roles import ALL_SITES
from ecrf.sites import site_timezone
from ecrf.studies import StudyRuntime
from ecrf.subject_trail import Head, caught_up, naive, subject_key, trail_index
from ecrf.subjects import Subject, get_subject
from ecrf.trail import audit_store
from ecrf.users import User

PER_PAGE = 50
FIRST_WINDOW = 4  # pages of numbers a filtered read starts with
GROWTH = 8
FIRST_SPAN = dt.timedelta(minutes=1)  # the first window of time searched for a date's bound
_EPOCH = dt.datetime(1970, 1, 1)
_FAR = dt.timedelta(days=366 * 30)  # no trail is older: a search back stops there at the latest


@dataclass(frozen=True)
class HistoryFilter:
    """What the reader narrows the trail to; dates are days at the subject's site, both ends included."""

    event: str | None = None
    form: str | None = None
    item: str | None = None
    actor: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None

    def is_empty(self) -> bool:
        return not any((self.event, self.form, self.item, self.actor, self.since, self.until))

    def holds(self, event: dict) -> bool:
        """Whether ``event`` is one the reader asked for (the dates are the walk's bounds, not tested here)."""
        context = event.get("context") or {}
        if self.event and context.get("event") != self.event or self.form and context.get("form") != self.form:
            return False
        if self.actor and event.get("actor") != self.actor:
            return False
        if self.item:
            paths = [context.get("item") or ""] + [c.get("path") or "" for c in event.get("changes") or []
                                                    if not event.get("action", "").startswith("query_")]
            return any(p == self.item or p.startswith(self.item + "/") for p in paths)
        return True

    def holds_entry(self, entry: dict) -> bool:
        """The same test on the event's index document (:func:`ecrf.subject_trail.entry`), dates excluded."""
        return ((not self.event or entry.get("visit") == self.event)
                and (not self.form or entry.get("form") == self.form)
                and (not self.actor or entry.get("actor") == self.actor)
                and (not self.item or self.item in (entry.get("items") or [])))

    def indexed(self) -> dict:
        """The one most selective filter, as a query on the index (item > form or visit > person; none: {})."""
        for name, value in (("items", self.item), ("form", self.form), ("visit", self.event), ("actor", self.actor)):
            if value:
                return {name: value}
        return {}


@dataclass(frozen=True)
class Mark:
    """Where a page starts or ends: an event's place in the order, and its number in the subject's trail."""

    at: dt.datetime
    stream: str
    seq: int
    number: int

    @property
    def order(self) -> tuple[dt.datetime, str, int]:
        return (self.at, self.stream, self.seq)

    def text(self) -> str:
        """The mark as a page key (the view signs it, so a reader cannot renumber the trail)."""
        return f"{round((self.at - _EPOCH).total_seconds() * 1000)}~{self.seq}~{self.number}~{self.stream}"

    @classmethod
    def parse(cls, text: str, name: str) -> Mark:
        """The mark a key names; :class:`Invalid` naming ``name`` when it names none."""
        parts = text.split("~", 3)
        if len(parts) != 4 or not all(p.isdigit() for p in parts[:3]) or not parts[3]:
            raise Invalid(f"{name} is not a page key", [FieldError(f"/{name}", "not a key this page gave")])
        return cls(_EPOCH + dt.timedelta(milliseconds=int(parts[0])), parts[3], int(parts[1]), int(parts[2]))


@dataclass
class HistoryPage:
    """One page of a subject's trail, oldest first, each event with its ``number`` in the subject's sequence.

    ``after`` and ``before`` are the marks to ask for the next and the previous page (None: there is none);
    ``scanned`` is how many index documents the page read; ``rows`` numbers repeating rows by id.
    """

    subject: Subject
    events: list[dict]
    after: Mark | None
    before: Mark | None
    tz: zoneinfo.ZoneInfo
    scanned: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    people: dict[str, str] = field(default_factory=dict)


def subject_history(study: StudyRuntime, user, subject_id: str, wanted: HistoryFilter | None = None, *,
                    after: Mark | None = None, before: Mark | None = None, per_page: int = PER_PAGE) -> HistoryPage:
    """The page of the subject's trail after ``after`` (or before ``before``; neither: the first page).

    :raise 404: the user may not see the subject. :raise 422: a filter naming what the study does not have.
    """
    subject = get_subject(study, user, subject_id)
    wanted = wanted or HistoryFilter()
    _check(study, wanted)
    tz = site_timezone(subject.site)
    index = _Index(subject_key(study.oid, subject.subject_id), wanted, tz,
                   caught_up(study.oid, subject.subject_id))
    if before is not None and after is None:
        entries, more = index.back(before.number, per_page)
        entries.reverse()
        events = _events(entries)
        later, earlier = events[-1] if events else None, events[0] if events and more else None
    else:
        entries, more = index.on(after.number if after else 0, per_page)
        events = _events(entries)
        later, earlier = events[-1] if events and more else None, events[0] if events and after else None
    return HistoryPage(subject=subject, events=events, after=_mark(later), before=_mark(earlier), tz=tz,
                       scanned=index.scanned, rows=_row_numbers(study, events), people=_people(subject.site, events))


def _check(study: StudyRuntime, wanted: HistoryFilter) -> None:
    faults = []
    if wanted.event and wanted.event not in {e["oid"] for e in study.events}:
        faults.append(FieldError("/event", "no such visit in this study"))
    if wanted.form and wanted.form not in study.forms:
        faults.append(FieldError("/form", "no such form in this study"))
    if wanted.item and not wanted.item.startswith("/"):
        faults.append(FieldError("/item", "an item is named by its JSON pointer"))
    if wanted.since and wanted.until and wanted.since > wanted.until:
        faults.append(FieldError("/until", "before the first day"))
    if faults:
        raise Invalid("the filters name what this study does not have", faults)


def _mark(event: dict | None) -> Mark | None:
    return None if event is None else Mark(naive(event["at"]), event["stream"], event["seq"], event["number"])


class _Index:
    """The subject's index read by ranges of numbers: the numbers ``(low, high]`` hold what the dates allow."""

    def __init__(self, key: str, wanted: HistoryFilter, tz: zoneinfo.ZoneInfo, head: Head):
        self.key, self.wanted, self.head, self.scanned = key, wanted, head, 0
        self.collection = trail_index()
        self.floor = _utc_midnight(wanted.since, tz) if wanted.since else None
        self.ceiling = _utc_midnight(wanted.until + dt.timedelta(days=1), tz) if wanted.until else None
        self.low, self.high = 0, head.n
        if self.floor is not None:
            first = self._bound(self.floor, forward=True)
            self.low = self.high if first is None else first - 1
        if self.ceiling is not None and head.at is not None and self.ceiling <= head.at:
            last = self._bound(self.ceiling, forward=False)
            self.high = self.low if last is None else min(last, self.high)

    def on(self, after: int, wanted: int) -> tuple[list[dict], bool]:
        """Up to ``wanted`` matching index documents numbered after ``after``, in order; and whether more follow."""
        found: list[dict] = []
        start, size = max(after, self.low), self._first_size(wanted)
        while start < self.high and len(found) <= wanted:
            end = min(start + size, self.high)
            found += self._read({"$gt": start, "$lte": end}, reverse=False)
            start, size = end, size * GROWTH
        return found[:wanted], len(found) > wanted

    def back(self, before: int, wanted: int) -> tuple[list[dict], bool]:
        """Up to ``wanted`` matching index documents numbered before ``before``, newest first; whether more precede."""
        found: list[dict] = []
        end, size = min(before, self.high + 1), self._first_size(wanted)
        while end > self.low + 1 and len(found) <= wanted:
            start = max(end - size, self.low + 1)
            found += self._read({"$gte": start, "$lt": end}, reverse=True)
            end, size = start, size * GROWTH
        return found[:wanted], len(found) > wanted

    def _first_size(self, wanted: int) -> int:
        # Unfiltered, a page and one more are the next numbers; filtered, few of them may match.
        return wanted + 1 if not self.wanted.indexed() else FIRST_WINDOW * wanted

    def _read(self, numbers: dict, *, reverse: bool) -> list[dict]:
        documents = list(self.collection.find({"subject": self.key, **self.wanted.indexed(), "n": numbers}))
        self.scanned += len(documents)
        documents.sort(key=lambda d: d["n"], reverse=reverse)  # here: the server's sort costs as much as its read
        return [d for d in documents if self.wanted.holds_entry(d) and self._in_span(naive(d["at"]))]

    def _in_span(self, at: dt.datetime) -> bool:
        return (self.floor is None or at >= self.floor) and (self.ceiling is None or at < self.ceiling)

    def _bound(self, edge: dt.datetime, *, forward: bool) -> int | None:
        """The first number at or after ``edge`` (``forward``), else the last number before it; None: no such event.

        Searched in windows of time from ``edge`` that grow eightfold, so a page costs about the events
        next to the edge: the numbers follow the times (see :mod:`ecrf.subject_trail` for when they may not).
        """
        if self.head.at is None or forward and edge > self.head.at:
            return None
        if forward:
            first = self.collection.find_one({"subject": self.key, "n": 1}, {"at": 1})
            if first is not None and edge <= naive(first["at"]):
                return 1
        stop = self.head.at if forward else edge - _FAR
        width = FIRST_SPAN
        while True:
            span = {"$gte": edge, "$lt": edge + width} if forward else {"$gte": edge - width, "$lt": edge}
            numbers = [d["n"] for d in self.collection.find({"subject": self.key, "at": span}, {"n": 1})]
            self.scanned += len(numbers)
            if numbers:
                return min(numbers) if forward else max(numbers)
            if (edge + width > stop) if forward else (edge - width < stop):
                return None
            width *= GROWTH


def _events(entries: list[dict]) -> list[dict]:
    """The audit events the index documents name, whole, in the documents' order, each with its ``number``."""
    numbers = {entry["event_id"]: entry["n"] for entry in entries}
    events = list(audit_store().collection.find({"_id": {"$in": list(numbers)}}))
    for event in events:
        event["number"] = numbers[event["_id"]]
    return sorted(events, key=lambda event: event["number"])


def _utc_midnight(day: dt.date, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC).replace(tzinfo=None)
def _people(site: str, events: list[dict]) -> dict[str, str]:
    """Printed names by username: everyone who works at the site (the filter's choices) and the page's actors."""
    everyone = {"$or": [{"sites": site}, {"role": {"$in": [role.value for role in ALL_SITES]}},
                        {"_id": {"$in": sorted({e.get("actor") for e in events if e.get("actor")})}}]}
    return {user["_id"]: user.get("full_name") or user["_id"]
            for user in User._get_collection().find(everyone, {"full_name": 1}).sort("_id", 1)}


def _row_numbers(study: StudyRuntime, events: list[dict]) -> dict[str, int]:
    """Repeating rows of the page's forms numbered as the current records hold them (row ids stay inside)."""
    streams = {e["stream"] for e in events if e["stream"].startswith("record/")
               and any(i.kind == "group" for i in getattr(study.forms.get(
                   (e.get("context") or {}).get("form")), "items", []))}
    return row_numbers(Record._get_collection().find({"_id": {"$in": sorted(streams)}}, {"data": 1}))

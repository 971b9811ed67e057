"""A subject's audit trail a page at a time: one sequence over all its streams, filtered, keyset-paged.

Events are ordered by ``(at, stream, seq)``. A page is read on from where the last one ended (a key, never
an offset), in windows of time that the ``subject_order`` index of the audit store serves as ranges and
that grow or shrink with how dense the trail is there: a page costs about the events it passes, whatever
the subject's size (the embedded server reads every match of a query before it sorts or limits, so a
query over the subject's whole trail would cost all of it). Each event's number is its position in the
subject's whole trail: the key carries the number of the event it names, and the walk counts on from it.
Nothing is written to number events, and history is never rewritten.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field

from audit import utc_now
from ecrf.audit_sentences import row_numbers
from ecrf.errors import FieldError, Invalid
from ecrf.records.document import Record
from ecrf.roles import ALL_SITES
from ecrf.sites import site_timezone
from ecrf.studies import StudyRuntime
from ecrf.subjects import Subject, get_subject
from ecrf.trail import audit_store
from ecrf.users import User

PER_PAGE = 50
ORDER = [("at", 1), ("stream", 1), ("seq", 1)]
FIRST_WINDOW = dt.timedelta(milliseconds=250)
CLOCK_SLACK = dt.timedelta(minutes=1)  # read this far past now: another worker's clock may run a little ahead
MAX_WINDOW_EVENTS = 2000  # the most events one read aims at (a rare filter's page may pass thousands)
_EPOCH = dt.datetime(1970, 1, 1)
_FAR = dt.timedelta(days=366 * 30)  # no trail is older: a walk back stops there at the latest


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
    ``scanned`` is how many events of the trail the page passed; ``rows`` numbers repeating rows by id.
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
    walk = _Walk({"context.study": study.oid, "context.subject": subject.subject_id}, wanted, tz, subject.created_at)
    if before is not None and after is None:
        events, more = walk.back(before, per_page)
        events.reverse()
        later, earlier = events[-1] if events else None, events[0] if events and more else None
    else:
        events, more = walk.on(after or walk.start(), per_page)
        later, earlier = events[-1] if events and more else None, events[0] if events and after else None
    return HistoryPage(subject=subject, events=events, after=_mark(later), before=_mark(earlier), tz=tz,
                       scanned=walk.scanned, rows=_row_numbers(study, events), people=_people(subject.site, events))


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
    return None if event is None else Mark(*_key(event), event["number"])


class _Walk:
    """The subject's trail read in windows of time from a mark on, counting every event it passes."""

    def __init__(self, base: dict, wanted: HistoryFilter, tz: zoneinfo.ZoneInfo, born: dt.datetime | None):
        self.base, self.wanted, self.scanned, self.aim = base, wanted, 0, PER_PAGE
        self.born = _naive(born) if born else _EPOCH  # the registration: the subject's first event
        self.collection = audit_store().collection
        self.floor = _utc_midnight(wanted.since, tz) if wanted.since else None
        self.ceiling = _utc_midnight(wanted.until + dt.timedelta(days=1), tz) if wanted.until else None

    def start(self) -> Mark:
        """The mark just before the first event the walk may show (the trail's start, or the first day's)."""
        if self.floor is None:
            return Mark(_EPOCH, "", 0, 0)
        earlier = self.collection.count_documents({**self.base, "at": {"$lt": self.floor}})
        return Mark(self.floor - dt.timedelta(milliseconds=1), "\uffff", 0, earlier)

    def on(self, mark: Mark, wanted: int) -> tuple[list[dict], bool]:
        """Up to ``wanted`` matching events after ``mark``, numbered; and whether more follow."""
        end = min(self.ceiling or dt.datetime.max, utc_now().replace(tzinfo=None) + CLOCK_SLACK)
        low = mark.at if mark.at > _EPOCH else self.born
        return self._collect(self._windows(low, end, forward=True), mark, wanted, forward=True)

    def back(self, mark: Mark, wanted: int) -> tuple[list[dict], bool]:
        """Up to ``wanted`` matching events before ``mark`` (newest first), numbered; and whether more come before."""
        floor = self.floor or mark.at - _FAR
        return self._collect(self._windows(mark.at, floor, forward=False), mark, wanted, forward=False)

    def _windows(self, start: dt.datetime, end: dt.datetime, *, forward: bool) -> Iterator[list[dict]]:
        """The events in consecutive windows from ``start`` towards ``end``, each window in the walk's order.

        A window's width follows the density met so far, aiming at the events the page still needs (more
        when the filter lets few through): a burst is read in narrow windows, quiet years in a few wide
        ones. Empty windows grow fourfold, so a gap is crossed in a few reads without leaping into a burst.
        """
        width = FIRST_WINDOW
        edge = start
        while (edge <= end) if forward else (edge >= end):
            if forward:
                span, edge_next = {"$gte": edge, "$lt": edge + width}, edge + width
            else:
                span, edge_next = {"$lte": edge, "$gt": edge - width}, edge - width
            # Sorted here: the embedded server's own sort costs as much again as its read of the window.
            found = sorted(self.collection.find({**self.base, "at": span}), key=_key)
            self.scanned += len(found)
            yield found if forward else found[::-1]
            width = width * 4 if not found else max(width * self.aim // len(found), dt.timedelta(milliseconds=1))
            width = min(width, _FAR)
            edge = edge_next

    def _collect(self, windows: Iterator[list[dict]], mark: Mark, wanted: int, *,
                 forward: bool) -> tuple[list[dict], bool]:
        found: list[dict] = []
        number, matched = mark.number, 0
        self.aim = wanted
        for window in windows:
            for event in window:
                key = _key(event)
                if (key <= mark.order) if forward else (key >= mark.order):
                    continue
                if not forward and number <= 1:
                    return found, False
                in_span = (self.floor is None or key[0] >= self.floor) and (
                    self.ceiling is None or key[0] < self.ceiling)
                event["number"] = number + 1 if forward else number - 1
                number = event["number"]
                if in_span and self.wanted.holds(event):
                    if len(found) == wanted:
                        return found, True
                    found.append(event)
            matched = len(found)
            # Events still needed, over the share of the trail that the filter has let through so far.
            needed = wanted + 1 - matched
            self.aim = min(max(needed * self.scanned // max(matched, 1), wanted), MAX_WINDOW_EVENTS)
        return found, False


def _utc_midnight(day: dt.date, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC).replace(tzinfo=None)


def _naive(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(tzinfo=None) if at.tzinfo else at


def _key(event: dict) -> tuple[dt.datetime, str, int]:
    return (_naive(event["at"]), event["stream"], event["seq"])


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

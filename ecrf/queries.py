"""Queries: field-level discrepancies with their message thread and workflow.

A query points at one item of one record (row id included). System queries
come from edit checks and close themselves when the data no longer fail;
manual ones are raised by monitors and data managers. Every state change and
message is an audit event on the query's own stream; nothing is deleted.

    open --reply--> answered --close--> closed --reopen--> open
    (any open or answered query on an item that becomes hidden) --> not_applicable
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from bson import ObjectId
from mongoengine import DateTimeField, DictField, Document, IntField, ListField, StringField

from audit import StaleVersion, utc_now
from ecrf.errors import Conflict, DomainError, FieldError, Invalid, NotFound
from ecrf.lifecycle import refuse_review_if_locked
from ecrf.paging import PER_PAGE, Page, page_of
from ecrf.pointers import item_pointer_fault
from ecrf.records.document import current
from ecrf.roles import Action, require
from ecrf.studies import StudyRuntime
from ecrf.subjects import get_subject
from ecrf.text import MAX_MESSAGE, check_text
from ecrf.trail import audit_store, record_stream

OPEN_STATES = ("open", "answered")
STATES = ("open", "answered", "closed", "not_applicable")
ORIGINS = ("system", "manual")
# The system's own messages, kept by these keys (the interface's catalogs translate them) with their arguments.
AUTO_CLOSED = "closed automatically: the data now pass the check (%(change)s)"
NOT_APPLICABLE = "item no longer applies (%(change)s)"
MAX_TEXT = MAX_MESSAGE
ANY_ROW = "*"  # in an item filter, /GROUP/*/ITEM: that item in any row
# A transition that loses a race is tried again on the state that won, this many times at most: each lost
# race means another transition landed, so only a flood of them on one query can exhaust it.
RACE_RETRIES = 64


class Query(Document):
    query_id = StringField(primary_key=True)
    study = StringField(required=True)
    subject = StringField(required=True)
    site = StringField(required=True)
    event = StringField(required=True)
    form = StringField(required=True)
    item = StringField(required=True)
    origin = StringField(required=True, choices=ORIGINS)
    check = StringField()
    state = StringField(required=True, choices=STATES)
    messages = ListField(DictField())
    opened_at = DateTimeField()
    closed_at = DateTimeField()
    version = IntField(default=0)
    meta = {
        "collection": "queries",
        # The embedded server uses an index only if it holds every field of a filter, a user's sites (an $in)
        # last: the last two serve the query list of site staff and monitors by subject and by state.
        "indexes": [
            ("study", "subject", "event", "form", "state"),
            ("study", "subject", "state"),
            ("study", "site", "state"),
            ("study", "state", "opened_at"),
            ("study", "subject", "site"),
            ("study", "state", "site"),
        ],
    }

    def age_days(self, now: dt.datetime | None = None) -> int:
        """Whole days the query has been (or was) open."""
        return age_days(self.opened_at, self.closed_at, now)


def age_days(opened_at: dt.datetime, closed_at: dt.datetime | None, now: dt.datetime | None = None) -> int:
    """Whole days from opening to closing, or to ``now`` (default: this moment) while not closed."""
    end = closed_at or now or utc_now()
    start = opened_at
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=dt.UTC)
    return max((end - start).days, 0)


def _transition(
    query: Query, actor: str, action: str, text: str | None, state: str, *, extra: dict | None = None,
    said: dict | None = None,
) -> Query:
    """Append the event for one state change or message and update the query.

    ``said`` keeps a system message in every language (``{"texts": {lang: text}}`` from a check, or the
    catalog ``key`` and its ``args``) so that each reader sees it in their own; ``text`` stays its English.

    Raises :class:`StaleVersion`, having stored nothing, when the query's
    stream has moved past the version read; once the event is appended the
    transition has happened, whoever brings the projection forward.
    """
    now = utc_now()
    message = {"at": now, "author": actor, "text": text or "", "action": action, **(said or {})}
    event = audit_store().append(
        _stream(query),
        query.version,
        actor=actor,
        action=f"query_{action}",
        changes=[
            {"path": f"/messages/{len(query.messages)}", "old": None, "new": message},
            *(
                [{"path": "/state", "old": query.state if query.version else None, "new": state}]
                if state != query.state or not query.version
                else []
            ),
        ],
        state={"state": state, **(extra or {})},
        context={
            "study": query.study,
            "subject": query.subject,
            "site": query.site,
            "event": query.event,
            "form": query.form,
            "item": query.item,
            "query": query.query_id,
        },
    )
    if query.version == 0:
        query.messages, query.state, query.version = [message], state, event["seq"]
        query.opened_at = now
        query.save(force_insert=True)
        return query
    _project(query, event)
    # The query as this transition left it (what _project stored), not re-read: a transition that lands
    # right after must not show up in this one's answer.
    query.messages = [*query.messages, message]
    query.state, query.version = state, event["seq"]
    query.closed_at = now if state in ("closed", "not_applicable") else None
    return query


def _stream(query: Query) -> str:
    return f"query/{query.query_id}"


def _project(query: Query, event: dict) -> None:
    """Move the stored query from ``event["seq"] - 1`` to ``event``; a no-op if it is there already."""
    message = event["changes"][0]["new"]
    state = event["state"]["state"]
    update: dict[str, Any] = {"push__messages": message, "set__state": state, "set__version": event["seq"]}
    if state in ("closed", "not_applicable"):
        update["set__closed_at"] = message["at"]
    else:
        update["unset__closed_at"] = True
    Query.objects(query_id=query.query_id, version=event["seq"] - 1).update(**update)


def _caught_up(query: Query) -> Query:
    """The query with every event of its stream projected (a transition that won a race may not have yet)."""
    for event in audit_store().events(_stream(query), after=query.version):
        _project(query, event)
    return query.reload()


def _act(
    query: Query, actor: str, action: str, text: str | None, state: str, refusal: Callable[[Query], str | None],
    said: dict | None = None,
) -> Query:
    """Apply one transition, trying again on the newer state when another transition wins the race.

    ``refusal(query)`` says why the transition does not apply to the query as it
    now stands (None: it does); that is 409, and a lock 423, with nothing stored.
    """
    for _ in range(RACE_RETRIES):
        refuse_review_if_locked(query.study, query.subject, _record_of(query), "its queries cannot change")
        reason = refusal(query)
        if reason:
            raise Conflict(reason)
        try:
            return _transition(query, actor, action, text, state, said=said)
        except StaleVersion:
            query = _caught_up(query)
    raise Conflict("the query kept changing while this was tried; reload it and try again")


def _record_of(query: Query) -> dict | None:

    return current(record_stream(query.study, query.subject, query.event, query.form))


def _text(text: Any, *, required: bool) -> str | None:
    if text is None and not required:
        return None
    if not isinstance(text, str) or not text.strip():
        raise Invalid("text is required", [FieldError("/text", "a message is required")])
    check_text(text, "/text", multiline=True, max_length=MAX_TEXT, label="Message")
    return text.strip()


def open_query(
    study: StudyRuntime,
    subject: str,
    site: str,
    event: str,
    form: str,
    item: str,
    *,
    actor: str,
    text: str,
    origin: str,
    check: str | None = None,
    texts: dict | None = None,
) -> Query:
    """Open a new query (no permission check: callers decide who may); ``texts``: the text per language."""
    query = Query(
        query_id=str(ObjectId()),
        study=study.oid,
        subject=subject,
        site=site,
        event=event,
        form=form,
        item=item,
        origin=origin,
        check=check,
        state="open",
        messages=[],
        version=0,
    )
    return _transition(query, actor, "opened", text, "open", extra={"origin": origin, "check": check},
                       said={"texts": texts} if texts else None)


def raise_query(study: StudyRuntime, user, subject_id: str, event: str, form: str, item: Any, text: Any) -> Query:
    """A monitor or data manager raises a manual query on one item of a saved record."""
    require(user, Action.MANAGE_QUERIES)
    subject = get_subject(study, user, subject_id)
    _, compiled = study.form_in_event(event, form)
    if fault := item_pointer_fault(compiled, item):
        raise Invalid("unknown item", [FieldError("/item", fault)])
    text = _text(text, required=True)

    stored = current(record_stream(study.oid, subject.subject_id, event, form))
    refuse_review_if_locked(study.oid, subject.subject_id, stored, "no new query can be raised")
    if stored is None:
        raise Conflict("nothing is saved in that form yet; a query needs saved data")
    if fault := item_pointer_fault(compiled, item, stored.get("data") or {}):
        raise Invalid("unknown row", [FieldError("/item", fault)])
    return open_query(
        study, subject.subject_id, subject.site, event, form, item, actor=user.username, text=text, origin="manual"
    )


def get_query(study: StudyRuntime, user, query_id: str) -> Query:
    """The query if the user may see it; 404 otherwise."""
    require(user, Action.VIEW_DATA)
    query = Query.objects(query_id=query_id, study=study.oid).first() if ObjectId.is_valid(query_id) else None
    if query is None or not user.sees_site(query.site):
        raise NotFound(f"no query {query_id!r}")
    return query


def list_queries(study: StudyRuntime, user, *, min_age: int | None = None, **filters: Any) -> list[Query]:
    """Queries the user may see, oldest first, filtered by site, subject, event, form, item, state, origin.

    ``state`` may be one state or a list of them; ``min_age`` keeps those open at least that many days.
    """
    criteria = visible_criteria(study, user, filters)
    if criteria is None:
        return []
    found = Query.objects(__raw__=criteria).order_by("opened_at", "query_id")
    if not min_age:
        return list(found)
    now = utc_now()
    return [q for q in found if q.age_days(now) >= min_age]


def query_documents(study: StudyRuntime, user, *, min_age: int | None = None, **filters: Any) -> list[dict]:
    """:func:`list_queries` as the stored documents (``_id`` is the query id), for a download of thousands:
    building a document object for each costs more than reading it."""
    criteria = visible_criteria(study, user, filters)
    if criteria is None:
        return []
    found = Query._get_collection().find(criteria).sort([("opened_at", 1), ("_id", 1)])
    if not min_age:
        return list(found)
    now = utc_now()
    return [d for d in found if age_days(d["opened_at"], d.get("closed_at"), now) >= min_age]


def query_page(
    study: StudyRuntime,
    user,
    number: int | None,
    *,
    min_age: int | None = None,
    per_page: int = PER_PAGE,
    **filters: Any,
) -> Page:
    """Page ``number`` of the queries :func:`list_queries` gives, oldest first, open at least ``min_age`` days.

    Only the page's queries are read whole: the others only as their id and times, to order and count
    them (a study's queries run to tens of thousands, and building each costs more than reading it).
    """
    return query_overview(study, user, number, min_age=min_age, per_page=per_page, **filters)[0]


def query_overview(
    study: StudyRuntime,
    user,
    number: int | None,
    *,
    min_age: int | None = None,
    per_page: int = PER_PAGE,
    **filters: Any,
) -> tuple[Page, dict[str, int]]:
    """:func:`query_page`, and how many queries each state holds under the other filters (every state named).

    One read serves both: the id, times and state of every query under the filters but the state.
    """
    stamps = _stamps(study, user, min_age, {**filters, "state": None}, fields=("state",))
    counts = dict.fromkeys(STATES, 0)
    for stamp in stamps:
        counts[stamp["state"]] = counts.get(stamp["state"], 0) + 1
    wanted = filters.get("state")
    if wanted:
        wanted = {wanted} if isinstance(wanted, str) else set(wanted)
        stamps = [s for s in stamps if s["state"] in wanted]
    page = page_of(stamps, number, per_page)
    found = {q.query_id: q for q in Query.objects(query_id__in=[s["_id"] for s in page.items])}
    return replace(page, items=[found[s["_id"]] for s in page.items if s["_id"] in found]), counts


def state_counts(study: StudyRuntime, user, *, min_age: int | None = None, **filters: Any) -> dict[str, int]:
    """How many queries are in each state under ``filters`` (whatever state they ask for), every state named."""
    return query_overview(study, user, 1, min_age=min_age, **filters)[1]


def _stamps(study: StudyRuntime, user, min_age: int | None, filters: dict, fields: tuple = ()) -> list[dict]:
    """Id, times (and ``fields``) of the queries under ``filters`` open at least ``min_age`` days, oldest first."""
    criteria = visible_criteria(study, user, filters)
    if criteria is None:
        return []
    projection = {"opened_at": 1, "closed_at": 1, **dict.fromkeys(fields, 1)}
    stamps = Query._get_collection().find(criteria, projection)
    if min_age:
        now = utc_now()
        stamps = [s for s in stamps if age_days(s["opened_at"], s.get("closed_at"), now) >= min_age]
    return sorted(stamps, key=lambda s: (s["opened_at"], s["_id"]))


def visible_criteria(study: StudyRuntime, user, filters: dict) -> dict | None:
    """The raw filter of the queries this user may see under ``filters`` (None: none can be)."""
    require(user, Action.VIEW_DATA)
    criteria: dict[str, Any] = {"study": study.oid}
    for key in ("site", "subject", "event", "form", "item", "state", "origin"):
        value = filters.get(key)
        if isinstance(value, list | tuple | set):
            values = [v for v in value if v]
            if values:
                criteria[key] = values[0] if len(values) == 1 else {"$in": sorted(values)}
        elif key == "item" and isinstance(value, str) and f"/{ANY_ROW}/" in value:
            # /GROUP/*/ITEM: that item in every row of the group
            head, _, tail = value.partition(f"/{ANY_ROW}/")
            criteria[key] = {"$regex": f"^{re.escape(head)}/[^/]+/{re.escape(tail)}$"}
        elif value:
            criteria[key] = value
    sites = user.site_filter()
    if sites is not None:
        asked = criteria.get("site")
        asked = set(asked["$in"]) if isinstance(asked, dict) else {asked} if asked else set(sites)
        if not asked & set(sites):
            return None
        criteria["site"] = {"$in": sorted(asked & set(sites))}
    return criteria


def reply(study: StudyRuntime, user, query_id: str, text: Any, said: dict | None = None) -> Query:
    """Site staff or the investigator answer an open query.

    ``said`` (a catalog ``key`` and its ``args``) lets each reader see an answer the interface worded, such as
    "Confirm value", in their own language; ``text`` stays its English.
    """
    require(user, Action.ANSWER_QUERIES)
    query = get_query(study, user, query_id)
    text = _text(text, required=True)
    return _act(
        query,
        user.username,
        "answered",
        text,
        "answered",
        lambda q: (
            None if q.state in OPEN_STATES else f"the query is {q.state}; only open or answered queries take replies"
        ),
        said,
    )


def close(study: StudyRuntime, user, query_id: str, text: Any = None) -> Query:
    """A monitor or data manager closes an open or answered query; a system query only with a comment.

    An edit check raised a system query, so closing it by hand overrides the check: the comment says why
    (422 at ``/text`` without one).
    """
    require(user, Action.MANAGE_QUERIES)
    query = get_query(study, user, query_id)
    if query.origin == "system" and (not isinstance(text, str) or not text.strip()):
        raise Invalid("a comment is needed to close a system query",
                      [FieldError("/text", "say why the check's finding no longer stands")])
    text = _text(text, required=False)
    return _act(
        query,
        user.username,
        "closed",
        text,
        "closed",
        lambda q: None if q.state in OPEN_STATES else f"the query is already {q.state}",
    )


def reopen(study: StudyRuntime, user, query_id: str, text: Any) -> Query:
    """A monitor or data manager reopens a closed query, saying why."""
    require(user, Action.MANAGE_QUERIES)
    query = get_query(study, user, query_id)
    text = _text(text, required=True)
    return _act(
        query,
        user.username,
        "reopened",
        text,
        "open",
        lambda q: None if q.state == "closed" else f"only a closed query can be reopened; this one is {q.state}",
    )


BULK_ACTIONS: dict[str, tuple[Callable[..., Query], Action]] = {
    "reply": (reply, Action.ANSWER_QUERIES),
    "close": (close, Action.MANAGE_QUERIES),
}
MAX_BULK = 500


@dataclass
class BulkOutcome:
    """What one action on several queries did: the queries it moved, and each refusal by query id."""

    done: list[Query] = field(default_factory=list)
    failed: list[tuple[str, DomainError]] = field(default_factory=list)


def act_on_many(study: StudyRuntime, user, action: Any, query_ids: Any, text: Any) -> BulkOutcome:
    """Answer or close each of ``query_ids`` with the one comment ``text``, each through its own transition.

    Each query is audited on its own stream, with the site scope and the state rules of the single action;
    one that is refused (another site's, already closed, locked...) is named with its reason and the others
    still go through. A request that cannot apply to any query (unknown action, no ids, no comment, a role
    without the right) is refused whole, with nothing stored.
    """
    if action not in BULK_ACTIONS:
        raise Invalid("unknown action", [FieldError("/action", f"must be one of {', '.join(BULK_ACTIONS)}")])
    transition, needed = BULK_ACTIONS[action]
    require(user, needed)
    if not isinstance(query_ids, list) or not query_ids or not all(isinstance(i, str) for i in query_ids):
        raise Invalid("no queries chosen", [FieldError("/ids", "choose at least one query")])
    if len(query_ids) > MAX_BULK:
        raise Invalid("too many queries at once", [FieldError("/ids", f"at most {MAX_BULK} queries at a time")])
    comment = _text(text, required=True)
    outcome = BulkOutcome()
    for query_id in dict.fromkeys(query_ids):  # each once, in the order given
        try:
            outcome.done.append(transition(study, user, query_id, comment))
        except DomainError as error:
            outcome.failed.append((query_id, error))
    return outcome


def record_queries(study: str, subject: str, event: str, form: str, states=OPEN_STATES) -> list[Query]:
    """The queries of one record in the given states, oldest first."""
    return list(
        Query.objects(study=study, subject=subject, event=event, form=form, state__in=list(states)).order_by(
            "opened_at"
        )
    )


def sync_system_queries(
    study: StudyRuntime,
    identity: dict,
    findings: list,
    hidden: set[str],
    *,
    actor: str,
    change: str,
    existing: list | None = None,
) -> dict:
    """Bring the record's queries in line with its latest check results.

    Opens one query per failing (check, item) that has none open; closes each
    open system query whose check now passes (naming the change that fixed
    it); marks queries on items that became hidden as not applicable.
    ``existing`` are the record's open queries when the caller has read them.
    Returns counts of what it did.
    """
    done = {"opened": 0, "closed": 0, "not_applicable": 0}
    failing = {(f.check, f.item): f for f in findings if f.severity == "query"}
    if existing is None:
        existing = record_queries(study.oid, identity["subject"], identity["event"], identity["form"])
    for query in existing:
        if _is_hidden(query.item, hidden):
            _system_message(query, "not_applicable", NOT_APPLICABLE, change)
            done["not_applicable"] += 1
        elif query.origin == "system" and (query.check, query.item) not in failing:
            _system_message(query, "closed", AUTO_CLOSED, change)
            done["closed"] += 1
    still_open = {
        (q.check, q.item)
        for q in existing
        if q.origin == "system" and (q.check, q.item) in failing and not _is_hidden(q.item, hidden)
    }
    for key, finding in failing.items():
        if key in still_open:
            continue
        texts = {lang: text for lang, text in finding.message.items() if text}
        open_query(
            study,
            identity["subject"],
            identity["site"],
            identity["event"],
            identity["form"],
            finding.item,
            actor="system",
            text=texts.get("en") or next(iter(texts.values()), ""),
            origin="system",
            check=finding.check,
            texts=texts,
        )
        done["opened"] += 1
    return done


def _system_message(query: Query, state: str, key: str, change: str) -> Query:
    """Move a query to ``state`` with a system message kept as its catalog key, so each reader sees their own."""
    args = {"change": change}
    return _transition(query, "system", state, key % args, state, said={"key": key, "args": args})


def _is_hidden(item: str, hidden: set[str]) -> bool:
    return any(item == path or item.startswith(path + "/") for path in hidden)

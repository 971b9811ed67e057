"""Codings: each verbatim term of a dictionary item coded (by the chooser or a coder), in its own audited stream.

A coding is a side record of the clinical record: the site's verbatim term stays in the record (written by
``save_record``); its code, preferred term, system organ class and the dictionary name and version live here,
each change an event of the stream ``coding/<study>/<subject>/<event>/<form>/<row>/<item>``. A term picked
from the dictionary is coded on save; a free text ("Other, specify") waits in the coding queue for a coder,
who codes it or queries the site when it is unclear.
"""

from __future__ import annotations

import logging
from typing import Any

from mongoengine import DateTimeField, Document, IntField, StringField

from audit import ROW_ID, StaleVersion, utc_now
from ecrf.coding.dictionary import Dictionary, Term, dictionary
from ecrf.errors import Conflict, FieldError, Invalid, NotFound
from ecrf.lifecycle import refuse_review_if_locked
from ecrf.queries import open_query
from ecrf.records.document import current
from ecrf.roles import Action, require
from ecrf.studies import StudyRuntime
from ecrf.text import check_text
from ecrf.trail import audit_store, record_stream

log = logging.getLogger(__name__)

DICTIONARY_KEY = "x-ecrf-dictionary"
STATES = ("uncoded", "queried", "coded", "withdrawn")  # withdrawn: the row was removed or its term emptied
MAX_QUERY_TEXT = 2000


class Coding(Document):
    """The projection of one coding stream: where the term is, what was written, how it is coded."""

    # One index per read: the queue (study, state, the user's sites), a record's codings, the AE codings of subjects,
    # and a subject's coded terms in item order (the ODM export, subject by subject).
    meta = {"collection": "codings", "indexes": [("study", "state", "site"), ("study", "subject", "event", "form"),
                                                 ("study", "form", "subject"), ("study", "subject", "state", "item")]}
    coding_id = StringField(primary_key=True)  # the stream name
    study = StringField(required=True)
    subject = StringField(required=True)
    site = StringField(required=True)
    event = StringField(required=True)
    form = StringField(required=True)
    item = StringField(required=True)  # JSON pointer of the item in the record: /GROUP/<row id>/ITEM
    verbatim = StringField(required=True)
    state = StringField(required=True, choices=STATES)
    dictionary = StringField(required=True)
    dictionary_version = StringField()
    meddra_version = StringField()
    code = StringField()
    term = StringField()
    soc = StringField()
    method = StringField()  # "chooser" (picked from the list) or "coder"
    coded_by = StringField()
    coded_at = DateTimeField()
    query_id = StringField()
    version = IntField(required=True, default=0)


def coded_fields(coding: Coding) -> dict[str, Any]:
    """What a coding says, for tables and exports (empty values when not coded)."""
    return {"code": coding.code or "", "term": coding.term or "", "soc": coding.soc or "",
            "dictionary": coding.dictionary, "dictionary_version": coding.dictionary_version or "",
            "meddra_version": coding.meddra_version or "", "state": coding.state}


def dictionary_items(form) -> list[tuple[str | None, str, str]]:
    """(group oid or None, item oid, dictionary name) of each item of ``form`` coded to a dictionary."""
    found = []
    for item in form.items:
        if item.schema.get(DICTIONARY_KEY):
            found.append((None, item.oid, item.schema[DICTIONARY_KEY]))
        for child in item.children:
            if child.schema.get(DICTIONARY_KEY):
                found.append((item.oid, child.oid, child.schema[DICTIONARY_KEY]))
    return found


def _stream(identity: dict, pointer: str) -> str:
    return f"coding/{identity['study']}/{identity['subject']}/{identity['event']}/{identity['form']}{pointer}"


def _terms_in(form, data: dict) -> list[tuple[str, str, str]]:
    """(pointer, verbatim, dictionary name) of every non-empty dictionary item in ``data``."""
    found = []
    for group, oid, name in dictionary_items(form):
        rows = [(f"/{group}/{row.get(ROW_ID)}/{oid}", row) for row in data.get(group) or [] if isinstance(row, dict)] \
            if group else [(f"/{oid}", data)]
        for pointer, row in rows:
            value = row.get(oid)
            if isinstance(value, str) and value.strip():
                found.append((pointer, value.strip(), name))
    return found


def sync_codings(study: StudyRuntime, form, identity: dict, data: dict, actor: str) -> None:
    """After a save: code each new or changed verbatim term of the record's dictionary items.

    A term of the dictionary is coded at once (method ``chooser``) with the dictionary's name and version;
    any other text goes to the coding queue (state ``uncoded``). An unchanged term keeps its coding; the coding
    of a removed row or an emptied term is withdrawn (it leaves the queue, its history stays).
    Never fails the save: a failure is logged and the next save of the record catches up.
    """
    if not dictionary_items(form):
        return
    try:
        _sync(form, identity, data, actor)
    except Exception:  # coding must never turn a stored save into an error
        log.exception("codings of %s not brought up to date; the next save retries", identity)


def _sync(form, identity: dict, data: dict, actor: str) -> None:
    present = _terms_in(form, data)
    kept = {pointer for pointer, _, _ in present}
    # The record's codings, read once: one query whatever the number of rows.
    existing = {c.item: c for c in Coding.objects(study=identity["study"], subject=identity["subject"],
                                                  event=identity["event"], form=identity["form"])}
    for gone in existing.values():
        if gone.item not in kept and gone.state != "withdrawn":
            _write(gone, actor, "coding_withdrawn", withdrawn=True)
    for pointer, verbatim, name in present:
        stream = _stream(identity, pointer)
        try:
            coding = existing.get(pointer)
            if coding is not None and coding.verbatim == verbatim and coding.state != "withdrawn":
                continue
            known = dictionary(name)
            term = known.find(verbatim)
            if coding is None:
                coding = Coding(coding_id=stream, study=identity["study"], subject=identity["subject"],
                                site=identity["site"], event=identity["event"], form=identity["form"], item=pointer,
                                dictionary=name, version=0)
            _write(coding, actor, "coding_chosen" if term else "coding_needed", verbatim=verbatim,
                   coded=(known, term, "chooser") if term else None)
        except StaleVersion:  # another save moved the coding meanwhile: the rest still go through
            log.exception("coding of %s not brought up to date; the next save retries", stream)


def _write(coding: Coding, actor: str, action: str, *, verbatim: str | None = None,
           coded: tuple[Dictionary, Term, str] | None = None, query_id: str | None = None,
           withdrawn: bool = False) -> Coding:
    """Append one event to the coding's stream, then project it (StaleVersion, storing nothing, if it moved)."""
    now = utc_now()
    new: dict[str, Any] = {"verbatim": verbatim if verbatim is not None else coding.verbatim}
    if coded:
        known, term, method = coded
        new.update(state="coded", code=term.code, term=term.term, soc=term.soc, dictionary=known.name,
                   dictionary_version=known.version, meddra_version=known.meddra_version, method=method,
                   coded_by=actor, coded_at=now, query_id=coding.query_id if query_id is None else query_id)
    elif query_id:
        new.update(state="queried", query_id=query_id)
    elif withdrawn:
        new.update(state="withdrawn")
    else:
        new.update(state="uncoded", code=None, term=None, soc=None, dictionary_version=None, meddra_version=None,
                   method=None, coded_by=None, coded_at=None, query_id=None)
    changes = [{"path": f"/{key}", "old": _plain(getattr(coding, key, None)), "new": _plain(value)}
               for key, value in new.items() if _plain(getattr(coding, key, None)) != _plain(value)]
    event = audit_store().append(
        coding.coding_id, coding.version, actor=actor, action=action, changes=changes,
        state={"state": new["state"]},
        context={"study": coding.study, "subject": coding.subject, "site": coding.site, "event": coding.event,
                 "form": coding.form, "item": coding.item},
    )
    for key, value in new.items():
        setattr(coding, key, value)
    previous, coding.version = coding.version, event["seq"]
    if previous == 0:
        coding.save(force_insert=True)
    else:
        # Only over the version this event followed: a projection that moved on is not rolled back.
        Coding.objects(coding_id=coding.coding_id, version=previous).update_one(
            **{f"set__{k}": v for k, v in new.items()}, set__version=coding.version)
    return coding


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def coding_queue(study: StudyRuntime, user, states: tuple[str, ...] = ("uncoded", "queried")) -> list[Coding]:
    """The terms waiting for a coder at the user's sites, oldest subject first."""
    require(user, Action.CODE)
    query: dict[str, Any] = {"study": study.oid, "state__in": list(states)}
    sites = user.site_filter()
    if sites is not None:
        query["site__in"] = sites
    return list(Coding.objects(**query).order_by("subject", "event", "form", "item"))


def _refuse_if_locked(study: StudyRuntime, coding: Coding, what: str) -> None:
    # Coding is review of the record, as a query is: a lock at any scope, or a study freeze, refuses it (423).
    stored = current(record_stream(study.oid, coding.subject, coding.event, coding.form))
    refuse_review_if_locked(study.oid, coding.subject, stored, what)


def get_coding(study: StudyRuntime, user, coding_id: str) -> Coding:
    """The coding if the user may code it; :class:`NotFound` otherwise."""
    require(user, Action.CODE)
    coding = Coding.objects(coding_id=coding_id, study=study.oid).first() if isinstance(coding_id, str) else None
    if coding is None or not user.sees_site(coding.site):
        raise NotFound(f"no coding {coding_id!r}")
    return coding


def code_term(study: StudyRuntime, user, coding_id: str, code: Any) -> Coding:
    """A coder codes a waiting term to the dictionary term with MedDRA code (or name) ``code`` (an audited change).

    422 naming ``/code`` for a code not in the dictionary; 423 when the record is locked (or the study frozen);
    409 when the coding moved meanwhile.
    """
    coding = get_coding(study, user, coding_id)
    known = dictionary(coding.dictionary)
    if not known.terms:  # a verbatim coding: the coder's standard name for the term
        term = Term("", code.strip(), "", "") if isinstance(code, str) and code.strip() else None
        if term is None:
            raise Invalid("a name is required", [FieldError("/code", "the standard name is required")])
        check_text(code, "/code", max_length=200, label="Standard name")
    else:
        term = (known.by_code(code) or known.find(code)) if isinstance(code, str) else None
    if term is None:
        raise Invalid("unknown code", [FieldError("/code", f"not a term of {known.name} {known.version}")])
    _refuse_if_locked(study, coding, "the term cannot be coded")
    try:
        return _write(coding, user.username, "coding_coded", coded=(known, term, "coder"))
    except StaleVersion as exc:
        raise Conflict("the coding changed meanwhile; reload and code it again") from exc


def query_term(study: StudyRuntime, user, coding_id: str, text: Any) -> Coding:
    """A coder asks the site about an unclear term: a query on the item, and the coding marked as queried."""
    coding = get_coding(study, user, coding_id)
    if coding.state == "coded":
        raise Conflict("the term is coded; nothing to ask")
    if not isinstance(text, str) or not text.strip():
        raise Invalid("text is required", [FieldError("/text", "a message is required")])
    check_text(text, "/text", multiline=True, max_length=MAX_QUERY_TEXT, label="Message")
    _refuse_if_locked(study, coding, "no query can be raised")
    query = open_query(study, coding.subject, coding.site, coding.event, coding.form, coding.item,
                       actor=user.username, text=text.strip(), origin="manual")
    try:
        return _write(coding, user.username, "coding_queried", query_id=query.query_id)
    except StaleVersion as exc:
        raise Conflict("the coding changed meanwhile; reload") from exc


def record_codings(study: str, subject: str, event: str, form: str) -> dict[str, Coding]:
    """The codings of one record, by item pointer."""
    return {c.item: c for c in Coding.objects(study=study, subject=subject, event=event, form=form)}


def study_codings(study: str, sites: list[str] | None = None) -> dict[tuple[str, str, str, str], Coding]:
    """Every coding of a study (at ``sites``), by (subject, event, form, item pointer)."""
    query: dict[str, Any] = {"study": study}
    if sites is not None:
        query["site__in"] = sites
    return {(c.subject, c.event, c.form, c.item): c for c in Coding.objects(**query)}

"""ClinicalData: each subject's records with their whole audit trail.

One ItemData per change, each with the AuditRecord of the event that made it; derived values with the
event whose recomputation changed them; a snapshot holds current values instead. Queries, review steps and
signatures come from :mod:`reviews` and :mod:`signatures`. Each subject's documents are read with one query
each (:func:`read_subject`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from audit import AuditStore
from ecrf.coding.codings import Coding
from ecrf.definitions import ROW_ID, CompiledForm
from ecrf.exports.odm.audit_records import audit_copies, audit_record
from ecrf.exports.odm.codings import form_codings
from ecrf.exports.odm.elements import NSMAP, E, group_oid, item_oid, number, oid_part
from ecrf.exports.odm.reviews import form_queries, lifecycle_forms, subject_annotations
from ecrf.exports.odm.signatures import signature_elements
from ecrf.queries import Query
from ecrf.records.document import Record
from ecrf.signatures import TRAIL_ACTIONS, Signature, subject_signatures
from ecrf.studies import StudyRuntime
from ecrf.trail import audit_store, record_stream, subject_stream


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, float):
        return number(value)
    return str(value)


def _item_data(form: str, item: str, value, transaction: str, audit) -> etree._Element:
    attrib = {"ItemOID": item_oid(form, item), "TransactionType": transaction}
    if value is None:
        attrib["IsNull"] = "Yes"
    else:
        attrib["Value"] = _value(value)
    return E("ItemData", attrib, audit)


def _changes_to_groups(form: CompiledForm, event: dict, site: str) -> list[etree._Element]:
    """One ItemGroupData per run of changes to the same group instance, in the order they happened."""
    blocks: list[etree._Element] = []
    audit = audit_copies(event, site)
    key = None
    for change in event.get("changes") or []:
        parts = change["path"].strip("/").split("/")
        item = form.item_by_oid.get(parts[0])
        if item is None:
            continue
        transaction = "Insert" if change["old"] is None else ("Remove" if change["new"] is None else "Update")
        if item.kind != "group":
            target = (group_oid(form.oid), None)
            entries = [_item_data(form.oid, item.oid, change["new"], transaction, audit())]
        elif len(parts) == 1:  # the whole repeating group appeared or went
            rows = change["new"] if change["new"] is not None else change["old"]
            for row in rows:
                blocks.append(_row_block(form, item, row, transaction, audit))
            key = None
            continue
        elif len(parts) == 2:  # a row appeared or went
            row = change["new"] if change["new"] is not None else change["old"]
            blocks.append(_row_block(form, item, row, transaction, audit))
            key = None
            continue
        else:
            target = (group_oid(form.oid, item.oid), parts[1])
            entries = [_item_data(form.oid, parts[2], change["new"], transaction, audit())]
        if key != target:
            blocks.append(E("ItemGroupData", {"ItemGroupOID": target[0], "ItemGroupRepeatKey": target[1],
                                              "TransactionType": "Upsert"}))
            key = target
        blocks[-1].extend(entries)
    return blocks


def _row_block(form, group, row: dict, transaction: str, audit: Callable[[], etree._Element]) -> etree._Element:
    block = E("ItemGroupData", {"ItemGroupOID": group_oid(form.oid, group.oid), "ItemGroupRepeatKey": row[ROW_ID],
                                "TransactionType": transaction})
    if transaction == "Remove":
        block.append(audit())
        return block
    for child in group.children:
        if child.oid in row:
            block.append(_item_data(form.oid, child.oid, row[child.oid], "Insert", audit()))
    return block


EVENT_FIELDS = {"_id": 0, "stream": 1, "seq": 1, "hash": 1, "at": 1, "actor": 1, "action": 1, "reason": 1, "changes": 1,
                "state.derived": 1, "state.sdv_items": 1, "state.signature": 1, "context.event": 1, "context.form": 1}



def _subject_events(store: AuditStore, study: StudyRuntime, subject_id: str) -> dict[str, list[dict]]:
    """The subject's events by stream, each in sequence order: one query on the ``subject_time`` index."""
    streams: dict[str, list[dict]] = {}
    for event in store.collection.find({"context.study": study.oid, "context.subject": subject_id},
                                       EVENT_FIELDS, sort=[("at", 1), ("stream", 1), ("seq", 1)]):
        streams.setdefault(event.get("stream"), []).append(event)
    for events in streams.values():
        events.sort(key=_seq)  # clocks may disagree; the sequence decides
    return streams


def _seq(event: dict) -> int:
    seq = event.get("seq")
    return seq if type(seq) is int else -1  # unusable: the stream is then read by name


def _stream_events(store: AuditStore, streams: dict[str, list[dict]], stream: str, version: int) -> list[dict]:
    """A whole stream: from the subject's events when they hold it, else read on its own."""
    events = streams.get(stream, [])
    # Every write sets the context the subject query selects on; a stream whose
    # events do not all carry it (a gap, or fewer events than the projection
    # counts) is read by name, as before.
    whole = [_seq(event) for event in events] == list(range(1, len(events) + 1))
    if not whole or len(events) < (version or 0):
        return store.events(stream)
    return events


def _derived_changes(events: list[dict]) -> list[tuple[dict, list[tuple[str, Any, Any]]]]:
    """For each event that changed derived values: the event and ``(name, old, new)`` of each value it changed."""
    found, derived = [], {}
    for event in events:
        new = (event.get("state") or {}).get("derived")
        if new is None:
            continue  # a review step: derived values are what they were
        names = list(derived) + [name for name in new if name not in derived]
        changed = [(name, derived.get(name), new.get(name)) for name in names
                   if derived.get(name) != new.get(name) or (name in derived) != (name in new)]
        if changed:
            found.append((event, changed))
        derived = new
    return found


def _derived_group(form: CompiledForm, event: dict, changed: list, site: str) -> etree._Element:
    """The derived values an event's recomputation changed, each with that event's AuditRecord."""
    audit = audit_copies(event, site)
    return E("ItemGroupData", {"ItemGroupOID": group_oid(form.oid), "TransactionType": "Upsert"},
             *[_item_data(form.oid, name, new, "Insert" if old is None else ("Remove" if new is None else "Update"),
                          audit()) for name, old, new in changed])


def _current_values(form: CompiledForm, record: dict, events: list[dict], site: str) -> etree._Element | None:
    """A snapshot's ItemGroupData: the current data, and derived values with the event that last set each."""
    current = E("ItemGroupData", {"ItemGroupOID": group_oid(form.oid), "TransactionType": "Upsert"})
    for item in form.items:
        if item.kind != "group" and item.oid in (record.get("data") or {}):
            current.append(_item_data(form.oid, item.oid, record["data"][item.oid], "Upsert", None))
    origin = {name: event for event, changed in _derived_changes(events) for name, _, _ in changed}
    for name, value in (record.get("derived") or {}).items():
        current.append(_item_data(form.oid, name, value, "Upsert",
                                  audit_record(origin[name], site) if name in origin else None))
    return current if len(current) else None




@dataclass
class SubjectDocuments:
    """What one subject's ``SubjectData`` is built from, read with one query each."""

    records: dict[tuple, dict]
    queries: dict[tuple, list]
    signatures: list[Signature]  # each with its standing
    events: dict[str, list[dict]]  # every record stream of the subject, whole
    subject_events: list[dict]  # the subject's own stream
    codings: dict[tuple, list] = field(default_factory=dict)  # coded terms by (event, form)


# What SubjectData needs of a record projection; its data only in a snapshot
# (with the audit trail the changes carry it).
RECORD_FIELDS = {"event": 1, "form": 1, "version": 1, "derived": 1}


def read_subject(study: StudyRuntime, subject, store: AuditStore, *, with_audit: bool = True) -> SubjectDocuments:
    """The subject's records, queries, signatures and audit events (raw documents, one query each)."""

    key = {"study": study.oid, "subject": subject.subject_id}
    fields = RECORD_FIELDS if with_audit else {**RECORD_FIELDS, "data": 1}
    records = {(r["event"], r["form"]): r for r in Record._get_collection().find(key, fields)}
    queries: dict[tuple, list] = {}
    for query in Query._get_collection().find(key, sort=[("opened_at", 1)]):
        queries.setdefault((query["event"], query["form"]), []).append(query)
    streams = _subject_events(store, study, subject.subject_id)
    events = {}
    for (event, form), record in records.items():
        stream = record_stream(study.oid, subject.subject_id, event, form)
        events[stream] = _stream_events(store, streams, stream, record.get("version"))
    trail = [
        e
        for stream, found in sorted({**streams, **events}.items())
        if stream in events or stream.startswith("signature/")
        for e in found
        if e["action"] in TRAIL_ACTIONS
    ]
    signatures = subject_signatures(study.oid, subject.subject_id, trail)
    # Every subject stream holds at least its registration; the export's subjects carry no version.
    own = _stream_events(store, streams, subject_stream(study.oid, subject.subject_id), 1)
    codings: dict[tuple, list] = {}
    for coding in Coding.objects(study=study.oid, subject=subject.subject_id, state="coded").order_by("item"):
        codings.setdefault((coding.event, coding.form), []).append(coding)
    return SubjectDocuments(records, queries, signatures, events, own, codings)


def subject_data(
    study: StudyRuntime,
    subject,
    *,
    with_audit: bool = True,
    store: AuditStore | None = None,
    documents: SubjectDocuments | None = None,
) -> etree._Element:
    """One ``SubjectData`` element with every record's history, queries, review steps and signatures.

    Its AuditRecord is the subject's registration; each record's changes
    and derived values carry the AuditRecord of the event that set them;
    review steps and form and visit signatures follow as Context elements.
    ``documents`` are the subject's as :func:`read_subject` gives them
    (read here if not given; nothing of the subject outlives the call).
    ``store`` is the audit store to read, made once per export by the caller.
    """
    store = store or audit_store()
    found = documents or read_subject(study, subject, store, with_audit=with_audit)
    registered = next((e for e in found.subject_events if e["action"] == "subject_registered"), None)
    element = E(
        "SubjectData",
        {"SubjectKey": subject.subject_id, "TransactionType": "Insert"},
        audit_record(registered, subject.site) if registered else None,
        E("SiteRef", {"LocationOID": f"LOC.{oid_part(subject.site)}"}),
        *subject_annotations(found.subject_events),
        nsmap=NSMAP,
    )
    signed: dict[tuple, list[Signature]] = {}
    for sig in found.signatures:
        signed.setdefault((sig.scope, sig.event, sig.form), []).append(sig)
    for event_def in study.events:
        forms = []
        for form_oid in event_def["forms"]:
            record = found.records.get((event_def["oid"], form_oid))
            if record is None:
                continue
            form = study.forms[form_oid]
            events = found.events[record_stream(study.oid, subject.subject_id, event_def["oid"], form_oid)]
            on_form, on_items = form_queries(form, found.queries.get((event_def["oid"], form_oid), []))
            form_element = E("FormData", {"FormOID": f"F.{form_oid}", "TransactionType": "Upsert"}, *on_form)
            if with_audit:
                derived = {id(event): changed for event, changed in _derived_changes(events)}
                for event in events:
                    form_element.extend(_changes_to_groups(form, event, subject.site))
                    if id(event) in derived:
                        form_element.append(_derived_group(form, event, derived[id(event)], subject.site))
            else:
                current = _current_values(form, record, events, subject.site)
                if current is not None:
                    form_element.append(current)
            form_element.extend(on_items)
            form_element.extend(form_codings(form, found.codings.get((event_def["oid"], form_oid), [])))
            forms.append(form_element)
            forms += lifecycle_forms(form_oid, events, subject.site)
            forms += [
                E("FormData", {"FormOID": f"F.{form_oid}", "TransactionType": "Context"}, *signature_elements(sig))
                for sig in signed.get(("record", event_def["oid"], form_oid), [])
            ]
        repeat = "1" if event_def.get("repeating") else None
        if forms:
            element.append(
                E(
                    "StudyEventData",
                    {
                        "StudyEventOID": f"SE.{event_def['oid']}",
                        "TransactionType": "Upsert",
                        "StudyEventRepeatKey": repeat,
                    },
                    *forms,
                )
            )
        for sig in signed.get(("event", event_def["oid"], None), []):
            element.append(
                E(
                    "StudyEventData",
                    {
                        "StudyEventOID": f"SE.{event_def['oid']}",
                        "TransactionType": "Context",
                        "StudyEventRepeatKey": repeat,
                    },
                    *signature_elements(sig),
                )
            )
    return element

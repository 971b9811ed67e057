"""CDISC ODM 1.3.2 export: study metadata built from the form definitions, and clinical data with the
whole audit trail (one ItemData per change, each with its AuditRecord), queries as Annotations and
signatures. Written incrementally with lxml, one subject at a time."""

from __future__ import annotations

import copy
import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, Callable

from lxml import etree

from audit import AuditStore, utc_now
from ecrf.definitions import ROW_ID, CompiledForm, Item
from ecrf.exports import read_ahead
from ecrf.lifecycle import Signature
from ecrf.queries import Query
from ecrf.sites import Site
from ecrf.studies import StudyRuntime
from ecrf.text import xml_safe
from ecrf.trail import audit_store, record_stream
from ecrf.users import User

NS = "http://www.cdisc.org/ns/odm/v1.3"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SYSTEM_USER = "USR.system"
SIGNATURE_DEF = "SD.ATTEST"
QUERY_STATES = ("open", "answered", "closed", "not_applicable")
DATA_TYPES = {"text": "text", "textarea": "text", "integer": "integer", "number": "float", "date": "date",
              "datetime": "datetime", "time": "time", "boolean": "boolean", "choice": None, "multichoice": "text"}


def E(tag: str, attrib: dict | None = None, *children, text: str | None = None) -> etree._Element:
    """An ODM element with attributes (None values dropped), children and text.

    Attribute values and text go through :func:`~ecrf.text.xml_safe`: data stored before the input rules
    may hold characters XML 1.0 cannot carry, and they must not break the export.
    """
    element = etree.Element(f"{{{NS}}}{tag}", {k: xml_safe(str(v)) for k, v in (attrib or {}).items() if v is not None})
    for child in children:
        if child is not None:
            element.append(child)
    if text is not None:
        element.text = xml_safe(text)
    return element


def _translated(tag: str, english: str, labels: dict) -> etree._Element:
    texts = [E("TranslatedText", {XML_LANG: "en"}, text=english)]
    texts += [E("TranslatedText", {XML_LANG: lang}, text=value) for lang, value in sorted(labels.items())]
    return E(tag, None, *texts)


def _oid_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(text))


def unit_oid(unit: str) -> str:
    return "MU." + _oid_part(unit.encode("ascii", "backslashreplace").decode().replace("\\", "x"))


def item_oid(form: str, item: str) -> str:
    return f"IT.{form}.{item}"


def group_oid(form: str, group: str | None = None) -> str:
    return f"IG.{form}.{group}" if group else f"IG.{form}"


def mdv_oid(study: StudyRuntime) -> str:
    return f"MDV.{_oid_part(study.version)}.{study.definition_hash[:8]}"


def iso(value: dt.datetime) -> str:
    """UTC to the second, ``YYYY-MM-DDTHH:MM:SSZ`` (naive times are UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    if value.utcoffset() != _ZERO:
        value = value.astimezone(dt.timezone.utc)
    # By hand: faster, and isoformat() + replace() kept allocator blocks alive (seen under tracemalloc).
    return (f"{value.year:04d}-{value.month:02d}-{value.day:02d}T"
            f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}Z")


_ZERO = dt.timedelta(0)


# ---------------------------------------------------------------- metadata


def _data_type(item: Item) -> str:
    if item.kind == "choice":
        return "integer" if all(isinstance(c.value, int) for c in item.choices) else "text"
    return DATA_TYPES[item.kind]


def _range_checks(schema: dict) -> list[etree._Element]:
    checks = []
    for keyword, comparator in (("minimum", "GE"), ("exclusiveMinimum", "GT"), ("maximum", "LE"), ("exclusiveMaximum", "LT")):
        if keyword in schema:
            checks.append(E("RangeCheck", {"Comparator": comparator, "SoftHard": "Hard"},
                            E("CheckValue", text=_number(schema[keyword]))))
    return checks


def _number(value) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _item_def(form: CompiledForm, item: Item, codelists: list, units: set) -> etree._Element:
    attrib = {"OID": item_oid(form.oid, item.oid), "Name": item.oid, "DataType": _data_type(item)}
    if attrib["DataType"] == "text":
        attrib["Length"] = item.schema.get("maxLength", 4000 if item.kind != "multichoice" else 2000)
    children = [
        _translated("Description", item.help, item.help_labels) if item.help else None,
        _translated("Question", item.title, item.labels),
    ]
    if item.unit:
        units.add(item.unit)
        children.append(E("MeasurementUnitRef", {"MeasurementUnitOID": unit_oid(item.unit)}))
    children += _range_checks(item.schema)
    if item.kind == "choice":
        oid = f"CL.{form.oid}.{item.oid}"
        children.append(E("CodeListRef", {"CodeListOID": oid}))
        codelists.append(E("CodeList", {"OID": oid, "Name": f"{form.oid} {item.oid}", "DataType": attrib["DataType"]},
                           *[E("CodeListItem", {"CodedValue": c.value}, _translated("Decode", c.title, c.labels))
                             for c in item.choices]))
    return E("ItemDef", attrib, *children)


def metadata(study: StudyRuntime) -> etree._Element:
    """The ``Study`` element: global variables, units and the MetaDataVersion."""
    forms, groups, items, codelists, units = [], [], [], [], set()
    for form in study.forms.values():
        refs = []
        top = [i for i in form.items if i.kind != "group"]
        if top or form.derivations:
            refs.append(E("ItemGroupRef", {"ItemGroupOID": group_oid(form.oid), "Mandatory": "Yes"}))
            required = set(form.schema.get("required", []))
            item_refs = [E("ItemRef", {"ItemOID": item_oid(form.oid, i.oid), "Mandatory": "Yes" if i.oid in required else "No",
                                       "OrderNumber": n}) for n, i in enumerate(top, 1)]
            item_refs += [E("ItemRef", {"ItemOID": item_oid(form.oid, d.oid), "Mandatory": "No",
                                        "OrderNumber": len(top) + n}) for n, d in enumerate(form.derivations, 1)]
            groups.append(E("ItemGroupDef", {"OID": group_oid(form.oid), "Name": form.oid, "Repeating": "No"}, *item_refs))
            items += [_item_def(form, i, codelists, units) for i in top]
            for d in form.derivations:
                data_type = {"integer": "integer", "number": "float", "boolean": "boolean"}.get(d.spec["type"], "text")
                attrib = {"OID": item_oid(form.oid, d.oid), "Name": d.oid, "DataType": data_type}
                if data_type == "text":
                    attrib["Length"] = 2000
                items.append(E("ItemDef", attrib,
                               E("Description", None, E("TranslatedText", {XML_LANG: "en"}, text=f"Derived: {d.spec['expr']}")),
                               _translated("Question", d.spec["title"], d.spec.get("x-ecrf-labels", {}))))
        for group in (i for i in form.items if i.kind == "group"):
            refs.append(E("ItemGroupRef", {"ItemGroupOID": group_oid(form.oid, group.oid), "Mandatory": "No"}))
            required = set(group.schema["items"].get("required", []))
            groups.append(E("ItemGroupDef", {"OID": group_oid(form.oid, group.oid), "Name": f"{form.oid}.{group.oid}",
                                             "Repeating": "Yes"},
                            *[E("ItemRef", {"ItemOID": item_oid(form.oid, c.oid), "Mandatory": "Yes" if c.oid in required else "No",
                                            "OrderNumber": n}) for n, c in enumerate(group.children, 1)]))
            items += [_item_def(form, c, codelists, units) for c in group.children]
        forms.append(E("FormDef", {"OID": f"F.{form.oid}", "Name": form.title, "Repeating": "No"}, *refs))
    events = [E("StudyEventDef", {"OID": f"SE.{e['oid']}", "Name": e["name"],
                                  "Repeating": "Yes" if e.get("repeating") else "No",
                                  "Type": "Common" if e.get("log") else ("Unscheduled" if e.get("repeating") else "Scheduled")},
                *[E("FormRef", {"FormOID": f"F.{f}", "Mandatory": "No"}) for f in e["forms"]])
              for e in study.events]
    codelists += [
        E("CodeList", {"OID": "CL.QUERY_STATE", "Name": "Query state", "DataType": "text"},
          *[E("CodeListItem", {"CodedValue": s}, _translated("Decode", s.replace("_", " "), {})) for s in QUERY_STATES]),
        E("CodeList", {"OID": "CL.QUERY_ORIGIN", "Name": "Query origin", "DataType": "text"},
          *[E("CodeListItem", {"CodedValue": s}, _translated("Decode", s, {})) for s in ("system", "manual")]),
    ]
    protocol = E("Protocol", None, *[E("StudyEventRef", {"StudyEventOID": f"SE.{e['oid']}", "OrderNumber": n,
                                                          "Mandatory": "No" if e.get("repeating") or e.get("log") else "Yes"})
                                     for n, e in enumerate(study.events, 1)])
    mdv = E("MetaDataVersion", {"OID": mdv_oid(study), "Name": f"{study.name} {study.version}",
                                "Description": f"definition {study.definition_hash}"},
            protocol, *events, *forms, *groups, *items, *codelists)
    basic = E("BasicDefinitions", None, *[E("MeasurementUnit", {"OID": unit_oid(u), "Name": u}, _translated("Symbol", u, {}))
                                           for u in sorted(units)])
    return E("Study", {"OID": study.oid},
             E("GlobalVariables", None, E("StudyName", text=study.name),
               E("StudyDescription", text=study.study.get("description", study.name)),
               E("ProtocolName", text=study.study.get("protocol", study.oid))),
             basic, mdv)


def admin_data(study: StudyRuntime) -> etree._Element:
    """Users, sites (Locations) and the signature meaning."""
    users = [E("User", {"OID": SYSTEM_USER, "UserType": "Other"}, E("LoginName", text="system"),
               E("FullName", text="eCRF engine (automatic derivations, checks and query closing)"))]
    for user in User.objects.order_by("username"):
        users.append(E("User", {"OID": f"USR.{_oid_part(user.username)}"}, E("LoginName", text=user.username),
                       E("DisplayName", text=user.display_name), E("FullName", text=user.display_name),
                       *[E("LocationRef", {"LocationOID": f"LOC.{_oid_part(s)}"}) for s in user.sites]))
    locations = [E("Location", {"OID": f"LOC.{_oid_part(site.code)}", "Name": site.name, "LocationType": "Site"},
                   E("MetaDataVersionRef", {"StudyOID": study.oid, "MetaDataVersionOID": mdv_oid(study),
                                            "EffectiveDate": (site.created_at or utc_now()).date().isoformat()}))
                 for site in Site.objects.order_by("code")]
    from ecrf.lifecycle import SIGNATURE_MEANING

    signature = E("SignatureDef", {"OID": SIGNATURE_DEF, "Methodology": "Electronic"},
                  E("Meaning", text=SIGNATURE_MEANING),
                  E("LegalReason", text="21 CFR Part 11 electronic signature, password re-entered at signing"))
    return E("AdminData", {"StudyOID": study.oid}, *users, *locations, signature)


# ---------------------------------------------------------------- clinical data


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, float):
        return _number(value)
    return str(value)


def _user(actor: str) -> str:
    return SYSTEM_USER if actor in ("system", None) else f"USR.{_oid_part(actor)}"


def _audit_record(event: dict, site: str) -> etree._Element:
    return E("AuditRecord", None, E("UserRef", {"UserOID": _user(event["actor"])}),
             E("LocationRef", {"LocationOID": f"LOC.{_oid_part(site)}"}), E("DateTimeStamp", text=iso(event["at"])),
             E("ReasonForChange", text=event["reason"]) if event.get("reason") else None,
             E("SourceID", text=f"{event['stream']}#{event['seq']}:{event['action']}"))


def _item_data(form: str, item: str, value, transaction: str, audit) -> etree._Element:
    attrib = {"ItemOID": item_oid(form, item), "TransactionType": transaction}
    if value is None:
        attrib["IsNull"] = "Yes"
    else:
        attrib["Value"] = _value(value)
    return E("ItemData", attrib, audit)


def _audit_copies(event: dict, site: str) -> Callable[[], etree._Element]:
    """A maker of the event's AuditRecord: lxml copies a built element many times faster than E builds it."""
    prototype = _audit_record(event, site)
    return lambda: copy.copy(prototype)


def _changes_to_groups(form: CompiledForm, event: dict, site: str) -> list[etree._Element]:
    """One ItemGroupData per run of changes to the same group instance, in the order they happened."""
    blocks: list[etree._Element] = []
    audit = _audit_copies(event, site)
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


def _query_annotations(queries: list[dict], start: int) -> list[etree._Element]:
    annotations = []
    for number, query in enumerate(queries, start):
        thread = " | ".join(f"{iso(m['at'])} {m['author']} ({m.get('action')}): {m['text']}"
                            for m in query.get("messages") or [])
        origin, check = query["origin"], query.get("check")
        comment = f"Query {query['_id']} on {query['item']} [{origin}{', ' + check if check else ''}]: {thread}"
        annotations.append(E("Annotation", {"SeqNum": number},
                             E("Comment", {"SponsorOrSite": "Sponsor" if origin == "manual" else "Site"}, text=comment),
                             E("Flag", None, E("FlagValue", {"CodeListOID": "CL.QUERY_STATE"}, text=query["state"]),
                               E("FlagType", {"CodeListOID": "CL.QUERY_ORIGIN"}, text=origin))))
    return annotations


# What an AuditRecord and the changes need of an event.
EVENT_FIELDS = {"_id": 0, "stream": 1, "seq": 1, "at": 1, "actor": 1, "action": 1, "reason": 1, "changes": 1}


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


def _record_events(store: AuditStore, streams: dict[str, list[dict]], stream: str, record: dict) -> list[dict]:
    """The record's whole stream: from the subject's events when they hold it, else read on its own."""
    events = streams.get(stream, [])
    # Every write sets the context the subject query selects on; a stream whose
    # events do not all carry it (a gap, or fewer events than the projection
    # counts) is read by name, as before.
    whole = [_seq(event) for event in events] == list(range(1, len(events) + 1))
    if not whole or len(events) < (record.get("version") or 0):
        return store.events(stream)
    return events


def _signature(sig: dict, form_oid: str, event_oid: str, site: str) -> etree._Element:
    return E("Signature", {"ID": f"SIG.{sig['_id']}.{form_oid}.{event_oid}"},
             E("UserRef", {"UserOID": _user(sig["signer"])}),
             E("LocationRef", {"LocationOID": f"LOC.{_oid_part(site)}"}),
             E("SignatureRef", {"SignatureOID": SIGNATURE_DEF}),
             E("DateTimeStamp", text=iso(sig["at"])))


def _current_values(form: CompiledForm, record: dict, last: dict | None, site: str,
                    with_audit: bool) -> etree._Element | None:
    """The ItemGroupData of derived values (and, in a snapshot, the current data), if any."""
    current = E("ItemGroupData", {"ItemGroupOID": group_oid(form.oid), "TransactionType": "Upsert"})
    if not with_audit:
        for item in form.items:
            if item.kind != "group" and item.oid in (record.get("data") or {}):
                current.append(_item_data(form.oid, item.oid, record["data"][item.oid], "Upsert", None))
    derived = record.get("derived") or {}
    audit = _audit_copies({**last, "actor": "system", "reason": "derived"}, site) if derived and last else None
    for name, value in derived.items():
        current.append(_item_data(form.oid, name, value, "Upsert", audit() if audit else None))
    return current if len(current) else None


@dataclass
class SubjectDocuments:
    """What one subject's ``SubjectData`` is built from, read with one query each."""

    records: dict[tuple, dict]
    queries: dict[tuple, list]
    signatures: dict
    streams: dict[str, list[dict]]


# What SubjectData needs of a record projection; its data only in a snapshot (with the audit trail the changes carry it).
RECORD_FIELDS = {"event": 1, "form": 1, "version": 1, "derived": 1, "signature.id": 1}


def read_subject(study: StudyRuntime, subject, store: AuditStore, *, with_audit: bool = True) -> SubjectDocuments:
    """The subject's records, queries, signatures and audit events (raw documents, one query each)."""
    from ecrf.records import Record

    key = {"study": study.oid, "subject": subject.subject_id}
    fields = RECORD_FIELDS if with_audit else {**RECORD_FIELDS, "data": 1}
    records = {(r["event"], r["form"]): r for r in Record._get_collection().find(key, fields)}
    queries: dict[tuple, list] = {}
    for query in Query._get_collection().find(key, sort=[("opened_at", 1)]):
        queries.setdefault((query["event"], query["form"]), []).append(query)
    signatures = {s["_id"]: s for s in Signature._get_collection().find(key, {"signer": 1, "at": 1})}
    streams = _subject_events(store, study, subject.subject_id) if records else {}
    return SubjectDocuments(records, queries, signatures, streams)


def subject_data(study: StudyRuntime, subject, *, with_audit: bool = True,
                 store: AuditStore | None = None, documents: SubjectDocuments | None = None) -> etree._Element:
    """One ``SubjectData`` element with every record's history, queries and signatures.

    ``documents`` are the subject's as :func:`read_subject` gives them
    (read here if not given; nothing of the subject outlives the call).
    ``store`` is the audit store to read, made once per export by the caller.
    """
    store = store or audit_store()
    found = documents or read_subject(study, subject, store, with_audit=with_audit)
    records, queries, signatures, streams = found.records, found.queries, found.signatures, found.streams
    element = E("SubjectData", {"SubjectKey": subject.subject_id, "TransactionType": "Insert"},
                E("SiteRef", {"LocationOID": f"LOC.{_oid_part(subject.site)}"}))
    for event_def in study.events:
        forms = []
        for form_oid in event_def["forms"]:
            record = records.get((event_def["oid"], form_oid))
            if record is None:
                continue
            form = study.forms[form_oid]
            form_element = E("FormData", {"FormOID": f"F.{form_oid}", "TransactionType": "Upsert"})
            signature = (record.get("signature") or {}).get("id")
            if signature in signatures:
                form_element.append(_signature(signatures[signature], form_oid, event_def["oid"], subject.site))
            form_element.extend(_query_annotations(queries.get((event_def["oid"], form_oid), []), 1))
            stream = record_stream(study.oid, subject.subject_id, event_def["oid"], form_oid)
            events = _record_events(store, streams, stream, record)
            if with_audit:
                for event in events:
                    form_element.extend(_changes_to_groups(form, event, subject.site))
            if record.get("derived") or not with_audit:
                current = _current_values(form, record, events[-1] if events else None, subject.site, with_audit)
                if current is not None:
                    form_element.append(current)
            forms.append(form_element)
        if forms:
            element.append(E("StudyEventData", {"StudyEventOID": f"SE.{event_def['oid']}", "TransactionType": "Upsert",
                                                "StudyEventRepeatKey": "1" if event_def.get("repeating") else None},
                             *forms))
    return element


def write_odm(out: BinaryIO, study: StudyRuntime, subjects, *, progress: Callable[[int], None] | None = None,
              with_audit: bool = True) -> int:
    """Write an ODM 1.3.2 document (metadata, admin data, clinical data with audit trail); returns subjects written."""
    # One store for the export: each pymongo Collection made parks a tuple in CPython's free list
    # (one per subject, up to 2,000), which tracemalloc counts as memory the export holds.
    written, store = 0, audit_store()
    with etree.xmlfile(out, encoding="UTF-8") as xf:
        xf.write_declaration()
        with xf.element(f"{{{NS}}}ODM", {"FileType": "Transactional" if with_audit else "Snapshot", "Granularity": "All",
                                         "FileOID": f"ECRF.{study.oid}.{utc_now().strftime('%Y%m%dT%H%M%S')}",
                                         "CreationDateTime": iso(utc_now()), "ODMVersion": "1.3.2",
                                         "Originator": "eCRF engine", "SourceSystem": "ecrf"}, nsmap={None: NS}):
            xf.write(metadata(study))
            xf.write(admin_data(study))
            with xf.element(f"{{{NS}}}ClinicalData", {"StudyOID": study.oid, "MetaDataVersionOID": mdv_oid(study)}):
                # The next subject's documents are read while this one's XML is built and written.
                def read(subject):
                    return read_subject(study, subject, store, with_audit=with_audit)

                for subject, documents in read_ahead(subjects, read):
                    xf.write(subject_data(study, subject, with_audit=with_audit, store=store, documents=documents))
                    xf.flush()
                    written += 1
                    if progress:
                        progress(1)
    return written


@lru_cache(maxsize=1)
def odm_schema() -> etree.XMLSchema:
    """The official ODM 1.3.2 XSD, as shipped by odmlib."""
    import odmlib

    path = Path(odmlib.__file__).parent / "schemas" / "odm" / "1.3.2" / "ODM1-3-2.xsd"
    return etree.XMLSchema(etree.parse(str(path)))

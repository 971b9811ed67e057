"""CDISC ODM 1.3.2 export: study metadata built from the form definitions, and clinical data with the
whole audit trail (one ItemData per change, each with the AuditRecord of the event that made it; derived
values with the event whose recomputation changed them), queries as Annotations on the items they name,
review steps (SDV, lock, freeze) and every signature, valid or voided, with the meaning signed.
Written incrementally with lxml, one subject at a time. docs/odm-export.md maps each construct."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Callable

from lxml import etree

from audit import AuditStore, utc_now
from ecrf.definitions import ROW_ID, CompiledForm, Item
from ecrf.exports.readahead import read_ahead
from ecrf.queries import Query
from ecrf.signatures import SCOPE_NAMES, SIGNATURE_MEANING, TRAIL_ACTIONS, Signature, subject_signatures
from ecrf.sites import Site
from ecrf.studies import StudyRuntime
from ecrf.text import xml_safe
from ecrf.trail import audit_store, record_stream, subject_stream
from ecrf.users import User

NS = "http://www.cdisc.org/ns/odm/v1.3"
NSMAP = {None: NS}  # the default namespace: no ns0: prefixes
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SYSTEM_USER = "USR.system"
SIGNATURE_DEF = "SD.ATTEST"
QUERY_STATES = ("open", "answered", "closed", "not_applicable")
DATA_TYPES = {"text": "text", "textarea": "text", "integer": "integer", "number": "float", "date": "date",
              "datetime": "datetime", "time": "time", "boolean": "boolean", "choice": None, "multichoice": "text"}


def E(tag: str, attrib: dict | None = None, *children, text: str | None = None,
      nsmap: dict | None = None) -> etree._Element:
    """An ODM element with attributes (None values dropped), children and text.

    Elements written on their own (Study, AdminData, SubjectData) pass
    ``nsmap=NSMAP``; their descendants then take the default namespace.
    Attribute values and text go through :func:`~ecrf.text.xml_safe`: data stored before the input rules
    may hold characters XML 1.0 cannot carry, and they must not break the export.
    """
    element = etree.Element(f"{{{NS}}}{tag}", {k: xml_safe(str(v)) for k, v in (attrib or {}).items() if v is not None},
                            nsmap=nsmap)
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
        *[E("CodeList", {"OID": oid, "Name": name, "DataType": "text"},
            *[E("CodeListItem", {"CodedValue": code}, _translated("Decode", code.replace("_", " "), {})) for code in codes])
          for oid, (name, codes) in CODE_LISTS.items()],
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
               E("StudyDescription", text=study.definition.get("description", study.name)),
               E("ProtocolName", text=study.definition.get("protocol", study.oid))),
             basic, mdv, nsmap=NSMAP)


def admin_data(study: StudyRuntime, store: AuditStore | None = None) -> etree._Element:
    """Users, sites (Locations) and one SignatureDef per meaning ever signed in the study."""
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
    # The meanings come from the sign events themselves: a signature is exported with the meaning it was signed with.
    signed = (store or audit_store()).collection.distinct(
        "state.signature.meaning", {"context.study": study.oid, "action": "sign"})
    meanings = [SIGNATURE_MEANING, *sorted(m for m in set(signed) if isinstance(m, str) and m != SIGNATURE_MEANING)]
    signatures = [E("SignatureDef", {"OID": signature_def_oid(meaning), "Methodology": "Electronic"},
                    E("Meaning", text=meaning),
                    E("LegalReason", text="21 CFR Part 11 electronic signature, password re-entered at signing"))
                  for meaning in meanings]
    return E("AdminData", {"StudyOID": study.oid}, *users, *locations, *signatures, nsmap=NSMAP)


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


def _annotation(number: int, comment: str | None, *flags: tuple[str, str, str, str],
                source: str = "Sponsor") -> etree._Element:
    """An Annotation: a comment and flags given as ``(value, value list, type, type list)``."""
    return E("Annotation", {"SeqNum": number},
             E("Comment", {"SponsorOrSite": source}, text=comment) if comment else None,
             *[E("Flag", None, E("FlagValue", {"CodeListOID": value_list}, text=value),
                 E("FlagType", {"CodeListOID": type_list}, text=kind)) for value, value_list, kind, type_list in flags])


def _query_annotation(query: dict, number: int) -> etree._Element:
    thread = " | ".join(f"{iso(m['at'])} {m['author']} ({m.get('action')}): {m['text']}"
                        for m in query.get("messages") or [])
    origin, check = query["origin"], query.get("check")
    comment = f"Query {query['_id']} on {query['item']} [{origin}{', ' + check if check else ''}]: {thread}"
    return _annotation(number, comment, (query["state"], "CL.QUERY_STATE", origin, "CL.QUERY_ORIGIN"),
                       source="Sponsor" if origin == "manual" else "Site")


def _query_target(form: CompiledForm, pointer: str) -> tuple[str, str | None, str] | None:
    """``(item group OID, repeat key, item OID)`` of the item a query names, or None for the whole form."""
    parts = str(pointer).split("/")
    item = form.item_by_oid.get(parts[1]) if len(parts) > 1 else None
    if len(parts) == 2 and (item is not None and item.kind != "group" or any(d.oid == parts[1] for d in form.derivations)):
        return group_oid(form.oid), None, item_oid(form.oid, parts[1])
    if len(parts) == 4 and item is not None and item.kind == "group" and any(c.oid == parts[3] for c in item.children):
        return group_oid(form.oid, item.oid), parts[2], item_oid(form.oid, parts[3])
    return None


def _queries(form: CompiledForm, queries: list[dict]) -> tuple[list[etree._Element], list[etree._Element]]:
    """The form's queries: Annotations on the form for those naming no item, and for each query naming an
    item a Context ItemGroupData whose ItemData carries it."""
    on_form, on_items = [], []
    for query in queries:
        target = _query_target(form, query["item"])
        if target is None:
            on_form.append(_query_annotation(query, len(on_form) + 1))
            continue
        group, repeat, item = target
        on_items.append(E("ItemGroupData", {"ItemGroupOID": group, "ItemGroupRepeatKey": repeat, "TransactionType": "Context"},
                          E("ItemData", {"ItemOID": item, "TransactionType": "Context"}, _query_annotation(query, 1))))
    return on_form, on_items


# What an AuditRecord, the changes, derived values, lifecycle steps and signatures need of an event.
EVENT_FIELDS = {"_id": 0, "stream": 1, "seq": 1, "hash": 1, "at": 1, "actor": 1, "action": 1, "reason": 1, "changes": 1,
                "state.derived": 1, "state.sdv_items": 1, "state.signature": 1, "context.event": 1, "context.form": 1}
# Review steps on a record's stream, exported as Context FormData with the step's AuditRecord and a flag.
LIFECYCLE_ACTIONS = ("sdv", "sdv_items", "lock", "unlock", "freeze", "unfreeze")
# Steps on a subject's own stream after its registration, exported as Annotations on the SubjectData.
SUBJECT_ACTIONS = ("subject_status", "lock", "unlock", "freeze", "unfreeze")
# The code lists the Flags are coded against (docs/odm-export.md describes each code).
FLAG_TYPES = ("lifecycle", "signature", "signature_scope")
SIGNATURE_STATES = ("valid", "voided")
CODE_LISTS = {
    "CL.ECRF_FLAG_TYPE": ("eCRF flag type", FLAG_TYPES),
    "CL.ECRF_LIFECYCLE": ("eCRF review step", (*LIFECYCLE_ACTIONS, "subject_status")),
    "CL.SIGNATURE_STATE": ("Signature state", SIGNATURE_STATES),
    "CL.SIGNATURE_SCOPE": ("Signature scope", tuple(SCOPE_NAMES.values())),
}


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


def _lifecycle_form(form_oid: str, event: dict, before: dict, site: str) -> etree._Element:
    """A Context FormData for one review step of a record: the step's own AuditRecord and a flag naming it."""
    action = event["action"]
    comment = {"sdv": "source data verified (whole form)", "lock": "locked", "unlock": "unlocked",
               "freeze": "frozen", "unfreeze": "unfrozen"}.get(action)
    if action == "sdv_items":
        items = (event.get("state") or {}).get("sdv_items") or {}
        comment = "source data verified: " + ", ".join(sorted(i for i in items if items[i] != before.get(i)))
    return E("FormData", {"FormOID": f"F.{form_oid}", "TransactionType": "Context"}, _audit_record(event, site),
             _annotation(1, comment, (action, "CL.ECRF_LIFECYCLE", "lifecycle", "CL.ECRF_FLAG_TYPE")))


def _lifecycle_forms(form_oid: str, events: list[dict], site: str) -> list[etree._Element]:
    elements, verified = [], {}
    for event in events:
        if event["action"] in LIFECYCLE_ACTIONS:
            elements.append(_lifecycle_form(form_oid, event, verified, site))
        if "sdv_items" in (event.get("state") or {}):
            verified = event["state"]["sdv_items"] or {}
    return elements


def _subject_annotations(events: list[dict]) -> list[etree._Element]:
    """Annotations for the steps of the subject's own stream after registration (status, subject locks)."""
    annotations = []
    for event in events:
        if event["action"] not in SUBJECT_ACTIONS:
            continue
        change = "; ".join(f"{c['path']}: {c['old']} → {c['new']}" for c in event.get("changes") or [])
        comment = (f"{event['action']} by {event['actor']} at {iso(event['at'])}{': ' + change if change else ''}"
                   f"{' (' + event['reason'] + ')' if event.get('reason') else ''} [{event['stream']}#{event['seq']}]")
        annotations.append(_annotation(len(annotations) + 1, comment,
                                       (event["action"], "CL.ECRF_LIFECYCLE", "lifecycle", "CL.ECRF_FLAG_TYPE")))
    return annotations


def signature_def_oid(meaning: str) -> str:
    """The SignatureDef of a meaning: SD.ATTEST for the default one, one per other meaning signed."""
    if meaning == SIGNATURE_MEANING:
        return SIGNATURE_DEF
    return "SD." + hashlib.sha256(meaning.encode("utf-8")).hexdigest()[:16]


def _signature(sig: Signature) -> list[etree._Element]:
    """The Signature element and the Annotation that tells its scope, meaning, coverage and standing."""
    standing = sig.standing
    # A signature from before signature streams names only the streams it covered, not their positions.
    covers = ", ".join(f"{c['stream']}#{c['seq']}" for c in sig.covers) if sig.covers else ", ".join(sorted(sig.heads))
    comment = (f"{SCOPE_NAMES[sig.scope]} signature {sig.signature_id} by {sig.printed_name} ({sig.signer}); "
               f"meaning: “{sig.meaning}”; covers {covers}; digest {sig.digest or 'none'}; "
               + ("valid" if standing.valid else f"voided: {standing.reason}"))
    state = "valid" if standing.valid else "voided"
    return [E("Signature", {"ID": f"SIG.{_oid_part(sig.signature_id)}"}, E("UserRef", {"UserOID": _user(sig.signer)}),
              E("LocationRef", {"LocationOID": f"LOC.{_oid_part(sig.site)}"}),
              E("SignatureRef", {"SignatureOID": signature_def_oid(sig.meaning)}),
              E("DateTimeStamp", text=iso(sig.at))),
            _annotation(1, comment, (state, "CL.SIGNATURE_STATE", "signature", "CL.ECRF_FLAG_TYPE"),
                        (SCOPE_NAMES[sig.scope], "CL.SIGNATURE_SCOPE", "signature_scope", "CL.ECRF_FLAG_TYPE"))]


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
    audit = _audit_copies(event, site)
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
                                  _audit_record(origin[name], site) if name in origin else None))
    return current if len(current) else None


@dataclass
class SubjectDocuments:
    """What one subject's ``SubjectData`` is built from, read with one query each."""

    records: dict[tuple, dict]
    queries: dict[tuple, list]
    signatures: list[Signature]  # each with its standing
    events: dict[str, list[dict]]  # every record stream of the subject, whole
    subject_events: list[dict]  # the subject's own stream


# What SubjectData needs of a record projection; its data only in a snapshot (with the audit trail the changes carry it).
RECORD_FIELDS = {"event": 1, "form": 1, "version": 1, "derived": 1}


def read_subject(study: StudyRuntime, subject, store: AuditStore, *, with_audit: bool = True) -> SubjectDocuments:
    """The subject's records, queries, signatures and audit events (raw documents, one query each)."""
    from ecrf.records.document import Record

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
    trail = [e for stream, found in sorted({**streams, **events}.items())
             if stream in events or stream.startswith("signature/") for e in found if e["action"] in TRAIL_ACTIONS]
    signatures = subject_signatures(study.oid, subject.subject_id, trail)
    # Every subject stream holds at least its registration; the export's subjects carry no version.
    own = _stream_events(store, streams, subject_stream(study.oid, subject.subject_id), 1)
    return SubjectDocuments(records, queries, signatures, events, own)


def subject_data(study: StudyRuntime, subject, *, with_audit: bool = True,
                 store: AuditStore | None = None, documents: SubjectDocuments | None = None) -> etree._Element:
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
    element = E("SubjectData", {"SubjectKey": subject.subject_id, "TransactionType": "Insert"},
                _audit_record(registered, subject.site) if registered else None,
                E("SiteRef", {"LocationOID": f"LOC.{_oid_part(subject.site)}"}),
                *_subject_annotations(found.subject_events), nsmap=NSMAP)
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
            on_form, on_items = _queries(form, found.queries.get((event_def["oid"], form_oid), []))
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
            forms.append(form_element)
            forms += _lifecycle_forms(form_oid, events, subject.site)
            forms += [E("FormData", {"FormOID": f"F.{form_oid}", "TransactionType": "Context"}, *_signature(sig))
                      for sig in signed.get(("record", event_def["oid"], form_oid), [])]
        repeat = "1" if event_def.get("repeating") else None
        if forms:
            element.append(E("StudyEventData", {"StudyEventOID": f"SE.{event_def['oid']}", "TransactionType": "Upsert",
                                                "StudyEventRepeatKey": repeat}, *forms))
        for sig in signed.get(("event", event_def["oid"], None), []):
            element.append(E("StudyEventData", {"StudyEventOID": f"SE.{event_def['oid']}", "TransactionType": "Context",
                                                "StudyEventRepeatKey": repeat}, *_signature(sig)))
    return element


def casebook_signatures(subject, documents: SubjectDocuments) -> list[etree._Element]:
    """One Context ``SubjectData`` per casebook signature of the subject (ODM allows one Signature per element)."""
    elements = []
    for sig in documents.signatures:
        if sig.scope == "subject":
            signature, annotation = _signature(sig)
            elements.append(E("SubjectData", {"SubjectKey": subject.subject_id, "TransactionType": "Context"}, signature,
                              E("SiteRef", {"LocationOID": f"LOC.{_oid_part(subject.site)}"}), annotation, nsmap=NSMAP))
    return elements


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
                                         "Originator": "eCRF engine", "SourceSystem": "ecrf"}, nsmap=NSMAP):
            xf.write(metadata(study))
            xf.write(admin_data(study, store))
            with xf.element(f"{{{NS}}}ClinicalData", {"StudyOID": study.oid, "MetaDataVersionOID": mdv_oid(study)}):
                # The next subject's documents are read while this one's XML is built and written.
                def read(subject):
                    return read_subject(study, subject, store, with_audit=with_audit)

                for subject, documents in read_ahead(subjects, read):
                    xf.write(subject_data(study, subject, with_audit=with_audit, store=store, documents=documents))
                    for element in casebook_signatures(subject, documents):
                        xf.write(element)
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

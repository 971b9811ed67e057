"""CDISC ODM 1.3.2 export: study metadata built from the form definitions, and clinical data with the
whole audit trail (one ItemData per change, each with its AuditRecord), queries as Annotations and
signatures. Written incrementally with lxml, one subject at a time."""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, Callable

from lxml import etree

from audit import utc_now
from ecrf.definitions import ROW_ID, CompiledForm, Item
from ecrf.lifecycle import Signature
from ecrf.queries import Query
from ecrf.sites import Site
from ecrf.studies import StudyRuntime
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
    """An ODM element with attributes (None values dropped), children and text."""
    element = etree.Element(f"{{{NS}}}{tag}", {k: str(v) for k, v in (attrib or {}).items() if v is not None})
    for child in children:
        if child is not None:
            element.append(child)
    if text is not None:
        element.text = text
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
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


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


def _changes_to_groups(form: CompiledForm, event: dict, site: str) -> list[etree._Element]:
    """One ItemGroupData per run of changes to the same group instance, in the order they happened."""
    blocks: list[etree._Element] = []
    key = None
    for change in event.get("changes") or []:
        parts = change["path"].strip("/").split("/")
        item = form.item_by_oid.get(parts[0])
        if item is None:
            continue
        transaction = "Insert" if change["old"] is None else ("Remove" if change["new"] is None else "Update")
        if item.kind != "group":
            target = (group_oid(form.oid), None)
            entries = [_item_data(form.oid, item.oid, change["new"], transaction, _audit_record(event, site))]
        elif len(parts) == 1:  # the whole repeating group appeared or went
            rows = change["new"] if change["new"] is not None else change["old"]
            for row in rows:
                blocks.append(_row_block(form, item, row, transaction, event, site))
            key = None
            continue
        elif len(parts) == 2:  # a row appeared or went
            row = change["new"] if change["new"] is not None else change["old"]
            blocks.append(_row_block(form, item, row, transaction, event, site))
            key = None
            continue
        else:
            target = (group_oid(form.oid, item.oid), parts[1])
            entries = [_item_data(form.oid, parts[2], change["new"], transaction, _audit_record(event, site))]
        if key != target:
            blocks.append(E("ItemGroupData", {"ItemGroupOID": target[0], "ItemGroupRepeatKey": target[1],
                                              "TransactionType": "Upsert"}))
            key = target
        blocks[-1].extend(entries)
    return blocks


def _row_block(form, group, row: dict, transaction: str, event: dict, site: str) -> etree._Element:
    block = E("ItemGroupData", {"ItemGroupOID": group_oid(form.oid, group.oid), "ItemGroupRepeatKey": row[ROW_ID],
                                "TransactionType": transaction})
    if transaction == "Remove":
        block.append(_audit_record(event, site))
        return block
    for child in group.children:
        if child.oid in row:
            block.append(_item_data(form.oid, child.oid, row[child.oid], "Insert", _audit_record(event, site)))
    return block


def _query_annotations(queries: list[Query], start: int) -> list[etree._Element]:
    annotations = []
    for number, query in enumerate(queries, start):
        thread = " | ".join(f"{iso(m['at'])} {m['author']} ({m.get('action')}): {m['text']}" for m in query.messages)
        comment = f"Query {query.query_id} on {query.item} [{query.origin}{', ' + query.check if query.check else ''}]: {thread}"
        annotations.append(E("Annotation", {"SeqNum": number},
                             E("Comment", {"SponsorOrSite": "Sponsor" if query.origin == "manual" else "Site"}, text=comment),
                             E("Flag", None, E("FlagValue", {"CodeListOID": "CL.QUERY_STATE"}, text=query.state),
                               E("FlagType", {"CodeListOID": "CL.QUERY_ORIGIN"}, text=query.origin))))
    return annotations


def subject_data(study: StudyRuntime, subject, *, with_audit: bool = True) -> etree._Element:
    """One ``SubjectData`` element with every record's history, queries and signatures."""
    from ecrf.records import Record

    store = audit_store()
    element = E("SubjectData", {"SubjectKey": subject.subject_id, "TransactionType": "Insert"},
                E("SiteRef", {"LocationOID": f"LOC.{_oid_part(subject.site)}"}))
    records = {(r["event"], r["form"]): r for r in Record._get_collection().find(
        {"study": study.oid, "subject": subject.subject_id})}
    queries: dict[tuple, list] = {}
    for query in Query.objects(study=study.oid, subject=subject.subject_id).order_by("opened_at"):
        queries.setdefault((query.event, query.form), []).append(query)
    signatures = {s.signature_id: s for s in Signature.objects(study=study.oid, subject=subject.subject_id)}
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
                sig = signatures[signature]
                form_element.append(E("Signature", {"ID": f"SIG.{sig.signature_id}.{form_oid}.{event_def['oid']}"}, E("UserRef", {"UserOID": _user(sig.signer)}),
                                      E("LocationRef", {"LocationOID": f"LOC.{_oid_part(subject.site)}"}),
                                      E("SignatureRef", {"SignatureOID": SIGNATURE_DEF}),
                                      E("DateTimeStamp", text=iso(sig.at))))
            form_element.extend(_query_annotations(queries.get((event_def["oid"], form_oid), []), 1))
            events = store.events(record_stream(study.oid, subject.subject_id, event_def["oid"], form_oid))
            if with_audit:
                for event in events:
                    form_element.extend(_changes_to_groups(form, event, subject.site))
            derived = record.get("derived") or {}
            if derived or not with_audit:
                current = E("ItemGroupData", {"ItemGroupOID": group_oid(form_oid), "TransactionType": "Upsert"})
                last = events[-1] if events else None
                if not with_audit:
                    for item in form.items:
                        if item.kind != "group" and item.oid in (record.get("data") or {}):
                            current.append(_item_data(form_oid, item.oid, record["data"][item.oid], "Upsert", None))
                for name, value in derived.items():
                    current.append(_item_data(form_oid, name, value, "Upsert",
                                              _audit_record({**last, "actor": "system", "reason": "derived"}, subject.site)
                                              if last else None))
                if len(current):
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
    written = 0
    with etree.xmlfile(out, encoding="UTF-8") as xf:
        xf.write_declaration()
        with xf.element(f"{{{NS}}}ODM", {"FileType": "Transactional" if with_audit else "Snapshot", "Granularity": "All",
                                         "FileOID": f"ECRF.{study.oid}.{utc_now().strftime('%Y%m%dT%H%M%S')}",
                                         "CreationDateTime": iso(utc_now()), "ODMVersion": "1.3.2",
                                         "Originator": "eCRF engine", "SourceSystem": "ecrf"}, nsmap={None: NS}):
            xf.write(metadata(study))
            xf.write(admin_data(study))
            with xf.element(f"{{{NS}}}ClinicalData", {"StudyOID": study.oid, "MetaDataVersionOID": mdv_oid(study)}):
                for subject in subjects:
                    xf.write(subject_data(study, subject, with_audit=with_audit))
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

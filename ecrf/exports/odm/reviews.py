"""Queries and review steps in ODM: Annotations with Flags coded against the engine's code lists.

A query naming an item is an Annotation on a Context ItemData of that item; one naming none is on its
FormData. Each review step (SDV, lock, freeze) of a record is a Context FormData with the step's own
AuditRecord; steps on the subject's own stream are Annotations on its SubjectData.
"""

from __future__ import annotations

from lxml import etree

from ecrf.coding.dictionary import NAMES, dictionary
from ecrf.definitions import CompiledForm
from ecrf.exports.odm.audit_records import audit_record
from ecrf.exports.odm.elements import E, group_oid, iso, item_oid
from ecrf.signatures import SCOPE_NAMES

QUERY_STATES = ("open", "answered", "closed", "not_applicable")
# Review steps on a record's stream, exported as Context FormData with the step's AuditRecord and a flag.
LIFECYCLE_ACTIONS = ("sdv", "sdv_items", "lock", "unlock", "freeze", "unfreeze")
# Steps on a subject's own stream after its registration, exported as Annotations on the SubjectData.
SUBJECT_ACTIONS = ("subject_status", "lock", "unlock", "freeze", "unfreeze")
# The code lists the Flags are coded against (docs/odm-export.md describes each code).
FLAG_TYPES = ("lifecycle", "signature", "signature_scope", "coding")
# The shipped dictionaries a coded term names, each with its version (ecrf/coding/data/).
CODING_DICTIONARIES = tuple(f"{dictionary(name).name} {dictionary(name).version}" for name in NAMES)
SIGNATURE_STATES = ("valid", "voided")
CODE_LISTS = {
    "CL.ECRF_FLAG_TYPE": ("eCRF flag type", FLAG_TYPES),
    "CL.ECRF_LIFECYCLE": ("eCRF review step", (*LIFECYCLE_ACTIONS, "subject_status")),
    "CL.SIGNATURE_STATE": ("Signature state", SIGNATURE_STATES),
    "CL.SIGNATURE_SCOPE": ("Signature scope", tuple(SCOPE_NAMES.values())),
    "CL.CODING_DICTIONARY": ("Coding dictionary and version", CODING_DICTIONARIES),
}


def annotation(number: int, comment: str | None, *flags: tuple[str, str, str, str],
                source: str = "Sponsor") -> etree._Element:
    """An Annotation: a comment and flags given as ``(value, value list, type, type list)``."""
    return E("Annotation", {"SeqNum": number},
             E("Comment", {"SponsorOrSite": source}, text=comment) if comment else None,
             *[E("Flag", None, E("FlagValue", {"CodeListOID": value_list}, text=value),
                 E("FlagType", {"CodeListOID": type_list}, text=kind)) for value, value_list, kind, type_list in flags])


def _queryannotation(query: dict, number: int) -> etree._Element:
    thread = " | ".join(f"{iso(m['at'])} {m['author']} ({m.get('action')}): {m['text']}"
                        for m in query.get("messages") or [])
    origin, check = query["origin"], query.get("check")
    comment = f"Query {query['_id']} on {query['item']} [{origin}{', ' + check if check else ''}]: {thread}"
    return annotation(number, comment, (query["state"], "CL.QUERY_STATE", origin, "CL.QUERY_ORIGIN"),
                       source="Sponsor" if origin == "manual" else "Site")


def _query_target(form: CompiledForm, pointer: str) -> tuple[str, str | None, str] | None:
    """``(item group OID, repeat key, item OID)`` of the item a query names, or None for the whole form."""
    parts = str(pointer).split("/")
    item = form.item_by_oid.get(parts[1]) if len(parts) > 1 else None
    if len(parts) == 2 and (
        item is not None and item.kind != "group" or any(d.oid == parts[1] for d in form.derivations)
    ):
        return group_oid(form.oid), None, item_oid(form.oid, parts[1])
    if len(parts) == 4 and item is not None and item.kind == "group" and any(c.oid == parts[3] for c in item.children):
        return group_oid(form.oid, item.oid), parts[2], item_oid(form.oid, parts[3])
    return None


def form_queries(form: CompiledForm, queries: list[dict]) -> tuple[list[etree._Element], list[etree._Element]]:
    """The form's queries: Annotations on the form for those naming no item, and for each query naming an
    item a Context ItemGroupData whose ItemData carries it."""
    on_form, on_items = [], []
    for query in queries:
        target = _query_target(form, query["item"])
        if target is None:
            on_form.append(_queryannotation(query, len(on_form) + 1))
            continue
        group, repeat, item = target
        on_items.append(
            E(
                "ItemGroupData",
                {"ItemGroupOID": group, "ItemGroupRepeatKey": repeat, "TransactionType": "Context"},
                E("ItemData", {"ItemOID": item, "TransactionType": "Context"}, _queryannotation(query, 1)),
            )
        )
    return on_form, on_items


# What an AuditRecord, the changes, derived values, lifecycle steps and signatures need of an event.


def _lifecycle_form(form_oid: str, event: dict, before: dict, site: str) -> etree._Element:
    """A Context FormData for one review step of a record: the step's own AuditRecord and a flag naming it."""
    action = event["action"]
    comment = {
        "sdv": "source data verified (whole form)",
        "lock": "locked",
        "unlock": "unlocked",
        "freeze": "frozen",
        "unfreeze": "unfrozen",
    }.get(action)
    if action == "sdv_items":
        items = (event.get("state") or {}).get("sdv_items") or {}
        comment = "source data verified: " + ", ".join(sorted(i for i in items if items[i] != before.get(i)))
    return E(
        "FormData",
        {"FormOID": f"F.{form_oid}", "TransactionType": "Context"},
        audit_record(event, site),
        annotation(1, comment, (action, "CL.ECRF_LIFECYCLE", "lifecycle", "CL.ECRF_FLAG_TYPE")),
    )


def lifecycle_forms(form_oid: str, events: list[dict], site: str) -> list[etree._Element]:
    elements, verified = [], {}
    for event in events:
        if event["action"] in LIFECYCLE_ACTIONS:
            elements.append(_lifecycle_form(form_oid, event, verified, site))
        if "sdv_items" in (event.get("state") or {}):
            verified = event["state"]["sdv_items"] or {}
    return elements


def subject_annotations(events: list[dict]) -> list[etree._Element]:
    """Annotations for the steps of the subject's own stream after registration (status, subject locks)."""
    annotations = []
    for event in events:
        if event["action"] not in SUBJECT_ACTIONS:
            continue
        change = "; ".join(f"{c['path']}: {c['old']} → {c['new']}" for c in event.get("changes") or [])
        comment = (
            f"{event['action']} by {event['actor']} at {iso(event['at'])}{': ' + change if change else ''}"
            f"{' (' + event['reason'] + ')' if event.get('reason') else ''} [{event['stream']}#{event['seq']}]"
        )
        annotations.append(
            annotation(
                len(annotations) + 1, comment, (event["action"], "CL.ECRF_LIFECYCLE", "lifecycle", "CL.ECRF_FLAG_TYPE")
            )
        )
    return annotations

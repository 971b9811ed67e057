"""The ``Study`` element: the study's schedule, forms, item groups, items, code lists, conditions and methods.

Everything the form language says is written as ODM says it where ODM can (see docs/odm-export.md), and as
an ``ecrf:`` alias (:mod:`ecrf.odm_extension.aliases`) where it cannot, so that ``ecrf study import-odm`` of the export
gives the study back (``ecrf study diff`` shows nothing).
"""

from __future__ import annotations

from lxml import etree

from ecrf.definitions import CompiledForm
from ecrf.exports.odm.elements import NSMAP, E, alias, group_oid, item_oid, mdv_oid, translated
from ecrf.exports.odm.items import Definitions, derived_item_def, item_def, measurement_unit, method_oid
from ecrf.exports.odm.reviews import CODE_LISTS, QUERY_STATES
from ecrf.odm_extension import aliases as ext
from ecrf.odm_extension.conditions import NotCanonical, exception_cel, to_cel
from ecrf.studies import StudyRuntime

# study.json keys ODM says itself; the others travel in the ecrf:study alias (lab ranges one alias each).
STUDY_SAID = {"oid", "name", "description", "protocol", "events", "lab_ranges"}
EVENT_SAID = {"oid", "name", "labels", "forms", "repeating"}
FORM_SAID = {"title", "x-ecrf-labels", "type", "properties", "required", "allOf", "x-ecrf-derived",
             "x-ecrf-checks"}
ROW_SAID = {"type", "properties", "required", "allOf"}


def _is_group(schema: dict) -> bool:
    return schema.get("type") == "array" and (schema.get("items") or {}).get("type") == "object"


def _conditions(container: dict, scope: str, prefix: str) -> tuple[dict[str, str], list, list]:
    """``({item: ConditionDef OID}, ConditionDefs, allOf entries ODM cannot say)`` of one container.

    An entry is written as a ConditionDef when its ``if`` has the canonical shape and each item it makes
    required is an item of this container that no other entry names (an ItemRef has one condition).
    """
    entries = container.get("allOf", [])
    named: dict[str, int] = {}
    for entry in entries:
        for name in (entry.get("then") or {}).get("required", []):
            named[name] = named.get(name, 0) + 1
    by_item, elements, rest = {}, [], []
    for entry in entries:
        targets = (entry.get("then") or {}).get("required", [])
        try:
            if set(entry) != {"if", "then"} or set(entry["then"]) != {"required"} or not targets or any(
                    named[t] > 1 or t not in container.get("properties", {}) for t in targets):
                raise NotCanonical("not one condition per item")
            cel = exception_cel(entry["if"], scope)
            shown = to_cel(entry["if"], scope)
        except NotCanonical:
            rest.append(entry)
            continue
        oid = f"CD.{prefix}.{len(elements) + 1}"
        elements.append(E("ConditionDef", {"OID": oid, "Name": f"{prefix} {', '.join(targets)}"},
                          translated("Description", f"Not collected unless {shown}", {}),
                          E("FormalExpression", {"Context": "CEL"}, text=cel)))
        by_item.update({target: oid for target in targets})
    return by_item, elements, rest


def _checks_by_item(form: CompiledForm) -> tuple[dict[str, list[dict]], list[dict]]:
    """The form's edit checks by the item (``/X``, ``/G/*/X``) whose ItemDef carries them, and the rest."""
    properties, derived = form.schema["properties"], form.schema.get("x-ecrf-derived", {})
    by_item, rest = {}, []
    for check in form.schema.get("x-ecrf-checks", []):
        parts = check["item"].split("/")
        top = properties.get(parts[1]) if len(parts) > 1 else None
        on_item = (len(parts) == 2 and ((top is not None and not _is_group(top)) or parts[1] in derived)) or (
            len(parts) == 4 and top is not None and _is_group(top) and parts[3] in top["items"]["properties"])
        (by_item.setdefault(check["item"], []) if on_item else rest).append(check)
    return by_item, rest


def _form(form: CompiledForm, groups: list, items: list, conditions: list, parts: Definitions) -> etree._Element:
    """The FormDef; its ItemGroupDefs, ItemDefs and ConditionDefs are appended to the lists given."""
    schema, oid = form.schema, form.oid
    properties, required = schema["properties"], set(schema.get("required", []))
    checks, rest_checks = _checks_by_item(form)
    top = [name for name, item in properties.items() if not _is_group(item)]
    derived = schema.get("x-ecrf-derived", {})
    refs = []
    conditional, condition_defs, rest_conditions = _conditions(schema, "data", oid)
    conditions += condition_defs
    if top or derived:
        refs.append(E("ItemGroupRef", {"ItemGroupOID": group_oid(oid), "Mandatory": "Yes"}))
        item_refs = [
            E(
                "ItemRef",
                {
                    "ItemOID": item_oid(oid, n),
                    "OrderNumber": i,
                    "Mandatory": "Yes" if n in required or n in conditional else "No",
                    "CollectionExceptionConditionOID": conditional.get(n),
                },
            )
            for i, n in enumerate(top, 1)
        ]
        item_refs += [
            E(
                "ItemRef",
                {
                    "ItemOID": item_oid(oid, n),
                    "Mandatory": "No",
                    "OrderNumber": len(top) + i,
                    "MethodOID": method_oid(oid, n),
                },
            )
            for i, n in enumerate(derived, 1)
        ]
        groups.append(E("ItemGroupDef", {"OID": group_oid(oid), "Name": oid, "Repeating": "No"}, *item_refs))
        items += [item_def(oid, n, properties[n], checks.get(f"/{n}", []), parts) for n in top]
        items += [derived_item_def(oid, n, spec, checks.get(f"/{n}", []), parts) for n, spec in derived.items()]
    for key, group in ((k, g) for k, g in properties.items() if _is_group(g)):
        refs.append(
            E("ItemGroupRef", {"ItemGroupOID": group_oid(oid, key), "Mandatory": "Yes" if key in required else "No"})
        )
        row = group["items"]
        row_required = set(row.get("required", []))
        by_item, condition_defs, rest = _conditions(row, "row", f"{oid}.{key}")
        conditions += condition_defs
        extra = {k: v for k, v in group.items() if k not in {"type", "title", "x-ecrf-labels", "items"}}
        row_extra = {k: v for k, v in row.items() if k not in ROW_SAID}
        if rest or row_extra:
            extra["items"] = {**row_extra, **({"allOf": rest} if rest else {})}
        groups.append(
            E(
                "ItemGroupDef",
                {"OID": group_oid(oid, key), "Name": f"{oid}.{key}", "Repeating": "Yes"},
                translated("Description", group.get("title", key), group.get("x-ecrf-labels", {})),
                *[
                    E(
                        "ItemRef",
                        {
                            "ItemOID": item_oid(oid, n),
                            "OrderNumber": i,
                            "Mandatory": "Yes" if n in row_required or n in by_item else "No",
                            "CollectionExceptionConditionOID": by_item.get(n),
                        },
                    )
                    for i, n in enumerate(row["properties"], 1)
                ],
                alias(ext.KEYWORDS, extra) if extra else None,
            )
        )
        items += [
            item_def(oid, n, child, checks.get(f"/{key}/*/{n}", []), parts) for n, child in row["properties"].items()
        ]
    extra = {k: v for k, v in schema.items() if k not in FORM_SAID}
    if rest_conditions:
        extra["allOf"] = rest_conditions
    if rest_checks:
        extra["x-ecrf-checks"] = rest_checks
    natural = top + [k for k in properties if k not in top]
    return E(
        "FormDef",
        {"OID": f"F.{oid}", "Name": form.title, "Repeating": "No"},
        translated("Description", form.title, form.labels),
        *refs,
        alias(ext.STAGE, form.stage),
        alias(ext.ORDER, " ".join(properties)) if list(properties) != natural else None,
        alias(ext.KEYWORDS, extra) if extra else None,
    )


def _event(event: dict) -> etree._Element:
    extra = {k: v for k, v in event.items() if k not in EVENT_SAID}
    return E(
        "StudyEventDef",
        {
            "OID": f"SE.{event['oid']}",
            "Name": event["name"],
            "Repeating": "Yes" if event.get("repeating") else "No",
            "Type": "Common" if event.get("log") else ("Unscheduled" if event.get("repeating") else "Scheduled"),
        },
        translated("Description", event["name"], event.get("labels", {})),
        *[E("FormRef", {"FormOID": f"F.{f}", "Mandatory": "No"}) for f in event["forms"]],
        alias(ext.EVENT, extra) if extra else None,
    )


def _engine_code_lists() -> list[etree._Element]:
    """The code lists ClinicalData's Flags use: query states and origins, review steps, signatures."""
    lists = {
        "CL.QUERY_STATE": ("Query state", QUERY_STATES),
        "CL.QUERY_ORIGIN": ("Query origin", ("system", "manual")),
        **CODE_LISTS,
    }
    return [
        E(
            "CodeList",
            {"OID": oid, "Name": name, "DataType": "text"},
            *[
                E("CodeListItem", {"CodedValue": code}, translated("Decode", code.replace("_", " "), {}))
                for code in codes
            ],
        )
        for oid, (name, codes) in lists.items()
    ]


def metadata(study: StudyRuntime, older: tuple[StudyRuntime, ...] = ()) -> etree._Element:
    """The ``Study`` element: global variables, units and the MetaDataVersion, then one for each ``older``
    version that exported casebooks are still pinned to (their ClinicalData names it)."""
    units: set[str] = set()
    versions = [_metadata_version(version, units) for version in (study, *older)]
    definition = study.definition
    basic = E("BasicDefinitions", None, *[measurement_unit(u) for u in sorted(units)])
    return E(
        "Study",
        {"OID": study.oid},
        E(
            "GlobalVariables",
            None,
            E("StudyName", text=study.name),
            E("StudyDescription", text=definition.get("description", study.name)),
            E("ProtocolName", text=definition.get("protocol", study.oid)),
        ),
        basic,
        *versions,
        nsmap=NSMAP,
    )


def _metadata_version(study: StudyRuntime, units: set[str]) -> etree._Element:
    """One version's ``MetaDataVersion``; the units it uses are added to ``units``."""
    forms, groups, items, conditions, parts = [], [], [], [], Definitions()
    for form in study.forms.values():
        forms.append(_form(form, groups, items, conditions, parts))
    definition = study.definition
    protocol = E(
        "Protocol",
        None,
        *[
            E(
                "StudyEventRef",
                {
                    "StudyEventOID": f"SE.{e['oid']}",
                    "OrderNumber": n,
                    "Mandatory": "No" if e.get("repeating") or e.get("log") else "Yes",
                },
            )
            for n, e in enumerate(study.events, 1)
        ],
        alias(
            ext.STUDY,
            {
                **{k: v for k, v in definition.items() if k not in STUDY_SAID},
                # GlobalVariables needs them; null says the study has none of its own
                **{k: None for k in ("description", "protocol") if k not in definition},
            },
        ),
        alias(ext.LAB_RANGES, definition["lab_ranges"]) if "lab_ranges" in definition else None,
    )
    mdv = E(
        "MetaDataVersion",
        {
            "OID": mdv_oid(study),
            "Name": f"{study.name} {study.version}",
            "Description": f"definition {study.definition_hash}",
        },
        protocol,
        *[_event(e) for e in study.events],
        *forms,
        *groups,
        *items,
        *parts.code_lists,
        *_engine_code_lists(),
        *conditions,
        *parts.methods,
    )
    units |= parts.units
    return mdv

"""ODM 1.3.2 metadata import: a study defined elsewhere becomes a draft study folder.

The draft holds what ODM says (events, forms, item groups, items, types,
code lists, units, range checks, questions in each language); what ODM does
not say (schedule days, windows, stages, derivations, edit checks) is left for
the study builder to add. ``ecrf study check`` validates the result.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from lxml import etree

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
OID = re.compile(r"^[A-Z][A-Z0-9_]*$")
STAGE = "imported"


class ImportError_(ValueError):
    """The file is not ODM metadata this importer understands."""


def _oid(text: str, taken: set[str]) -> str:
    """An engine OID (A-Z, 0-9, _) from an ODM OID or name, unique among ``taken``."""
    candidate = text.split(".")[-1] if "." in text else text
    candidate = re.sub(r"[^A-Za-z0-9_]", "_", candidate).upper().strip("_") or "X"
    if not candidate[0].isalpha():
        candidate = "X" + candidate
    base, n = candidate, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _texts(element) -> tuple[str | None, dict]:
    if element is None:
        return None, {}
    english, labels = None, {}
    for text in element.iterfind("odm:TranslatedText", NS):
        lang = (text.get(XML_LANG) or "en").split("-")[0].lower()
        if lang == "en" and english is None:
            english = (text.text or "").strip()
        elif lang != "en":
            labels[lang] = (text.text or "").strip()
    if english is None and labels:
        english = next(iter(labels.values()))
    return english, labels


def _item(item_def, codelists: dict, units: dict) -> dict:
    data_type = item_def.get("DataType", "text")
    schema: dict = {}
    if data_type in ("integer",):
        schema["type"] = "integer"
    elif data_type in ("float", "double", "hexFloat", "base64Float"):
        schema["type"] = "number"
    elif data_type == "boolean":
        schema["type"] = "boolean"
    else:
        schema["type"] = "string"
        fmt = {"date": "date", "datetime": "date-time", "time": "time"}.get(data_type)
        if fmt:
            schema["format"] = fmt
        elif item_def.get("Length"):
            schema["maxLength"] = int(item_def.get("Length"))
    title, labels = _texts(item_def.find("odm:Question", NS))
    schema["title"] = title or item_def.get("Name") or item_def.get("OID")
    help_text, help_labels = _texts(item_def.find("odm:Description", NS))
    if help_text:
        schema["description"] = help_text
    if labels:
        schema["x-ecrf-labels"] = labels
    if help_labels:
        schema["x-ecrf-help"] = help_labels
    unit = item_def.find("odm:MeasurementUnitRef", NS)
    if unit is not None and unit.get("MeasurementUnitOID") in units:
        schema["x-ecrf-unit"] = units[unit.get("MeasurementUnitOID")]
    for check in item_def.iterfind("odm:RangeCheck", NS):
        value = check.findtext("odm:CheckValue", namespaces=NS)
        keyword = {"GE": "minimum", "LE": "maximum", "GT": "exclusiveMinimum", "LT": "exclusiveMaximum"}.get(check.get("Comparator"))
        if keyword and value is not None and schema["type"] in ("integer", "number"):
            schema[keyword] = float(value) if "." in value else int(value)
    ref = item_def.find("odm:CodeListRef", NS)
    if ref is not None and ref.get("CodeListOID") in codelists:
        choices = codelists[ref.get("CodeListOID")]
        if schema["type"] == "integer":
            choices = [{**c, "const": int(c["const"])} for c in choices]
        schema.pop("maxLength", None)
        schema["oneOf"] = choices
    return schema


def odm_to_study(path: str | Path) -> tuple[dict, dict[str, dict]]:
    """``(study.json, {form OID: form schema})`` from an ODM file's first study and MetaDataVersion."""
    try:
        root = etree.parse(str(path)).getroot()
    except (OSError, etree.XMLSyntaxError) as exc:
        raise ImportError_(f"{path}: not readable XML: {exc}") from None
    study = root.find("odm:Study", NS)
    mdv = study.find("odm:MetaDataVersion", NS) if study is not None else None
    if mdv is None:
        raise ImportError_(f"{path}: no Study/MetaDataVersion (is it ODM 1.3 metadata?)")
    units = {}
    for unit in study.iterfind("odm:BasicDefinitions/odm:MeasurementUnit", NS):
        symbol, _ = _texts(unit.find("odm:Symbol", NS))
        units[unit.get("OID")] = symbol or unit.get("Name")
    codelists = {}
    for codelist in mdv.iterfind("odm:CodeList", NS):
        choices = []
        for entry in codelist.iterfind("odm:CodeListItem", NS):
            title, labels = _texts(entry.find("odm:Decode", NS))
            choice = {"const": entry.get("CodedValue"), "title": title or entry.get("CodedValue")}
            if labels:
                choice["x-ecrf-labels"] = labels
            choices.append(choice)
        for entry in codelist.iterfind("odm:EnumeratedItem", NS):
            choices.append({"const": entry.get("CodedValue"), "title": entry.get("CodedValue")})
        if choices:
            codelists[codelist.get("OID")] = choices
    item_defs = {i.get("OID"): i for i in mdv.iterfind("odm:ItemDef", NS)}
    group_defs = {g.get("OID"): g for g in mdv.iterfind("odm:ItemGroupDef", NS)}
    forms, form_oids, taken_forms = {}, {}, set()
    for form_def in mdv.iterfind("odm:FormDef", NS):
        oid = _oid(form_def.get("OID"), taken_forms)
        form_oids[form_def.get("OID")] = oid
        properties, required, taken_items = {}, [], set()
        for group_ref in form_def.iterfind("odm:ItemGroupRef", NS):
            group = group_defs.get(group_ref.get("ItemGroupOID"))
            if group is None:
                continue
            items, group_required = {}, []
            for ref in group.iterfind("odm:ItemRef", NS):
                item_def = item_defs.get(ref.get("ItemOID"))
                if item_def is None:
                    continue
                name = item_def.get("Name") if OID.match(item_def.get("Name") or "") and item_def.get("Name") not in taken_items else None
                name = name or _oid(item_def.get("OID"), taken_items)
                taken_items.add(name)
                items[name] = _item(item_def, codelists, units)
                if ref.get("Mandatory") == "Yes":
                    group_required.append(name)
            if group.get("Repeating") == "Yes":
                name = _oid(group.get("Name") or group.get("OID"), taken_items)
                row = {"type": "object", "properties": items}
                if group_required:
                    row["required"] = group_required
                properties[name] = {"type": "array", "title": group.get("Name") or name, "items": row}
            else:
                properties.update(items)
                required += group_required
        title = form_def.get("Name") or oid
        form = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, "type": "object",
                "properties": properties or {"NOTE": {"type": "string", "title": "Note"}}}
        if required:
            form["required"] = required
        forms[oid] = form
    events, taken_events = [], set()
    for event_def in mdv.iterfind("odm:StudyEventDef", NS):
        oid = _oid(event_def.get("OID"), taken_events)
        events.append({"oid": oid, "name": event_def.get("Name") or oid, "stage": STAGE, "day": None, "window": None,
                       "repeating": event_def.get("Repeating") == "Yes",
                       "forms": [form_oids[r.get("FormOID")] for r in event_def.iterfind("odm:FormRef", NS)
                                 if r.get("FormOID") in form_oids]})
    name = study.findtext("odm:GlobalVariables/odm:StudyName", namespaces=NS) or study.get("OID")
    study_json = {
        "oid": _oid(study.get("OID"), set()), "name": name.strip(), "version": f"{mdv.get('OID')}-draft",
        "description": f"Imported from ODM {root.get('ODMVersion', '')} file {Path(path).name}; add schedule days, "
                       "windows, stages, derivations and edit checks.",
        "stages": [{"oid": STAGE, "title": "Imported"}],
        "events": events,
    }
    return study_json, forms


def write_draft(path: str | Path, folder: str | Path) -> Path:
    """Write the draft study folder for an ODM file; refuses to overwrite a non-empty folder."""
    study, forms = odm_to_study(path)
    target = Path(folder)
    if target.exists() and any(target.iterdir()):
        raise ImportError_(f"{target}: folder exists and is not empty")
    (target / STAGE).mkdir(parents=True, exist_ok=True)
    (target / "study.json").write_text(json.dumps(study, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for oid, form in forms.items():
        (target / STAGE / f"{oid}.json").write_text(json.dumps(form, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target

"""ItemDefs of a form's items and derived values: types, questions and help in every language, units, code
lists (multi-select included), hard range checks from the limits, the form's edit checks as soft CEL
RangeChecks, derivations as CEL MethodDefs, and the extension aliases for the rest (lab ranges, widgets)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from ecrf.exports.odm.elements import E, alias, item_oid, keywords_alias, number, translated, unit_oid
from ecrf.odm_extension import aliases as ext

SCALAR_TYPES = {"integer": "integer", "number": "float", "boolean": "boolean", "string": "text"}
FORMATS = {"date": "date", "date-time": "datetime", "time": "time"}
CODE_TYPES = {"integer": "integer", "number": "float", "string": "text"}
LIMITS = (
    ("minimum", "GE", "≥"),
    ("exclusiveMinimum", "GT", ">"),
    ("maximum", "LE", "≤"),
    ("exclusiveMaximum", "LT", "<"),
)


@dataclass
class Definitions:
    """What a form's ItemDefs bring to the MetaDataVersion besides themselves."""

    code_lists: list[etree._Element] = field(default_factory=list)
    methods: list[etree._Element] = field(default_factory=list)
    units: set[str] = field(default_factory=set)


def _codable(schema: dict) -> bool:
    """True when the item's ``oneOf`` is a plain code list of its type (ODM has no boolean code list)."""
    kind, entries = schema.get("type"), schema.get("oneOf")
    fits = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    }.get(kind)
    return bool(
        fits
        and isinstance(entries, list)
        and entries
        and all(
            isinstance(e, dict)
            and "const" in e
            and isinstance(e.get("title"), str)
            and fits(e["const"])
            and set(e) <= {"const", "title", "x-ecrf-labels"}
            for e in entries
        )
    )


def _code_list(oid: str, name: str, schema: dict) -> etree._Element:
    return E(
        "CodeList",
        {"OID": oid, "Name": name, "DataType": CODE_TYPES[schema["type"]]},
        *[
            E(
                "CodeListItem",
                {"CodedValue": number(c["const"]) if not isinstance(c["const"], str) else c["const"]},
                translated("Decode", c["title"], c.get("x-ecrf-labels", {})),
            )
            for c in schema["oneOf"]
        ],
    )


def _message(tag: str, message: dict) -> etree._Element:
    english = message.get("en") or next(iter(message.values()), "")
    return translated(tag, english, {lang: text for lang, text in message.items() if lang != "en"})


def _hard_checks(schema: dict, labels: dict) -> list[etree._Element]:
    """A Hard RangeCheck per limit, its message in every language the item's question has."""
    checks = []
    for keyword, comparator, symbol in LIMITS:
        if keyword in schema:
            value = number(schema[keyword])
            message = {
                "en": f"{schema['title']}: {symbol} {value}",
                **{lang: f"{label}: {symbol} {value}" for lang, label in labels.items()},
            }
            checks.append(
                E(
                    "RangeCheck",
                    {"Comparator": comparator, "SoftHard": "Hard"},
                    E("CheckValue", text=value),
                    _message("ErrorMessage", message),
                )
            )
    return checks


def _soft_checks(checks: list[dict]) -> list[etree._Element]:
    """The form's edit checks on this item: a Soft RangeCheck whose CEL must hold, with its message."""
    return [
        E(
            "RangeCheck",
            {"SoftHard": "Soft"},
            E("FormalExpression", {"Context": "CEL"}, text=check["rule"]),
            _message("ErrorMessage", check["message"]),
        )
        for check in checks
    ]


def _named(check: dict) -> dict:
    """What the ``ecrf:checks`` alias says of a check: its id, and its severity and the study parameters its
    message names (``constants``) when the check has them."""
    return {"id": check["id"], **{key: check[key] for key in ("severity", "constants") if key in check}}


def _common(schema: dict, parts: Definitions) -> tuple[list, list, set[str]]:
    """``(leading children, aliases, keywords said)`` every ItemDef has: help, question, unit; lab range, widget."""
    said = {"title", "x-ecrf-labels"}
    leading = [None, translated("Question", schema["title"], schema.get("x-ecrf-labels", {}))]
    if isinstance(schema.get("description"), str) and schema["description"]:
        leading[0] = translated("Description", schema["description"], schema.get("x-ecrf-help", {}))
        said |= {"description", "x-ecrf-help"}
    if isinstance(schema.get("x-ecrf-unit"), str):
        parts.units.add(schema["x-ecrf-unit"])
        leading.append(E("MeasurementUnitRef", {"MeasurementUnitOID": unit_oid(schema["x-ecrf-unit"])}))
        said.add("x-ecrf-unit")
    aliases = []
    for key, context in (
        ("x-ecrf-range", ext.RANGE),
        ("x-ecrf-range-value", ext.RANGE_VALUE),
        ("x-ecrf-widget", ext.WIDGET),
    ):
        if isinstance(schema.get(key), str):
            aliases.append(alias(context, schema[key]))
            said.add(key)
    return leading, aliases, said


def item_def(form: str, name: str, schema: dict, checks: list[dict], parts: Definitions) -> etree._Element:
    """The ItemDef of a form item (or a row's item), with its code list, range checks and aliases."""
    oid = item_oid(form, name)
    multiple = (
        schema.get("type") == "array"
        and isinstance(schema.get("items"), dict)
        and set(schema["items"]) == {"type", "oneOf"}
        and _codable(schema["items"])
    )
    base = schema["items"] if multiple else schema
    leading, aliases, mapped = _common(schema, parts)
    if multiple:
        mapped |= {"type", "items"}
    data_type = SCALAR_TYPES.get(base.get("type"), "text")
    if base.get("type") in SCALAR_TYPES:
        mapped.add("type")
    if data_type == "text" and schema.get("format") in FORMATS:
        data_type = FORMATS[schema["format"]]
        mapped.add("format")
    attrib = {"OID": oid, "Name": name, "DataType": data_type}
    if data_type == "text" and isinstance(schema.get("maxLength"), int) and not multiple:
        attrib["Length"] = schema["maxLength"]
        mapped.add("maxLength")
    numeric = data_type in ("integer", "float")
    hard = _hard_checks(schema, schema.get("x-ecrf-labels", {})) if numeric else []
    if numeric:
        mapped.update(keyword for keyword, _, _ in LIMITS)
    code_list = None
    if multiple or _codable(schema):
        mapped.add("oneOf")
        code_list = f"CL.{form}.{name}"
        parts.code_lists.append(_code_list(code_list, f"{form} {name}", base))
    if multiple:
        aliases.append(alias(ext.MULTIPLE, "Yes"))
    if checks:
        aliases.append(alias(ext.CHECKS, [_named(c) for c in checks]))
    return E(
        "ItemDef",
        attrib,
        *leading,
        *hard,
        *_soft_checks(checks),
        E("CodeListRef", {"CodeListOID": code_list}) if code_list else None,
        *aliases,
        keywords_alias(schema, mapped),
    )


def derived_item_def(form: str, name: str, spec: dict, checks: list[dict], parts: Definitions) -> etree._Element:
    """The ItemDef of a derived value and, in ``parts``, the MethodDef computing it (its CEL)."""
    leading, aliases, mapped = _common(
        {key: spec[key] for key in ("title", "x-ecrf-labels", "x-ecrf-unit") if key in spec}, parts
    )
    mapped.add("expr")
    data_type = SCALAR_TYPES.get(spec.get("type"), "text")
    if spec.get("type") in SCALAR_TYPES:
        mapped.add("type")
    code_list = None
    if _codable(spec):
        mapped.add("oneOf")
        code_list = f"CL.{form}.{name}"
        parts.code_lists.append(_code_list(code_list, f"{form} {name}", spec))
    method = method_oid(form, name)
    parts.methods.append(
        E(
            "MethodDef",
            {"OID": method, "Name": f"{form} {name}", "Type": "Computation"},
            translated("Description", f"{spec['title']}: computed by the engine from the CEL expression", {}),
            E("FormalExpression", {"Context": "CEL"}, text=spec["expr"]),
        )
    )
    if checks:
        aliases.append(alias(ext.CHECKS, [_named(c) for c in checks]))
    return E(
        "ItemDef",
        {"OID": item_oid(form, name), "Name": name, "DataType": data_type},
        *leading,
        *_soft_checks(checks),
        E("CodeListRef", {"CodeListOID": code_list}) if code_list else None,
        *aliases,
        keywords_alias(spec, mapped),
    )


def method_oid(form: str, name: str) -> str:
    """The MethodDef OID of a derived value."""
    return f"MT.{form}.{name}"


def measurement_unit(unit: str) -> etree._Element:
    """A MeasurementUnit whose Symbol is the unit as the form writes it."""
    return E("MeasurementUnit", {"OID": unit_oid(unit), "Name": unit}, translated("Symbol", unit, {}))

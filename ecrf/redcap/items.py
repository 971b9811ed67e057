"""One REDCap field → one item of the form language (type, choices, validation, help), reported.

The field's value shape is decided here: text with its validation type,
notes, radio and dropdown (choices typed to their codes: whole-number codes
make an integer item), checkbox (an array of codes; REDCap exports it as
``field___code`` columns), yes/no and true/false (booleans), slider (a whole
number within its ends). Calculations, descriptive text and the field's
rules are the builder's; file and sql fields hold nothing the engine can
store and are dropped with their reason.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from ecrf.odm_import.reader import ImportError_
from ecrf.odm_import.report import Report
from ecrf.redcap.dictionary import Field

DATE = {"date_ymd", "date_mdy", "date_dmy"}
DATETIME = {f"datetime_{order}" for order in ("ymd", "mdy", "dmy")} | \
    {f"datetime_seconds_{order}" for order in ("ymd", "mdy", "dmy")}
NUMBER = {"number", "float", "number_1dp", "number_2dp", "number_3dp", "number_4dp", "number_comma_decimal",
          "number_1dp_comma_decimal", "number_2dp_comma_decimal", "number_3dp_comma_decimal",
          "number_4dp_comma_decimal"}
PATTERNS = {
    "email": r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
    "zipcode": r"^\d{5}(-\d{4})?$",
    "alpha_only": r"^[A-Za-z]+$",
    "phone": r"^[0-9()+.\- ]{7,25}$",
    "time_mm_ss": r"^[0-5]\d:[0-5]\d$",
    "postalcode_canada": r"^[A-Za-z]\d[A-Za-z] ?\d[A-Za-z]\d$",
}
DROPPED_TYPES = {"file": "file uploads (and signatures) are not stored by the form language",
                 "sql": "a dynamic SQL field reads REDCap's own database: nothing to translate it to"}
KNOWN_TYPES = {"text", "notes", "radio", "dropdown", "checkbox", "yesno", "truefalse", "calc", "slider",
               "descriptive", "file", "sql"}


def decimal(text: str) -> Decimal | None:
    """``text`` as a finite decimal a double can hold, else None."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() and abs(value) < Decimal("1e300") else None


def parse_choices(path, field: Field) -> list[tuple[str, str]]:
    """``[(code, label)]`` from ``1, Yes | 0, No``; :class:`ImportError_` for no choices or a repeated code."""
    choices, seen = [], set()
    for part in field.choices.split("|"):
        if not part.strip():
            continue
        code, comma, label = part.partition(",")
        code, label = code.strip(), label.strip() if comma else code.strip()
        if not code:
            raise ImportError_(f"{path}:{field.line}: field {field.name!r}: choice {part.strip()[:40]!r} has no code")
        if code in seen:
            raise ImportError_(f"{path}:{field.line}: field {field.name!r}: choice code {code!r} appears twice")
        seen.add(code)
        choices.append((code, plain_text(label) or code))
    if not choices:
        raise ImportError_(f"{path}:{field.line}: field {field.name!r} is a {field.type} without choices "
                           "(column 'Choices, Calculations, OR Slider Labels')")
    return choices


def typed_choices(choices: list[tuple[str, str]]) -> tuple[str, list[dict]]:
    """``(item type, oneOf)``: whole-number codes make integers (``"01"`` stays text: it would lose its zero)."""
    integer = all(re.fullmatch(r"-?(0|[1-9]\d{0,15})", code) for code, _ in choices)
    return ("integer" if integer else "string",
            [{"const": int(code) if integer else code, "title": label} for code, label in choices])


def item_schema(path, field: Field, report: Report) -> dict | None:
    """The item's JSON Schema for a data-holding field, or None for a field that is reported as dropped."""
    if field.type not in KNOWN_TYPES:
        raise ImportError_(f"{path}:{field.line}: field {field.name!r} has field type {field.type!r}, "
                           f"not one of {', '.join(sorted(KNOWN_TYPES))}")
    if field.type in DROPPED_TYPES:
        report.add("field", field.name, field.type, "dropped", DROPPED_TYPES[field.type], field.line)
        return None
    schema: dict = {"type": "string", "title": plain_label(field)}
    if field.note:
        schema["description"] = field.note
    if field.type == "text":
        _validation(path, field, schema, report)
    elif field.type == "notes":
        schema["x-ecrf-widget"] = "textarea"
    elif field.type in ("radio", "dropdown"):
        schema["type"], schema["oneOf"] = typed_choices(parse_choices(path, field))
        schema["x-ecrf-widget"] = "radio" if field.type == "radio" else "select"
    elif field.type == "checkbox":
        kind, choices = typed_choices(parse_choices(path, field))
        schema.update({"type": "array", "items": {"type": kind, "oneOf": choices}, "uniqueItems": True,
                       "x-ecrf-widget": "checkboxes"})
        report.add("checkbox", field.name, field.type, "translated",
                   f"an array of codes; REDCap's export columns {field.name}___<code> map to it", field.line)
    elif field.type in ("yesno", "truefalse"):
        schema["type"] = "boolean"
        report.add("choices", field.name, field.type, "translated",
                   "codes 1/0 stored as true/false", field.line)
    elif field.type == "slider":
        _slider(path, field, schema, report)
    return schema


def plain_text(text: str) -> str:
    """REDCap text (labels, section headers may hold HTML and line breaks) as one plain line."""
    return " ".join(re.sub(r"<[^>]*>", " ", text).split())


def plain_label(field: Field) -> str:
    """The field label as plain text, or the field name when it is blank."""
    return plain_text(field.label) or field.name


def _validation(path, field: Field, schema: dict, report: Report) -> None:
    rule = field.validation.lower()
    if not rule:
        return
    if rule in DATE:
        schema["format"] = "date"
    elif rule in DATETIME:
        schema["format"] = "date-time"
        report.add("validation", field.name, rule, "translated",
                   "a date-time: the engine stores it with its UTC offset (REDCap's has none)", field.line)
    elif rule in ("time", "time_hh_mm_ss"):
        schema["format"] = "time"
    elif rule == "integer":
        schema["type"] = "integer"
    elif rule in NUMBER:
        schema["type"] = "number"
        if rule != "number":
            report.add("validation", field.name, rule, "translated",
                       "a number: its decimal places and decimal comma are not enforced", field.line)
    elif rule in PATTERNS:
        schema["pattern"] = PATTERNS[rule]
    else:
        report.add("validation", field.name, rule, "dropped",
                   f"text validation {rule!r} has no equivalent: kept as plain text", field.line)


def _slider(path, field: Field, schema: dict, report: Report) -> None:
    low, high = decimal(field.minimum or "0"), decimal(field.maximum or "100")
    if low is None or high is None or low >= high:
        raise ImportError_(f"{path}:{field.line}: slider {field.name!r} has ends {field.minimum!r}..{field.maximum!r}")
    schema.update({"type": "integer", "minimum": int(low), "maximum": int(high)})
    labels = [label.strip() for label in field.choices.split("|") if label.strip()]
    if labels:
        schema["description"] = " / ".join(filter(None, [schema.get("description"), "Slider: " + " … ".join(labels)]))
    report.add("field", field.name, "slider", "translated",
               f"a whole number {int(low)}..{int(high)} (its ends are the slider's, so they are hard limits)",
               field.line)

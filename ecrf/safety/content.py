"""What an SAE report holds (ICH E2A / CIOMS I): its fields, their checks, and the prefill from the saved data.

Pure: a report's content is a plain dict of JSON values; times are ISO 8601 UTC text (``...Z``).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from ecrf.errors import FieldError, Invalid
from ecrf.safety.triggers import Match
from ecrf.text import MAX_MESSAGE, MAX_NAME, text_error
from ecrf.times import iso

SERIOUSNESS = ("death", "life", "hosp", "disab", "congen", "other")
RELATEDNESS = ("not_related", "unlikely", "possible", "probable", "definite")
OUTCOMES = ("recovered", "recovering", "not_recovered", "sequelae", "fatal", "unknown")
EXPECTEDNESS = ("expected", "unexpected")
# The words for each code, in English (the interface's catalogs and the CIOMS PDF translate them).
CHOICE_LABELS = {
    "death": "Death", "life": "Life-threatening", "hosp": "Hospitalisation or prolongation", "disab": "Disability",
    "congen": "Congenital anomaly", "other": "Other medically important", "not_related": "Not related",
    "unlikely": "Unlikely", "possible": "Possible", "probable": "Probable", "definite": "Definite",
    "recovered": "Recovered", "recovering": "Recovering", "not_recovered": "Not recovered",
    "sequelae": "Recovered with sequelae", "fatal": "Fatal", "unknown": "Unknown", "expected": "Expected",
    "unexpected": "Unexpected",
}


@dataclass(frozen=True)
class Field:
    """One field of the report: its kind (``text``, ``long``, ``date``, ``time``, ``choice``, ``choices``)."""

    name: str
    label: str
    kind: str
    choices: tuple[str, ...] = ()
    needed: bool = True  # a submission needs it


FIELDS = (
    Field("event_term", "Reaction / event", "text"),
    Field("seriousness", "Seriousness criteria", "choices", SERIOUSNESS),
    Field("onset_date", "Onset date", "date"),
    Field("awareness_at", "Site aware of the event", "time"),
    Field("outcome", "Outcome", "choice", OUTCOMES),
    Field("causality_cart", "Relation to CAR-T product", "choice", RELATEDNESS),
    Field("causality_ld", "Relation to lymphodepletion", "choice", RELATEDNESS),
    Field("expectedness", "Expectedness", "choice", EXPECTEDNESS),
    Field("treatments", "Treatments and actions taken", "long", needed=False),
    Field("narrative", "Narrative", "long"),
)
BY_NAME = {f.name: f for f in FIELDS}


def parse_time(value: Any, tz: zoneinfo.ZoneInfo, path: str = "/awareness_at") -> dt.datetime | None:
    """An ISO 8601 time as aware UTC; a time without a zone is read in the site's zone ``tz``. 422 otherwise."""
    if value is None or value == "":
        return None
    try:
        parsed = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise Invalid("not a date and time", [FieldError(path, "must be a date and time (YYYY-MM-DDTHH:MM)")])
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(dt.UTC)


def _fault(field: Field, value: Any, tz: zoneinfo.ZoneInfo) -> tuple[Any, FieldError | None]:
    """The value as stored, and the fault with it (None when it is acceptable)."""
    path = f"/{field.name}"
    if value is None or value == "" or value == []:
        return None, None
    if field.kind in ("text", "long"):
        if not isinstance(value, str):
            return value, FieldError(path, "must be text")
        limit = MAX_NAME if field.kind == "text" else MAX_MESSAGE
        return value.strip(), text_error(value, path, multiline=field.kind == "long", max_length=limit)
    if field.kind == "choice":
        return value, None if value in field.choices else FieldError(path, f"must be one of {', '.join(field.choices)}")
    if field.kind == "choices":
        if not isinstance(value, list) or any(v not in field.choices for v in value):
            return value, FieldError(path, f"must be a list of {', '.join(field.choices)}")
        return [c for c in field.choices if c in value], None
    if field.kind == "date":
        try:
            return dt.date.fromisoformat(value).isoformat(), None
        except (TypeError, ValueError):
            return value, FieldError(path, "must be a date (YYYY-MM-DD)")
    try:
        return iso(parse_time(value, tz, path)), None
    except Invalid as invalid:
        return value, invalid.errors[0]


def check_content(content: dict, tz: zoneinfo.ZoneInfo) -> dict:
    """The content as stored (known fields only, empty ones left out); 422 naming every faulty or unknown field."""
    stored, faults = {}, []
    for name, value in content.items():
        field = BY_NAME.get(name)
        if field is None:
            faults.append(FieldError(f"/{name}", "not a field of an SAE report"))
            continue
        value, fault = _fault(field, value, tz)
        if fault:
            faults.append(fault)
        elif value is not None:
            stored[name] = value
    if faults:
        raise Invalid(f"{len(faults)} field(s) of the report are not acceptable", faults)
    return stored


def missing_for_submission(content: dict) -> list[FieldError]:
    """A fault for each field a submission needs that is empty."""
    return [FieldError(f"/{f.name}", f"{f.label} is required to submit") for f in FIELDS
            if f.needed and content.get(f.name) in (None, "", [])]


def prefilled(match: Match, aware_at: dt.datetime) -> dict:
    """A new report's content: what the rule's ``prefill`` copies from the row or record, the event's name,
    the awareness time, and "death" among the criteria of a death."""
    rule, facts = match.trigger, match.facts
    content: dict[str, Any] = {"awareness_at": iso(aware_at)}
    for field, item in (rule.prefill or {}).items():
        if field in BY_NAME and facts.get(item) not in (None, "", []):
            content[field] = facts[item]
    if "event_term" not in content and rule.term:
        content["event_term"] = rule.term if rule.min is None else f"{rule.term}, grade {match.value}"
    if rule.kind == "death":
        content["seriousness"] = sorted({*content.get("seriousness", []), "death"}, key=SERIOUSNESS.index)
    try:
        return check_content(content, zoneinfo.ZoneInfo("UTC"))
    except Invalid as invalid:  # a prefill that does not fit is left for the site to enter
        bad = {e.path.lstrip("/") for e in invalid.errors}
        return check_content({k: v for k, v in content.items() if k not in bad}, zoneinfo.ZoneInfo("UTC"))

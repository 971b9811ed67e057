"""Hard validation of normalised data: every fault by JSON pointer, before anything is stored.

Pure: no database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ecrf.definitions import ROW_ID, CompiledForm
from ecrf.errors import FieldError


@dataclass(frozen=True)
class Fault(FieldError):
    """A fault the interface can say in the reader's language: a catalog ``key`` and its ``args``.

    ``message`` stays the English the API has always answered; ``key % args`` is what a person reads
    (``ecrf.i18n.message_text`` renders it, as it renders the system's query messages).
    """

    key: str = ""
    args: dict = field(default_factory=dict, hash=False, compare=False)


def _fault(path: str, key: str, message: str | None = None, **args: Any) -> Fault:
    """A fault at ``path`` saying ``key % args`` (``message``, when given, is what the API says instead)."""
    return Fault(path, message if message is not None else key % args, key, args)


def _error_path(error, data: dict) -> str:
    parts, node = [], data
    for part in error.absolute_path:
        if isinstance(node, list) and isinstance(part, int) and part < len(node) and isinstance(node[part], dict):
            parts.append(str(node[part].get(ROW_ID, part)))
        else:
            parts.append(str(part))
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return "/" + "/".join(parts) if parts else ""


def validate(form: CompiledForm, data: dict) -> list[FieldError]:
    """Every hard fault: unknown items, types, formats, code lists, bounds, hidden items with a value."""
    not_numbers = [_fault(path, NOT_FINITE) for path in _non_finite(data, "")]
    if not_numbers:
        return not_numbers
    if _surely_valid(form, data):
        return [_fault(path, HIDDEN_WITH_VALUE) for path in sorted(form.hidden_with_value(data))]
    errors: list[FieldError] = [
        _fault(f"/{key}", "unknown item %(item)s in form %(form)s", item=repr(key), form=form.oid)
        for key in data if key not in form.item_by_oid]
    errors += _schema_errors(form, data)
    if not errors:
        for path in form.hidden_with_value(data):
            errors.append(_fault(path, HIDDEN_WITH_VALUE))
    return sorted(errors, key=lambda e: e.path)


def _schema_errors(form: CompiledForm, data: dict) -> list[FieldError]:
    """The faults the form's JSON schema finds, by JSON pointer (rows named by their ids)."""
    errors = []
    for error in form.validator.iter_errors(data):
        if error.validator == "additionalProperties" and not error.absolute_path:
            continue  # unknown items of the form: validate names them, one per item
        path = _error_path(error, data)
        if error.validator == "additionalProperties":
            extra = [k for k in error.instance if k not in error.schema.get("properties", {})]
            errors += [_fault(f"{path}/{key}", "unknown item %(item)s", item=repr(key)) for key in extra]
            continue
        key, message, args = _message(error)
        errors.append(Fault(path, message, key, args))
    return errors


def _non_finite(value: Any, path: str):
    if isinstance(value, float) and not math.isfinite(value):
        yield path
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _non_finite(child, f"{path}/{key}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            key = child.get(ROW_ID, index) if isinstance(child, dict) else index
            yield from _non_finite(child, f"{path}/{key}")


HIDDEN_WITH_VALUE = "not applicable for the answers given (hidden by its condition); leave it empty"
NOT_FINITE = "must be a finite number (not NaN or infinity)"


def _surely_valid(form: CompiledForm, data: dict) -> bool:
    # The compiled validator is ~50x faster; anything it doubts gets the full, explaining one.
    try:
        return form.fast_validator.is_valid(data)
    except Exception:  # a value it cannot take (NaN, a huge int): let jsonschema decide
        return False


# What each JSON Schema keyword's fault says (jsonschema's own English, so the API keeps its words), by catalog key.
BOUNDS = {
    "minimum": "%(value)s is less than the minimum of %(limit)s",
    "maximum": "%(value)s is greater than the maximum of %(limit)s",
    "exclusiveMinimum": "%(value)s is less than or equal to the minimum of %(limit)s",
    "exclusiveMaximum": "%(value)s is greater than or equal to the maximum of %(limit)s",
    "multipleOf": "%(value)s is not a multiple of %(limit)s",
}
TYPES = {
    "number": "%(value)s is not of type number", "integer": "%(value)s is not of type integer",
    "string": "%(value)s is not of type string", "boolean": "%(value)s is not of type boolean",
    "array": "%(value)s is not of type array", "object": "%(value)s is not of type object",
}
FORMATS = {"date": "%(value)s is not a valid date", "date-time": "%(value)s is not a valid date and time",
           "time": "%(value)s is not a valid time"}


def _message(error) -> tuple[str, str, dict]:
    """The fault's catalog key, the API's English message, and the key's arguments."""
    value = repr(error.instance)
    if error.validator in BOUNDS:
        key = BOUNDS[error.validator]
        return key, key % {"value": value, "limit": error.validator_value}, {"value": value,
                                                                               "limit": error.validator_value}
    if error.validator == "enum":
        args = {"value": value, "codes": ", ".join(map(str, error.validator_value))}
        return "%(value)s is not one of the allowed codes %(codes)s", \
            f"{error.instance!r} is not one of the allowed codes {error.validator_value}", args
    if error.validator == "type":
        key = TYPES.get(error.validator_value, "%(value)s is not of type %(type)s")
        return key, f"{error.instance!r} is not of type {error.validator_value}", {"value": value,
                                                                                  "type": error.validator_value}
    if error.validator == "format":
        key = FORMATS.get(error.validator_value, "%(value)s is not a valid %(format)s")
        message = str(error.cause) if error.cause else error.message
        return key, message, {"value": value, "format": error.validator_value}
    if error.validator == "pattern":
        return "%(value)s does not match %(pattern)s", error.message, {"value": value,
                                                                        "pattern": repr(error.validator_value)}
    if error.validator in ("minLength", "maxLength"):
        key = "%(value)s is too short" if error.validator == "minLength" else "%(value)s is too long"
        return key, error.message, {"value": value}
    if error.validator in ("required", "dependentRequired"):
        return "Required", error.message, {}
    if error.validator in ("oneOf", "anyOf", "const"):
        return "%(value)s is not one of the allowed answers", error.message, {"value": value}
    return "%(value)s is not accepted here", error.message, {"value": value}

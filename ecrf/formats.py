"""Value formats of stored data: dates, date-times and times as the engine spells them.

Two checkers share one set of rules: :data:`FORMAT_CHECKER` for the
``jsonschema`` validator that names each fault, and :func:`fast_validator`
for the compiled validator that only says yes or no.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import jsonschema
import jsonschema_rs

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$")
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2})?$")

FORMAT_CHECKER = jsonschema.FormatChecker(formats=())


@FORMAT_CHECKER.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE.match(value):
        raise ValueError("expected a date YYYY-MM-DD")
    dt.date.fromisoformat(value)
    return True


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATETIME.match(value):
        raise ValueError("expected a date and time with its UTC offset, e.g. 2026-01-31T14:30:00Z")
    dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@FORMAT_CHECKER.checks("time", raises=ValueError)
def _is_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _TIME.match(value):
        raise ValueError("expected a time HH:MM")
    dt.time.fromisoformat(value)
    return True


def _passes(check) -> Any:
    def passes(value: str) -> bool:
        try:
            return bool(check(value))
        except ValueError:
            return False
    return passes


# The same format rules for the fast validator (which only says yes or no).
_FAST_FORMATS = {"date": _passes(_is_date), "date-time": _passes(_is_datetime), "time": _passes(_is_time)}


def fast_validator(schema: dict):
    """A compiled (Rust) validator of ``schema`` with the engine's formats: a quick yes for valid data.

    Only its yes is trusted; data it rejects go to the ``jsonschema``
    validator, which names each fault.
    """
    return jsonschema_rs.Draft202012Validator(schema, formats=_FAST_FORMATS, validate_formats=True)

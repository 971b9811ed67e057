"""A file's text values typed to the form's items (numbers, booleans, codes), as the write path expects them."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from ecrf.definitions import Item

TRUE = frozenset({"true", "1", "yes", "y"})
FALSE = frozenset({"false", "0", "no", "n"})
# Kinds whose value is the text itself (formats are the validator's to judge).
TEXT_KINDS = frozenset({"text", "textarea", "date", "datetime", "time"})


def _decimal(text: str) -> Decimal:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{text!r} is not a finite number")
    return number


def number(text: str) -> int | float:
    """``text`` as a JSON number: an integer when written as one (``"70"``), else a float (``"36.8"``)."""
    value = _decimal(text)
    written_whole = all(mark not in text for mark in ".eE")
    return int(value) if written_whole and value == value.to_integral_value() else float(value)


def _code(item: Item, text: str) -> Any:
    for choice in item.choices:
        if str(choice.value) == text:
            return choice.value
    for choice in item.choices:  # "1.0" for the code 1, "true" for True
        if isinstance(choice.value, bool):
            if text.lower() in (TRUE if choice.value else FALSE):
                return choice.value
        elif isinstance(choice.value, (int, float)):
            try:
                if _decimal(text) == Decimal(str(choice.value)):
                    return choice.value
            except ValueError:
                continue
    codes = ", ".join(str(choice.value) for choice in item.choices)
    raise ValueError(f"{text!r} is not one of the codes {codes}")


def typed(item: Item, text: str) -> Any:
    """The value of ``item`` that ``text`` stands for; :class:`ValueError` saying why when it stands for none."""
    if item.kind in TEXT_KINDS:
        return text
    text = text.strip()
    if item.kind == "integer":
        value = _decimal(text)
        if value != value.to_integral_value():
            raise ValueError(f"{text!r} is not a whole number")
        return int(value)
    if item.kind == "number":
        return number(text)
    if item.kind == "boolean":
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise ValueError(f"{text!r} is not yes/no (true, false, 1, 0)")
    if item.kind == "choice":
        return _code(item, text)
    if item.kind == "multichoice":
        return [_code(item, part.strip()) for part in text.split(",") if part.strip()]
    raise ValueError(f"a {item.kind} item takes no single value")

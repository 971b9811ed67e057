"""Exact decimal arithmetic for clinical boundaries (3 × ULN must be exactly 3 × ULN)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any


def dec(value: Any) -> Decimal | None:
    """``value`` as a Decimal, or None when it is missing, a bool, or not a finite number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, (int, float)):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def malformed(*pairs: tuple[Any, Any]) -> bool:
    """True when an input was given (not None) but did not parse: such input gives None, never a guess."""
    return any(raw is not None and parsed is None for raw, parsed in pairs)

"""How a refused action is told to a person on the next page."""

from __future__ import annotations

from flask import flash

from ecrf.errors import DomainError


def flash_error(error: DomainError) -> None:
    """Flash the error's detail and each field fault (``/path message``)."""
    faults = "; ".join(f"{e.path} {e.message}".strip() for e in error.errors)
    flash(f"{error.detail}: {faults}" if faults else error.detail, "error")

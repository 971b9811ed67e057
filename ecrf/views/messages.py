"""How the outcome of an action is told to a person on the next page.

Each message has a kind: ``error`` (nothing was done; shown as an alert), ``warning`` (done in part, or done
with something to look at) or ``success``. base.html styles each kind apart and gives it its ARIA role.
"""

from __future__ import annotations

from flask import flash

from ecrf.errors import DomainError
from ecrf.i18n import translate

KINDS = ("error", "warning", "success")
# Fields of the engine's own forms, by the JSON pointer a refusal names them with.
FIELD_LABELS = {"/text": "Message", "/password": "Password", "/reason": "Reason for change", "/item": "Item",
                "/site": "Site", "/subject_id": "Subject", "/username": "Username", "/name": "Name",
                "/code": "Code", "/role": "Role", "/meaning": "Meaning", "/file": "File"}


def field_label(path: str, labels: dict[str, str] | None = None) -> str:
    """The label a person sees for the field at ``path``: from ``labels``, the engine's own, else its last name."""
    label = (labels or {}).get(path) or FIELD_LABELS.get(path)
    if label is None:
        label = path.rstrip("/").rsplit("/", 1)[-1].replace("_", " ").capitalize() or path
    return translate(label)


def form_labels(form) -> dict[str, str]:
    """The labels of a WTForms form's fields by the JSON pointer a service names them with (``/full_name``)."""
    return {f"/{field.short_name}": str(field.label.text) for field in form} if form is not None else {}


def flash_error(error: DomainError, labels: dict[str, str] | None = None, *, form=None) -> None:
    """Flash the error's detail and each field fault, the field named by its label (never a JSON pointer).

    Labels come from ``labels``, else the fields of the page's ``form``, else the engine's own field names.
    """
    known = {**form_labels(form), **(labels or {})}
    faults = "; ".join(f"{field_label(e.path, known)}: {e.message}" if e.path else e.message for e in error.errors)
    flash(f"{translate(error.detail)} — {faults}" if faults else error.detail, "error")

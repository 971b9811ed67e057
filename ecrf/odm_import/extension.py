"""Reading the eCRF vendor extension (``ecrf:`` aliases, see :mod:`ecrf.odm_extension.aliases`) back."""

from __future__ import annotations

import json

from ecrf.odm_extension.aliases import PREFIX
from ecrf.odm_import.reader import NS, fault


def extension_of(path, element) -> dict:
    """``{context: value}`` of the element's ``ecrf:`` aliases, JSON values decoded; a broken one is a fault."""
    found = {}
    for alias in element.iterfind("odm:Alias", NS):
        context, name = alias.get("Context") or "", alias.get("Name") or ""
        if not context.startswith(PREFIX):
            continue
        if name[:1] in "{[":
            try:
                found[context] = json.loads(name)
            except json.JSONDecodeError as exc:
                raise fault(path, alias, f"Alias {context}: not JSON ({exc.msg})") from None
        else:
            found[context] = name
    return found

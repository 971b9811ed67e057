"""What ODM writes as text, numbers and names, read the way every part of the importer needs them."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from lxml import etree

from ecrf.odm_import.reader import NS

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
OID = re.compile(r"^[A-Z][A-Z0-9_]*$")
LANG = re.compile(r"^[a-z]{2}(-[A-Za-z]+)?$")


def local_name(element) -> str:
    """The element's tag without its namespace ("" for comments and the like)."""
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def engine_oid(text: str, taken: set[str]) -> str:
    """An engine OID (A-Z, 0-9, _) from an ODM OID or name, unique among ``taken``.

    The last dotted part when it starts with a letter (``F.DM`` → ``DM``), else the whole OID (``I.6`` → ``I_6``):
    a prefix-stripped name reads well, and the original is kept in ``x-ecrf-source-oid`` either way.
    """
    last = (text or "").rsplit(".", 1)[-1]
    text = last if last[:1].isalpha() else text
    candidate = re.sub(r"[^A-Za-z0-9_]+", "_", text or "").upper().strip("_")[:60] or "X"
    if not candidate[0].isalpha():
        candidate = "X" + candidate
    base, n = candidate, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def texts(element) -> tuple[str | None, dict]:
    """``(English text, {other language: text})`` of an element's TranslatedTexts; every language is kept."""
    if element is None:
        return None, {}
    english, labels = None, {}
    for text in element.iterfind("odm:TranslatedText", NS):
        tag = (text.get(XML_LANG) or "en").strip()
        primary = tag.split("-")[0].lower()
        value = (text.text or "").strip()
        if primary == "en" and english is None:
            english = value
        elif primary != "en":
            labels.setdefault(tag if LANG.match(tag) else primary, value)
    if english is None and labels:
        english = next(iter(labels.values()))
    return english or None, labels


def decimal(text: str | None) -> Decimal | None:
    """The number ``text`` says, or None when it says none a double can hold."""
    try:
        value = Decimal((text or "").strip())
    except InvalidOperation:
        return None
    # a double holds it: 1e400 would become infinity in JSON and CEL
    return value if value.is_finite() and abs(value) < Decimal("1e300") else None


def typed_code(code: str, kind: str):
    """The code as the item's type (``"4E1"`` → 40 for an integer item), or None when it does not fit."""
    if kind == "string":
        return code
    value = decimal(code)
    if value is None:
        return None
    if kind == "integer":
        return int(value) if value == value.to_integral_value() else None
    return int(value) if value == value.to_integral_value() else float(value)


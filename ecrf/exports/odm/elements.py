"""The ODM element maker and the names every part of the export shares: OIDs, times, numbers, translations."""

from __future__ import annotations

import datetime as dt
import re

from lxml import etree

from ecrf.odm_extension import aliases as ext
from ecrf.studies import StudyRuntime
from ecrf.text import xml_safe

NS = "http://www.cdisc.org/ns/odm/v1.3"
NSMAP = {None: NS}  # the default namespace: no ns0: prefixes
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def E(tag: str, attrib: dict | None = None, *children, text: str | None = None,
      nsmap: dict | None = None) -> etree._Element:
    """An ODM element with attributes (None values dropped), children and text.

    Elements written on their own (Study, AdminData, SubjectData) pass
    ``nsmap=NSMAP``; their descendants then take the default namespace.
    Attribute values and text go through :func:`~ecrf.text.xml_safe`: data stored before the input rules
    may hold characters XML 1.0 cannot carry, and they must not break the export.
    """
    element = etree.Element(f"{{{NS}}}{tag}", {k: xml_safe(str(v)) for k, v in (attrib or {}).items() if v is not None},
                            nsmap=nsmap)
    for child in children:
        if child is not None:
            element.append(child)
    if text is not None:
        element.text = xml_safe(text)
    return element


def translated(tag: str, english: str, labels: dict) -> etree._Element:
    """``tag`` holding one TranslatedText in English and one per other language of ``labels``."""
    texts = [E("TranslatedText", {XML_LANG: "en"}, text=english)]
    texts += [
        E("TranslatedText", {XML_LANG: lang}, text=value) for lang, value in sorted(labels.items()) if lang != "en"
    ]
    return E(tag, None, *texts)


def alias(context: str, value) -> etree._Element:
    """An ``Alias`` of the eCRF extension (:mod:`ecrf.odm_extension.aliases`); non-strings as compact JSON."""
    return E("Alias", {"Context": context, "Name": ext.alias_name(value)})


def keywords_alias(schema: dict, said: set[str]) -> etree._Element | None:
    """The ``ecrf:keywords`` alias of what ``schema`` says beyond ``said`` (None when nothing)."""
    rest = ext.unsaid(schema, said)
    return alias(ext.KEYWORDS, rest) if rest else None


def oid_part(text: str) -> str:
    """``text`` with every character an OID cannot hold replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(text))


def unit_oid(unit: str) -> str:
    """The MeasurementUnit OID of a unit symbol (non-ASCII characters spelled as escapes)."""
    return "MU." + oid_part(unit.encode("ascii", "backslashreplace").decode().replace("\\", "x"))


def item_oid(form: str, item: str) -> str:
    """The ItemDef OID of a form's item (rows' items and derived values included)."""
    return f"IT.{form}.{item}"


def group_oid(form: str, group: str | None = None) -> str:
    """The ItemGroupDef OID of a form's own items, or of one of its repeating groups."""
    return f"IG.{form}.{group}" if group else f"IG.{form}"


def mdv_oid(study: StudyRuntime) -> str:
    """The MetaDataVersion OID: the study's version and the first 8 hex of its definition hash."""
    return f"MDV.{oid_part(study.version)}.{study.definition_hash[:8]}"


def number(value) -> str:
    """A number as ODM writes it: ``250`` for 250.0, the shortest repr otherwise."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def iso(value: dt.datetime) -> str:
    """UTC to the second, ``YYYY-MM-DDTHH:MM:SSZ`` (naive times are UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    if value.utcoffset() != _ZERO:
        value = value.astimezone(dt.UTC)
    # By hand: faster, and isoformat() + replace() kept allocator blocks alive (seen under tracemalloc).
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:{value.second:02d}Z"


_ZERO = dt.timedelta(0)

"""The eCRF vendor extension: what the form language says that ODM 1.3.2 cannot, as ``Alias`` elements.

The official ODM 1.3.2 XSD allows no foreign element or attribute anywhere (every ``…Extension`` group is
empty), so an extension element would make the file invalid. ``Alias`` (``Context``, ``Name``) is ODM's own
place for "this definition, as another system names it" and may sit on the Protocol, StudyEventDef,
FormDef, ItemGroupDef, ItemDef, CodeList, ConditionDef and MethodDef. Every alias of the extension has a
``Context`` in the ``ecrf:`` prefix, which the document declares (``xmlns:ecrf``, :data:`ECRF_NS`), and a
``Name`` holding a name or compact JSON (ODM allows one alias per context on an element, so lists are
one JSON array). docs/odm-export.md lists each context; ``ecrf study import-odm``
reads them back, and another system can ignore them and still read the study.
"""

from __future__ import annotations

import json
from typing import Any

ECRF_NS = "https://ecrf.example/odm/v1"
PREFIX = "ecrf:"
STUDY = "ecrf:study"  # Protocol: study.json keys ODM has no element for (version, languages, stages, parameters, …)
LAB_RANGES = "ecrf:lab-ranges"  # Protocol: the reference ranges (analyte, unit, low, high, sex, ages), a JSON list
EVENT = "ecrf:event"  # StudyEventDef: schedule keys (stage, day, window, log)
STAGE = "ecrf:stage"  # FormDef: the stage folder of the form
ORDER = "ecrf:order"  # FormDef: its items in form order, when groups sit between the form's own items
RANGE = "ecrf:range"  # ItemDef: the lab analyte whose site reference range flags the value
RANGE_VALUE = "ecrf:range-value"  # ItemDef: the derived value compared with the range instead
WIDGET = "ecrf:widget"  # ItemDef: how the item is entered (textarea, radio, checkboxes, …)
MULTIPLE = "ecrf:multiple-choice"  # ItemDef: the value is a list of codes of its code list
CHECKS = "ecrf:checks"  # ItemDef: id and severity of its soft CEL RangeChecks, a JSON list in their order
KEYWORDS = "ecrf:keywords"  # FormDef, ItemGroupDef, ItemDef: other form-language keywords, as JSON


def alias_name(value: Any) -> str:
    """An alias's ``Name``: a string as it is, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def unsaid(schema: dict, said: set[str]) -> dict:
    """The keys of ``schema`` not in ``said``: what the ``ecrf:keywords`` alias carries."""
    return {key: value for key, value in schema.items() if key not in said}


def merge(schema: dict, extra: dict) -> dict:
    """``extra`` (an ``ecrf:keywords`` object) merged into ``schema``: objects merged, lists concatenated."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(schema.get(key), dict):
            merge(schema[key], value)
        elif isinstance(value, list) and isinstance(schema.get(key), list):
            schema[key] = schema[key] + value
        else:
            schema[key] = value
    return schema

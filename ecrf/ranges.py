"""Reference (normal) ranges: the study's defaults, overridden per site from a valid-from date.

A range applies to one analyte, optionally one sex and an age band. For a
subject, the entries of their site in force on the sample date win over the
study's defaults; among candidates, one for the subject's sex beats one for
both sexes, the latest valid-from date wins and, on the same date, the entry
made last.
"""

from __future__ import annotations

import datetime as dt
import re

from bson import ObjectId
from mongoengine import DateTimeField, Document, FloatField, IntField, StringField

from audit import utc_now
from ecrf.errors import FieldError, Invalid, Locked, NotFound
from ecrf.locks import study_closure
from ecrf.roles import Action, require
from ecrf.sites import get_site
from ecrf.studies import loaded_studies
from ecrf.subjects import Subject
from ecrf.text import MAX_NAME, text_error
from ecrf.trail import record_admin_event

ANALYTE = re.compile(r"^[A-Z][A-Z0-9_]{0,39}$")


class LabRange(Document):
    range_id = StringField(primary_key=True)
    site = StringField(required=True)
    analyte = StringField(required=True)
    unit = StringField(required=True)
    low = FloatField()
    high = FloatField()
    sex = StringField(choices=("M", "F", None))
    age_min = IntField()
    age_max = IntField()
    valid_from = StringField(required=True)  # ISO date
    retired_at = DateTimeField()
    created_at = DateTimeField()
    created_by = StringField()
    meta = {
        "collection": "lab_ranges",
        "indexes": [("site", "analyte", "valid_from"), ("site", "retired_at", "valid_from")],
    }

    def as_dict(self) -> dict:
        return {
            "id": self.range_id,
            "site": self.site,
            "analyte": self.analyte,
            "unit": self.unit,
            "low": self.low,
            "high": self.high,
            "sex": self.sex,
            "age_min": self.age_min,
            "age_max": self.age_max,
            "valid_from": self.valid_from,
            "retired": self.retired_at is not None,
        }


def _applies(entry: dict, sex: str | None, age: float | None) -> bool:
    if entry.get("sex") and entry["sex"] != sex:
        return False
    if age is not None:
        if entry.get("age_min") is not None and age < entry["age_min"]:
            return False
        if entry.get("age_max") is not None and age > entry["age_max"]:
            return False
    return True


def _best(entries: list[dict], sex: str | None, age: float | None) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for entry in entries:
        if not _applies(entry, sex, age):
            continue
        key = entry["analyte"]
        # Read order never decides: on the same valid-from date the range entered last wins.
        rank = (
            1 if entry.get("sex") else 0,
            entry.get("valid_from") or "",
            str(entry.get("created_at") or ""),
            str(entry.get("_id") or ""),
        )
        if key not in found or rank >= found[key]["_rank"]:
            found[key] = {**entry, "_rank": rank}
    return found


def _shape(entry: dict) -> dict:
    shaped = {"unit": entry["unit"]}
    if entry.get("low") is not None:
        shaped["low"] = shaped["lln"] = entry["low"]
    if entry.get("high") is not None:
        shaped["high"] = shaped["uln"] = entry["high"]
    return shaped


def _in_force(entry: dict, day: str) -> bool:
    return entry.get("retired_at") is None and isinstance(entry.get("valid_from"), str) and entry["valid_from"] <= day


def ranges_for(
    study: dict,
    site: str | None,
    sex: str | None,
    age: float | None,
    on_date: str | None = None,
    site_entries: list[dict] | None = None,
) -> dict:
    """``{analyte: {"low", "high", "lln", "uln", "unit"}}`` in force for this subject on that date.

    ``site_entries`` are every stored range of the site (retired or not), when
    the caller has read them already; otherwise they are read here.
    """
    chosen = _best(study.get("lab_ranges", []), sex, age)
    if site:
        day = on_date[:10] if isinstance(on_date, str) else utc_now().date().isoformat()
        if site_entries is None:
            site_entries = LabRange._get_collection().find({"site": site})
        chosen.update(_best([entry for entry in site_entries if _in_force(entry, day)], sex, age))
    return {analyte: _shape(entry) for analyte, entry in chosen.items()}


def refuse_if_ranges_closed(site: str) -> None:
    """:class:`Locked` (423) while a study with subjects at the site is locked or frozen.

    A site's ranges grade and flag its subjects' data in every study, so a
    change to them is a change to a locked study's data.
    """
    for study in loaded_studies():
        kind = study_closure(study.oid)
        if kind and Subject.objects(study=study.oid, site=site).first() is not None:
            raise Locked(
                f"study {study.oid} is {kind} and has subjects at site {site}; "
                "the site's reference ranges cannot change"
            )


def add_range(
    user,
    site: str,
    analyte: str,
    unit: str,
    low: float | None,
    high: float | None,
    *,
    valid_from: str,
    sex: str | None = None,
    age_min: int | None = None,
    age_max: int | None = None,
) -> LabRange:
    """Add a site reference range (data managers); audited. Refuses nonsense with the field named."""
    require(user, Action.MANAGE_RANGES)
    get_site(site)
    refuse_if_ranges_closed(site)
    errors = []
    if not isinstance(analyte, str) or not ANALYTE.fullmatch(analyte):
        errors.append(FieldError("/analyte", "analyte code: A-Z, 0-9, _"))
    if not isinstance(unit, str) or not unit.strip():
        errors.append(FieldError("/unit", "unit is required"))
    elif unit_error := text_error(unit, "/unit", max_length=MAX_NAME, label="Unit"):
        errors.append(unit_error)
    for name, value in (("low", low), ("high", high)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            errors.append(FieldError(f"/{name}", "must be a number"))
    if low is None and high is None:
        errors.append(FieldError("/high", "give a low or a high limit"))
    elif isinstance(low, (int, float)) and isinstance(high, (int, float)) and low > high:
        errors.append(FieldError("/low", "low is above high"))
    if sex not in (None, "M", "F"):
        errors.append(FieldError("/sex", "M, F or empty"))
    try:
        dt.date.fromisoformat(valid_from)
    except (TypeError, ValueError):
        errors.append(FieldError("/valid_from", "a date YYYY-MM-DD"))
    if errors:
        raise Invalid("invalid reference range", errors)
    entry = LabRange(
        range_id=str(ObjectId()),
        site=site,
        analyte=analyte,
        unit=unit.strip(),
        low=low,
        high=high,
        sex=sex,
        age_min=age_min,
        age_max=age_max,
        valid_from=valid_from,
        created_at=utc_now(),
        created_by=user.username,
    ).save(force_insert=True)
    record_admin_event(f"ranges/{site}", user.username, "range_added", entry.as_dict(), context={"site": site})
    return entry


def retire_range(user, range_id: str) -> LabRange:
    """Retire a site range (it stays stored and audited; it no longer applies)."""
    require(user, Action.MANAGE_RANGES)
    entry = LabRange.objects(range_id=range_id).first()
    if entry is None or entry.retired_at is not None:
        raise NotFound(f"no active range {range_id!r}")
    refuse_if_ranges_closed(entry.site)
    entry.update(set__retired_at=utc_now())
    record_admin_event(
        f"ranges/{entry.site}", user.username, "range_retired", {"id": range_id}, context={"site": entry.site}
    )
    return entry.reload()


def list_ranges(site: str | None = None) -> list[LabRange]:
    """Site ranges, newest first."""
    query = {"site": site} if site else {}
    return list(LabRange.objects(**query).order_by("site", "analyte", "-valid_from"))

"""Reference (normal) ranges: the study's defaults, overridden per site."""

from __future__ import annotations


def _applies(entry: dict, sex: str | None, age: float | None) -> bool:
    if entry.get("sex") and entry["sex"] != sex:
        return False
    if age is not None:
        if entry.get("age_min") is not None and age < entry["age_min"]:
            return False
        if entry.get("age_max") is not None and age > entry["age_max"]:
            return False
    return True


def ranges_for(study: dict, site: str | None, sex: str | None, age: float | None, on_date: str | None = None) -> dict:
    """``{analyte: {"low", "high", "unit"}}`` in force for this subject.

    Entries for the subject's sex beat entries for both sexes.
    """
    found: dict[str, dict] = {}
    for entry in study.get("lab_ranges", []):
        if not _applies(entry, sex, age):
            continue
        current = found.get(entry["analyte"])
        if current is None or (entry.get("sex") and not current.get("_sex")):
            found[entry["analyte"]] = {"low": entry.get("low"), "high": entry.get("high"),
                                       "unit": entry["unit"], "_sex": entry.get("sex")}
    return {analyte: {k: v for k, v in r.items() if not k.startswith("_") and v is not None}
            for analyte, r in found.items()}

"""REDCap's ODM attributes (field type, note, branching logic, calculation): reported, never dropped silently.

REDCap's own expression syntax is translated by the REDCap dictionary import; an ODM file from REDCap keeps
its branching logic and calculations visible in ``x-ecrf-disabled`` so the study builder sees them.
"""

from __future__ import annotations

REDCAP = "{https://projectredcap.org}"


class RedcapReader:
    """The part of the builder that reads REDCap's attributes on ItemDefs and ItemRefs."""

    def _redcap(self, item_def, ref, schema: dict, pointer: str, form: dict) -> bool:
        """Report (never drop silently) what REDCap writes as attributes; False when branching logic hides the item.

        REDCap's own expression syntax is translated by the REDCap importer; here its branching logic and
        calculations are kept visible in ``x-ecrf-disabled`` so the study builder sees them.
        """
        oid = item_def.get("OID")
        field_type = item_def.get(REDCAP + "FieldType")
        note = item_def.get(REDCAP + "FieldNote")
        if note and "description" not in schema:
            schema["description"] = note
            self.report.add("FieldNote", oid, None, "translated", "the item's help text", item_def.sourceline)
        logic = ref.get(REDCAP + "BranchingLogic") or item_def.get(REDCAP + "BranchingLogic")
        kept = []
        if logic:
            kept.append(("REDCap branching logic", logic))
        if field_type == "calc" or item_def.get(REDCAP + "Calculation"):
            kept.append(("REDCap calculation", item_def.get(REDCAP + "Calculation") or "(none)"))
        for kind, expression in kept:
            form.setdefault("x-ecrf-disabled", []).append({
                "kind": kind, "source-oid": oid, "item": pointer, "expression": expression,
                "reason": "REDCap expressions are translated by the REDCap dictionary import (not yet built)"})
            self.report.add(kind, oid, item_def.get("Name"), "disabled",
                            f"{pointer}: kept in x-ecrf-disabled, not run: {expression}", item_def.sourceline)
        if field_type in ("file", "slider", "descriptive", "sql"):
            self.report.add("REDCap field type", oid, field_type, "translated",
                            f"a {field_type} field kept as a plain {schema['type']} item", item_def.sourceline)
        return not logic


"""REDCap's ODM attributes: checkbox boxes as one multi-select, branching logic and calculations in CEL.

REDCap writes one boolean ItemDef per box of a checkbox (``race___1``, ``race___2``, with
``redcap:Variable="race"`` and the choices in ``redcap:CheckboxChoices``): they become one array item named
after the field. Branching logic and calculations are REDCap expressions, translated by the same translator
as the dictionary import (:mod:`ecrf.odm_import.redcap_logic`) once the whole form is known (an expression may
name a later field); what does not translate is kept visible in ``x-ecrf-disabled`` and reported.
"""

from __future__ import annotations

import re

from ecrf.expressions import ExpressionError, compile_expression
from ecrf.odm_import.reader import NS
from ecrf.odm_import.redcap_logic import Operand, to_cel
from ecrf.odm_import.translate import Untranslatable
from ecrf.odm_import.values import decimal, typed_code

REDCAP = "{https://projectredcap.org}"
BOX = re.compile(r"^(?P<variable>.+?)___(?P<code>.+)$")


def _kind(schema: dict) -> str:
    """What the expression translator calls a field's kind: number, string, boolean, date or array."""
    if schema.get("format") in ("date", "date-time", "time"):
        return "date"
    return {"integer": "number"}.get(schema["type"], schema["type"])


def _box_choices(codelist, box_oids: list[str]) -> list[tuple[str, str]]:
    """``(code, label)`` of a checkbox: REDCap's ``redcap:CheckboxChoices``, else the codes of its boxes."""
    written = (codelist.get(REDCAP + "CheckboxChoices") if codelist is not None else None) or ""
    choices = []
    for part in written.split("|"):
        code, _, label = part.partition(",")
        if code.strip():
            choices.append((code.strip(), label.strip() or code.strip()))
    return choices or [(BOX.match(oid)["code"], BOX.match(oid)["code"]) for oid in box_oids]


class RedcapReader:
    """The part of the builder that reads REDCap's attributes on ItemDefs and ItemRefs."""

    def _checkbox_variable(self, item_def) -> str | None:
        """The REDCap checkbox field this ItemDef is one ``___code`` box of, or None."""
        if item_def.get(REDCAP + "FieldType") != "checkbox":
            return None
        match, variable = BOX.match(item_def.get("OID") or ""), item_def.get(REDCAP + "Variable")
        return variable if match and variable and match["variable"] == variable else None

    def _checkbox(self, item_def, schema: dict, variable: str, box_oids: list[str]) -> None:
        """Turn the first box's boolean schema into the multi-select of the whole checkbox field."""
        ref = item_def.find("odm:CodeListRef", NS)
        codelist = self.defs["CodeList"].get(ref.get("CodeListOID")) if ref is not None else None
        choices = _box_choices(codelist, box_oids)
        kind = "integer" if all(typed_code(code, "integer") is not None for code, _ in choices) else "string"
        for keyword in ("oneOf", "maxLength", "format", "minimum", "maximum"):
            schema.pop(keyword, None)
        schema.update({"type": "array", "uniqueItems": True, "x-ecrf-widget": "checkboxes",
                       "x-ecrf-source-oid": variable,
                       "items": {"type": kind, "oneOf": [{"const": typed_code(code, kind), "title": label}
                                                         for code, label in choices]}})
        self.report.add("REDCap checkbox", variable, item_def.get("Name"), "translated",
                        f"its boxes {', '.join(box_oids)} are one multi-select array of {len(choices)} choices",
                        item_def.sourceline)

    def _box(self, item_def, variable: str, name: str) -> None:
        """Report a box after the first: a choice of the multi-select already built."""
        ref = item_def.find("odm:CodeListRef", NS)
        if ref is not None and ref.get("CodeListOID") in self.defs["CodeList"]:
            self.used_codelists.add(ref.get("CodeListOID"))
            self.boolean_lists.add(ref.get("CodeListOID"))
        self.report.add("ItemDef", item_def.get("OID"), item_def.get("Name"), "translated",
                        f"a box of the REDCap checkbox {variable}: a choice of the multi-select {name}",
                        item_def.sourceline)

    def _redcap_markings(self, item_def, schema: dict) -> None:
        """Identifier flag and section header kept; layout and action tags reported as not kept."""
        oid, line = item_def.get("OID"), item_def.sourceline
        if (item_def.get(REDCAP + "Identifier") or "").lower() in ("y", "yes", "1"):
            schema["x-ecrf-identifier"] = True
            self.report.add("REDCap identifier", oid, None, "carried", "flagged x-ecrf-identifier", line)
        if item_def.get(REDCAP + "SectionHeader"):
            schema["x-ecrf-section"] = item_def.get(REDCAP + "SectionHeader")
            self.report.add("REDCap section header", oid, schema["x-ecrf-section"][:80], "carried",
                            "x-ecrf-section", line)
        for attribute, why in (("MatrixGroupName", "matrix layout only: its items kept in order"),
                               ("CustomAlignment", "layout only"), ("SliderLabels", "layout only"),
                               ("FieldAnnotation", "action tags are not run")):
            if item_def.get(REDCAP + attribute):
                self.report.add(f"REDCap {attribute}", oid, item_def.get(REDCAP + attribute)[:80], "dropped", why,
                                line)

    def _redcap_settings(self) -> None:
        """Report REDCap's project settings (``redcap:`` elements of GlobalVariables): none is study metadata."""
        for setting in self.study.iterfind("odm:GlobalVariables/*", NS):
            if isinstance(setting.tag, str) and setting.tag.startswith(REDCAP) and \
                    setting.tag != REDCAP + "RepeatingInstrumentsAndEvents":
                self.report.add("REDCap project setting", setting.tag[len(REDCAP):], (setting.text or "")[:80],
                                "dropped", "a REDCap project setting, not part of the study definition",
                                setting.sourceline)
        for repeating in self.study.iter(REDCAP + "RepeatingEvent"):
            self.report.add("REDCap repeating event", repeating.get(REDCAP + "UniqueEventName"), None, "dropped",
                            "repeating events are not translated (repeating instruments are)", repeating.sourceline)

    def _redcap_schedule(self, event_def) -> dict:
        """REDCap's day offset and window of an event as the engine's ``day`` and ``window`` ({} when none)."""
        day = decimal(event_def.get(REDCAP + "DayOffset"))
        if day is None:
            return {}
        before, after = decimal(event_def.get(REDCAP + "OffsetMin")), decimal(event_def.get(REDCAP + "OffsetMax"))
        window = {"before": int(before), "after": int(after)} if before is not None and after is not None else None
        self.report.add("REDCap day offset", event_def.get("OID"), event_def.get(REDCAP + "DayOffset"), "translated",
                        f"day {int(day)}, window {window}", event_def.sourceline)
        arm = event_def.get(REDCAP + "ArmNum")
        if arm and arm not in self.redcap_arms:
            self.redcap_arms.add(arm)
            self.report.add("REDCap arm", arm, event_def.get(REDCAP + "ArmName"), "dropped",
                            "arms are not kept: the events of every arm are one schedule", event_def.sourceline)
        return {"day": int(day), "window": window}

    def _redcap_repeats(self, form_def) -> bool:
        """Whether REDCap's project settings make this instrument repeating (``redcap:RepeatingInstrument``)."""
        name = form_def.get(REDCAP + "FormName")
        for setting in self.root.iter(REDCAP + "RepeatingInstrument"):
            if name and setting.get(REDCAP + "RepeatInstrument") == name:
                self.report.add("REDCap repeating instrument", name, setting.get(REDCAP + "UniqueEventName"),
                                "translated", "the form repeats (its custom label "
                                f"{setting.get(REDCAP + 'CustomLabel') or '(none)'} is not kept)", setting.sourceline)
                return True
        return False

    def _redcap(self, item_def, ref, schema: dict, pointer: str, target: str) -> bool:
        """Report REDCap's attributes; queue its expressions; False when branching logic hides the item."""
        oid = item_def.get("OID")
        field_type = item_def.get(REDCAP + "FieldType")
        note = item_def.get(REDCAP + "FieldNote")
        if note and "description" not in schema:
            schema["description"] = note
            self.report.add("FieldNote", oid, None, "translated", "the item's help text", item_def.sourceline)
        logic = ref.get(REDCAP + "BranchingLogic") or item_def.get(REDCAP + "BranchingLogic")
        if logic:
            self.redcap_pending.append(("REDCap branching logic", item_def, logic, pointer, target, schema["title"]))
        if field_type == "calc" or item_def.get(REDCAP + "Calculation"):
            self.redcap_pending.append(("REDCap calculation", item_def, item_def.get(REDCAP + "Calculation") or "",
                                        pointer, target, schema["title"]))
        self._redcap_markings(item_def, schema)
        if field_type in ("file", "slider", "descriptive", "sql"):
            self.report.add("REDCap field type", oid, field_type, "translated",
                            f"a {field_type} field kept as a plain {schema['type']} item", item_def.sourceline)
        return not logic

    def _redcap_variables(self, groups: list[tuple]) -> dict[str, str]:
        """REDCap field name → engine item name, for the items outside repeating groups (``_groups``' output)."""
        variables = {}
        for _, _, names, key in groups:
            for oid, name in names.items():
                item = self.defs["ItemDef"][oid]
                if key is None:
                    variables.setdefault(item.get(REDCAP + "Variable") or item.get("Name") or oid, name)
        return variables

    def _redcap_resolver(self, variables: dict[str, str], properties: dict, derived: dict):
        """``resolve(field, event)`` over the items of the form being built (``variables``: REDCap name → item)."""
        def resolve(field: str, event: str | None) -> Operand:
            if event is not None:
                raise Untranslatable(f"[{event}][{field}]: an event named in an ODM file's logic is not translated")
            name = variables.get(field)
            if name in derived:
                return Operand(f"derived.{name}", "number")
            if name is None or name not in properties:
                raise Untranslatable(f"[{field}] is not an item of this form (smart variables and other forms' "
                                     "items are not translated from an ODM file)")
            schema = properties[name]
            kind = _kind(schema)
            integer_codes = kind == "array" and schema["items"]["type"] == "integer"
            return Operand(f"data.{name}", kind, name, integer_codes)
        return resolve

    def _redcap_expressions(self, form: dict, variables: dict[str, str], properties: dict, derived: dict,
                            checks: list) -> None:
        """Translate the queued branching logic (a query check) and calculations (derived values), else disable."""
        resolve = self._redcap_resolver(variables, properties, derived)
        for kind, item_def, source, pointer, target, title in self.redcap_pending:
            oid = item_def.get("OID")
            try:
                if not source:
                    raise Untranslatable("the calc field has no equation")
                if target is None:
                    raise Untranslatable("an item of a repeating group (row expressions are not translated)")
                if kind == "REDCap branching logic" and target.startswith("derived."):
                    raise Untranslatable("branching logic on a calculated value")
                cel = to_cel(source, resolve)
                compile_expression(cel)
            except (Untranslatable, ExpressionError) as exc:
                form.setdefault("x-ecrf-disabled", []).append({
                    "kind": kind, "source-oid": oid, "item": pointer, "expression": source or "(none)",
                    "reason": str(exc)})
                self.report.add(kind, oid, source, "disabled", f"{pointer}: kept in x-ecrf-disabled, not run: {exc}",
                                item_def.sourceline)
                continue
            if kind == "REDCap calculation":
                name = pointer.rsplit("/", 1)[-1]
                derived[name]["expr"] = cel
                derived[name].pop("description", None)
                self.report.add(kind, oid, source, "translated", f"derived {name} = {cel}", item_def.sourceline)
                continue
            checks.append({"id": f"SHOWN_{pointer.rsplit('/', 1)[-1]}", "item": pointer, "severity": "query",
                           "rule": f"({cel}) || !has({target})",
                           "message": {"en": f"{title}: should be empty unless {source}"}})
            self.report.add(kind, oid, source, "translated", f"shown always; a query when filled while not ({cel})",
                            item_def.sourceline)
        self.redcap_pending = []

"""ODM 1.3.x metadata → a draft study folder, with a report of what became of each construct.

The draft holds what ODM says — events, forms, item groups (repeating ones as
arrays of rows), items, types, code lists typed to their item, units, hard
range checks as limits, soft ones as query checks, conditions and methods as
CEL where they translate — and keeps every source OID in
``x-ecrf-source-oid``. What ODM does not say (schedule days, windows) is left
for the study builder. Everything met is recorded in a :class:`Report`:
carried, translated, disabled (kept visible, not run) or dropped, with why.
``ecrf study check`` validates the result.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

from lxml import etree

from ecrf.expressions import ExpressionError, compile_expression
from ecrf.odm_import.reader import NS, ImportError_, fault, read_odm
from ecrf.odm_import.report import Report
from ecrf.odm_import.translate import Untranslatable, cel_number, cel_string, to_cel

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
OID = re.compile(r"^[A-Z][A-Z0-9_]*$")
LANG = re.compile(r"^[a-z]{2}(-[A-Za-z]+)?$")
STAGE = "imported"
REDCAP = "{https://projectredcap.org}"
TRUE_CODES = {"1", "y", "yes", "true", "t"}
FALSE_CODES = {"0", "n", "no", "false", "f"}
LIMITS = {"GE": "minimum", "LE": "maximum", "GT": "exclusiveMinimum", "LT": "exclusiveMaximum"}
CEL_COMPARATOR = {"GE": ">=", "LE": "<=", "GT": ">", "LT": "<", "EQ": "==", "NE": "!="}
STRICTER = {"minimum": max, "exclusiveMinimum": max, "maximum": min, "exclusiveMaximum": min}
# MetaDataVersion children the importer reads; any other is reported as dropped.
HANDLED = {"Protocol", "StudyEventDef", "FormDef", "ItemGroupDef", "ItemDef", "CodeList", "ConditionDef", "MethodDef",
           "MultiSelectList"}


def _local(element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _oid(text: str, taken: set[str]) -> str:
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


def _texts(element) -> tuple[str | None, dict]:
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


def _decimal(text: str | None) -> Decimal | None:
    try:
        value = Decimal((text or "").strip())
    except InvalidOperation:
        return None
    # a double holds it: 1e400 would become infinity in JSON and CEL
    return value if value.is_finite() and abs(value) < Decimal("1e300") else None


def _typed_code(code: str, kind: str):
    """The code as the item's type (``"4E1"`` → 40 for an integer item), or None when it does not fit."""
    if kind == "string":
        return code
    value = _decimal(code)
    if value is None:
        return None
    if kind == "integer":
        return int(value) if value == value.to_integral_value() else None
    return int(value) if value == value.to_integral_value() else float(value)


class _Builder:
    """One MetaDataVersion → study.json, forms and the report."""

    def __init__(self, path: Path, root, version: str | None):
        self.path, self.root = path, root
        self.report = Report(str(path), f"ODM {root.get('ODMVersion') or '1.3'}")
        studies = root.findall("odm:Study", NS)
        if not studies:
            raise fault(path, root, "no Study element: the file holds no metadata to import")
        self.study = studies[0]
        for other in studies[1:]:
            self.report.add("Study", other.get("OID"), None, "dropped", "only the first Study of a file is imported",
                            other.sourceline)
        versions = self.study.findall("odm:MetaDataVersion", NS)
        if not versions:
            raise fault(path, self.study, "Study has no MetaDataVersion: the file holds no metadata to import")
        oids = [v.get("OID") for v in versions]
        if version is not None and version not in oids:
            raise fault(path, self.study, f"no MetaDataVersion {version!r}; the file has {', '.join(map(str, oids))}")
        self.mdv = versions[oids.index(version)] if version is not None else versions[0]
        self.report.facts.update({"study": self.study.get("OID"), "metadata_version": self.mdv.get("OID"),
                                  "other_metadata_versions": [o for o in oids if o != self.mdv.get("OID")]})
        for other in versions:
            if other is not self.mdv:
                self.report.add("MetaDataVersion", other.get("OID"), other.get("Name"), "dropped",
                                "not selected (choose it with --version)", other.sourceline)
        for child in root:
            if _local(child) in ("ClinicalData", "ReferenceData"):
                self.report.add(_local(child), child.get("StudyOID"), None, "dropped",
                                "not imported: use data import (later)", child.sourceline)
            elif _local(child) and _local(child) != "Study":
                self.report.add(_local(child), child.get("OID"), None, "dropped",
                                "not part of study metadata", child.sourceline)
        self.defs = {kind: self._index(kind) for kind in ("ItemDef", "ItemGroupDef", "FormDef", "CodeList",
                                                         "ConditionDef", "MethodDef")}
        self.multi = {m.get("ID"): m for m in self.mdv.iterfind("oc:MultiSelectList", NS)}
        self.units = {}
        for unit in self.study.iterfind("odm:BasicDefinitions/odm:MeasurementUnit", NS):
            symbol, _ = _texts(unit.find("odm:Symbol", NS))
            self.units[unit.get("OID")] = symbol or unit.get("Name")
            self.report.add("MeasurementUnit", unit.get("OID"), unit.get("Name"), "carried", line=unit.sourceline)
        self.used_codelists: set[str] = set()
        self.boolean_lists: set[str] = set()  # code lists that became true/false ...
        self.choice_lists: set[str] = set()  # ... and those kept as choices by some item
        self.used_conditions: set[str] = set()
        self.used_methods: set[str] = set()

    def _index(self, kind: str) -> dict:
        found = {}
        for element in self.mdv.iterfind(f"odm:{kind}", NS):
            oid = element.get("OID")
            if not oid:
                raise fault(self.path, element, f"{kind} without OID")
            if oid in found:
                raise fault(self.path, element, f"duplicate {kind} OID {oid!r} (also line {found[oid].sourceline})")
            found[oid] = element
        return found

    def _ref(self, kind: str, oid: str | None, at):
        if oid not in self.defs[kind]:
            raise fault(self.path, at, f"refers to {kind} {oid!r}, which the MetaDataVersion does not define")
        return self.defs[kind][oid]

    # ------------------------------------------------------------------ code lists

    def _codes(self, codelist) -> list[tuple[str, str, dict]]:
        entries = []
        for entry in codelist.iterfind("odm:CodeListItem", NS):
            title, labels = _texts(entry.find("odm:Decode", NS))
            entries.append((entry.get("CodedValue") or "", title or entry.get("CodedValue") or "?", labels))
        for entry in codelist.iterfind("odm:EnumeratedItem", NS):
            entries.append((entry.get("CodedValue") or "", entry.get("CodedValue") or "?", {}))
        return entries

    def _multi_codes(self, multi) -> list[tuple[str, str, dict]]:
        entries = []
        for entry in multi.iterfind("oc:MultiSelectListItem", NS):
            title, labels = _texts(entry.find("odm:Decode", NS))
            code = entry.get("CodedOptionValue") or ""
            entries.append((code, title or code or "?", labels))
        return entries

    def _choices(self, entries, kind: str, item_oid: str, list_oid: str, line) -> tuple[str, list] | None:
        """``(kind, choices)`` typed to the item; a code that does not fit turns the item to text, reported."""
        typed = [_typed_code(code, kind) for code, _, _ in entries]
        if any(value is None for value in typed):
            misfit = next(code for (code, _, _), value in zip(entries, typed) if value is None)
            self.report.add("CodeListRef", list_oid, None, "translated",
                            f"item {item_oid} has DataType {kind} but its code list has the code {misfit!r}: "
                            "kept as text", line)
            kind, typed = "string", [code for code, _, _ in entries]
        choices = []
        for value, (_, title, labels) in zip(typed, entries):
            choice = {"const": value, "title": title}
            if labels:
                choice["x-ecrf-labels"] = labels
            choices.append(choice)
        return kind, choices

    # ------------------------------------------------------------------ items

    def _item(self, item_def, name: str, group_oid: str | None) -> dict:
        oid = item_def.get("OID")
        data_type = item_def.get("DataType", "text")
        kind = {"integer": "integer", "float": "number", "double": "number", "hexFloat": "number",
                "base64Float": "number", "boolean": "boolean"}.get(data_type, "string")
        schema: dict = {"type": kind}
        fmt = {"date": "date", "datetime": "date-time", "time": "time", "partialDate": None}.get(data_type)
        if kind == "string" and fmt:
            schema["format"] = fmt
        elif kind == "string" and (_decimal(item_def.get("Length")) or 0) >= 1:
            schema["maxLength"] = int(_decimal(item_def.get("Length")))
        title, labels = _texts(item_def.find("odm:Question", NS))
        schema["title"] = title or item_def.get("Name") or oid
        help_text, help_labels = _texts(item_def.find("odm:Description", NS))
        if help_text:
            schema["description"] = help_text
        if labels:
            schema["x-ecrf-labels"] = labels
        if help_labels:
            schema["x-ecrf-help"] = help_labels
        schema["x-ecrf-source-oid"] = oid
        if group_oid:
            schema["x-ecrf-source-group"] = group_oid
        unit = item_def.find("odm:MeasurementUnitRef", NS)
        if unit is not None:
            if unit.get("MeasurementUnitOID") in self.units:
                schema["x-ecrf-unit"] = self.units[unit.get("MeasurementUnitOID")]
            else:
                self.report.add("MeasurementUnitRef", unit.get("MeasurementUnitOID"), None, "dropped",
                                f"item {oid} refers to a unit the file does not define", unit.sourceline)
        self._codelist(item_def, schema, kind)
        for child in item_def:
            if _local(child) in ("Alias", "ExternalQuestion", "Role"):
                self.report.add(_local(child), oid, child.get("Name") or child.get("Context"), "dropped",
                                "not kept by the form language", child.sourceline)
        multi_ref = item_def.find(".//oc:MultiSelectListRef", NS)
        if multi_ref is not None:
            self._multiselect(item_def, schema, multi_ref)
        return schema

    def _codelist(self, item_def, schema: dict, kind: str) -> None:
        ref = item_def.find("odm:CodeListRef", NS)
        if ref is None:
            return
        oid, list_oid = item_def.get("OID"), ref.get("CodeListOID")
        codelist = self.defs["CodeList"].get(list_oid)
        if codelist is None:
            self.report.add("CodeListRef", list_oid, None, "dropped",
                            f"item {oid} refers to a code list the file does not define: kept without choices",
                            ref.sourceline)
            return
        self.used_codelists.add(list_oid)
        entries = self._codes(codelist)
        if not entries:
            self.report.add("CodeListRef", list_oid, None, "dropped", f"code list of item {oid} is empty", ref.sourceline)
            return
        if kind == "boolean":
            codes = {code.strip().lower() for code, _, _ in entries}
            if codes <= TRUE_CODES | FALSE_CODES and len(codes) <= 2:
                self.report.add("CodeListRef", list_oid, codelist.get("Name"), "translated",
                                f"item {oid} is boolean: codes {sorted(codes)} stored as true/false", ref.sourceline)
                self.boolean_lists.add(list_oid)
                return
            self.report.add("CodeListRef", list_oid, None, "translated",
                            f"item {oid} has DataType boolean but its code list is not yes/no: kept as text",
                            ref.sourceline)
            kind = schema["type"] = "string"
        self.choice_lists.add(list_oid)
        kind, choices = self._choices(entries, kind, oid, list_oid, ref.sourceline)
        schema["type"] = kind
        schema.pop("maxLength", None)
        schema["oneOf"] = choices

    def _multiselect(self, item_def, schema: dict, ref) -> None:
        oid, list_id = item_def.get("OID"), ref.get("MultiSelectListID")
        multi = self.multi.get(list_id)
        if multi is None or not self._multi_codes(multi):
            self.report.add("MultiSelectListRef", list_id, None, "dropped",
                            f"item {oid} refers to a multi-select list the file does not define", ref.sourceline)
            return
        self.used_codelists.add(list_id)
        kind = {"integer": "integer"}.get(multi.get("DataType"), "string")
        kind, choices = self._choices(self._multi_codes(multi), kind, oid, list_id, ref.sourceline)
        if kind == "number":
            kind, choices = "string", [{**c, "const": str(c["const"])} for c in choices]
        for keyword in ("oneOf", "maxLength", "format", "minimum", "maximum"):
            schema.pop(keyword, None)
        schema.update({"type": "array", "items": {"type": kind, "oneOf": choices}, "uniqueItems": True,
                       "x-ecrf-widget": "checkboxes"})
        self.report.add("MultiSelectList", list_id, multi.get("Name"), "translated",
                        f"item {oid} is an array of choices", ref.sourceline)

    # ------------------------------------------------------------------ range checks

    def _range_checks(self, item_def, name: str, schema: dict, pointer: str, ref: str, checks: list) -> None:
        oid = item_def.get("OID")
        numeric = schema["type"] in ("integer", "number")
        for index, check in enumerate(item_def.iterfind("odm:RangeCheck", NS), start=1):
            comparator, soft = check.get("Comparator"), check.get("SoftHard") == "Soft"
            values = [v.text or "" for v in check.iterfind("odm:CheckValue", NS)]
            label = f"{oid} {comparator} {' '.join(values)} ({'soft' if soft else 'hard'})"
            if schema["type"] == "array" or not values or comparator not in (*CEL_COMPARATOR, "IN", "NOTIN"):
                self.report.add("RangeCheck", label, None, "dropped",
                                "no value, an unknown comparator or a multi-select item", check.sourceline)
                continue
            if numeric:
                parsed = [_decimal(v) for v in values]
                if any(v is None for v in parsed):
                    self.report.add("RangeCheck", label, None, "dropped", f"CheckValue {values!r} is not a number",
                                    check.sourceline)
                    continue
                literals = [cel_number(str(v)) for v in parsed]
            else:
                parsed, literals = values, [cel_string(v) for v in values]
            if not soft and numeric and comparator in LIMITS:
                keyword, value = LIMITS[comparator], parsed[0]
                value = int(value) if value == value.to_integral_value() else float(value)
                schema[keyword] = STRICTER[keyword](schema[keyword], value) if keyword in schema else value
                english, _ = _texts(check.find("odm:ErrorMessage", NS))
                said = f" (its message {english!r} is replaced by the engine's refusal naming the limit)" if english else ""
                self.report.add("RangeCheck", label, None, "translated", f"hard limit: {keyword} {value}{said}",
                                check.sourceline)
                continue
            if comparator in ("IN", "NOTIN"):
                test = f"{ref} in [{', '.join(literals)}]"
                test = test if comparator == "IN" else f"!({test})"
            else:
                test = f"{ref} {CEL_COMPARATOR[comparator]} {literals[0]}"
            english, labels = _texts(check.find("odm:ErrorMessage", NS))
            message = {"en": english or f"{schema['title']}: expected {CEL_COMPARATOR.get(comparator, comparator)} "
                                         f"{', '.join(values)}", **labels}
            checks.append({"id": f"RC_{name}_{index}", "item": pointer, "severity": "query",
                           "rule": f"!has({ref}) || {test}", "message": message})
            why = "soft: a query check, never a refusal" if soft else "a query check (no schema limit says this)"
            self.report.add("RangeCheck", label, None, "translated", why, check.sourceline)

    # ------------------------------------------------------------------ expressions

    def _expression(self, definition) -> tuple[str, str]:
        formal = definition.find("odm:FormalExpression", NS)
        if formal is None:
            return "", ""
        return (formal.text or "").strip(), formal.get("Context") or ""

    def _resolver(self, scope: dict[str, str]):
        def resolve(reference: str, event: str | None) -> str:
            if event is not None:
                raise Untranslatable(f"[{event}][{reference}] names another event")
            if reference in scope:
                return scope[reference]
            raise Untranslatable(f"{reference!r} is not an item of this form (or of this row)")
        return resolve

    def _translate(self, definition, scope: dict[str, str]) -> tuple[str | None, str, str, str]:
        """``(CEL or None, original, context, reason)`` for a ConditionDef or MethodDef."""
        source, context = self._expression(definition)
        if not source:
            return None, "", context, "no FormalExpression"
        try:
            cel = to_cel(source, self._resolver(scope))
            compile_expression(cel)
        except (Untranslatable, ExpressionError) as exc:
            return None, source, context, str(exc)
        return cel, source, context, ""

    def _condition(self, condition_oid: str, at, target: str, pointer: str, scope: dict[str, str], form: dict,
                   checks: list) -> bool:
        """A CollectionExceptionCondition (the item is not collected while it holds) as a query check."""
        condition = self._ref("ConditionDef", condition_oid, at)
        self.used_conditions.add(condition_oid)
        cel, source, context, reason = self._translate(condition, scope)
        if cel is None:
            self._disable(form, "ConditionDef", condition, pointer, source, context, reason)
            return False
        english, labels = _texts(condition.find("odm:Description", NS))
        message = {"en": f"Should be empty: {english or 'not collected when ' + source}", **labels}
        checks.append({"id": f"CX_{pointer.strip('/').replace('/*/', '_')}", "item": pointer, "severity": "query",
                       "rule": f"!({cel}) || !has({target})", "message": message})
        self.report.add("ConditionDef", condition_oid, condition.get("Name"), "translated",
                        f"{pointer}: a query when filled while {cel}", condition.sourceline)
        return True

    def _disable(self, form: dict, kind: str, definition, pointer: str, source: str, context: str, reason: str) -> None:
        rule = {"kind": kind, "source-oid": definition.get("OID"), "item": pointer, "expression": source or "(none)",
                "reason": reason}
        if context:
            rule["context"] = context
        form.setdefault("x-ecrf-disabled", []).append(rule)
        self.report.add(kind, definition.get("OID"), definition.get("Name"), "disabled",
                        f"{pointer}: kept in x-ecrf-disabled, not run: {reason}", definition.sourceline)

    # ------------------------------------------------------------------ REDCap's ODM attributes

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

    # ------------------------------------------------------------------ forms

    def _groups(self, form_def) -> list[tuple]:
        """``(group, ItemGroupRef, {source item OID: engine name}, repeating group key or None)`` per group.

        Names are chosen for the whole form first, so an expression can refer to an item of a later group.
        """
        groups, taken = [], set()
        for group_ref in form_def.iterfind("odm:ItemGroupRef", NS):
            group = self._ref("ItemGroupDef", group_ref.get("ItemGroupOID"), group_ref)
            names = {}
            for ref in group.iterfind("odm:ItemRef", NS):
                item_def = self._ref("ItemDef", ref.get("ItemOID"), ref)
                candidate = item_def.get("Name") or ""
                if OID.match(candidate) and candidate not in taken and len(candidate) <= 64:
                    taken.add(candidate)
                    names[item_def.get("OID")] = candidate
                else:
                    names[item_def.get("OID")] = _oid(item_def.get("OID"), taken)
            key = _oid(group.get("Name") or group.get("OID"), taken) if group.get("Repeating") == "Yes" else None
            groups.append((group, group_ref, names, key))
        return groups

    def _calculated(self, item_def, ref, schema: dict, name: str, pointer: str, scope: dict | None,
                    form: dict) -> dict:
        """The derived value for an item an ODM MethodDef computes (``scope`` None: it cannot be translated)."""
        oid = item_def.get("OID")
        method = self._ref("MethodDef", ref.get("MethodOID"), ref)
        self.used_methods.add(ref.get("MethodOID"))
        derived_type = "number" if schema["type"] in ("integer", "number") else schema["type"]
        spec = {"title": schema["title"], "type": "string" if derived_type == "array" else derived_type,
                "x-ecrf-source-oid": oid}
        if "x-ecrf-unit" in schema:
            spec["x-ecrf-unit"] = schema["x-ecrf-unit"]
        cel, source, context, reason = self._translate(method, scope) if scope is not None else \
            (None, *self._expression(method), "a calculation inside a repeating group")
        if cel is not None:
            spec["expr"] = cel
            self.report.add("MethodDef", method.get("OID"), method.get("Name"), "translated",
                            f"derived {name} = {cel}", method.sourceline)
        else:
            spec["expr"] = "null"
            spec["description"] = f"Not translated from {method.get('OID')}: {source or '(no expression)'}"
            self._disable(form, "MethodDef", method, pointer, source, context, reason)
        for check in item_def.iterfind("odm:RangeCheck", NS):
            self.report.add("RangeCheck", f"{oid} {check.get('Comparator')}", None, "dropped",
                            "on a calculated item: derived values are not range-checked", check.sourceline)
        self.report.add("ItemDef", oid, item_def.get("Name"), "translated",
                        f"calculated by {method.get('OID')}: a read-only derived value {name}", item_def.sourceline)
        return spec

    def form(self, form_def, form_oid: str) -> dict:
        form = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                "title": form_def.get("Name") or form_oid, "type": "object", "x-ecrf-source-oid": form_def.get("OID")}
        title, labels = _texts(form_def.find("odm:Description", NS))
        if labels:
            form["x-ecrf-labels"] = labels
        properties, required, checks, derived = {}, [], [], {}
        groups = self._groups(form_def)
        form_scope = {oid: f"data.{name}" for _, _, names, key in groups if key is None for oid, name in names.items()}
        for group, group_ref, names, key in groups:
            rows, row_required = {}, []
            scope = {oid: f"row.{name}" for oid, name in names.items()} if key else form_scope
            for ref in group.iterfind("odm:ItemRef", NS):
                item_def = self._ref("ItemDef", ref.get("ItemOID"), ref)
                oid, name = item_def.get("OID"), names[item_def.get("OID")]
                target = scope[oid]
                pointer = f"/{key}/*/{name}" if key else f"/{name}"
                schema = self._item(item_def, name, None if key else group.get("OID"))
                if ref.get("MethodOID"):
                    derived[name] = self._calculated(item_def, ref, schema, name, pointer,
                                                     None if key else form_scope, form)
                    continue
                if item_def.get(REDCAP + "FieldType") == "calc" and not key:
                    # a calculated field stays read-only (never an editable field) until its formula is translated
                    self._redcap(item_def, ref, schema, pointer, form)
                    derived[name] = {"title": schema["title"], "type": "number", "x-ecrf-source-oid": oid, "expr": "null",
                                     "description": "Not translated REDCap calculation: "
                                                    f"{item_def.get(REDCAP + 'Calculation') or '(none)'}"}
                    self.report.add("ItemDef", oid, item_def.get("Name"), "translated",
                                    f"REDCap calc field: a read-only derived value {name}", item_def.sourceline)
                    continue
                self._range_checks(item_def, name, schema, pointer, target, checks)
                (rows if key else properties)[name] = schema
                collected_always = self._redcap(item_def, ref, schema, pointer, form)
                if ref.get("CollectionExceptionConditionOID"):
                    self._condition(ref.get("CollectionExceptionConditionOID"), ref, target, pointer, scope, form,
                                    checks)
                    collected_always = False
                if ref.get("Mandatory") == "Yes":
                    if collected_always:
                        (row_required if key else required).append(name)
                    else:
                        self.report.add("ItemRef", oid, None, "translated",
                                        "Mandatory but conditional: not listed as required", ref.sourceline)
                self.report.add("ItemDef", oid, item_def.get("Name"), "carried",
                                "" if oid == name else f"named {name} (x-ecrf-source-oid keeps {oid})",
                                item_def.sourceline)
            if group_ref.get("CollectionExceptionConditionOID"):
                condition = self._ref("ConditionDef", group_ref.get("CollectionExceptionConditionOID"), group_ref)
                self.used_conditions.add(condition.get("OID"))
                source, context = self._expression(condition)
                self._disable(form, "ConditionDef", condition, f"/{key}" if key else "/",
                              source, context, f"a condition on the whole item group {group.get('OID')}")
            if key:
                if not rows:
                    self.report.add("ItemGroupDef", group.get("OID"), group.get("Name"), "dropped",
                                    "repeating group without items", group.sourceline)
                    continue
                row = {"type": "object", "properties": rows}
                if row_required:
                    row["required"] = row_required
                properties[key] = {"type": "array", "title": group.get("Name") or key, "items": row,
                                   "x-ecrf-source-oid": group.get("OID")}
                limits = [_decimal(v) for v in group.xpath(".//@RepeatMax")]  # OpenClinica's group repeat limit
                if limits and limits[0] is not None and limits[0] >= 1:
                    properties[key]["maxItems"] = int(limits[0])
                self.report.add("ItemGroupDef", group.get("OID"), group.get("Name"), "translated",
                                f"repeating: the array of rows {key}", group.sourceline)
            else:
                self.report.add("ItemGroupDef", group.get("OID"), group.get("Name"), "translated",
                                "merged into the form (x-ecrf-source-group on its items)", group.sourceline)
        for section in form_def.iterfind(".//oc:Section", NS):
            self.report.add("Section", section.get("SectionLabel"), section.get("SectionTitle"), "dropped",
                            "OpenClinica section (layout only): items kept in order", section.sourceline)
        if form_def.get("Repeating") == "Yes":
            if properties and not any(p.get("type") == "array" and p["items"].get("type") == "object"
                                      for p in properties.values()) and not derived:
                row = {"type": "object", "properties": properties}
                if required:
                    row["required"] = required
                for check in checks:
                    check["item"] = f"/{form_oid}{check['item'].replace('/', '/*/', 1)}" \
                        if "/*/" not in check["item"] else check["item"]
                    check["rule"] = check["rule"].replace("data.", "row.")
                properties, required = {form_oid: {"type": "array", "title": form["title"], "items": row}}, []
                self.report.add("FormDef", form_def.get("OID"), form_def.get("Name"), "translated",
                                f"repeating form: its items are one repeating group {form_oid}", form_def.sourceline)
            else:
                self.report.add("FormDef", form_def.get("OID"), form_def.get("Name"), "translated",
                                "Repeating=\"Yes\" not kept: the form holds a repeating group or a calculation",
                                form_def.sourceline)
        if not properties:
            properties = {"NOTE": {"type": "string", "title": "Note"}}
            self.report.add("FormDef", form_def.get("OID"), form_def.get("Name"), "translated",
                            "no items: a note item added so the form is valid", form_def.sourceline)
        form["properties"] = properties
        if required:
            form["required"] = required
        if derived:
            form["x-ecrf-derived"] = derived
        if checks:
            form["x-ecrf-checks"] = checks
        if "x-ecrf-disabled" in form:
            form["x-ecrf-disabled"] = form.pop("x-ecrf-disabled")
        return form

    # ------------------------------------------------------------------ study

    def build(self) -> tuple[dict, dict[str, dict]]:
        for child in self.mdv:
            if _local(child) and _local(child) not in HANDLED:
                self.report.add(_local(child), child.get("OID") or child.get("ID"), child.get("Name"), "dropped",
                                "not understood by the importer", child.sourceline)
        forms, form_oids, taken_forms = {}, {}, set()
        for form_def in self.defs["FormDef"].values():
            oid = _oid(form_def.get("OID"), taken_forms)
            form_oids[form_def.get("OID")] = oid
            forms[oid] = self.form(form_def, oid)
            if form_def.get("Repeating") != "Yes" and forms[oid]["properties"].keys() != {"NOTE"}:
                self.report.add("FormDef", form_def.get("OID"), form_def.get("Name"), "carried",
                                "" if oid == form_def.get("OID") else f"named {oid}", form_def.sourceline)
        events, taken_events, placed = [], set(), set()
        event_defs = self.mdv.findall("odm:StudyEventDef", NS)
        order = [ref.get("StudyEventOID") for ref in self.mdv.iterfind("odm:Protocol/odm:StudyEventRef", NS)]
        event_defs.sort(key=lambda e: order.index(e.get("OID")) if e.get("OID") in order else len(order))
        for event_def in event_defs:
            oid = _oid(event_def.get("OID"), taken_events)
            event_forms = []
            for ref in event_def.iterfind("odm:FormRef", NS):
                self._ref("FormDef", ref.get("FormOID"), ref)
                if form_oids[ref.get("FormOID")] not in event_forms:
                    event_forms.append(form_oids[ref.get("FormOID")])
            placed.update(event_forms)
            event = {"oid": oid, "name": event_def.get("Name") or oid, "x-ecrf-source-oid": event_def.get("OID"),
                     "stage": STAGE, "day": None, "window": None, "repeating": event_def.get("Repeating") == "Yes",
                     "forms": event_forms}
            _, labels = _texts(event_def.find("odm:Description", NS))
            if labels:
                event["labels"] = labels
            events.append(event)
            self.report.add("StudyEventDef", event_def.get("OID"), event_def.get("Name"), "carried",
                            "" if oid == event_def.get("OID") else f"named {oid}", event_def.sourceline)
        if not event_defs and forms:
            events.append({"oid": "EVENT", "name": "Default event", "stage": STAGE, "day": None, "window": None,
                           "repeating": False, "forms": list(forms)})
            placed.update(forms)
            self.report.add("StudyEventDef", "EVENT", "Default event", "translated",
                            "the source has no events (a REDCap classic project): one default event holds every form")
        for form_oid in forms:
            if form_oid not in placed:
                self.report.add("FormDef", forms[form_oid]["x-ecrf-source-oid"], forms[form_oid]["title"], "carried",
                                "in no event of the source: not scheduled")
        for kind, used in (("CodeList", self.used_codelists), ("ConditionDef", self.used_conditions),
                           ("MethodDef", self.used_methods)):
            for oid, element in self.defs[kind].items():
                if oid not in used:
                    self.report.add(kind, oid, element.get("Name"), "dropped", "defined but used by no item",
                                    element.sourceline)
                elif kind == "CodeList" and oid in self.boolean_lists - self.choice_lists:
                    self.report.add(kind, oid, element.get("Name"), "translated", "yes/no codes: items are booleans",
                                    element.sourceline)
                elif kind == "CodeList":
                    self.report.add(kind, oid, element.get("Name"), "carried", line=element.sourceline)
        name = (self.study.findtext("odm:GlobalVariables/odm:StudyName", namespaces=NS) or "").strip()
        study = {"oid": _oid(self.study.get("OID") or "STUDY", set()), "name": name or self.study.get("OID") or "Study",
                 "version": f"{self.mdv.get('OID')}-draft",
                 "description": f"Imported from {self.report.format} file {self.path.name} (MetaDataVersion "
                                f"{self.mdv.get('OID')}); add schedule days and windows.",
                 "x-ecrf-source-oid": self.study.get("OID") or "", "stages": [{"oid": STAGE, "title": "Imported"}],
                 "events": events}
        if not study["x-ecrf-source-oid"]:
            del study["x-ecrf-source-oid"]
        self.report.add("Study", self.study.get("OID"), name, "carried", "" if study["oid"] == self.study.get("OID") else f"named {study['oid']}",
                        self.study.sourceline)
        return study, forms


def odm_to_study(path: str | Path, version: str | None = None) -> tuple[dict, dict[str, dict], Report]:
    """``(study.json, {form OID: form schema}, report)`` from an ODM 1.3.x file's first Study.

    ``version`` picks the MetaDataVersion (default: the first; the report lists the others). Raises
    :class:`ImportError_` (``file:line: message``) for unreadable, hostile, ODM 2.0 or inconsistent input.
    """
    path = Path(path)
    root = read_odm(path)
    builder = _Builder(path, root, version)
    study, forms = builder.build()
    return study, forms, builder.report


def write_draft(path: str | Path, folder: str | Path, version: str | None = None) -> tuple[Path, Report]:
    """Write the draft study folder for an ODM file and return it with the report; never overwrites a non-empty folder."""
    target = Path(folder)
    if target.exists() and any(target.iterdir()):
        raise ImportError_(f"{target}: folder exists and is not empty")
    study, forms, report = odm_to_study(path, version)
    try:
        (target / STAGE).mkdir(parents=True, exist_ok=True)
        (target / "study.json").write_text(json.dumps(study, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        for oid, form in forms.items():
            (target / STAGE / f"{oid}.json").write_text(json.dumps(form, indent=2, ensure_ascii=False) + "\n",
                                                         encoding="utf-8")
    except OSError as exc:
        raise ImportError_(f"{target}: cannot write the draft: {exc.strerror or exc}") from None
    return target, report

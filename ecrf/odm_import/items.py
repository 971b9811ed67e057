"""Items: an ItemDef as a form item — type, question and help in every language, unit, code list typed to
the item (booleans, numbers, multi-select as arrays) — and the ``ecrf:`` aliases that complete it."""

from __future__ import annotations

from ecrf.odm_extension import aliases as ext
from ecrf.odm_import.extension import extension_of
from ecrf.odm_import.reader import NS
from ecrf.odm_import.values import decimal, local_name, texts, typed_code

TRUE_CODES = {"1", "y", "yes", "true", "t"}
FALSE_CODES = {"0", "n", "no", "false", "f"}
TYPES = {"integer": "integer", "float": "number", "double": "number", "hexFloat": "number", "base64Float": "number",
         "boolean": "boolean"}
ALIASED = {ext.RANGE: "x-ecrf-range", ext.RANGE_VALUE: "x-ecrf-range-value", ext.WIDGET: "x-ecrf-widget"}


class ItemReader:
    """The part of the builder that turns ItemDefs and code lists into item schemas."""

    # ------------------------------------------------------------------ code lists

    def _codes(self, codelist) -> list[tuple[str, str, dict]]:
        entries = []
        for entry in codelist.iterfind("odm:CodeListItem", NS):
            title, labels = texts(entry.find("odm:Decode", NS))
            entries.append((entry.get("CodedValue") or "", title or entry.get("CodedValue") or "?", labels))
        for entry in codelist.iterfind("odm:EnumeratedItem", NS):
            entries.append((entry.get("CodedValue") or "", entry.get("CodedValue") or "?", {}))
        return entries

    def _multi_codes(self, multi) -> list[tuple[str, str, dict]]:
        entries = []
        for entry in multi.iterfind("oc:MultiSelectListItem", NS):
            title, labels = texts(entry.find("odm:Decode", NS))
            code = entry.get("CodedOptionValue") or ""
            entries.append((code, title or code or "?", labels))
        return entries

    def _choices(self, entries, kind: str, item_oid: str, list_oid: str, line) -> tuple[str, list] | None:
        """``(kind, choices)`` typed to the item; a code that does not fit turns the item to text, reported."""
        typed = [typed_code(code, kind) for code, _, _ in entries]
        if any(value is None for value in typed):
            misfit = next(code for (code, _, _), value in zip(entries, typed, strict=False) if value is None)
            self.report.add("CodeListRef", list_oid, None, "translated",
                            f"item {item_oid} has DataType {kind} but its code list has the code {misfit!r}: "
                            "kept as text", line)
            kind, typed = "string", [code for code, _, _ in entries]
        choices = []
        for value, (_, title, labels) in zip(typed, entries, strict=False):
            choice = {"const": value, "title": title}
            if labels:
                choice["x-ecrf-labels"] = labels
            choices.append(choice)
        return kind, choices

    # ------------------------------------------------------------------ items

    def _item(self, item_def, name: str, group_oid: str | None) -> dict:
        oid = item_def.get("OID")
        data_type = item_def.get("DataType", "text")
        kind = TYPES.get(data_type, "string")
        schema: dict = {"type": kind}
        fmt = {"date": "date", "datetime": "date-time", "time": "time", "partialDate": None}.get(data_type)
        if kind == "string" and fmt:
            schema["format"] = fmt
        elif kind == "string" and (decimal(item_def.get("Length")) or 0) >= 1:
            schema["maxLength"] = int(decimal(item_def.get("Length")))
        title, labels = texts(item_def.find("odm:Question", NS))
        schema["title"] = title or item_def.get("Name") or oid
        help_text, help_labels = texts(item_def.find("odm:Description", NS))
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
            if local_name(child) == "Alias" and (child.get("Context") or "").startswith(ext.PREFIX):
                continue  # the engine's own extension: read by extend()
            if local_name(child) in ("Alias", "ExternalQuestion", "Role"):
                self.report.add(local_name(child), oid, child.get("Name") or child.get("Context"), "dropped",
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
            self.report.add(
                "CodeListRef", list_oid, None, "dropped", f"code list of item {oid} is empty", ref.sourceline
            )
            return
        if kind == "boolean":
            codes = {code.strip().lower() for code, _, _ in entries}
            if codes <= TRUE_CODES | FALSE_CODES and len(codes) <= 2:
                self.report.add(
                    "CodeListRef",
                    list_oid,
                    codelist.get("Name"),
                    "translated",
                    f"item {oid} is boolean: codes {sorted(codes)} stored as true/false",
                    ref.sourceline,
                )
                self.boolean_lists.add(list_oid)
                return
            self.report.add(
                "CodeListRef",
                list_oid,
                None,
                "translated",
                f"item {oid} has DataType boolean but its code list is not yes/no: kept as text",
                ref.sourceline,
            )
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
            self.report.add(
                "MultiSelectListRef",
                list_id,
                None,
                "dropped",
                f"item {oid} refers to a multi-select list the file does not define",
                ref.sourceline,
            )
            return
        self.used_codelists.add(list_id)
        kind = {"integer": "integer"}.get(multi.get("DataType"), "string")
        kind, choices = self._choices(self._multi_codes(multi), kind, oid, list_id, ref.sourceline)
        if kind == "number":
            kind, choices = "string", [{**c, "const": str(c["const"])} for c in choices]
        for keyword in ("oneOf", "maxLength", "format", "minimum", "maximum"):
            schema.pop(keyword, None)
        schema.update(
            {
                "type": "array",
                "items": {"type": kind, "oneOf": choices},
                "uniqueItems": True,
                "x-ecrf-widget": "checkboxes",
            }
        )
        self.report.add(
            "MultiSelectList",
            list_id,
            multi.get("Name"),
            "translated",
            f"item {oid} is an array of choices",
            ref.sourceline,
        )

    def extend(self, item_def, schema: dict) -> dict:
        """``schema`` completed by the ItemDef's ``ecrf:`` aliases: lab range, widget, multi-select, other keywords."""
        aliases = extension_of(self.path, item_def)
        for context, keyword in ALIASED.items():
            if isinstance(aliases.get(context), str):
                schema[keyword] = aliases[context]
        if aliases.get(ext.MULTIPLE) == "Yes" and "oneOf" in schema:
            items = {"type": schema.pop("type"), "oneOf": schema.pop("oneOf")}
            schema.update({"type": "array", "items": items})
        if isinstance(aliases.get(ext.KEYWORDS), dict):
            ext.merge(schema, aliases[ext.KEYWORDS])
        for context in aliases:
            self.report.add("Alias", item_def.get("OID"), context, "carried", "eCRF extension", item_def.sourceline)
        return schema

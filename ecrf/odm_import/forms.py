"""Forms: a FormDef and its item groups as one form schema — items in order, repeating groups as arrays of
rows, required and conditional items, edit checks, derived values — with the ``ecrf:`` aliases that
complete it (stage, item order, other keywords)."""

from __future__ import annotations

from ecrf.odm_extension import aliases as ext
from ecrf.odm_import.extension import extension_of
from ecrf.odm_import.reader import NS
from ecrf.odm_import.redcap_attributes import REDCAP
from ecrf.odm_import.values import OID, decimal, engine_oid, texts

STAGE = "imported"


class FormReader:
    """The part of the builder that assembles form schemas."""

    def _groups(self, form_def) -> list[tuple]:
        """``(group, ItemGroupRef, {source item OID: engine name}, repeating group key or None)`` per group.

        Names are chosen for the whole form first, so an expression can refer to an item of a later group.
        """
        groups, taken, boxes = [], set(), {}
        for group_ref in form_def.iterfind("odm:ItemGroupRef", NS):
            group = self._ref("ItemGroupDef", group_ref.get("ItemGroupOID"), group_ref)
            names = {}
            for ref in group.iterfind("odm:ItemRef", NS):
                item_def = self._ref("ItemDef", ref.get("ItemOID"), ref)
                variable = self._checkbox_variable(item_def)
                if variable in boxes:  # another box of a REDCap checkbox: the same multi-select item
                    names[item_def.get("OID")] = boxes[variable]
                    continue
                candidate = variable or item_def.get("Name") or ""
                if OID.match(candidate) and candidate not in taken and len(candidate) <= 64:
                    taken.add(candidate)
                    names[item_def.get("OID")] = candidate
                else:
                    names[item_def.get("OID")] = engine_oid(variable or item_def.get("OID"), taken)
                if variable:
                    boxes[variable] = names[item_def.get("OID")]
            key = engine_oid(group.get("Name") or group.get("OID"), taken) if group.get("Repeating") == "Yes" else None
            groups.append((group, group_ref, names, key))
        return groups


    def _in_order(self, shown: dict) -> list[dict]:
        """The ``if``/``then`` entries in the order their ConditionDefs are defined."""
        order = list(self.defs["ConditionDef"])
        return [shown[oid] for oid in sorted(shown, key=order.index)]

    def form(self, form_def, form_oid: str) -> dict:
        """The form schema of a FormDef (``form_oid`` its engine OID)."""
        aliases = extension_of(self.path, form_def)
        form = {"title": form_def.get("Name") or form_oid, "type": "object", "x-ecrf-source-oid": form_def.get("OID")}
        if ext.STAGE not in aliases:  # a foreign form; the engine's own export says whether it had one
            form = {"$schema": "https://json-schema.org/draft/2020-12/schema", **form}
        title, labels = texts(form_def.find("odm:Description", NS))
        if labels:
            form["x-ecrf-labels"] = labels
        properties, required, checks, derived, shown = {}, [], [], {}, {}
        groups = self._groups(form_def)
        self.redcap_pending = []
        variables = self._redcap_variables(groups)
        form_scope = {oid: f"data.{name}" for _, _, names, key in groups if key is None for oid, name in names.items()}
        for group, group_ref, names, key in groups:
            rows, row_required, row_shown = {}, [], {}
            scope = {oid: f"row.{name}" for oid, name in names.items()} if key else form_scope
            for ref in group.iterfind("odm:ItemRef", NS):
                item_def = self._ref("ItemDef", ref.get("ItemOID"), ref)
                oid, name = item_def.get("OID"), names[item_def.get("OID")]
                target = scope[oid]
                pointer = f"/{key}/*/{name}" if key else f"/{name}"
                variable = self._checkbox_variable(item_def)
                if variable and name in (rows if key else properties):
                    self._box(item_def, variable, name)
                    continue
                schema = self._item(item_def, name, None if key else group.get("OID"))
                if variable:
                    self._checkbox(item_def, schema, variable, [o for o, n in names.items() if n == name])
                if ref.get("MethodOID"):
                    derived[name] = self._calculated(item_def, ref, schema, name, pointer,
                                                     None if key else form_scope, form, checks)
                    continue
                schema = self.extend(item_def, schema)
                if item_def.get(REDCAP + "FieldType") == "calc" and not key:
                    # a calculated field stays read-only (never an editable field) until its formula is translated
                    self._redcap(item_def, ref, schema, pointer, f"derived.{name}")
                    derived[name] = {
                        "title": schema["title"],
                        "type": "number",
                        "x-ecrf-source-oid": oid,
                        "expr": "null",
                        "description": "Not translated REDCap calculation: "
                        f"{item_def.get(REDCAP + 'Calculation') or '(none)'}",
                    }
                    self.report.add(
                        "ItemDef",
                        oid,
                        item_def.get("Name"),
                        "translated",
                        f"REDCap calc field: a read-only derived value {name}",
                        item_def.sourceline,
                    )
                    continue
                self._range_checks(item_def, name, schema, pointer, target, checks)
                (rows if key else properties)[name] = schema
                collected_always = self._redcap(item_def, ref, schema, pointer, None if key else target)
                condition = ref.get("CollectionExceptionConditionOID")
                if condition and self._shown_when(condition, ref, name, bool(key), row_shown if key else shown):
                    if ref.get("Mandatory") != "Yes":
                        self.report.add(
                            "ItemRef",
                            oid,
                            None,
                            "translated",
                            "conditional but not Mandatory: required when its condition holds",
                            ref.sourceline,
                        )
                elif condition:
                    self._condition(condition, ref, target, pointer, scope, form, checks)
                    collected_always = False
                if ref.get("Mandatory") == "Yes" and not (condition and collected_always):
                    if collected_always:
                        (row_required if key else required).append(name)
                    else:
                        self.report.add(
                            "ItemRef",
                            oid,
                            None,
                            "translated",
                            "Mandatory but conditional: not listed as required",
                            ref.sourceline,
                        )
                self.report.add(
                    "ItemDef",
                    oid,
                    item_def.get("Name"),
                    "carried",
                    "" if oid == name else f"named {name} (x-ecrf-source-oid keeps {schema['x-ecrf-source-oid']})",
                    item_def.sourceline,
                )
            if group_ref.get("CollectionExceptionConditionOID"):
                condition = self._ref("ConditionDef", group_ref.get("CollectionExceptionConditionOID"), group_ref)
                self.used_conditions.add(condition.get("OID"))
                source, context = self._expression(condition)
                self._disable(
                    form,
                    "ConditionDef",
                    condition,
                    f"/{key}" if key else "/",
                    source,
                    context,
                    f"a condition on the whole item group {group.get('OID')}",
                )
            if key:
                if not rows:
                    self.report.add(
                        "ItemGroupDef",
                        group.get("OID"),
                        group.get("Name"),
                        "dropped",
                        "repeating group without items",
                        group.sourceline,
                    )
                    continue
                row = {"type": "object", "properties": rows}
                if row_required:
                    row["required"] = row_required
                if row_shown:
                    row["allOf"] = self._in_order(row_shown)
                title, labels = texts(group.find("odm:Description", NS))
                properties[key] = {
                    "type": "array",
                    "title": title or group.get("Name") or key,
                    "items": row,
                    "x-ecrf-source-oid": group.get("OID"),
                }
                if labels:
                    properties[key]["x-ecrf-labels"] = labels
                if group_ref.get("Mandatory") == "Yes":
                    required.append(key)
                extra = extension_of(self.path, group).get(ext.KEYWORDS)
                if isinstance(extra, dict):
                    ext.merge(properties[key], extra)
                limits = [decimal(v) for v in group.xpath(".//@RepeatMax")]  # OpenClinica's group repeat limit
                if limits and limits[0] is not None and limits[0] >= 1:
                    properties[key]["maxItems"] = int(limits[0])
                self.report.add(
                    "ItemGroupDef",
                    group.get("OID"),
                    group.get("Name"),
                    "translated",
                    f"repeating: the array of rows {key}",
                    group.sourceline,
                )
            else:
                self.report.add(
                    "ItemGroupDef",
                    group.get("OID"),
                    group.get("Name"),
                    "translated",
                    "merged into the form (x-ecrf-source-group on its items)",
                    group.sourceline,
                )
        self._redcap_expressions(form, variables, properties, derived, checks)
        for section in form_def.iterfind(".//oc:Section", NS):
            self.report.add(
                "Section",
                section.get("SectionLabel"),
                section.get("SectionTitle"),
                "dropped",
                "OpenClinica section (layout only): items kept in order",
                section.sourceline,
            )
        if form_def.get("Repeating") == "Yes" or self._redcap_repeats(form_def):
            if (
                properties
                and not any(
                    p.get("type") == "array" and p["items"].get("type") == "object" for p in properties.values()
                )
                and not derived
            ):
                row = {"type": "object", "properties": properties}
                if required:
                    row["required"] = required
                for check in checks:
                    check["item"] = (
                        f"/{form_oid}{check['item'].replace('/', '/*/', 1)}"
                        if "/*/" not in check["item"]
                        else check["item"]
                    )
                    check["rule"] = check["rule"].replace("data.", "row.")
                properties, required = {form_oid: {"type": "array", "title": form["title"], "items": row}}, []
                self.report.add(
                    "FormDef",
                    form_def.get("OID"),
                    form_def.get("Name"),
                    "translated",
                    f"repeating form: its items are one repeating group {form_oid}",
                    form_def.sourceline,
                )
            else:
                self.report.add(
                    "FormDef",
                    form_def.get("OID"),
                    form_def.get("Name"),
                    "translated",
                    'Repeating="Yes" not kept: the form holds a repeating group or a calculation',
                    form_def.sourceline,
                )
        order = aliases.get(ext.ORDER)
        if isinstance(order, str) and set(order.split()) == set(properties):
            properties = {name: properties[name] for name in order.split()}
        if not properties:
            properties = {"NOTE": {"type": "string", "title": "Note"}}
            self.report.add(
                "FormDef",
                form_def.get("OID"),
                form_def.get("Name"),
                "translated",
                "no items: a note item added so the form is valid",
                form_def.sourceline,
            )
        form["properties"] = properties
        if required:
            form["required"] = required
        if derived:
            form["x-ecrf-derived"] = derived
        if checks:
            form["x-ecrf-checks"] = checks
        if shown:
            form["allOf"] = self._in_order(shown)
        if isinstance(aliases.get(ext.KEYWORDS), dict):
            ext.merge(form, aliases[ext.KEYWORDS])
        if isinstance(aliases.get(ext.STAGE), str):
            self.stages[form_oid] = aliases[ext.STAGE]
        if "x-ecrf-disabled" in form:
            form["x-ecrf-disabled"] = form.pop("x-ecrf-disabled")
        return form

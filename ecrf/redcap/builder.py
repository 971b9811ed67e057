"""A REDCap data dictionary → a draft study folder, with a report of what became of each construct.

Per instrument a form: its fields as items (``items``), calculations as
derived values, branching logic as a condition (``if``/``then``) where it is a
simple test of a required field on the same form, else as a query when the
hidden field holds a value; REDCap's min/max as queries (they are soft in
REDCap: a user may save outside them after confirming), never as refusals.
What cannot be translated stays visible in ``x-ecrf-disabled`` and in the
report. Original names stay in ``x-ecrf-source-oid``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ecrf.expressions import ExpressionError, compile_expression
from ecrf.odm_import import redcap_logic as logic
from ecrf.odm_import.reader import ImportError_
from ecrf.odm_import.redcap_logic import Operand
from ecrf.odm_import.report import Report
from ecrf.odm_import.translate import Untranslatable, cel_number, cel_string
from ecrf.redcap import conditions, items
from ecrf.redcap import schedule as schedules
from ecrf.redcap.dictionary import Field, read_dictionary
from ecrf.redcap.schedule import STAGE, Schedule, engine_oid

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?$")
NO_VALUE = {"descriptive", "file", "sql"}


def _kind(field: Field, schema: dict | None) -> str:
    if field.type == "calc":
        return "number"
    if schema is None:
        return "none"
    if schema.get("format") in ("date", "date-time", "time"):
        return "date"
    return {"integer": "number"}.get(schema["type"], schema["type"])


class _Builder:
    """Fields → forms, derived values, conditions and checks; the schedule → study.json."""

    def __init__(self, path: Path, fields: list[Field], report: Report):
        self.path, self.fields, self.report = path, fields, report
        self.by_name = {field.name: field for field in fields}
        self.record_id = fields[0].name
        taken_items, taken_forms = set(), set()
        self.names = {field.name: engine_oid(field.name, taken_items) for field in fields}
        self.forms: dict[str, str] = {}
        for field in fields:
            if field.form not in self.forms:
                self.forms[field.form] = engine_oid(field.form, taken_forms)
        self.schemas = {field.name: items.item_schema(path, field, report)
                        for field in fields if field.type not in ("calc", "descriptive")
                        and field.name != self.record_id}
        self.kinds = {field.name: _kind(field, self.schemas.get(field.name)) for field in fields}
        self.schedule: Schedule | None = None

    # ------------------------------------------------------------------ references

    def resolver(self, form: str, rows: bool):
        """``resolve(field, event)`` for rules on ``form`` (``rows``: a repeating instrument's row rules)."""
        def resolve(name: str, event: str | None) -> Operand:
            field = self.by_name.get(name)
            if field is None:
                raise Untranslatable(f"[{name}] is not a field of the dictionary (smart variables are not translated)")
            if name == self.record_id:
                raise Untranslatable(f"[{name}] is the record ID, which is not an item")
            kind = self.kinds[name]
            if field.type in NO_VALUE or kind == "none":
                raise Untranslatable(f"[{name}] is a {field.type} field, which holds no value here")
            schema = self.schemas.get(name) or {}
            integer_codes = kind == "array" and schema["items"]["type"] == "integer"
            item = self.names[name]
            if event is None and field.form == form:
                if field.type == "calc":
                    if rows:
                        raise Untranslatable(f"[{name}] is a calculation in a repeating instrument")
                    return Operand(f"derived.{item}", kind)
                return Operand(f"{'row' if rows else 'data'}.{item}", kind, item, integer_codes)
            if field.form in self.schedule.repeating_forms:
                raise Untranslatable(f"[{name}] is on the repeating instrument {field.form}")
            return Operand(f"{self.event_of(field.form, event, name, form)}.{self.forms[field.form]}.{item}",
                           kind, None, integer_codes)
        return resolve

    def event_of(self, form: str, event: str | None, name: str, current: str) -> str:
        """The CEL path of the records of the event REDCap reads ``[event][name]`` (or ``[name]``) from.

        Without an event REDCap reads the current event's: named when the current form is in one event only,
        else ``records[event.oid]`` (read on every save, since it names no event).
        """
        holding = self.schedule.events_holding(self.forms[form])
        if event is not None:
            oid = self.schedule.event_oids.get(event)
            if oid is None:
                raise Untranslatable(f"[{event}] is not an event of the project")
            if oid not in holding:
                raise Untranslatable(f"[{event}][{name}]: the event does not hold instrument {form}")
            return f"records.{oid}"
        here = self.schedule.events_holding(self.forms[current])
        if len(here) == 1:
            if here[0] not in holding:
                raise Untranslatable(f"[{name}] is on instrument {form}, which the event of this form does not hold")
            return f"records.{here[0]}"
        return "records[event.oid]"

    def translate(self, source: str, form: str, rows: bool) -> tuple[str | None, str]:
        """``(CEL, "")`` or ``(None, why not)`` for a REDCap expression."""
        try:
            cel = logic.to_cel(source, self.resolver(form, rows))
            compile_expression(cel)
        except (Untranslatable, ExpressionError) as exc:
            return None, str(exc)
        return cel, ""

    # ------------------------------------------------------------------ forms

    def form(self, form: str, members: list[Field]) -> dict:
        """The form schema of one instrument (a repeating instrument: one repeating group of rows)."""
        oid, rows = self.forms[form], form in self.schedule.repeating_forms
        title = form.replace("_", " ").strip().capitalize() or oid
        schema: dict = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, "type": "object",
                        "x-ecrf-source-oid": form}
        state = {"properties": {}, "required": [], "allOf": [], "checks": [], "derived": {}, "disabled": [],
                 "notes": [], "section": None, "oid": oid, "rows": rows}
        for field in members:
            self.field(field, form, state)
        properties, container = state["properties"], None
        if state["section"]:
            state["notes"].append(state["section"])  # a heading over no item: kept as text
        if not properties:
            properties["NOTE_" if "NOTE" in state["derived"] else "NOTE"] = {"type": "string", "title": "Note"}
            self.report.add("form", form, title, "translated", "no items: a note item added so the form is valid")
        if rows:
            container = {"type": "object", "properties": properties}
            schema["properties"] = {oid: {"type": "array", "title": title, "items": container}}
        else:
            container = schema
            schema["properties"] = properties
        if state["required"]:
            container["required"] = state["required"]
        if state["allOf"]:
            container["allOf"] = state["allOf"]
        if state["notes"]:
            schema["description"] = "\n\n".join(state["notes"])
        for key, value in (("x-ecrf-derived", state["derived"]), ("x-ecrf-checks", state["checks"]),
                           ("x-ecrf-disabled", state["disabled"])):
            if value:
                schema[key] = value
        self.report.add("form", form, title, "carried", "" if oid == form else f"named {oid}")
        return schema

    def field(self, field: Field, form: str, state: dict) -> None:
        """Place one field on the form being built (``state``): an item, a derived value or a note; report it."""
        name = self.names[field.name]
        self.unkept_columns(field)
        if field.name == self.record_id:
            self.report.add("field", field.name, "record ID", "translated",
                            "the record ID: the engine's subject identifier, not an item", field.line)
            return
        if field.section:
            state["section"] = items.plain_text(field.section) or None
        if field.type == "descriptive":
            state["notes"].append(items.plain_label(field))
            self.report.add("field", field.name, "descriptive", "translated",
                            "descriptive text (no value): kept in the form's description", field.line)
            if field.branching:
                self.report.add("branching logic", field.name, field.branching, "dropped",
                                "on descriptive text, which the form's description always shows", field.line)
            return
        if field.type == "calc":
            self.calculation(field, form, state)
            return
        schema = self.schemas.get(field.name)
        if schema is None:
            return
        schema["x-ecrf-source-oid"] = field.name
        if state["section"]:
            schema["x-ecrf-section"], state["section"] = state["section"], None
        self.markings(field, schema)
        state["properties"][name] = schema
        self.soft_limits(field, schema, state)
        shown = self.branching(field, form, state)
        if field.required.lower() in ("y", "yes", "1"):
            if shown == "always":
                state["required"].append(name)
            elif shown != "condition":
                self.report.add("required", field.name, None, "translated",
                                f"required only while shown, and its branching logic is {shown}: not listed as "
                                "required (a form missing it would never be complete)", field.line)
        self.report.add("field", field.name, field.type, "carried",
                        "" if name == field.name else f"named {name} (x-ecrf-source-oid keeps {field.name})",
                        field.line)

    def markings(self, field: Field, schema: dict) -> None:
        """Identifier flag and matrix group on an item."""
        if field.identifier.lower() in ("y", "yes", "1"):
            schema["x-ecrf-identifier"] = True
            self.report.add("identifier", field.name, None, "carried", "flagged x-ecrf-identifier", field.line)
        if field.matrix_group:
            schema["x-ecrf-source-group"] = field.matrix_group
            self.report.add("matrix group", field.name, field.matrix_group, "translated",
                            "its items kept in order, the group named in x-ecrf-source-group", field.line)
            if field.matrix_ranking.lower() in ("y", "yes", "1"):
                self.report.add("matrix ranking", field.name, field.matrix_group, "dropped",
                                "ranking (each choice used once across the group) is not enforced", field.line)

    def unkept_columns(self, field: Field) -> None:
        """Report the columns the form language does not keep (action tags, layout) as dropped, on any field."""
        for column, value in (("field annotation", field.annotation), ("custom alignment", field.alignment),
                              ("question number", field.question_number)):
            if value:
                self.report.add(column, field.name, value[:80], "dropped",
                                "action tags are not run" if column == "field annotation" else "layout only",
                                field.line)

    # ------------------------------------------------------------------ rules

    def pointer(self, name: str, state: dict) -> tuple[str, str]:
        """``(check item pointer, CEL path)`` of an item of the form being built."""
        if state["rows"]:
            return f"/{state['oid']}/*/{name}", f"row.{name}"
        return f"/{name}", f"data.{name}"

    def soft_limits(self, field: Field, schema: dict, state: dict) -> None:
        """REDCap's min/max as query checks (soft, as in REDCap), each reported."""
        if field.type != "text" or not (field.minimum or field.maximum):
            return
        name = self.names[field.name]
        pointer, target = self.pointer(name, state)
        for bound, text, op in (("min", field.minimum, ">="), ("max", field.maximum, "<=")):
            if not text:
                continue
            literal = self.bound_literal(schema, text, field.validation.lower())
            if literal is None:
                why = "REDCap's 'today' and 'now' need a clock the form language lacks" \
                    if text.lower() in ("today", "now") else \
                    f"not a {schema.get('format') or schema['type']} as REDCap stores bounds (Y-M-D dates, H:M " \
                    "times): a spreadsheet may have rewritten it"
                self.report.add(f"validation {bound}", field.name, text[:40], "dropped", why, field.line)
                continue
            word = "at least" if op == ">=" else "at most"
            state["checks"].append({"id": f"RANGE_{name}_{bound.upper()}", "item": pointer, "severity": "query",
                                    "rule": f"!has({target}) || {target} {op} {literal}",
                                    "message": {"en": f"{schema['title']}: expected {word} {text} (please confirm)"}})
            self.report.add(f"validation {bound}", field.name, text, "translated",
                            "soft in REDCap: a query check, never a refusal", field.line)

    @staticmethod
    def bound_literal(schema: dict, text: str, validation: str) -> str | None:
        """The bound as a CEL literal of the item's kind, or None when it is not written as REDCap stores bounds."""
        if schema["type"] in ("integer", "number"):
            if validation.endswith("comma_decimal"):
                text = text.replace(",", ".")
            value = items.decimal(text)
            return cel_number(str(value)) if value is not None else None
        if schema.get("format") in ("date", "date-time") and ISO_DATE.match(text):
            return cel_string(text.replace(" ", "T") if schema["format"] == "date-time" else text[:10])
        if schema.get("format") == "time" and re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", text):
            return cel_string(text.zfill(5) if len(text.split(":")[0]) == 1 else text)
        return None

    def branching(self, field: Field, form: str, state: dict) -> str:
        """Translate the field's branching logic; say what it became: always (shown), condition, a query, not run."""
        if not field.branching:
            return "always"
        name = self.names[field.name]
        pointer, target = self.pointer(name, state)
        required = field.required.lower() in ("y", "yes", "1")
        condition = conditions.condition(field.branching, self.resolver(form, state["rows"])) if required else None
        if condition is not None:
            state["allOf"].append({"if": condition, "then": {"required": [name]}})
            self.report.add("branching logic", field.name, field.branching, "translated",
                            f"shown and required only while {json.dumps(condition['properties'])}", field.line)
            return "condition"
        cel, reason = self.translate(field.branching, form, state["rows"])
        if cel is None:
            self.disable(state, "branching logic", field, pointer, reason)
            return "not run"
        state["checks"].append({"id": f"SHOWN_{name}", "item": pointer, "severity": "query",
                                "rule": f"({cel}) || !has({target})",
                                "message": {"en": f"{items.plain_label(field)}: should be empty unless "
                                                  f"{field.branching}"}})
        self.report.add("branching logic", field.name, field.branching, "translated",
                        f"shown always; a query when filled while not ({cel})", field.line)
        return "a query"

    def calculation(self, field: Field, form: str, state: dict) -> None:
        """A calc field as a derived value: its equation in CEL, or ``null`` with the equation kept disabled."""
        name = self.names[field.name]
        spec = {"title": items.plain_label(field), "type": "number", "x-ecrf-source-oid": field.name}
        if field.note:
            spec["description"] = field.note
        if state["rows"]:
            cel, reason = None, "a calculation in a repeating instrument (derived values are per form, not per row)"
        elif not field.choices:
            cel, reason = None, "the calc field has no equation"
        else:
            cel, reason = self.translate(field.choices, form, False)
        if cel is not None:
            spec["expr"] = cel
            self.report.add("calculation", field.name, field.choices, "translated", f"derived {name} = {cel}",
                            field.line)
        else:
            spec["expr"] = "null"
            spec["description"] = " ".join(filter(None, [spec.get("description"),
                                                         f"Not translated from REDCap: {field.choices or '(none)'}"]))
            self.disable(state, "calculation", field, f"/{name}", reason, field.choices)
        if field.branching:
            self.disable(state, "branching logic", field, f"/{name}", "branching logic on a calculated value")
        state["derived"][name] = spec

    def disable(self, state: dict, kind: str, field: Field, pointer: str, reason: str,
                source: str | None = None) -> None:
        """Keep an untranslated expression visible in ``x-ecrf-disabled`` and report it as disabled."""
        source = source if source is not None else field.branching
        state["disabled"].append({"kind": f"REDCap {kind}", "source-oid": field.name, "item": pointer,
                                  "expression": source or "(none)", "reason": reason})
        self.report.add(kind, field.name, source, "disabled", f"kept in x-ecrf-disabled, not run: {reason}",
                        field.line)

    # ------------------------------------------------------------------ study

    def build(self, events: Path | None, mapping: Path | None, repeating: Path | None) -> tuple[dict, dict]:
        """``(study.json, {form OID: schema})``: the schedule first, since references to other forms need it."""
        if events and not mapping:
            raise ImportError_(f"{events}: an events file needs the instrument-event mapping (--mapping) too")
        self.schedule = schedules.longitudinal(self.forms, events, mapping, self.report) if mapping else \
            schedules.classic(self.forms, self.report)
        if repeating:
            schedules.mark_repeating(self.schedule, self.forms, repeating, self.report)
        else:
            self.report.facts["repeating_instruments"] = "not in the data dictionary: pass --repeating with " \
                                                         "REDCap's repeating instruments and events file"
        members: dict[str, list[Field]] = {}
        for field in self.fields:
            members.setdefault(field.form, []).append(field)
        forms = {self.forms[form]: self.form(form, fields) for form, fields in members.items()}
        placed = {oid for event in self.schedule.events for oid in event["forms"]}
        for form, oid in self.forms.items():
            if oid not in placed:
                self.report.add("form", form, None, "carried", "in no event of the mapping: not scheduled")
        stem = self.path.stem
        study = {"oid": engine_oid("REDCAP_" + stem, set()), "name": stem, "version": "redcap-draft",
                 "description": f"Imported from the REDCap data dictionary {self.path.name}; "
                                "add schedule days and windows.",
                 "x-ecrf-source-oid": stem, "stages": [{"oid": STAGE, "title": "Imported"}],
                 "events": self.schedule.events}
        self.report.facts.update({"record_id_field": self.record_id, "longitudinal": bool(mapping)})
        return study, forms


def dictionary_to_study(path: str | Path, events: str | Path | None = None, mapping: str | Path | None = None,
                        repeating: str | Path | None = None) -> tuple[dict, dict[str, dict], Report]:
    """``(study.json, {form OID: form schema}, report)`` from a REDCap data dictionary and its optional schedule files.

    Raises :class:`ImportError_` (``file:line: message``) for unreadable or inconsistent input.
    """
    path = Path(path)
    report = Report(str(path), "REDCap data dictionary")
    dictionary = read_dictionary(path)
    for column in dictionary.ignored_columns:
        report.add("column", column[:80], None, "dropped", "not a column of REDCap's data dictionary: not read", 1)
    builder = _Builder(path, dictionary.fields, report)
    study, forms = builder.build(*(Path(p) if p else None for p in (events, mapping, repeating)))
    return study, forms, report


def write_study(folder: str | Path, study: dict, forms: dict[str, dict]) -> Path:
    """Write ``study.json`` and one file per form under the ``imported`` stage; never into a non-empty folder."""
    target = Path(folder)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ImportError_(f"{target}: folder exists and is not empty")
    try:
        (target / STAGE).mkdir(parents=True, exist_ok=True)
        (target / "study.json").write_text(json.dumps(study, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        for oid, form in forms.items():
            (target / STAGE / f"{oid}.json").write_text(json.dumps(form, indent=2, ensure_ascii=False) + "\n",
                                                         encoding="utf-8")
    except OSError as exc:
        raise ImportError_(f"{target}: cannot write the study: {exc.strerror or exc}") from None
    return target

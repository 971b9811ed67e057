"""Study folders: read ``study.json`` and its form files, and list every fault they hold.

A folder that reads without faults becomes a :class:`StudyDefinition`; the
forms inside it are compiled by :mod:`ecrf.definitions`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecrf.check_messages import message_faults
from ecrf.definitions import ROW_ID, content_hash, meta_faults
from ecrf.errors import DefinitionError, Faults
from ecrf.expressions import ExpressionError, compile_expression


@dataclass
class StudyDefinition:
    """A study as read from its folder: ``study.json`` plus its forms."""

    study: dict
    forms: dict[str, dict]  # oid -> {"stage", "file", "schema"}
    path: str = ""

    @property
    def oid(self) -> str:
        return self.study["oid"]

    @property
    def version(self) -> str:
        return self.study["version"]

    @property
    def hash(self) -> str:
        return content_hash({"study": self.study, "forms": {k: v["schema"] for k, v in self.forms.items()}})

    def form_stage(self, oid: str) -> str:
        return self.forms[oid]["stage"]


def read_study(path: str | Path) -> StudyDefinition:
    """Read and check a study folder; :class:`DefinitionError` listing every fault."""
    folder = Path(path)
    faults = Faults()
    study_file = folder / "study.json"
    study = _read_json(study_file, folder, faults)
    forms: dict[str, dict] = {}
    if not folder.is_dir():
        faults.add(str(folder), "/", "not a folder")
        raise DefinitionError(faults)
    for file in sorted(folder.glob("*/*.json")):
        relative = str(file.relative_to(folder))
        schema = _read_json(file, folder, faults)
        oid = file.stem
        if not re.match(r"^[A-Z][A-Z0-9_]*$", oid):
            faults.add(relative, "/", f"form file name {oid!r} is not a form OID (A-Z, 0-9, _)")
            continue
        if oid in forms:
            faults.add(relative, "/", f"duplicate form OID {oid!r} (also in {forms[oid]['file']})")
            continue
        if schema is not None:
            forms[oid] = {"stage": file.parent.name, "file": relative, "schema": schema}
    if study is not None:
        definition = StudyDefinition(study, forms, str(folder))
        check_study(definition, faults)
    if faults:
        raise DefinitionError(faults)
    return definition


def _read_json(file: Path, folder: Path, faults: Faults) -> Any:
    name = str(file.relative_to(folder)) if file.is_relative_to(folder) else str(file)
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        faults.add(name, "/", "file not found")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        faults.add(name, "/", f"not valid JSON: {exc}")
    return None


def check_study(definition: StudyDefinition, faults: Faults) -> None:
    """Add every fault of the study and its forms to ``faults``."""
    study = definition.study
    meta_faults("study", study, "study.json", faults)
    for oid, form in definition.forms.items():
        before = len(faults.items)
        meta_faults("form", form["schema"], form["file"], faults)
        if len(faults.items) == before:
            _check_form(oid, form, faults)
    if faults:
        return
    if not definition.forms:
        faults.add("study.json", "/", "the study has no forms: add at least one form file in a stage folder")
    stages = {stage["oid"] for stage in study["stages"]}
    for form in definition.forms.values():
        if form["stage"] not in stages:
            faults.add(form["file"], "/", f"folder {form['stage']!r} is not a stage of study.json")
    seen = set()
    for index, event in enumerate(study["events"]):
        pointer = f"/events/{index}"
        if event["oid"] in seen:
            faults.add("study.json", f"{pointer}/oid", f"duplicate event OID {event['oid']!r}")
        seen.add(event["oid"])
        if event["stage"] not in stages:
            faults.add("study.json", f"{pointer}/stage", f"unknown stage {event['stage']!r}")
        for position, form in enumerate(event["forms"]):
            if form not in definition.forms:
                faults.add("study.json", f"{pointer}/forms/{position}", f"no form {form!r} in the study folder")
    parameters = study.get("parameters", {})
    for form in definition.forms.values():
        for index, check in enumerate(form["schema"].get("x-ecrf-checks", [])):
            if "constants" in check:
                for pointer, fault in message_faults(check["message"], check["constants"], parameters):
                    faults.add(form["file"], f"/x-ecrf-checks/{index}{pointer}", fault)
    _check_sdv(parameters.get("sdv"), definition.forms, faults)


def _check_sdv(setting: dict | None, forms: dict[str, dict], faults: Faults) -> None:
    """Targeted SDV's critical items must name forms of the study and their items (the shape is the meta-schema's)."""
    for form, items in ((setting or {}).get("critical_items") or {}).items():
        at = f"/parameters/sdv/critical_items/{form}"
        if form not in forms:
            faults.add("study.json", at, f"no form {form!r} in the study folder")
            continue
        for index, item in enumerate(items):
            if item not in forms[form]["schema"]["properties"]:
                faults.add("study.json", f"{at}/{index}", f"{item!r} is not an item of form {form}")


def _check_container(container: dict, file: str, pointer: str, faults: Faults) -> None:
    names = set(container["properties"])
    for index, oid in enumerate(container.get("required", [])):
        if oid not in names:
            faults.add(file, f"{pointer}/required/{index}", f"required names unknown item {oid!r}")
    for trigger, targets in container.get("dependentRequired", {}).items():
        for oid in [trigger, *targets]:
            if oid not in names:
                faults.add(file, f"{pointer}/dependentRequired/{trigger}", f"unknown item {oid!r}")
    for index, rule in enumerate(container.get("allOf", [])):
        at = f"{pointer}/allOf/{index}"
        for oid in list(rule["if"]["properties"]) + rule["if"].get("required", []):
            if oid not in names:
                faults.add(file, f"{at}/if", f"condition tests unknown item {oid!r}")
        for position, oid in enumerate(rule["then"]["required"]):
            if oid not in names:
                faults.add(file, f"{at}/then/required/{position}", f"unknown item {oid!r}")
    for oid, schema in container["properties"].items():
        if oid == ROW_ID.upper():
            faults.add(file, f"{pointer}/properties/{oid}", "ROW_ID is reserved")
        if schema.get("type") == "array" and schema["items"].get("type") == "object":
            _check_container(schema["items"], file, f"{pointer}/properties/{oid}/items", faults)
        else:
            _check_choices(schema, file, f"{pointer}/properties/{oid}", faults)


# Which choice values fit which item type: a code list that does not fit leaves an item that accepts nothing.
CHOICE_FITS = {"string": lambda v: isinstance(v, str), "boolean": lambda v: False,
               "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
               "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)}


def _check_choices(schema: dict, file: str, pointer: str, faults: Faults) -> None:
    """A fault for each code-list value that does not fit its item's type."""
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        schema, pointer = schema["items"], f"{pointer}/items"
    fits = CHOICE_FITS.get(schema.get("type"))
    for index, choice in enumerate(schema.get("oneOf", [])):
        if fits is not None and not fits(choice.get("const")):
            faults.add(file, f"{pointer}/oneOf/{index}/const",
                       f"code {choice.get('const')!r} does not fit the item's type {schema['type']!r}")


def _check_form(oid: str, form: dict, faults: Faults) -> None:
    schema, file = form["schema"], form["file"]
    _check_container(schema, file, "", faults)
    names = set(schema["properties"])
    date_item = schema.get("x-ecrf-date-item")
    if date_item and date_item not in names:
        faults.add(file, "/x-ecrf-date-item", f"unknown item {date_item!r}")
    for name, spec in schema.get("x-ecrf-derived", {}).items():
        if name in names:
            faults.add(file, f"/x-ecrf-derived/{name}", "a derived value may not share an item's OID")
        try:
            compile_expression(spec["expr"])
        except ExpressionError as exc:
            faults.add(file, f"/x-ecrf-derived/{name}/expr", f"expression does not compile: {exc}")
    for oid, item in schema["properties"].items():
        target = item.get("x-ecrf-range-value")
        if target and target not in schema.get("x-ecrf-derived", {}):
            faults.add(file, f"/properties/{oid}/x-ecrf-range-value", f"no derived value {target!r}")
    check_ids = set()
    for index, check in enumerate(schema.get("x-ecrf-checks", [])):
        at = f"/x-ecrf-checks/{index}"
        if check["id"] in check_ids:
            faults.add(file, f"{at}/id", f"duplicate check id {check['id']!r}")
        check_ids.add(check["id"])
        parts = check["item"].split("/")[1:]
        target = schema["properties"].get(parts[0])
        if target is None:
            faults.add(file, f"{at}/item", f"check points at unknown item {check['item']!r}")
        elif len(parts) == 3 and (
            target.get("items", {}).get("type") != "object" or parts[2] not in target["items"]["properties"]
        ):
            faults.add(file, f"{at}/item", f"check points at unknown row item {check['item']!r}")
        try:
            compile_expression(check["rule"])
        except ExpressionError as exc:
            faults.add(file, f"{at}/rule", f"expression does not compile: {exc}")

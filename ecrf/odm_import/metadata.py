"""ODM 1.3.x metadata → a draft study folder, with a report of what became of each construct.

The draft holds what ODM says — events, forms, item groups (repeating ones as
arrays of rows), items, types, code lists typed to their item, units, hard
range checks as limits, soft ones as query checks, conditions and methods as
CEL where they translate — and keeps every source OID in
``x-ecrf-source-oid``. What ODM does not say (schedule days, windows) is left
for the study builder — unless the file is the engine's own export, whose
``ecrf:`` aliases give the whole study back. Everything met is recorded in a
:class:`Report`: carried, translated, disabled (kept visible, not run) or
dropped, with why. ``ecrf study check`` validates the result.

The builder is assembled from one reader per part: ``items``, ``rules``
(range checks, conditions, methods), ``redcap_attributes`` and ``forms``.
"""

from __future__ import annotations

import json
from pathlib import Path

from ecrf.odm_extension import aliases as ext
from ecrf.odm_import.extension import extension_of
from ecrf.odm_import.forms import STAGE, FormReader
from ecrf.odm_import.items import ItemReader
from ecrf.odm_import.reader import NS, ImportError_, fault, read_odm
from ecrf.odm_import.redcap_attributes import RedcapReader
from ecrf.odm_import.report import Report
from ecrf.odm_import.rules import RuleReader
from ecrf.odm_import.values import engine_oid, local_name, texts

# MetaDataVersion children the importer reads; any other is reported as dropped.
HANDLED = {"Protocol", "StudyEventDef", "FormDef", "ItemGroupDef", "ItemDef", "CodeList", "ConditionDef", "MethodDef",
           "MultiSelectList"}


class _Builder(ItemReader, RuleReader, RedcapReader, FormReader):
    """One MetaDataVersion → study.json, forms (with their stage folders) and the report."""

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
            if local_name(child) in ("ClinicalData", "ReferenceData"):
                self.report.add(local_name(child), child.get("StudyOID"), None, "dropped",
                                "not imported: use data import (later)", child.sourceline)
            elif local_name(child) and local_name(child) != "Study":
                self.report.add(local_name(child), child.get("OID"), None, "dropped",
                                "not part of study metadata", child.sourceline)
        self.defs = {kind: self._index(kind) for kind in ("ItemDef", "ItemGroupDef", "FormDef", "CodeList",
                                                         "ConditionDef", "MethodDef")}
        self.multi = {m.get("ID"): m for m in self.mdv.iterfind("oc:MultiSelectList", NS)}
        self.units = {}
        for unit in self.study.iterfind("odm:BasicDefinitions/odm:MeasurementUnit", NS):
            symbol, _ = texts(unit.find("odm:Symbol", NS))
            self.units[unit.get("OID")] = symbol or unit.get("Name")
            self.report.add("MeasurementUnit", unit.get("OID"), unit.get("Name"), "carried", line=unit.sourceline)
        self.used_codelists: set[str] = set()
        self.boolean_lists: set[str] = set()  # code lists that became true/false ...
        self.choice_lists: set[str] = set()  # ... and those kept as choices by some item
        self.used_conditions: set[str] = set()
        self.used_methods: set[str] = set()
        self.redcap_arms: set[str] = set()  # REDCap arms reported once each
        self.redcap_pending: list[tuple] = []  # REDCap expressions of the form being built, translated at its end
        self.stages: dict[str, str] = {}  # form OID → stage folder, when the file says (ecrf:stage)

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


    # ------------------------------------------------------------------ study

    def build(self) -> tuple[dict, dict[str, dict]]:
        self._redcap_settings()
        for child in self.mdv:
            if local_name(child) and local_name(child) not in HANDLED:
                self.report.add(local_name(child), child.get("OID") or child.get("ID"), child.get("Name"), "dropped",
                                "not understood by the importer", child.sourceline)
        forms, form_oids, taken_forms = {}, {}, set()
        for form_def in self.defs["FormDef"].values():
            oid = engine_oid(form_def.get("OID"), taken_forms)
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
            oid = engine_oid(event_def.get("OID"), taken_events)
            event_forms = []
            for ref in event_def.iterfind("odm:FormRef", NS):
                self._ref("FormDef", ref.get("FormOID"), ref)
                if form_oids[ref.get("FormOID")] not in event_forms:
                    event_forms.append(form_oids[ref.get("FormOID")])
            placed.update(event_forms)
            event = {"oid": oid, "name": event_def.get("Name") or oid, "x-ecrf-source-oid": event_def.get("OID"),
                     "stage": STAGE, "day": None, "window": None, "repeating": event_def.get("Repeating") == "Yes",
                     "forms": event_forms, **self._redcap_schedule(event_def)}
            _, labels = texts(event_def.find("odm:Description", NS))
            if labels:
                event["labels"] = labels
            schedule = extension_of(self.path, event_def).get(ext.EVENT)
            if isinstance(schedule, dict):  # the engine's own export: the schedule as it was
                scheduling = ("stage", "day", "window", "repeating")
                event = {key: value for key, value in event.items() if key not in scheduling}
                event.update({**schedule, **({"repeating": True} if event_def.get("Repeating") == "Yes" else {})})
            events.append(event)
            self.report.add(
                "StudyEventDef",
                event_def.get("OID"),
                event_def.get("Name"),
                "carried",
                "" if oid == event_def.get("OID") else f"named {oid}",
                event_def.sourceline,
            )
        if not event_defs and forms:
            events.append(
                {
                    "oid": "EVENT",
                    "name": "Default event",
                    "stage": STAGE,
                    "day": None,
                    "window": None,
                    "repeating": False,
                    "forms": list(forms),
                }
            )
            placed.update(forms)
            self.report.add(
                "StudyEventDef",
                "EVENT",
                "Default event",
                "translated",
                "the source has no events (a REDCap classic project): one default event holds every form",
            )
        for form_oid in forms:
            if form_oid not in placed:
                self.report.add(
                    "FormDef",
                    forms[form_oid]["x-ecrf-source-oid"],
                    forms[form_oid]["title"],
                    "carried",
                    "in no event of the source: not scheduled",
                )
        for kind, used in (
            ("CodeList", self.used_codelists),
            ("ConditionDef", self.used_conditions),
            ("MethodDef", self.used_methods),
        ):
            for oid, element in self.defs[kind].items():
                if oid not in used:
                    self.report.add(
                        kind, oid, element.get("Name"), "dropped", "defined but used by no item", element.sourceline
                    )
                elif kind == "CodeList" and oid in self.boolean_lists - self.choice_lists:
                    self.report.add(
                        kind,
                        oid,
                        element.get("Name"),
                        "translated",
                        "yes/no codes: items are booleans",
                        element.sourceline,
                    )
                elif kind == "CodeList":
                    self.report.add(kind, oid, element.get("Name"), "carried", line=element.sourceline)
        name = (self.study.findtext("odm:GlobalVariables/odm:StudyName", namespaces=NS) or "").strip()
        study = {
            "oid": engine_oid(self.study.get("OID") or "STUDY", set()),
            "name": name or self.study.get("OID") or "Study",
            "version": f"{self.mdv.get('OID')}-draft",
            "description": f"Imported from {self.report.format} file {self.path.name} (MetaDataVersion "
            f"{self.mdv.get('OID')}); add schedule days and windows.",
            "x-ecrf-source-oid": self.study.get("OID") or "",
            "stages": [{"oid": STAGE, "title": "Imported"}],
            "events": events,
        }
        if not study["x-ecrf-source-oid"]:
            del study["x-ecrf-source-oid"]
        self._own_study(study)
        self.report.add(
            "Study",
            self.study.get("OID"),
            name,
            "carried",
            "" if study["oid"] == self.study.get("OID") else f"named {study['oid']}",
            self.study.sourceline,
        )
        return study, forms

    def _own_study(self, study: dict) -> None:
        """What the engine's own export says of the study (``ecrf:study``, ``ecrf:lab-ranges``) put back."""
        protocol = self.mdv.find("odm:Protocol", NS)
        aliases = extension_of(self.path, protocol) if protocol is not None else {}
        if not isinstance(aliases.get(ext.STUDY), dict):
            return
        for key, path in (("description", "StudyDescription"), ("protocol", "ProtocolName")):
            text = (self.study.findtext(f"odm:GlobalVariables/odm:{path}", namespaces=NS) or "").strip()
            if text:
                study[key] = text
        study.update(aliases[ext.STUDY])
        for key in ("description", "protocol"):  # null: GlobalVariables holds a stand-in, the study has none
            if key in study and study[key] is None:
                del study[key]
        if isinstance(aliases.get(ext.LAB_RANGES), list):
            study["lab_ranges"] = aliases[ext.LAB_RANGES]
        for context in aliases:
            self.report.add("Alias", self.mdv.get("OID"), context, "carried", "eCRF extension", protocol.sourceline)


def _build(path: str | Path, version: str | None) -> tuple[dict, dict[str, dict], dict[str, str], Report]:
    path = Path(path)
    builder = _Builder(path, read_odm(path), version)
    study, forms = builder.build()
    return study, forms, builder.stages, builder.report


def odm_to_study(path: str | Path, version: str | None = None) -> tuple[dict, dict[str, dict], Report]:
    """``(study.json, {form OID: form schema}, report)`` from an ODM 1.3.x file's first Study.

    ``version`` picks the MetaDataVersion (default: the first; the report lists the others). Raises
    :class:`ImportError_` (``file:line: message``) for unreadable, hostile, ODM 2.0 or inconsistent input.
    """
    study, forms, _, report = _build(path, version)
    return study, forms, report


def write_draft(path: str | Path, folder: str | Path, version: str | None = None) -> tuple[Path, Report]:
    """Write the draft study folder for an ODM file and return it with the report; never overwrites a non-empty folder.

    Each form goes to the folder of its stage: the one the engine's own export names, else ``imported``.
    """
    target = Path(folder)
    if target.exists() and any(target.iterdir()):
        raise ImportError_(f"{target}: folder exists and is not empty")
    study, forms, stages, report = _build(path, version)
    try:
        target.mkdir(parents=True, exist_ok=True)
        (target / "study.json").write_text(json.dumps(study, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        for oid, form in forms.items():
            (target / stages.get(oid, STAGE)).mkdir(exist_ok=True)
            (target / stages.get(oid, STAGE) / f"{oid}.json").write_text(
                json.dumps(form, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
    except OSError as exc:
        raise ImportError_(f"{target}: cannot write the draft: {exc.strerror or exc}") from None
    return target, report

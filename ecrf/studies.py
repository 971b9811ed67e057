"""Loaded studies: definitions stored by content hash, the current version per study."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from mongoengine import BooleanField, DateTimeField, Document, StringField

from audit import utc_now
from ecrf.definitions import CompiledForm, compile_form, with_parameters
from ecrf.errors import NotFound
from ecrf.study_folder import StudyDefinition, read_study
from ecrf.trail import record_admin_event


class Study(Document):
    definition_hash = StringField(primary_key=True)
    oid = StringField(required=True)
    name = StringField()
    version = StringField()
    # Kept as JSON text: definitions may hold keys MongoDB refuses ("$schema").
    study_json = StringField(required=True)
    forms_json = StringField(required=True)
    loaded_at = DateTimeField()
    loaded_by = StringField()
    current = BooleanField(default=False)
    # Loaded in place of another current version: casebooks may be on different versions (ecrf.study_versions).
    amended = BooleanField(default=False)
    meta = {"collection": "studies", "indexes": [("oid", "current")]}


@dataclass
class StudyRuntime:
    """A loaded study ready to use: its events and compiled forms."""

    definition_hash: str
    definition: dict  # the study definition (study.json) as loaded
    forms: dict[str, CompiledForm]

    @property
    def oid(self) -> str:
        return self.definition["oid"]

    @property
    def name(self) -> str:
        return self.definition["name"]

    @property
    def version(self) -> str:
        return self.definition["version"]

    @property
    def events(self) -> list[dict]:
        return self.definition["events"]

    @property
    def parameters(self) -> dict:
        return self.definition.get("parameters", {})

    @property
    def fact_sources(self) -> set[tuple[str, str]]:
        """``(event, form)`` of each record the subject facts are read from."""
        return {tuple(path.split(".")[:2]) for path in self.definition.get("subject_facts", {}).values()}

    def event(self, oid: str) -> dict:
        """The event definition; :class:`NotFound` if the study has none by that OID."""
        for event in self.definition["events"]:
            if event["oid"] == oid:
                return event
        raise NotFound(f"study {self.oid} has no event {oid!r}")

    def form(self, oid: str) -> CompiledForm:
        """The compiled form; :class:`NotFound` if the study has none by that OID."""
        try:
            return self.forms[oid]
        except KeyError:
            raise NotFound(f"study {self.oid} has no form {oid!r}") from None

    def form_in_event(self, event_oid: str, form_oid: str) -> tuple[dict, CompiledForm]:
        """The event and form, when the form belongs to the event; :class:`NotFound` otherwise."""
        event = self.event(event_oid)
        if form_oid not in event["forms"]:
            raise NotFound(f"event {event_oid} has no form {form_oid!r}")
        return event, self.form(form_oid)

    def label(self, value: dict, lang: str, key: str = "name") -> str:
        return value.get("labels", {}).get(lang) or value.get(key) or value.get("title", "")

    def metadata(self) -> dict:
        """The study as the API describes it."""
        return {
            "oid": self.oid,
            "name": self.name,
            "version": self.version,
            "definition_hash": self.definition_hash,
            "events": [
                {"oid": e["oid"], "name": e["name"], "day": e.get("day"), "window": e.get("window"),
                 "stage": e["stage"], "repeating": e.get("repeating", False), "log": e.get("log", False),
                 "forms": list(e["forms"])}
                for e in self.events
            ],
            "forms": [{"oid": f.oid, "title": f.title, "stage": f.stage} for f in self.forms.values()],
            "stages": [{"oid": s["oid"], "title": s["title"]} for s in self.definition["stages"]],
            "parameters": self.parameters,
        }


@lru_cache(maxsize=32)
def _runtime(definition_hash: str) -> StudyRuntime:
    stored = Study.objects(definition_hash=definition_hash).first()
    if stored is None:
        raise NotFound(f"no study definition {definition_hash}")
    definition = json.loads(stored.study_json)
    parameters = definition.get("parameters", {})
    forms = {oid: with_parameters(compile_form(oid, f["schema"], f["stage"]), parameters)
             for oid, f in json.loads(stored.forms_json).items()}
    return StudyRuntime(definition_hash, definition, forms)


def study_runtime(oid: str) -> StudyRuntime:
    """The current version of the study; :class:`NotFound` when it is not loaded."""
    return current_study(oid)[0]


def current_study(oid: str) -> tuple[StudyRuntime, bool]:
    """The current version of the study and whether it was loaded over another (an amended study, whose
    casebooks may be pinned to other versions); :class:`NotFound` when it is not loaded."""
    # Every request asks this: one plain find, without a mongoengine query set around it.
    stored = Study._get_collection().find_one({"oid": oid, "current": True}, {"_id": 1, "amended": 1})
    if stored is None:
        raise NotFound(f"no study {oid!r}")
    return _runtime(stored["_id"]), bool(stored.get("amended"))


def runtime_by_hash(definition_hash: str) -> StudyRuntime:
    """A study version by its definition hash (an older one too)."""
    return _runtime(definition_hash)


def loaded_studies() -> list[Study]:
    """The current version of every loaded study."""
    return list(Study.objects(current=True).order_by("oid"))


def load_study(path: str | Path, *, actor: str = "system") -> tuple[Study, bool]:
    """Check and load a study folder, making it the current version.

    Older versions stay stored: records remember the form definition hash
    they were saved under. Returns the stored study and whether it is new.
    """
    definition: StudyDefinition = read_study(path)
    digest = definition.hash
    existing = Study.objects(definition_hash=digest).first()
    created = existing is None
    if created:
        existing = Study(
            definition_hash=digest, oid=definition.oid, name=definition.study["name"],
            version=definition.version, study_json=json.dumps(definition.study, ensure_ascii=False),
            forms_json=json.dumps(definition.forms, ensure_ascii=False),
            loaded_at=utc_now(), loaded_by=actor,
        ).save(force_insert=True)
    if not existing.current:
        replaced = Study.objects(oid=definition.oid, current=True).update(set__current=False)
        Study.objects(definition_hash=digest).update(set__current=True, **({"set__amended": True} if replaced else {}))
        existing.reload()
        record_admin_event(f"study/{definition.oid}", actor, "study_loaded",
                           {"version": definition.version, "definition_hash": digest})
    return existing, created

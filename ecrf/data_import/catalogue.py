"""Names a file may give the study's events, forms, groups, items and sites: ours, our ODM export's, the source's.

Our OIDs (``AE``), the ones our ODM export writes (``SE.``, ``F.``, ``IG.``, ``IT.<form>.``,
``LOC.``) and the originals the metadata import kept as ``x-ecrf-source-oid`` all lead to the
same definition, so a foreign system's data and our own export match alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecrf.definitions import CompiledForm, Item
from ecrf.studies import StudyRuntime
from ecrf.subjects import casebook_version

SOURCE_OID = "x-ecrf-source-oid"


@dataclass(frozen=True)
class ItemPlace:
    """Where a named item lives: at the top of the form (``group`` None) or in a repeating group's rows."""

    item: Item
    group: str | None = None


def _add(names: dict, value, *keys) -> None:
    for key in keys:
        if key:
            names.setdefault(key, value)


class FormNames:
    """The names of one form's groups, items and derived values."""

    def __init__(self, form: CompiledForm):
        self.form = form
        self.groups: dict[str, str | None] = {}
        self.items: dict[str, ItemPlace] = {}
        self.rows: dict[str, dict[str, Item]] = {}
        self.derived: set[str] = set()
        _add(self.groups, None, f"IG.{form.oid}", form.schema.get(SOURCE_OID))
        for item in form.items:
            if item.kind == "group":
                _add(self.groups, item.oid, item.oid, f"IG.{form.oid}.{item.oid}", item.schema.get(SOURCE_OID))
                row: dict[str, Item] = {}
                for child in item.children:
                    _add(row, child, child.oid, f"IT.{form.oid}.{child.oid}", child.schema.get(SOURCE_OID))
                self.rows[item.oid] = row
            else:
                _add(self.items, ItemPlace(item), item.oid, f"IT.{form.oid}.{item.oid}", item.schema.get(SOURCE_OID))
        for oid, spec in form.schema.get("x-ecrf-derived", {}).items():
            self.derived |= {name for name in (oid, f"IT.{form.oid}.{oid}", spec.get(SOURCE_OID)) if name}

    def group(self, name: str | None) -> str | None:
        """The repeating group a group name stands for; None for the form's own (or an unknown, flat) group."""
        return self.groups.get(name) if name else None

    def item(self, name: str, group: str | None = None) -> Item | None:
        """The item ``name`` stands for, in ``group``'s rows when given, else at the top of the form."""
        if group is not None:
            return self.rows[group].get(name)
        place = self.items.get(name)
        return place.item if place else None

    def column(self, name: str) -> Item | None:
        """A column heading's item: by name, or by name regardless of case."""
        found = self.item(name)
        if found is None:
            folded = {key.casefold(): place.item for key, place in self.items.items()}
            found = folded.get(name.strip().casefold())
        return found


class Catalogue:
    """Every name of a study's events, forms and sites that an import file may use.

    With ``casebooks``, :meth:`of` gives each subject the names of the study version its casebook is on (read
    from the database); without, every subject is read with ``study``'s names (a file read on its own).
    """

    def __init__(self, study: StudyRuntime, casebooks: bool = False):
        self.study, self.casebooks = study, casebooks
        self.events: dict[str, str] = {}
        self.event_names: dict[str, str] = {}
        for event in study.events:
            _add(self.events, event["oid"], event["oid"], f"SE.{event['oid']}", event.get(SOURCE_OID))
            _add(self.event_names, event["oid"], event["name"].casefold(),
                 *[label.casefold() for label in (event.get("labels") or {}).values()])
        self.forms: dict[str, str] = {}
        self.names: dict[str, FormNames] = {}
        for oid, form in study.forms.items():
            _add(self.forms, oid, oid, f"F.{oid}", form.schema.get(SOURCE_OID))
            self.names[oid] = FormNames(form)
        self.study_names = {name for name in (study.oid, study.definition.get(SOURCE_OID)) if name}
        self._versions: dict[str, Catalogue] = {study.definition_hash: self}

    def of(self, subject: str, site: str | None = None) -> Catalogue:
        """The catalogue of the study version the subject's casebook is on (for a subject not registered yet,
        the version its site starts new subjects on): a casebook pinned to an older version keeps its items."""
        if not self.casebooks:
            return self
        version = casebook_version(self.study, subject, site)
        if version.definition_hash not in self._versions:
            self._versions[version.definition_hash] = Catalogue(version)
        return self._versions[version.definition_hash]

    def event(self, name: str | None, by_label: bool = False) -> str | None:
        """Our OID of the event ``name`` stands for (also by its name or label when ``by_label``)."""
        if not name:
            return None
        found = self.events.get(name.strip())
        if found is None and by_label:
            found = self.event_names.get(name.strip().casefold())
        return found

    def form(self, name: str | None) -> str | None:
        """Our OID of the form ``name`` stands for."""
        return self.forms.get(name.strip()) if name else None

    @staticmethod
    def site(location: str | None) -> str | None:
        """The site code of a LocationOID (``LOC.01`` as our export writes it, or the code itself)."""
        if not location:
            return None
        return location[4:] if location.startswith("LOC.") else location

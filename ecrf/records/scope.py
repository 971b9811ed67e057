"""The evaluation scope: what derivations and checks of one save see (see docs/form-language.md).

Pure: the caller reads the subject's records and the site's ranges (:mod:`ecrf.records.reads`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ecrf.clinical.dates import age_in_years
from ecrf.definitions import CompiledForm
from ecrf.expressions import bindings
from ecrf.ranges import ranges_for
from ecrf.studies import StudyRuntime

if TYPE_CHECKING:
    from ecrf.subjects import Subject


@dataclass
class Scope:
    """What derivations and checks see (see docs/form-language.md)."""

    variables: dict[str, Any]
    reads: frozenset[str] | None = None  # the variables expressions read (None: all)
    key: Any = None  # reuse the bindings of this study and form (see ecrf.expressions.Bindings)
    _bindings: Any = None

    def context(self):
        """One expression context per save, shared by derivations and checks."""
        if self._bindings is None:
            self._bindings = bindings(self.key)
            for name, value in self.variables.items():
                if self.reads is None or name in self.reads:
                    self._bindings.bind(name, value)
        return self._bindings.context

    def bind(self, name: str, value: Any, doubles: bool = True) -> None:
        """Set one variable of the context (after :meth:`context`)."""
        self.context()
        self._bindings.bind(name, value, doubles)


def subject_facts(study: StudyRuntime, subject: Subject, records: dict) -> dict:
    """The subject's key facts (sex, birth, consent, infusion dates, age at consent)."""
    facts = {"id": subject.subject_id, "site": subject.site}
    for name, path in study.definition.get("subject_facts", {}).items():
        event, form, item = path.split(".")
        value = records.get(event, {}).get(form, {}).get(item)
        if value is not None:
            facts[name] = value[:10] if name.endswith("_date") and isinstance(value, str) else value
    if "birth_date" in facts and "consent_date" in facts:
        age = age_in_years(facts["birth_date"], facts["consent_date"])
        if age is not None:
            facts["age"] = age
    return facts


def _values(document: dict) -> dict:
    return {**(document.get("data") or {}), **(document.get("derived") or {})}


def records_by_event(documents) -> dict:
    """``{event: {form: data + derived}}`` of the given record projections."""
    found: dict[str, dict] = {}
    for doc in documents:
        found.setdefault(doc["event"], {})[doc["form"]] = _values(doc)
    return found


def build_scope(study: StudyRuntime, subject: Subject, event: dict, form: CompiledForm, data: dict,
                records: dict, site_ranges: list[dict] | None = None) -> Scope:
    """The evaluation scope for one save.

    ``records`` as :func:`records_by_event` gives them (``records`` is
    changed: ``data`` takes the form's place) and ``site_ranges`` as
    :func:`ecrf.records.save.read_for_save` does (every stored range of the
    subject's site; None reads them, for forms that use ranges).
    """
    records.setdefault(event["oid"], {})[form.oid] = data
    facts = subject_facts(study, subject, records)
    on_date = data.get(form.date_item) if form.date_item else None
    window = event.get("window") or {}
    ranges = ranges_for(study.definition, subject.site, facts.get("sex"), facts.get("age"), on_date,
                        site_ranges) if form.uses_ranges else {}
    return Scope({
        "data": data,
        "derived": {},
        "subject": facts,
        "event": {"oid": event["oid"], "day": event.get("day"), "window": window,
                  **({"date": on_date[:10]} if isinstance(on_date, str) else {})},
        "records": _named_items(records, form.record_items),
        "ranges": ranges,
        "params": study.parameters,
    }, reads=form.references | {"derived"}, key=(study.definition_hash, form.hash))


def _named_items(records: dict, wanted: dict | None) -> dict:
    if wanted is None:
        return records
    named: dict[str, dict] = {}
    for (event, form), items in wanted.items():
        values = records.get(event, {}).get(form)
        if values is not None:
            named.setdefault(event, {})[form] = {item: values[item] for item in items if item in values}
    return named



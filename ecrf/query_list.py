"""The query list as people work it: choosers built from the study and the queries, labels for codes, and CSV.

A person filters by picking (site, subject, visit, form, item by its label), never by typing a code; the list
and its CSV show the labels beside the codes, so a spreadsheet can be sorted by either.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TextIO

from audit import utc_now
from ecrf.exports.tables import safe_line
from ecrf.queries import ANY_ROW, age_days
from ecrf.sites import Site
from ecrf.studies import StudyRuntime
from ecrf.subjects import list_subjects
from ecrf.times import iso

CSV_COLUMNS = ["query_id", "site", "site_name", "subject", "event", "event_label", "form", "form_label", "item",
               "item_label", "origin", "check", "state", "opened_at_utc", "closed_at_utc", "age_days",
               "messages", "last_message"]
# A row of a repeating group is named by its stable id; this much of it tells rows apart for a reader.
ROW_ID_SHOWN = 6


@dataclass(frozen=True)
class Labels:
    """Labels in one language for the codes a query carries (visit, form, item pointer, site)."""

    study: StudyRuntime
    lang: str
    site_names: dict[str, str]

    def event(self, oid: str) -> str:
        """The visit's label, or its code when the study no longer has it."""
        found = next((e for e in self.study.events if e["oid"] == oid), None)
        return self.study.label(found, self.lang) if found else oid

    def form(self, oid: str) -> str:
        """The form's title, or its code when the study no longer has it."""
        found = self.study.forms.get(oid)
        return found.label(self.lang) if found else oid

    def item(self, form: str, pointer: str) -> str:
        """The item's label (``Group › Item · row abc123`` inside a repeating group), or the pointer itself."""
        found = self.study.forms.get(form)
        parts = pointer.split("/")
        item = found.item_by_oid.get(parts[1]) if found and len(parts) > 1 else None
        if item is None:
            return pointer
        if len(parts) == 4 and item.kind == "group":
            child = next((c for c in item.children if c.oid == parts[3]), None)
            if child is not None:
                return f"{item.label(self.lang)} › {child.label(self.lang)} · {parts[2][:ROW_ID_SHOWN]}"
        return item.label(self.lang)

    def site(self, code: str) -> str:
        """The site's name, or its code when there is no such site."""
        return self.site_names.get(code, code)


def labels_for(study: StudyRuntime, lang: str) -> Labels:
    """The labels of ``study`` in ``lang``, with every site's name."""
    return Labels(study, lang, {s.code: s.name for s in Site.objects.only("code", "name")})


@dataclass(frozen=True)
class Choosers:
    """The options (value, label) of each chooser of the query list, in the order a person scans them."""

    sites: list[tuple[str, str]]
    subjects: list[tuple[str, str]]
    events: list[tuple[str, str]]
    forms: list[tuple[str, str]]
    items: list[tuple[str, str]]


def choosers(study: StudyRuntime, user, labels: Labels, *, site: str | None = None,
             form: str | None = None) -> Choosers:
    """The choices the user has: their sites, their subjects (of the chosen ``site``), the study's visits and
    forms, and the items of the chosen ``form`` (none until a form is chosen).

    Read from the study and the subject list, never from the queries: a study's queries run to tens of
    thousands. An item of a repeating group is offered once for every row (``/GROUP/*/ITEM``).
    """
    codes = sorted(labels.site_names if user.site_filter() is None else user.site_filter())
    subjects = [] if site and site not in codes else list_subjects(study, user, site or None)
    compiled = study.forms.get(form or "")
    items: list[tuple[str, str]] = []
    for item in compiled.items if compiled else []:
        items.append((f"/{item.oid}", item.label(labels.lang)))
        if item.kind == "group":
            items += [(f"/{item.oid}/{ANY_ROW}/{child.oid}", f"{item.label(labels.lang)} › {child.label(labels.lang)}")
                      for child in item.children]
    return Choosers(
        sites=[(code, f"{code} · {labels.site(code)}") for code in codes],
        subjects=[(s.subject_id, s.subject_id) for s in subjects],
        events=[(e["oid"], labels.study.label(e, labels.lang)) for e in study.events],
        forms=sorted(((oid, labels.form(oid)) for oid in study.forms), key=lambda f: f[1].casefold()),
        items=items,
    )


def write_csv(out: TextIO, documents: Iterable[dict], labels: Labels, last_text: Any = None) -> None:
    """Stored query documents (:func:`ecrf.queries.query_documents`) as CSV: codes and labels side by side,
    times in UTC, no cell a spreadsheet could run.

    ``last_text(message)`` gives a message's text in the reader's language (default: as stored).
    """
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    now = utc_now()
    for q in documents:
        messages = q.get("messages") or []
        last = messages[-1] if messages else {}
        text = (last_text(last) if last_text and last else last.get("text", "")) or ""
        form, item = q["form"], q["item"]
        writer.writerow(safe_line([
            q["_id"], q["site"], labels.site(q["site"]), q["subject"], q["event"], labels.event(q["event"]), form,
            labels.form(form), item, labels.item(form, item), q["origin"], q.get("check") or "", q["state"],
            iso(q["opened_at"]), iso(q.get("closed_at")) or "", age_days(q["opened_at"], q.get("closed_at"), now),
            len(messages), text,
        ]))

"""Analysis-ready tables: a CSV zip (one file per form, coded values beside their labels, a data
dictionary, the audit trail, the AE terms with their coding and the safety table by SOC, term and worst
grade) and an Excel workbook (one sheet per form, frozen header, the same coding and safety tables). Streamed
subject by subject: each subject's records are read once for all tables."""

from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from typing import BinaryIO

from audit import ROW_ID
from ecrf.coding.safety import AE_FORM, GRADES, events_of, tabulate
from ecrf.definitions import CompiledForm, Item
from ecrf.lazy import lazy_module
from ecrf.lifecycle import lifecycle_state
from ecrf.records.document import Record
from ecrf.studies import Study, StudyRuntime
from ecrf.subjects import casebook_version
from ecrf.text import xml_safe, xml_unsafe
from ecrf.trail import audit_store

openpyxl = lazy_module("openpyxl")

ID_COLUMNS = ["subject", "site", "event", "row_id", "status", "lifecycle", "version", "updated_at", "updated_by"]

# A spreadsheet reads a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST = frozenset(FORMULA_STARTS)


def safe_cell(value: object) -> object:
    """``value`` as a spreadsheet cell that can never run: text that a spreadsheet would take for a formula
    gets a leading ``'`` (OWASP), and what XML or UTF-8 cannot carry becomes U+FFFD (data stored before the
    input rules). Numbers stay numbers, a negative one included."""
    if not isinstance(value, str):
        return value
    value = xml_safe(value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def safe_line(line: list) -> list:
    """Every cell of ``line`` through :func:`safe_cell`."""
    # Inlined: this runs for every cell of an export, and most cells are numbers or plain text.
    cells = []
    for value in line:
        if value.__class__ is str and value:
            if xml_unsafe(value):
                value = xml_safe(value)
            if value[0] in _FORMULA_FIRST:
                value = "'" + value
        cells.append(value)
    return cells


def _plain(value) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(map(str, value))
    return value


# Values of items the record's study version no longer has (after a migration), as JSON: read-only, never lost.
RETIRED_COLUMN = "RETIRED"


def columns(form: CompiledForm, group: Item | None) -> list[str]:
    """Column names: identity, items (a ``_LABEL`` column after each coded item), derived values."""
    items = group.children if group else [i for i in form.items if i.kind != "group"]
    names = list(ID_COLUMNS) if group else [c for c in ID_COLUMNS if c != "row_id"]
    for item in items:
        names.append(item.oid)
        if item.choices:
            names.append(f"{item.oid}_LABEL")
    if not group:
        names += [d.oid for d in form.derivations] + [RETIRED_COLUMN]
    return names


def tables(study: StudyRuntime) -> list[tuple[str, CompiledForm, Item | None]]:
    """Each output table: one per form, plus one per repeating group (``AE`` for ``AE.AE``)."""
    found = []
    for form in study.forms.values():
        if any(i.kind != "group" for i in form.items) or form.derivations:
            found.append((form.oid, form, None))
        for group in (i for i in form.items if i.kind == "group"):
            name = form.oid if group.oid == form.oid else f"{form.oid}.{group.oid}"
            found.append((name, form, group))
    return found


def _label(item: Item, value) -> str:
    if isinstance(value, list):
        return ";".join(item.choice_label(v) for v in value)
    return item.choice_label(value) if value is not None else ""


def records_by_form(study: StudyRuntime, subject: str) -> dict[str, list[dict]]:
    """The subject's records by form, each list in schedule order: one query on the subject's index prefix."""
    order = {e["oid"]: n for n, e in enumerate(study.events)}
    by_form: dict[str, list[dict]] = {}
    for record in Record._get_collection().find({"study": study.oid, "subject": subject}):
        by_form.setdefault(record["form"], []).append(record)
    for records in by_form.values():
        # Events no longer in the schedule go last, by name (as the records index would return them).
        records.sort(key=lambda r: (order.get(r["event"], 999), r["event"]))
    return by_form


def table_rows(form: CompiledForm, group: Item | None, records: list[dict],
               own: CompiledForm | None = None) -> Iterator[list]:
    """The table's rows for these records of its form, in their order.

    ``own`` is the form as the study version the records' casebook is on has it (when not ``form``): its
    items' code lists label the values the casebook holds.
    """
    items = group.children if group else [i for i in form.items if i.kind != "group"]
    labelled = _own_items(own, group)
    for record in records:
        data = record.get("data") or {}
        head = [record["subject"], record["site"], record["event"]]
        tail = [record.get("status"), lifecycle_state(record), record.get("version"),
                record["updated_at"].isoformat() if record.get("updated_at") else "", record.get("updated_by")]
        instances = [(row.get(ROW_ID), row) for row in data.get(group.oid, [])] if group else [(None, data)]
        for row_id, values in instances:
            line = head + ([row_id] if group else []) + tail
            for item in items:
                line.append(_plain(values.get(item.oid)))
                if item.choices:
                    line.append(_label(labelled.get(item.oid) or item, values.get(item.oid)))
            if not group:
                line += [_plain((record.get("derived") or {}).get(d.oid)) for d in form.derivations]
                # Also what a casebook still on an older version holds for items this version has not.
                retired = {**{k: v for k, v in data.items() if k not in form.item_by_oid},
                           **(record.get("retired") or {})}
                line.append(json.dumps(retired, ensure_ascii=False, sort_keys=True) if retired else "")
            yield line


def _own_items(own: CompiledForm | None, group: Item | None) -> dict[str, Item]:
    """The items (a group's: its children) of the casebook's own version of the form, by OID ({}: none)."""
    if own is None:
        return {}
    if group is None:
        return own.item_by_oid
    own_group = own.item_by_oid.get(group.oid)
    return {child.oid: child for child in own_group.children} if own_group is not None else {}


def subject_tables(study: StudyRuntime, found: list[tuple[str, CompiledForm, Item | None]],
                   subject_ids: Iterable[str], ae_records: list | None = None) -> Iterator[tuple[int, list]]:
    """``(table index in found, row)`` for every table, subject by subject, each subject's records read once.

    The tables have the current version's columns; a casebook on an older version has its values labelled
    with its own version's code lists, and its values of items the current version has not in RETIRED.
    ``ae_records`` (if given) collects the AE records read on the way, for the coding and safety tables.
    """
    amended = Study._get_collection().count_documents({"oid": study.oid}) > 1  # else every casebook is current
    for subject in subject_ids:
        version = casebook_version(study, subject) if amended else study
        by_form = records_by_form(study, subject)
        if ae_records is not None:
            ae_records.extend(by_form.get(AE_FORM, []))
        for index, (_, form, group) in enumerate(found):
            own = version.forms.get(form.oid) if version is not study else None
            for line in table_rows(form, group, by_form.get(form.oid, []), own):
                yield index, line


def dictionary(study: StudyRuntime) -> Iterator[list]:
    """The data dictionary: one row per item and derived value."""
    yield ["table", "item", "kind", "label_en", "label_zh", "unit", "codes", "required", "derived_from"]
    for name, form, group in tables(study):
        items = group.children if group else [i for i in form.items if i.kind != "group"]
        required = set((group.schema["items"] if group else form.schema).get("required", []))
        for item in items:
            yield [name, item.oid, item.kind, item.title, item.labels.get("zh", ""), item.unit or "",
                   "; ".join(f"{c.value}={c.title}" for c in item.choices), "yes" if item.oid in required else "", ""]
        if not group:
            for d in form.derivations:
                yield [
                    name,
                    d.oid,
                    f"derived {d.spec['type']}",
                    d.spec["title"],
                    d.spec.get("x-ecrf-labels", {}).get("zh", ""),
                    d.spec.get("x-ecrf-unit", ""),
                    "",
                    "",
                    d.spec["expr"],
                ]


AUDIT_COLUMNS = [
    "subject",
    "stream",
    "seq",
    "at",
    "actor",
    "action",
    "event",
    "form",
    "path",
    "old",
    "new",
    "reason",
    "hash",
]


def audit_rows(study: StudyRuntime, subject_ids: list[str]) -> Iterator[list]:
    """Every audit event of these subjects (one row per change), oldest first."""
    collection = audit_store().collection
    for subject in subject_ids:
        for event in collection.find(
            {"context.study": study.oid, "context.subject": subject}, sort=[("at", 1), ("stream", 1), ("seq", 1)]
        ):
            context = event.get("context") or {}
            base = [
                subject,
                event["stream"],
                event["seq"],
                event["at"].isoformat(),
                event["actor"],
                event["action"],
                context.get("event", ""),
                context.get("form", ""),
            ]
            changes = event.get("changes") or [{"path": "", "old": None, "new": None}]
            for change in changes:
                yield base + [
                    change["path"],
                    _json(change["old"]),
                    _json(change["new"]),
                    event.get("reason") or "",
                    event["hash"],
                ]


CODING_COLUMNS = ["subject", "site", "event", "row_id", "verbatim", "grade", "state", "meddra_code", "term", "soc",
                  "dictionary", "dictionary_version", "meddra_version", "method", "coded_by", "coded_at"]
SAFETY_COLUMNS = ["level", "soc", "term", "subjects", "percent", *[f"worst_grade_{g}" for g in GRADES],
                  "ungraded"]


def coding_rows(events: list[dict]) -> Iterator[list]:
    """One line per adverse event term: the verbatim, its grade and its coding with the dictionary version."""
    for e in events:
        yield [e["subject"], e["site"], e["event"], e["row"], e["verbatim"], e["grade"], e["state"], e["code"],
               e["term"] if e["code"] else "", e["soc"] if e["code"] else "", e["dictionary"],
               e["dictionary_version"], e["meddra_version"], e["method"], e["coded_by"],
               e["coded_at"].isoformat() if e["coded_at"] else ""]


def safety_rows(events: list[dict], subjects: int) -> Iterator[list]:
    """The safety table: subjects by system organ class and preferred term, with their worst grade."""
    for row in tabulate(events, subjects):
        yield [row["level"], row["soc"], row["term"], row["subjects"],
               "" if row["pct"] is None else f"{row['pct']:.1f}", *[row["worst"][g] for g in GRADES],
               row["worst"][None]]


def _json(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _csv_member(archive: zipfile.ZipFile, name: str, header: list, lines) -> None:
    with archive.open(name, "w", force_zip64=True) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        writer = csv.writer(text)
        if header:
            writer.writerow(header)
        for line in lines:
            writer.writerow(safe_line(line))
        text.flush()
        text.detach()


class _Switch:
    """A file for one csv writer that writes each line wherever ``target`` points."""

    target = None

    def write(self, text: str):
        return self.target.write(text)


def _spooled_tables(study: StudyRuntime, found: list, subject_ids: list[str], stack: ExitStack,
                    ae_records: list | None = None) -> list:
    """Each table as CSV bytes in its own temporary file (rewound), written subject by subject.

    A zip member must be written whole before the next starts, while each
    subject's records are read once for all tables: the tables wait on disk.
    One csv writer serves them all (each holds a 128 KiB record buffer).
    """
    switch = _Switch()
    writer = csv.writer(switch)
    texts = []
    for _, form, group in found:
        switch.target = io.TextIOWrapper(
            stack.enter_context(tempfile.TemporaryFile()), encoding="utf-8-sig", newline=""
        )
        texts.append(switch.target)
        writer.writerow(columns(form, group))
    for index, line in subject_tables(study, found, subject_ids, ae_records):
        switch.target = texts[index]
        writer.writerow(safe_line(line))
    files = []
    for text in texts:
        text.flush()
        raw = text.detach()
        raw.seek(0)
        files.append(raw)
    return files


def write_csv_zip(
    out: BinaryIO, study: StudyRuntime, subject_ids: list[str], *, progress: Callable[[int], None] | None = None
) -> int:
    """Write the CSV zip; returns how many tables it holds (plus dictionary and audit trail)."""
    found = tables(study)
    with ExitStack() as stack, zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        ae_records: list[dict] = []
        spools = _spooled_tables(study, found, subject_ids, stack, ae_records)
        for (name, _, _), spool in zip(found, spools, strict=False):
            with archive.open(f"{name}.csv", "w", force_zip64=True) as member:
                shutil.copyfileobj(spool, member)
            spool.close()
            if progress:
                progress(1)
        _csv_member(archive, "data_dictionary.csv", [], dictionary(study))
        _csv_member(archive, "audit_trail.csv", AUDIT_COLUMNS, audit_rows(study, subject_ids))
        if AE_FORM in study.forms:
            events = events_of(study.oid, ae_records)
            _csv_member(archive, "ae_coding.csv", CODING_COLUMNS, coding_rows(events))
            _csv_member(archive, "safety_table.csv", SAFETY_COLUMNS, safety_rows(events, len(subject_ids)))
    return len(found)


def write_xlsx(
    out: BinaryIO, study: StudyRuntime, subject_ids: list[str], *, progress: Callable[[int], None] | None = None
) -> int:
    """Write the Excel workbook (write-only mode: rows go to disk as they come)."""
    workbook = openpyxl.Workbook(write_only=True)
    found = tables(study)
    sheets = []
    for name, form, group in found:
        sheet = workbook.create_sheet(title=name[:31])
        sheet.freeze_panes = "A2"
        sheet.append([_bold(sheet, h, openpyxl.styles.Font) for h in columns(form, group)])
        sheets.append(sheet)
    # Write-only sheets each stream to their own file, so rows may go to any of them in turn.
    ae_records: list[dict] = []
    for index, line in subject_tables(study, found, subject_ids, ae_records):
        sheets[index].append(_text_cells(sheets[index], line, openpyxl.cell.WriteOnlyCell))
    if progress:
        for _ in found:
            progress(1)
    dictionary_sheet = workbook.create_sheet(title="data_dictionary")
    dictionary_sheet.freeze_panes = "A2"
    for line in dictionary(study):
        dictionary_sheet.append(_text_cells(dictionary_sheet, line, openpyxl.cell.WriteOnlyCell))
    if AE_FORM in study.forms:
        events = events_of(study.oid, ae_records)
        for title, header, lines in (("ae_coding", CODING_COLUMNS, coding_rows(events)),
                                     ("safety_table", SAFETY_COLUMNS, safety_rows(events, len(subject_ids)))):
            sheet = workbook.create_sheet(title=title)
            sheet.freeze_panes = "A2"
            sheet.append([_bold(sheet, h, openpyxl.styles.Font) for h in header])
            for line in lines:
                sheet.append(_text_cells(sheet, line, openpyxl.cell.WriteOnlyCell))
    workbook.save(out)
    return len(found)


def _text_cells(sheet, line: list, cell_class) -> list:
    """The line for a write-only sheet: text in cells typed as text, so that no cell is ever a formula
    (openpyxl would make any string starting with ``=`` one), whatever :func:`safe_cell` lets through."""
    cells = []
    for value in safe_line(line):
        if isinstance(value, str):
            cell = cell_class(sheet, value=value)
            cell.data_type = "s"
            value = cell
        cells.append(value)
    return cells


def _bold(sheet, text: str, font_class):
    cell = openpyxl.cell.WriteOnlyCell(sheet, value=text)
    cell.font = font_class(bold=True)
    return cell

"""Analysis-ready tables: a CSV zip (one file per form, coded values beside their labels, a data
dictionary, the audit trail) and an Excel workbook (one sheet per form, frozen header). Streamed
form by form, subject by subject."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from typing import BinaryIO, Callable, Iterator

from ecrf.definitions import ROW_ID, CompiledForm, Item
from ecrf.studies import StudyRuntime
from ecrf.trail import audit_store

ID_COLUMNS = ["subject", "site", "event", "row_id", "status", "lifecycle", "version", "updated_at", "updated_by"]


def _plain(value) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(map(str, value))
    return value


def columns(form: CompiledForm, group: Item | None) -> list[str]:
    """Column names: identity, items (a ``_LABEL`` column after each coded item), derived values."""
    items = group.children if group else [i for i in form.items if i.kind != "group"]
    names = list(ID_COLUMNS) if group else [c for c in ID_COLUMNS if c != "row_id"]
    for item in items:
        names.append(item.oid)
        if item.choices:
            names.append(f"{item.oid}_LABEL")
    if not group:
        names += [d.oid for d in form.derivations]
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


def rows(study: StudyRuntime, form: CompiledForm, group: Item | None, subject_ids: list[str]) -> Iterator[list]:
    """The table's rows for these subjects, in subject, event order."""
    from ecrf.lifecycle import lifecycle_state
    from ecrf.records import Record

    order = {e["oid"]: n for n, e in enumerate(study.events)}
    items = group.children if group else [i for i in form.items if i.kind != "group"]
    for subject in subject_ids:
        records = list(Record._get_collection().find({"study": study.oid, "subject": subject, "form": form.oid}))
        for record in sorted(records, key=lambda r: order.get(r["event"], 999)):
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
                        line.append(_label(item, values.get(item.oid)))
                if not group:
                    line += [_plain((record.get("derived") or {}).get(d.oid)) for d in form.derivations]
                yield line


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
                yield [name, d.oid, f"derived {d.spec['type']}", d.spec["title"], d.spec.get("x-ecrf-labels", {}).get("zh", ""),
                       d.spec.get("x-ecrf-unit", ""), "", "", d.spec["expr"]]


AUDIT_COLUMNS = ["subject", "stream", "seq", "at", "actor", "action", "event", "form", "path", "old", "new", "reason", "hash"]


def audit_rows(study: StudyRuntime, subject_ids: list[str]) -> Iterator[list]:
    """Every audit event of these subjects (one row per change), oldest first."""
    collection = audit_store().collection
    for subject in subject_ids:
        for event in collection.find({"context.study": study.oid, "context.subject": subject},
                                     sort=[("at", 1), ("stream", 1), ("seq", 1)]):
            context = event.get("context") or {}
            base = [subject, event["stream"], event["seq"], event["at"].isoformat(), event["actor"], event["action"],
                    context.get("event", ""), context.get("form", "")]
            changes = event.get("changes") or [{"path": "", "old": None, "new": None}]
            for change in changes:
                yield base + [change["path"], _json(change["old"]), _json(change["new"]), event.get("reason") or "", event["hash"]]


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
            writer.writerow(line)
        text.flush()
        text.detach()


def write_csv_zip(out: BinaryIO, study: StudyRuntime, subject_ids: list[str], *,
                  progress: Callable[[int], None] | None = None) -> int:
    """Write the CSV zip; returns how many tables it holds (plus dictionary and audit trail)."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        found = tables(study)
        for name, form, group in found:
            _csv_member(archive, f"{name}.csv", columns(form, group), rows(study, form, group, subject_ids))
            if progress:
                progress(1)
        _csv_member(archive, "data_dictionary.csv", [], dictionary(study))
        _csv_member(archive, "audit_trail.csv", AUDIT_COLUMNS, audit_rows(study, subject_ids))
    return len(found)


def write_xlsx(out: BinaryIO, study: StudyRuntime, subject_ids: list[str], *,
               progress: Callable[[int], None] | None = None) -> int:
    """Write the Excel workbook (write-only mode: rows go to disk as they come)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    found = tables(study)
    for name, form, group in found:
        sheet = workbook.create_sheet(title=name[:31])
        sheet.freeze_panes = "A2"
        header = columns(form, group)
        sheet.append([_bold(sheet, h, Font) for h in header])
        for line in rows(study, form, group, subject_ids):
            sheet.append(line)
        if progress:
            progress(1)
    dictionary_sheet = workbook.create_sheet(title="data_dictionary")
    dictionary_sheet.freeze_panes = "A2"
    for line in dictionary(study):
        dictionary_sheet.append(line)
    workbook.save(out)
    return len(found)


def _bold(sheet, text: str, font_class):
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=text)
    cell.font = font_class(bold=True)
    return cell

"""A central lab's CSV file read into submissions: one row per subject and visit, columns matched to items.

Columns are matched to the form's items by OID or source OID (case aside) or by the column map;
a column matching nothing refuses the file (nothing is dropped without a word: map it to null
to leave it out). A byte-order mark, CRLF line ends and ``;`` or tab separators are read as
they come; a cell that a spreadsheet would run as a formula (``=``, ``@``, a ``+``/``-`` that
starts no number) is refused, never imported as text.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from ecrf.data_import.catalogue import Catalogue
from ecrf.data_import.mapping import Column, ColumnMap
from ecrf.data_import.submission import Change, Submission, UnreadableFile
from ecrf.data_import.values import number, typed
from ecrf.definitions import Item
from ecrf.errors import FieldError

FORMULA_FIRST = ("=", "@", "\t", "\r")
SIGNS = ("+", "-")
NUMERIC_KINDS = ("number", "integer")


@dataclass(frozen=True)
class Options:
    """How to read a CSV file: the form, the event (fixed, or a column), the subject and site columns."""

    form: str
    event: str | None = None
    event_column: str | None = None
    subject_column: str | None = None
    site_column: str | None = None


def _formula(cell: str) -> bool:
    if cell.startswith(FORMULA_FIRST):
        return True
    if cell.startswith(SIGNS):
        try:
            number(cell)
        except ValueError:
            return True
    return False


def _scaled(value, factor: float | None, item: Item):
    if factor is None:
        return value
    scaled = round(value * factor, 10)
    if item.kind == "integer":
        if scaled != int(scaled):
            raise ValueError(f"{value} x {factor:g} = {scaled:g} is not a whole number")
        return int(scaled)
    return scaled


class Table:
    """One file's headings resolved to the subject, event, site and item columns."""

    def __init__(self, catalogue: Catalogue, options: Options, column_map: ColumnMap, headings: list[str],
                 file: str):
        self.catalogue, self.file, self.map = catalogue, file, column_map
        self.form = catalogue.form(options.form)
        if self.form is None:
            raise UnreadableFile(f"{file}: study {catalogue.study.oid} has no form {options.form!r}")
        self.event = None
        if options.event is not None:
            self.event = catalogue.event(options.event)
            if self.event is None:
                raise UnreadableFile(f"{file}: study {catalogue.study.oid} has no event {options.event!r}")
        folded = {heading.strip().casefold(): heading for heading in headings}
        if len(folded) != len(headings):
            raise UnreadableFile(f"{file}:1: two columns have the same heading")

        def heading(name: str | None, default: str | None, what: str, required: bool) -> str | None:
            wanted = name or default
            found = folded.get(wanted.strip().casefold()) if wanted else None
            if found is None and required:
                raise UnreadableFile(f"{file}:1: no {what} column {wanted!r} (headings: {', '.join(headings)})")
            return found

        self.subject = heading(column_map.subject or options.subject_column, "subject", "subject", True)
        self.event_column = None
        if self.event is None:
            self.event_column = heading(column_map.event or options.event_column, None, "event", True)
        self.site = heading(column_map.site or options.site_column, "site", "site", False)
        names = catalogue.names[self.form]
        self.items: list[tuple[str, Item, Column]] = []
        for column in headings:
            if column in (self.subject, self.event_column, self.site):
                continue
            mapped = column_map.columns.get(column) or column_map.columns.get(column.strip())
            if mapped is not None and mapped.item is None:
                continue
            item = names.column(mapped.item if mapped else column)
            if item is None or item.kind == "group":
                target = f"item {mapped.item!r} named by the map" if mapped else "no item"
                raise UnreadableFile(f"{file}:1: column {column!r} matches {target} of form {self.form}; "
                                     "map it to an item, or to null to leave it out")
            mapped = mapped or Column(item.oid)
            if mapped.factor is not None and item.kind not in NUMERIC_KINDS:
                raise UnreadableFile(f"{file}: column {column!r}: a factor converts numbers; "
                                     f"{item.oid} is {item.kind}")
            self.items.append((column, item, mapped))

    def row_event(self, row: dict) -> tuple[str | None, str]:
        if self.event is not None:
            return self.event, ""
        value = (row.get(self.event_column) or "").strip()
        return self.map.events.get(value) or self.catalogue.event(value, by_label=True), value

    def submission(self, row: dict, line: int) -> Submission:
        """The row as a submission; faults name the column, the item by pointer and label."""
        subject = (row.get(self.subject) or "").strip()
        event, given = self.row_event(row)
        site = (row.get(self.site) or "").strip() or None if self.site else None
        found = Submission(line, subject, event, self.form, site, provenance={"file": self.file, "line": line})
        if not subject:
            found.faults.append(FieldError("/subject", f"column {self.subject!r} is empty"))
        if event is None:
            found.faults.append(FieldError("/event", f"column {self.event_column!r}: no event {given!r}"))
        elif self.form not in self.catalogue.study.event(event)["forms"]:
            found.faults.append(FieldError("/event", f"event {event} has no form {self.form}"))
        for column, item, mapped in self.items:
            cell = row.get(column) or ""
            if not cell.strip():
                continue
            pointer, label = f"/{item.oid}", f"column {column!r} ({item.label('en')})"
            if _formula(cell.strip()) or cell.startswith(FORMULA_FIRST):
                found.faults.append(FieldError(pointer, f"{label}: a spreadsheet formula, not a value"))
                continue
            try:
                value = _scaled(typed(item, cell), mapped.factor, item)
            except ValueError as error:
                found.faults.append(FieldError(pointer, f"{label}: {error}"))
                continue
            found.changes.append(Change("set", item.oid, value))
        return found


def read_table(path: str | Path, catalogue: Catalogue, options: Options, column_map: ColumnMap | None = None,
               file: str | None = None) -> list[Submission]:
    """One submission per data row of the CSV file, each with its line number.

    :class:`UnreadableFile` (``file:line: message``) for a file that is not UTF-8 CSV, lacks
    the subject or event column, or has a column that matches no item.
    """
    file, line = file or Path(path).name, 1
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            sample = handle.read(8192)
            handle.seek(0)
            try:
                dialect = csv.Sniffer().sniff(sample.splitlines()[0] if sample else "", delimiters=",;\t")
            except csv.Error:
                dialect = csv.excel
            reader = csv.reader(handle, dialect)
            headings = next(reader, None)
            if not headings:
                raise UnreadableFile(f"{file}:1: the file is empty (no heading line)")
            table = Table(catalogue, options, column_map or ColumnMap(), [h.strip() for h in headings], file)
            submissions, seen, line = [], {}, reader.line_num + 1
            for cells in reader:
                start, line = line, reader.line_num + 1
                if not any(cell.strip() for cell in cells):
                    continue
                if len(cells) > len(headings):
                    raise UnreadableFile(f"{file}:{start}: {len(cells)} cells under {len(headings)} headings")
                found = table.submission(dict(zip([h.strip() for h in headings], cells, strict=False)), start)
                if found.key in seen and found.subject and found.event:
                    found.faults.append(FieldError("/subject", f"the same subject and visit as line {seen[found.key]}"))
                seen.setdefault(found.key, start)
                submissions.append(found)
    except UnicodeDecodeError as error:
        raise UnreadableFile(f"{file}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except csv.Error as error:
        raise UnreadableFile(f"{file}:{line}: not CSV: {error}") from None
    except OSError as error:
        raise UnreadableFile(f"{file}: not readable: {error}") from None
    return submissions

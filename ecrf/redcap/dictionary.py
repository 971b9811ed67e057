"""Reading REDCap's CSV files: the data dictionary, events, instrument–event mapping, repeating instruments.

Every file is read the same guarded way — UTF-8 with or without a BOM, any
line ending, quoted fields spanning lines, a bounded field size — and each
row keeps the CSV line it starts on, so a fault reads ``file:line: message``.
Headers are matched by meaning, not spelling: REDCap's download
(``Variable / Field Name``) and its API (``field_name``) both work.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from ecrf.odm_import.reader import ImportError_

MAX_FIELD = 1_000_000  # characters in one cell: a label or an equation, never a megabyte
MAX_BYTES = 50_000_000
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

# Dictionary columns by meaning → the header spellings REDCap's download and its API write (normalised).
COLUMNS = {
    "name": ("variablefieldname", "fieldname"),
    "form": ("formname",),
    "section": ("sectionheader",),
    "type": ("fieldtype",),
    "label": ("fieldlabel",),
    "choices": ("choicescalculationsorsliderlabels", "selectchoicesorcalculations"),
    "note": ("fieldnote",),
    "validation": ("textvalidationtypeorshowslidernumber",),
    "minimum": ("textvalidationmin",),
    "maximum": ("textvalidationmax",),
    "identifier": ("identifier",),
    "branching": ("branchinglogicshowfieldonlyif", "branchinglogic"),
    "required": ("requiredfield",),
    "alignment": ("customalignment",),
    "question_number": ("questionnumbersurveysonly", "questionnumber"),
    "matrix_group": ("matrixgroupname",),
    "matrix_ranking": ("matrixranking",),
    "annotation": ("fieldannotation",),
}
NEEDED = ("name", "form", "type", "label")
SHOWN = {"name": "Variable / Field Name", "form": "Form Name", "type": "Field Type", "label": "Field Label"}


@dataclass
class Field:
    """One row of the data dictionary, its cells stripped; ``line`` is the CSV line the row starts on."""

    line: int
    name: str
    form: str
    type: str
    label: str
    section: str = ""
    choices: str = ""
    note: str = ""
    validation: str = ""
    minimum: str = ""
    maximum: str = ""
    identifier: str = ""
    branching: str = ""
    required: str = ""
    alignment: str = ""
    question_number: str = ""
    matrix_group: str = ""
    matrix_ranking: str = ""
    annotation: str = ""


@dataclass
class Dictionary:
    """The fields in file order, and the header's columns that are not REDCap's (read past, to be reported)."""

    fields: list[Field]
    ignored_columns: list[str]


def _normal(header: str) -> str:
    return re.sub(r"[^a-z]", "", header.lower())


def read_rows(path: str | Path, what: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """``(header, [(line, cells)])`` of a CSV file; :class:`ImportError_` (``file:line: message``) when unreadable.

    Blank rows are skipped; a cell over :data:`MAX_FIELD` characters, bytes that are not UTF-8 and a quote left
    open are refused with the line they occur on.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportError_(f"{path}: not readable: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise ImportError_(f"{path}: {len(raw)} bytes is too large for a {what} (at most {MAX_BYTES})")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ImportError_(f"{path}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x}); save the {what} as UTF-8") \
            from None
    if "\x00" in text:
        raise ImportError_(f"{path}:{text[:text.index(chr(0))].count(chr(10)) + 1}: NUL byte: not a CSV text file")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows, start = [], 1
    previous = csv.field_size_limit(MAX_FIELD)
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ImportError_(f"{path}:{start}: not valid CSV: {exc}") from None
    finally:
        csv.field_size_limit(previous)
    if not rows:
        raise ImportError_(f"{path}:1: empty: a {what} needs a header row")
    (_, header), *body = rows
    return [cell.strip() for cell in header], body


def _columns(path: Path, header: list[str], known: dict[str, tuple[str, ...]], needed: tuple[str, ...],
             what: str) -> dict[str, int]:
    """``{meaning: column index}`` from a header row; refuses a header missing a needed column."""
    spelled = {spelling: meaning for meaning, spellings in known.items() for spelling in spellings}
    found: dict[str, int] = {}
    for index, name in enumerate(header):
        meaning = spelled.get(_normal(name))
        if meaning is not None and meaning not in found:
            found[meaning] = index
    missing = [meaning for meaning in needed if meaning not in found]
    if missing:
        wanted = ", ".join(repr(SHOWN.get(m, m)) if what == "data dictionary" else repr(m) for m in missing)
        raise ImportError_(f"{path}:1: not a REDCap {what}: the header has no column {wanted} "
                           f"(it has {', '.join(repr(h) for h in header[:6]) or 'nothing'})")
    return found


def read_dictionary(path: str | Path) -> Dictionary:
    """The data dictionary's fields in file order; :class:`ImportError_` for a wrong header, a bad or duplicate
    field name, a row without form or type, or anything :func:`read_rows` refuses."""
    path = Path(path)
    header, body = read_rows(path, "data dictionary")
    columns = _columns(path, header, COLUMNS, NEEDED, "data dictionary")
    fields, seen = [], {}
    for line, cells in body:
        values = {meaning: (cells[index].strip() if index < len(cells) else "") for meaning, index in columns.items()}
        field = Field(line=line, **values)
        if not FIELD_NAME.match(field.name):
            raise ImportError_(f"{path}:{line}: field name {field.name[:40]!r} is not a REDCap variable name "
                               "(a lower-case letter, then lower-case letters, digits or _)")
        if field.name in seen:
            raise ImportError_(f"{path}:{line}: field {field.name!r} is defined twice (also line {seen[field.name]})")
        if not FIELD_NAME.match(field.form):
            raise ImportError_(f"{path}:{line}: field {field.name!r} has form name {field.form[:40]!r}, "
                               "not a REDCap instrument name")
        if not field.type:
            raise ImportError_(f"{path}:{line}: field {field.name!r} has no field type")
        field.type = field.type.lower()
        seen[field.name] = line
        fields.append(field)
    if not fields:
        raise ImportError_(f"{path}:2: the data dictionary defines no field")
    used = set(columns.values())
    return Dictionary(fields, [name or f"column {i + 1}" for i, name in enumerate(header) if i not in used])


def read_table(path: str | Path, what: str, known: dict[str, tuple[str, ...]], needed: tuple[str, ...]) \
        -> list[tuple[int, dict[str, str]]]:
    """``[(line, {meaning: cell})]`` of a REDCap events, mapping or repeating-instruments file."""
    path = Path(path)
    header, body = read_rows(path, what)
    columns = _columns(path, header, known, needed, what)
    return [(line, {meaning: (cells[index].strip() if index < len(cells) else "")
                    for meaning, index in columns.items()}) for line, cells in body]


EVENT_COLUMNS = {"unique_event_name": ("uniqueeventname",), "event_name": ("eventname",), "arm_num": ("armnum",),
                 "day_offset": ("dayoffset", "days"), "offset_min": ("offsetmin",), "offset_max": ("offsetmax",),
                 "custom_event_label": ("customeventlabel",)}
MAPPING_COLUMNS = {"unique_event_name": ("uniqueeventname",), "form": ("form", "formname", "instrument"),
                   "arm_num": ("armnum",)}
REPEATING_COLUMNS = {"event_name": ("eventname", "uniqueeventname"), "form": ("formname", "form", "instrument"),
                     "custom_label": ("customformlabel", "customlabel")}

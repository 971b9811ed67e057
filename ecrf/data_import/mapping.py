"""A CSV file's column map (YAML or JSON): which column is which item, event or subject, and unit factors.

    subject: Patient ID            # the subject column (default: --subject-column, else "subject")
    event: Visit                   # the event column, if the file has one
    site: Centre                   # the site of subjects new to the study
    events: {"Day 28": D28}        # the event column's values, when they are not our names
    columns:
      "IL-6 (pg/mL)": IL6          # a column renamed to an item
      "Hb (g/dL)": {item: HGB, factor: 10, unit: g/L}   # g/dL x 10 = g/L
      "Comment": null              # a column deliberately left out
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ecrf.data_import.submission import UnreadableFile


@dataclass(frozen=True)
class Column:
    """What a mapped column holds: an item (None: left out) and the factor its numbers are multiplied by."""

    item: str | None
    factor: float | None = None


@dataclass
class ColumnMap:
    """A file's column map; the empty map matches columns by item names alone."""

    subject: str | None = None
    event: str | None = None
    site: str | None = None
    events: dict[str, str] = field(default_factory=dict)
    columns: dict[str, Column] = field(default_factory=dict)


def _text(value, where: str, file: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise UnreadableFile(f"{file}: {where} must be a column name (text)")
    return value


def _column(heading: str, spec, file: str) -> Column:
    where = f"columns/{heading}"
    if spec is None or isinstance(spec, str):
        return Column(_text(spec, where, file))
    if not isinstance(spec, dict) or set(spec) - {"item", "factor", "unit"}:
        raise UnreadableFile(f"{file}: {where} must be an item name or {{item, factor, unit}}")
    factor = spec.get("factor")
    if factor is not None and (isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor == 0):
        raise UnreadableFile(f"{file}: {where}/factor must be a non-zero number")
    return Column(_text(spec.get("item"), f"{where}/item", file), float(factor) if factor is not None else None)


def read_map(path: str | Path | None) -> ColumnMap:
    """The column map in ``path`` (YAML, JSON being YAML too); the empty map when no path is given.

    :class:`UnreadableFile` naming the file (and line, for YAML syntax) when it is not a map.
    """
    if path is None:
        return ColumnMap()
    file = Path(path).name
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8-sig"))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        raise UnreadableFile(f"{file}:{mark.line + 1 if mark else 1}: not YAML: {error.problem}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise UnreadableFile(f"{file}: not readable: {error}") from None
    if document is None:
        return ColumnMap()
    if not isinstance(document, dict) or set(document) - {"subject", "event", "site", "events", "columns"}:
        raise UnreadableFile(f"{file}: a map holds subject, event, site, events and columns")
    events = document.get("events") or {}
    columns = document.get("columns") or {}
    if not isinstance(events, dict) or not all(isinstance(v, str) for v in events.values()):
        raise UnreadableFile(f"{file}: events must map the file's values to event OIDs")
    if not isinstance(columns, dict):
        raise UnreadableFile(f"{file}: columns must map column headings to items")
    return ColumnMap(subject=_text(document.get("subject"), "subject", file),
                     event=_text(document.get("event"), "event", file),
                     site=_text(document.get("site"), "site", file),
                     events={str(k): v for k, v in events.items()},
                     columns={str(k): _column(str(k), v, file) for k, v in columns.items()})

"""The import report: each construct of the source and what became of it.

Every construct an importer meets is recorded once with its outcome —
``carried`` (kept as it was), ``translated`` (kept in another form, e.g. a
condition as a CEL check), ``disabled`` (kept visible but not run: an
expression with no translation) or ``dropped`` (not in the draft) — and the
reason. Nothing the importer skips goes unrecorded. Shared by every metadata
importer (ODM now, REDCap dictionaries later).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

OUTCOMES = ("carried", "translated", "disabled", "dropped")


@dataclass
class Entry:
    kind: str
    oid: str
    name: str
    outcome: str
    reason: str = ""
    line: int | None = None

    def as_dict(self) -> dict:
        entry = {"kind": self.kind, "oid": self.oid, "name": self.name, "outcome": self.outcome}
        if self.reason:
            entry["reason"] = self.reason
        if self.line:
            entry["line"] = self.line
        return entry


@dataclass
class Report:
    """What an import did, construct by construct; ``as_dict`` is the ``--report`` JSON."""

    source: str
    format: str
    facts: dict = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)

    def add(self, kind: str, oid: str | None, name: str | None, outcome: str, reason: str = "",
            line: int | None = None) -> None:
        """Record one construct's outcome (one of :data:`OUTCOMES`)."""
        assert outcome in OUTCOMES, outcome
        self.entries.append(Entry(kind, oid or "", name or "", outcome, reason, line))

    def counts(self) -> dict[str, dict[str, int]]:
        """``{kind: {outcome: n}}`` over every entry."""
        counts: dict[str, Counter] = {}
        for entry in self.entries:
            counts.setdefault(entry.kind, Counter())[entry.outcome] += 1
        return {kind: dict(sorted(c.items())) for kind, c in sorted(counts.items())}

    def find(self, kind: str | None = None, outcome: str | None = None) -> list[Entry]:
        """The entries of that kind and/or outcome, in the order recorded."""
        return [
            e for e in self.entries if (kind is None or e.kind == kind) and (outcome is None or e.outcome == outcome)
        ]

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "format": self.format,
            **self.facts,
            "counts": self.counts(),
            "constructs": [entry.as_dict() for entry in self.entries],
        }

    def write(self, path: str | Path) -> None:
        """Write the report as JSON."""
        Path(path).write_text(json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    def summary(self) -> list[str]:
        """Terminal lines: totals per outcome, then every construct not carried as it was, with its reason."""
        totals = Counter(entry.outcome for entry in self.entries)
        lines = [", ".join(f"{totals[o]} {o}" for o in OUTCOMES) + f" ({len(self.entries)} constructs)"]
        for entry in self.entries:
            if entry.outcome != "carried":
                where = f" (line {entry.line})" if entry.line else ""
                lines.append(f"  {entry.outcome}: {entry.kind} {entry.oid}{where}: {entry.reason}")
        return lines

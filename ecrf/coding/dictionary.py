"""The coding dictionaries shipped as data (ecrf/coding/data/): their terms, codes, classes, source and version."""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data"
# The dictionary a form item names with ``"x-ecrf-dictionary"``, and the file holding it.
FILES = {"CTCAE": "ctcae-5.0.csv"}
# Concomitant medications: the WHO ATC/DDD index may not be redistributed (WHO Collaborating Centre, Oslo), so
# none is shipped; a coder reviews each medication and records its standard (generic) name as a verbatim coding.
VERBATIM = "Verbatim"
NAMES = (*FILES, VERBATIM)


@dataclass(frozen=True)
class Term:
    code: str  # the MedDRA lowest level term code CTCAE publishes with the term
    term: str
    soc: str  # the MedDRA system organ class
    checked: str  # how the row was checked (see the file's header)


@dataclass(frozen=True)
class Dictionary:
    name: str
    version: str
    meddra_version: str
    source: str
    terms: tuple[Term, ...]

    def find(self, text: str | None) -> Term | None:
        """The term whose name is ``text`` (case and surrounding spaces ignored), else None."""
        if not text:
            return None
        return self._by_name().get(text.strip().casefold())

    def by_code(self, code: str | None) -> Term | None:
        """The term with this MedDRA code, else None."""
        return {t.code: t for t in self.terms}.get((code or "").strip())

    def search(self, text: str, limit: int = 20) -> list[Term]:
        """Terms whose name or class contains ``text`` (case ignored), names starting with it first."""
        needle = text.strip().casefold()
        hits = [t for t in self.terms if needle in t.term.casefold() or needle in t.soc.casefold()]
        return sorted(hits, key=lambda t: (not t.term.casefold().startswith(needle), t.term))[:limit]

    @functools.cache  # noqa: B019 - the dictionaries are loaded once per process and never freed
    def _by_name(self) -> dict[str, Term]:
        return {t.term.casefold(): t for t in self.terms}


def parse(text: str, name: str) -> Dictionary:
    """A dictionary from its CSV text: ``# key: value`` header lines, then ``meddra_code,term,soc,checked`` rows."""
    header: dict[str, str] = {}
    lines = text.splitlines()
    body = []
    last = None
    for line in lines:
        if not line.startswith("#"):
            body.append(line)
        elif line.startswith("#   ") and last:  # a header value continued on the next line
            header[last] += " " + line[1:].strip()
        else:
            key, _, value = line[1:].partition(":")
            last = key.strip()
            header[last] = value.strip()
    rows = csv.DictReader(body)
    terms = tuple(Term(r["meddra_code"].strip(), r["term"].strip(), r["soc"].strip(), r["checked"].strip())
                  for r in rows)
    return Dictionary(header.get("dictionary", name), header.get("version", ""), header.get("meddra_version", ""),
                      header.get("source", ""), terms)


@functools.cache
def dictionary(name: str = "CTCAE") -> Dictionary:
    """The shipped dictionary called ``name`` (KeyError for an unknown one); ``Verbatim`` has no terms."""
    if name == VERBATIM:
        return Dictionary(VERBATIM, "1", "", "none shipped: the WHO ATC/DDD index may not be redistributed; "
                          "a coder records the standard name", ())
    return parse((DATA / FILES[name]).read_text(encoding="utf-8"), name)

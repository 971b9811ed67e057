"""Bring late translations into the zh catalog and compile it: ``python -m ecrf.i18n_sync``.

Engineers add new interface words in blocks at the end of ``WORDS["zh"]`` in ``ecrf/i18n.py``; after a merge
this moves each of them into ``messages.po`` (a catalog entry already translated wins) and writes the ``.mo``
the app reads. ``--check`` changes nothing and fails when the ``.mo`` would differ, as the tests do.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from ecrf.i18n import WORDS

CATALOGS = Path(__file__).parent / "translations"


def po_path(lang: str) -> Path:
    """Where the language's editable catalog lives."""
    return CATALOGS / lang / "LC_MESSAGES" / "messages.po"


def load_catalog(lang: str) -> Catalog:
    """The language's catalog as Babel reads it (an empty one when none exists yet)."""
    path = po_path(lang)
    if not path.exists():
        return Catalog(locale=lang, project="ecrf")
    with path.open("rb") as handle:
        return read_po(handle, locale=lang)


def merge_words(catalog: Catalog, words: dict[str, str]) -> list[str]:
    """Add each word the catalog lacks (or holds untranslated); returns the ids added, in order."""
    added = []
    for msgid, text in words.items():
        present = catalog.get(msgid)
        if present is None or not present.string:
            catalog.add(msgid, text)
            added.append(msgid)
    return added


def compiled(catalog: Catalog) -> bytes:
    """The ``.mo`` bytes of a catalog, fuzzy entries left out."""
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    return buffer.getvalue()


def save_catalog(lang: str, catalog: Catalog) -> None:
    """Write the ``.po`` (sorted, no line numbers: small diffs) and its compiled ``.mo``."""
    path = po_path(lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, sort_output=True, omit_header=False, include_lineno=False, width=120)
    path.with_suffix(".mo").write_bytes(compiled(load_catalog(lang)))


def main(argv: list[str] | None = None) -> int:
    """Sync every language of ``WORDS`` into its catalog; with ``--check`` only report a stale ``.mo``."""
    args = sys.argv[1:] if argv is None else argv
    status = 0
    for lang, words in WORDS.items():
        catalog = load_catalog(lang)
        added = merge_words(catalog, words)
        mo = po_path(lang).with_suffix(".mo")
        if "--check" in args:
            if added or not mo.exists() or mo.read_bytes() != compiled(catalog):
                print(f"{mo}: out of date; run python -m ecrf.i18n_sync", file=sys.stderr)
                status = 1
            continue
        save_catalog(lang, catalog)
        print(f"{po_path(lang)}: {len(added)} added, {len(catalog)} messages")
    return status


if __name__ == "__main__":
    sys.exit(main())

"""Long lists shown a page at a time: a study's queries run to thousands."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PER_PAGE = 100


@dataclass
class Page:
    """One page of a list: its items, which page it is (from 1), how many pages and items there are."""

    items: Sequence
    number: int
    pages: int
    total: int
    first: int  # the position of its first item in the whole list, from 1 (0 when the list is empty)

    @property
    def last(self) -> int:
        return self.first + len(self.items) - 1 if self.items else 0


def page_of(items: Sequence, number: int | None, per_page: int = PER_PAGE) -> Page:
    """Page ``number`` of ``items`` (a missing, nonsensical or too large number gives the nearest page)."""
    pages = max(1, -(-len(items) // per_page))
    number = min(max(number or 1, 1), pages)
    start = (number - 1) * per_page
    chunk = items[start:start + per_page]
    return Page(chunk, number, pages, len(items), start + 1 if chunk else 0)

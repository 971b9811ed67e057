"""Reading ahead: the next subject's documents read on a worker thread while the current one is written."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
_END = object()


def read_ahead(items: Iterable[T], read: Callable[[T], R]) -> Iterator[tuple[T, R]]:
    """``(item, read(item))`` in order, reading the next item while the caller works on this one.

    Reading (database round trips) and writing (building and serialising
    the output) then overlap; one item beyond the current one is held, so
    memory stays that of two items. ``items`` is iterated and ``read`` runs
    on one worker thread only; what they raise is raised here.
    """
    iterator = iter(items)

    def fetch():
        item = next(iterator, _END)
        return item, (None if item is _END else read(item))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-read") as pool:
        pending = pool.submit(fetch)
        while True:
            item, value = pending.result()
            if item is _END:
                return
            pending = pool.submit(fetch)
            yield item, value

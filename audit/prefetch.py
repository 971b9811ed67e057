"""Reading a collection while its documents are checked: a reader thread ahead of the consumer.

Verification is a pipeline: while the main thread decodes and hashes one
batch, a reader thread waits on the server for the next (socket reads release
the GIL, and the server runs in its own process). Batches travel as raw BSON
bytes and are decoded in one C call each: no Python object per document until
the consumer wants its values.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import bson
import pymongo
from bson.binary import UuidRepresentation

# Times decoded naive (they are UTC): canonical_json writes them exactly as it writes aware UTC ones, and
# both sides of every comparison are read with these options.
PLAIN_CODEC: bson.CodecOptions[dict[str, Any]] = bson.CodecOptions(tz_aware=False,
                                                                   uuid_representation=UuidRepresentation.STANDARD)
BATCH = 1000
DEPTH = 4
_END = object()


def scan(collection: Any, filter: dict, sort: list, projection: dict | None = None, *,
         hint: list | None = None) -> Iterator[dict]:
    """Every document matching ``filter`` in ``sort`` order, decoded with :data:`PLAIN_CODEC`, read ahead.

    On a real server the reading runs in a thread over raw batches; on
    anything else (mongomock) it is a plain cursor. The reading starts at
    the call (see :func:`read_ahead`). ``hint`` names the index
    whose order is ``sort`` (the server then walks it instead of sorting);
    the order, and so every answer, is the same with or without it.
    """
    if not isinstance(collection, pymongo.collection.Collection):
        return iter(collection.find(filter, projection, sort=sort))
    batches = collection.find_raw_batches(filter, projection, sort=sort, batch_size=BATCH, hint=hint)
    return _decoded(read_ahead(batches))


def _decoded(batches: Iterator[bytes]) -> Iterator[dict]:
    for batch in batches:
        yield from bson.decode_all(batch, PLAIN_CODEC)


def plain(collection: Any) -> Any:
    """``collection`` reading with :data:`PLAIN_CODEC` (mongomock: as it is)."""
    if not isinstance(collection, pymongo.collection.Collection):
        return collection
    return collection.with_options(codec_options=PLAIN_CODEC)


def read_ahead(items: Iterable[Any], depth: int = DEPTH) -> Iterator[Any]:
    """The items of ``items``, produced by a daemon thread up to ``depth`` ahead of the consumer.

    The thread starts when this is called, not when the first item is
    wanted: the server can answer while the caller does something else. An
    exception in the producer is raised in the consumer; a consumer that
    stops early stops the producer (after the item it is reading) and closes
    ``items`` if it can be closed.
    """
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    break
                handoff.put((item, None))
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which raises it
            handoff.put((_END, error))
            return
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        handoff.put((_END, None))

    threading.Thread(target=produce, name="audit-read-ahead", daemon=True).start()
    return _consume(handoff, stop)


def _consume(handoff: queue.Queue, stop: threading.Event) -> Iterator[Any]:
    item = None
    try:
        while True:
            item, error = handoff.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        while item is not _END:  # free the producer if it waits on a full queue; it ends after one more item
            item, _ = handoff.get()

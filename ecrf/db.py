"""The database connection: MongoDB from ``ECRF_MONGODB_URI``, or the embedded server.

``mongomock://`` selects mongomock (fast unit tests only).
"""

from __future__ import annotations

import atexit

import mongoengine
import pymongo
from mongoengine.connection import get_db

from ecrf.config import Settings
from ecrf.embedded import EmbeddedServer
from ecrf.lazy import lazy_module

# A test dependency (1 s to import): loaded only when a mongomock:// URI is connected.
mongomock = lazy_module("mongomock")

_embedded: EmbeddedServer | None = None


def database_uri(settings: Settings) -> str:
    """The URI to connect to; starts (or attaches to) the embedded server when none is set.

    The embedded server fsyncs its journal on every commit when ``settings.write_journal`` holds.
    """
    global _embedded
    if settings.mongodb_uri:
        return settings.mongodb_uri
    if _embedded is None or _embedded.uri is None:
        _embedded = EmbeddedServer(settings.resolved_instance_path(), sync_on_commit=settings.write_journal)
        _embedded.start()
        atexit.register(stop_embedded)
    return _embedded.uri


def embedded_server() -> EmbeddedServer | None:
    """The embedded server this process started or attached to, if any."""
    return _embedded


def write_concern(settings: Settings) -> dict:
    """The client options that make every write wait until it is durable.

    ``w`` is ``ECRF_WRITE_CONCERN`` (``majority`` by default, or a number of
    nodes) and ``journal`` is ``ECRF_WRITE_JOURNAL``: a write is acknowledged
    only once that many members have it in their on-disk journal.
    """
    w = settings.write_concern.strip()
    return {"w": int(w) if w.isdigit() else w, "journal": settings.write_journal}


def stop_embedded() -> None:
    """Stop the embedded server if this process started it."""
    global _embedded
    if _embedded is not None:
        _embedded.stop()
        _embedded = None


def connect(settings: Settings) -> pymongo.database.Database:
    """Connect mongoengine's default alias and return the pymongo database."""
    mongoengine.disconnect()
    uri = database_uri(settings)
    if uri.startswith("mongomock://"):
        mongoengine.connect(settings.mongodb_db, host="mongodb://localhost", mongo_client_class=mongomock.MongoClient,
                            uuidRepresentation="standard")
    else:
        mongoengine.connect(
            settings.mongodb_db,
            host=uri,
            serverSelectionTimeoutMS=settings.server_selection_timeout_ms,
            tz_aware=True,
            uuidRepresentation="standard",
            **write_concern(settings),
        )
    return get_db()


def disconnect() -> None:
    """Close the connection (the embedded server, if any, keeps running)."""
    mongoengine.disconnect()


def database() -> pymongo.database.Database:
    """The connected pymongo database."""
    return get_db()


def lookup(document, local: str, foreign: str, into: str) -> dict:
    """An aggregation stage that puts the ``document`` class's documents whose ``foreign`` field equals
    ``local`` (or one of its values) into ``into``: an equality on an indexed key, which every server plans
    as an index lookup (a ``pipeline`` lookup the embedded server runs as a scan)."""
    return {"$lookup": {"from": document._get_collection_name(), "localField": local, "foreignField": foreign,
                        "as": into}}


def ping() -> bool:
    """True when the database answers."""
    try:
        database().client.admin.command("ping")
        return True
    except pymongo.errors.PyMongoError:
        return False

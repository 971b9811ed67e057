"""Source documents: files (PDF, images) attached to a record or one of its items, kept in GridFS.

Each attachment has its own audit stream, ``attachment/<id>``, and a projection in ``attachments``:

    attachment_added (file name, sniffed type, size, SHA-256, GridFS id, record and item)
    attachment_removed (reason): the file stays in GridFS, reachable from the trail; only the listing hides it

The order of a save makes an acknowledged attachment durable and never one without its trail: the bytes go to
GridFS first, then the event is appended, then the projection written. A crash after the upload leaves an
unreferenced file (never shown); a crash after the event leaves a projection that :func:`catch_up` (run when
serving starts) and every read of the stream restore. ``ecrf audit verify`` compares each projection with its
stream and each stored file's SHA-256 with its event (see :func:`attachment_problems`).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gridfs
from bson import ObjectId
from mongoengine import BooleanField, DateTimeField, Document, IntField, StringField

from audit import StaleVersion, StreamProblem
from ecrf.db import database
from ecrf.errors import Conflict, FieldError, Invalid, Locked, NotFound, PayloadTooLarge
from ecrf.field_differences import field_differences
from ecrf.file_types import KINDS, Refused, download_name, sniff
from ecrf.locks import container_state
from ecrf.pointers import item_pointer_fault
from ecrf.records.document import current
from ecrf.roles import Action, require
from ecrf.studies import StudyRuntime
from ecrf.subjects import get_subject
from ecrf.text import MAX_REASON, check_text
from ecrf.trail import audit_store, record_stream

BUCKET = "attachments"
STREAM_PREFIX = "attachment/"
DEFAULT_MAX_BYTES = 20_000_000
MAX_FILENAME = 200
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


class Attachment(Document):
    attachment_id = StringField(primary_key=True)
    study = StringField(required=True)
    subject = StringField(required=True)
    site = StringField(required=True)
    event = StringField(required=True)
    form = StringField(required=True)
    item = StringField()  # a JSON pointer, or None for the whole record
    filename = StringField(required=True)
    media_type = StringField(required=True)
    size = IntField(required=True)
    sha256 = StringField(required=True)
    file_id = StringField(required=True)  # the GridFS file
    added_by = StringField(required=True)
    added_at = DateTimeField(required=True)
    removed = BooleanField(default=False)
    removed_by = StringField()
    removed_at = DateTimeField()
    removal_reason = StringField()
    version = IntField(default=0)
    meta = {"collection": "attachments", "indexes": [("study", "subject", "event", "form")]}

    @property
    def label(self) -> str:
        """The kind of file in words (``PDF document``)."""
        return KINDS[self.media_type].label


@dataclass
class Download:
    """What a download sends: the stored file's bytes, in chunks, with its name and sniffed type."""

    attachment: Attachment
    name: str
    chunks: Iterator[bytes]


def _bucket() -> gridfs.GridFSBucket:
    return gridfs.GridFSBucket(database(), bucket_name=BUCKET)


def _stream(attachment_id: str) -> str:
    return f"{STREAM_PREFIX}{attachment_id}"


def clean_filename(filename: Any) -> str:
    """The uploaded name without folders, control or reserved characters (NFC, at most 200 characters).

    :class:`Invalid` naming ``/file`` when nothing of it is left.
    """
    name = unicodedata.normalize("NFC", filename if isinstance(filename, str) else "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("_", name).strip(" ._")
    if not name:
        raise Invalid("the file needs a name", [FieldError("/file", "the file has no usable name")])
    if len(name) > MAX_FILENAME:
        stem, dot, extension = name.rpartition(".")
        name = (stem[:MAX_FILENAME - len(extension) - 1] + dot + extension) if dot and len(extension) < 10 \
            else name[:MAX_FILENAME]
    return name


def _refuse_closed(study: StudyRuntime, subject: str, event: str, form: str) -> None:
    """423 while the record, its subject or the study is locked or frozen: source documents are data."""
    held = container_state(study.oid, subject)
    if held:
        raise Locked(f"subject {subject} is {held}; no file can be attached or removed")
    stored = current(record_stream(study.oid, subject, event, form))
    if stored and (stored.get("locked") or stored.get("frozen")):
        state = "locked" if stored.get("locked") else "frozen"
        raise Locked(f"{form} at {event} is {state}; no file can be attached or removed")


def attachable(study: StudyRuntime, user, subject_id: str, event: str, form: str):
    """The subject and compiled form when the user may attach files to that record; else 403 or 404.

    What a caller checks before it even reads an upload, so that a refused caller learns nothing from how its
    body is judged.
    """
    require(user, Action.ENTER_DATA)
    subject = get_subject(study, user, subject_id)
    _, compiled = study.form_in_event(event, form)
    return subject, compiled


def attach(study: StudyRuntime, user, subject_id: str, event: str, form: str, item: str | None, filename: Any,
           data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Attachment:
    """Store ``data`` as a source document of one record (or one item of it) and audit it with its SHA-256.

    Refused before anything is stored: 403 for a role that does not enter data, 404 for a subject the user
    cannot see or a form not in the event, 413 over ``max_bytes``, 422 for an unknown item or a file that
    is not what an attachment may be (see :mod:`ecrf.file_types`), 423 for a locked or frozen record.
    """
    subject, compiled = attachable(study, user, subject_id, event, form)
    if item and (fault := item_pointer_fault(compiled, item)):
        raise Invalid("unknown item", [FieldError("/item", fault)])
    name = clean_filename(filename)
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"the file is {len(data):,} bytes; at most {max_bytes:,} can be attached")
    try:
        kind = sniff(data, name)
    except Refused as refused:
        raise Invalid(f"{name}: {refused}", [FieldError("/file", str(refused))]) from None
    _refuse_closed(study, subject.subject_id, event, form)

    attachment_id = str(ObjectId())
    digest = hashlib.sha256(data).hexdigest()
    file_id = _bucket().upload_from_stream(name, data, metadata={"sha256": digest, "attachment": attachment_id})
    fields = {"filename": name, "media_type": kind.media_type, "size": len(data), "sha256": digest,
              "file_id": str(file_id), "item": item or None, "removed": False}
    try:
        event_doc = audit_store().append(
            _stream(attachment_id), 0, actor=user.username, action="attachment_added",
            changes=[{"path": f"/{key}", "old": None, "new": value} for key, value in fields.items()],
            state={"removed": False},
            context={"study": study.oid, "subject": subject.subject_id, "site": subject.site, "event": event,
                     "form": form, "item": item or None, "attachment": attachment_id},
        )
    except BaseException:
        _bucket().delete(file_id)  # never acknowledged, never in the trail: nothing refers to it
        raise
    return _project([event_doc])


def _project(events: list[dict]) -> Attachment:
    """Write the projection of a stream's events (idempotent: the same events give the same document)."""
    fields = attachment_fields(events)
    attachment = Attachment(**fields)
    attachment.save()
    return attachment


def attachment_fields(events: list[dict]) -> dict:
    """The fields of an attachment document that its stream decides (as :func:`attach` and :func:`remove` write)."""
    first, last = events[0], events[-1]
    context = first.get("context") or {}
    added = {change["path"][1:]: change["new"] for change in first.get("changes") or []}
    fields: dict[str, Any] = {
        "attachment_id": context.get("attachment"),
        **{key: context.get(key) for key in ("study", "subject", "site", "event", "form")},
        **{key: added.get(key) for key in ("item", "filename", "media_type", "size", "sha256", "file_id")},
        "added_by": first.get("actor"), "added_at": first.get("at"),
        "removed": False, "removed_by": None, "removed_at": None, "removal_reason": None,
        "version": last.get("seq"),
    }
    for event in events[1:]:
        if event.get("action") == "attachment_removed":
            fields.update(removed=True, removed_by=event.get("actor"), removed_at=event.get("at"),
                          removal_reason=event.get("reason"))
    return fields


def _caught_up(attachment_id: str, stored: dict | None) -> Attachment | None:
    """The attachment with every event of its stream projected (None when it has no stream)."""
    events = list(audit_store().events(_stream(attachment_id)))
    if not events:
        return None
    if stored is not None and stored.get("version") == events[-1]["seq"]:
        return Attachment._from_son(stored)
    return _project(events)


def get_attachment(study: StudyRuntime, user, subject_id: str, attachment_id: str) -> Attachment:
    """The attachment of the subject if the user may see the subject's data; 404 otherwise."""
    require(user, Action.VIEW_DATA)
    subject = get_subject(study, user, subject_id)
    if not isinstance(attachment_id, str) or not ObjectId.is_valid(attachment_id):
        raise NotFound(f"no attachment {attachment_id!r}")
    stored = Attachment._get_collection().find_one({"_id": attachment_id})
    found = _caught_up(attachment_id, stored)
    if found is None or found.study != study.oid or found.subject != subject.subject_id:
        raise NotFound(f"no attachment {attachment_id!r}")
    return found


def attachments_of(study: StudyRuntime, user, subject_id: str, event: str, form: str) -> list[Attachment]:
    """The record's attachments, oldest first, removed ones included (the caller shows them apart)."""
    require(user, Action.VIEW_DATA)
    subject = get_subject(study, user, subject_id)
    return list(Attachment.objects(study=study.oid, subject=subject.subject_id, event=event, form=form)
                .order_by("added_at", "attachment_id"))


def remove(study: StudyRuntime, user, subject_id: str, attachment_id: str, reason: Any) -> Attachment:
    """Take an attachment off its record, with a reason; the file itself is kept, reachable from the trail.

    409 when it was removed already; 422 without a reason; 423 on a locked or frozen record.
    """
    require(user, Action.ENTER_DATA)
    if not isinstance(reason, str) or not reason.strip():
        raise Invalid("a reason is required", [FieldError("/reason", "required")])
    check_text(reason, "/reason", multiline=True, max_length=MAX_REASON, label="Reason")
    attachment = get_attachment(study, user, subject_id, attachment_id)
    if attachment.removed:
        raise Conflict(f"{attachment.filename} was removed already")
    _refuse_closed(study, attachment.subject, attachment.event, attachment.form)
    try:
        event_doc = audit_store().append(
            _stream(attachment.attachment_id), attachment.version, actor=user.username, action="attachment_removed",
            changes=[{"path": "/removed", "old": False, "new": True}], reason=reason.strip(),
            state={"removed": True},
            context={"study": attachment.study, "subject": attachment.subject, "site": attachment.site,
                     "event": attachment.event, "form": attachment.form, "item": attachment.item,
                     "attachment": attachment.attachment_id},
        )
    except StaleVersion:
        raise Conflict(f"{attachment.filename} changed while this was tried; reload and try again") from None
    return _project([*audit_store().events(_stream(attachment.attachment_id), after=0)[:event_doc["seq"]]])


def download(study: StudyRuntime, user, subject_id: str, attachment_id: str) -> Download:
    """The attachment's stored bytes (removed ones too: the trail refers to them), checked against its SHA-256.

    The check runs as the chunks are read: a stored file that no longer matches its audited hash raises
    :class:`Conflict` at its end, so a caller that reads it all before sending never hands over altered bytes.
    """
    attachment = get_attachment(study, user, subject_id, attachment_id)
    stream = _bucket().open_download_stream(ObjectId(attachment.file_id))
    return Download(attachment, download_name(attachment.filename, KINDS[attachment.media_type]),
                    _checked_chunks(stream, attachment))


def _checked_chunks(stream, attachment: Attachment) -> Iterator[bytes]:
    digest = hashlib.sha256()
    while chunk := stream.readchunk():
        digest.update(chunk)
        yield chunk
    if digest.hexdigest() != attachment.sha256:
        raise Conflict(f"{attachment.filename}: the stored file no longer matches the SHA-256 audited when it was "
                       "attached (it was altered outside the application); run ecrf audit verify")


def stored_digest(file_id: str) -> str | None:
    """The SHA-256 of the file as GridFS holds it now (None when it is gone)."""
    try:
        stream = _bucket().open_download_stream(ObjectId(file_id))
    except (gridfs.errors.NoFile, TypeError, ValueError):
        return None
    digest = hashlib.sha256()
    while chunk := stream.readchunk():
        digest.update(chunk)
    return digest.hexdigest()


def attachment_problems(stream: str, events: list[dict], stored: dict | None) -> list[StreamProblem]:
    """What differs between an attachment's stream, its projection and its stored file."""
    expected = attachment_fields(events)
    if stored is None:
        return [StreamProblem(stream, "stream has no projection in attachments")]
    expected.pop("attachment_id")
    problems = field_differences(stream, "attachments", expected, stored)
    digest = stored_digest(expected["file_id"])
    if digest is None:
        problems.append(StreamProblem(stream, "the attached file is missing from GridFS"))
    elif digest != expected["sha256"]:
        problems.append(StreamProblem(stream, "the attached file's SHA-256 differs from its audit event"))
    return problems


def catch_up() -> list[str]:
    """Project every attachment stream whose projection lags it or is missing; returns the streams."""
    heads = audit_store().newest_seqs(STREAM_PREFIX)
    versions = {document["_id"]: document.get("version", 0)
                for document in Attachment._get_collection().find({}, {"version": 1})}
    lagging = sorted(stream for stream, seq in heads.items() if versions.get(stream[len(STREAM_PREFIX):], 0) < seq)
    for stream in lagging:
        _project(list(audit_store().events(stream)))
    return lagging

"""A source document as the API shows it."""

from __future__ import annotations

from ecrf.attachments import Attachment
from ecrf.times import iso


def attachment_json(attachment: Attachment) -> dict:
    """The attachment's record and item, file name, sniffed type, size, SHA-256, and who added or removed it when."""
    return {
        "id": attachment.attachment_id, "subject": attachment.subject, "site": attachment.site,
        "event": attachment.event, "form": attachment.form, "item": attachment.item,
        "filename": attachment.filename, "media_type": attachment.media_type, "size": attachment.size,
        "sha256": attachment.sha256, "added_by": attachment.added_by, "added_at": iso(attachment.added_at),
        "removed": attachment.removed, "removed_by": attachment.removed_by, "removed_at": iso(attachment.removed_at),
        "removal_reason": attachment.removal_reason,
    }

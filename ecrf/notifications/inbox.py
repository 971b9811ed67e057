"""Each user's inbox: notifications delivered once per fact and recipient, listed, counted and marked read.

An inbox item is derived from the audit trail (see :mod:`ecrf.notifications.notifier`); its ``_id`` is the
fact's key and the recipient, so that a notifier running twice, or two at once, delivers it once. Marking
items read is a fact of its own, appended to the user's ``notifications/<username>`` stream.
"""

from __future__ import annotations

import datetime as dt

from mongoengine import BooleanField, DateTimeField, DictField, Document, IntField, StringField
from pymongo.errors import BulkWriteError

from audit import utc_now
from ecrf.errors import FieldError, Invalid, NotFound
from ecrf.notifications.kinds import Notice
from ecrf.paging import Page, page_of
from ecrf.trail import record_admin_event

INBOX, EMAIL, DIGEST = "inbox", "email", "digest"
DELIVERIES = (INBOX, EMAIL, DIGEST)
# Where an e-mail stands: none for an inbox-only item; pending until sent (or failed after its attempts).
MAIL_PENDING, MAIL_SENDING, MAIL_SENT, MAIL_FAILED = "pending", "sending", "sent", "failed"
MAX_IDS = 500


def preferences_stream(username: str) -> str:
    """The audit stream of a user's notification settings and read marks."""
    return f"notifications/{username}"


class Notification(Document):
    key = StringField(primary_key=True)  # the notice's key and the recipient: delivered once
    user = StringField(required=True)
    kind = StringField(required=True)
    study = StringField()
    site = StringField()
    subject = StringField()
    event = StringField()
    form = StringField()
    item = StringField()
    actor = StringField()
    detail = DictField()
    at = DateTimeField()  # when it happened
    created_at = DateTimeField()
    read = BooleanField(default=False)
    read_at = DateTimeField()
    delivery = StringField(choices=DELIVERIES, default=INBOX)
    mail_state = StringField()
    mail_attempts = IntField(default=0)
    mail_next_try = DateTimeField()
    mail_claim = StringField()
    mail_sent_at = DateTimeField()
    meta = {
        "collection": "notifications",
        "indexes": [("user", "read", "-at"), ("user", "-at"), ("delivery", "mail_state", "mail_next_try"),
                    ("mail_claim",)],
    }


def deliver(notice: Notice, recipients: list[tuple[str, str]], now: dt.datetime | None = None) -> int:
    """Put ``notice`` into each recipient's inbox, ``recipients`` as ``(username, delivery)``; returns how many
    were new (an item already delivered is left as it is)."""
    now = now or utc_now()
    documents = [{
        "_id": f"{notice.key}>{username}", "user": username, "kind": notice.kind, "study": notice.study,
        "site": notice.site, "subject": notice.subject, "event": notice.event, "form": notice.form,
        "item": notice.item, "actor": notice.actor, "detail": notice.detail or {}, "at": notice.at or now,
        "created_at": now, "read": False, "delivery": delivery, "mail_attempts": 0,
        **({"mail_state": MAIL_PENDING, "mail_next_try": now} if delivery != INBOX else {}),
    } for username, delivery in recipients]
    if not documents:
        return 0
    try:
        return len(Notification._get_collection().insert_many(documents, ordered=False).inserted_ids)
    except BulkWriteError as error:  # the duplicates were delivered before: by an earlier or a parallel run
        if any(e.get("code") != 11000 for e in error.details.get("writeErrors", [])):
            raise
        return error.details.get("nInserted", 0)


def unread_count(username: str) -> int:
    """How many of the user's notifications are unread."""
    return Notification.objects(user=username, read=False).count()


def inbox_page(username: str, page: int | None = None, *, unread_only: bool = False) -> Page:
    """The user's notifications, newest first, one page of them."""
    query = Notification.objects(user=username, **({"read": False} if unread_only else {})).order_by("-at", "-pk")
    return page_of(query, page)


def get_notification(username: str, key: str) -> Notification:
    """One of the user's notifications.

    :raise 404: when there is none by that key for this user (another's notification is not shown).
    """
    found = Notification.objects(key=key, user=username).first()
    if found is None:
        raise NotFound("no such notification")
    return found


def mark_read(username: str, keys: list | None = None, *, everything: bool = False) -> int:
    """Mark the named notifications (or with ``everything`` all of them) read; returns how many changed.

    Only the user's own are touched; the marking is appended to the user's notification stream.
    :raise 422: when ``keys`` is not a list of strings (``/ids``).
    """
    if not everything and (not isinstance(keys, list) or not keys or len(keys) > MAX_IDS
                           or not all(isinstance(k, str) for k in keys)):
        raise Invalid("ids must be a list of notification ids",
                      [FieldError("/ids", f"a list of 1 to {MAX_IDS} notification ids")])
    selector = {"user": username, "read": False, **({} if everything else {"_id": {"$in": keys}})}
    collection = Notification._get_collection()
    changed = [d["_id"] for d in collection.find(selector, {"_id": 1})]
    if not changed:
        return 0
    record_admin_event(preferences_stream(username), username, "notifications_read",
                       {"ids": changed} if not everything else {"all": True, "count": len(changed)})
    collection.update_many({"_id": {"$in": changed}}, {"$set": {"read": True, "read_at": utc_now()}})
    return len(changed)

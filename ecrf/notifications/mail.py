"""E-mail of notifications through SMTP (the standard library's smtplib): at once, or as the daily digest.

An e-mail names the kind of notice, the study, the subject id and a link to the item in the inbox; nothing
else of the data. Sending never happens inside a save: the notifier leaves items ``pending`` and a send claims
each one before sending (two senders never send the same item), retries a failure later and gives up after
``MAX_ATTEMPTS`` (the item stays in the inbox either way).
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import uuid
from collections import defaultdict
from email.message import EmailMessage

from audit import utc_now
from ecrf.config import Settings
from ecrf.notifications.inbox import DIGEST, EMAIL, MAIL_FAILED, MAIL_PENDING, MAIL_SENDING, MAIL_SENT, Notification
from ecrf.notifications.kinds import LABELS
from ecrf.users import User

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
# A claim older than this belongs to a sender that died: the item may be claimed again.
CLAIM_EXPIRES = dt.timedelta(minutes=10)


def retry_delay(attempts: int) -> dt.timedelta:
    """How long to wait before the next try after ``attempts`` failed ones: 1, 2, 4, 8 ... minutes."""
    return dt.timedelta(minutes=2 ** max(attempts - 1, 0))


def link(settings: Settings, item: dict) -> str:
    """The address of the item in the inbox (which leads on to the record it is about)."""
    return f"{settings.public_url.rstrip('/')}/notifications/{item['_id']}"


def _line(settings: Settings, item: dict) -> str:
    # Kind, study and subject id only: an e-mail leaves the system, so it carries no clinical value.
    return f"{LABELS[item['kind']]}: study {item.get('study')}, subject {item.get('subject')}\n{link(settings, item)}"


def immediate_message(settings: Settings, item: dict, to: str) -> EmailMessage:
    """The e-mail of one notification."""
    message = EmailMessage()
    message["Subject"] = f"[eCRF] {LABELS[item['kind']]}: subject {item.get('subject')}"
    message["From"], message["To"] = settings.smtp_from, to
    message.set_content(f"{_line(settings, item)}\n\nSign in to see it. This message holds no clinical data.\n",
                        cte="8bit")
    return message


def digest_message(settings: Settings, items: list[dict], to: str, day: dt.date) -> EmailMessage:
    """The digest e-mail of a user's items: grouped by kind, each with its subject id and link."""
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for item in sorted(items, key=lambda i: (i["at"], i["_id"])):
        by_kind[item["kind"]].append(item)
    parts = [f"{len(items)} notification(s) up to {day.isoformat()}:"]
    for kind in [k for k in LABELS if k in by_kind]:
        parts.append(f"\n{LABELS[kind]} ({len(by_kind[kind])})")
        parts += [f"- study {i.get('study')}, subject {i.get('subject')}: {link(settings, i)}" for i in by_kind[kind]]
    message = EmailMessage()
    message["Subject"] = f"[eCRF] Daily digest {day.isoformat()}: {len(items)} notification(s)"
    message["From"], message["To"] = settings.smtp_from, to
    message.set_content("\n".join(parts) + "\n\nSign in to see them. This message holds no clinical data.\n",
                        cte="8bit")
    return message


def send(settings: Settings, message: EmailMessage) -> None:
    """Hand one message to the configured SMTP server (STARTTLS and login when configured)."""
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_s) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message)


def _claim(selector: dict, now: dt.datetime) -> str:
    """Mark the pending (or abandoned) items ``selector`` names as being sent by this sender; the claim id."""
    claim = uuid.uuid4().hex
    Notification._get_collection().update_many(
        {**selector, "$or": [{"mail_state": MAIL_PENDING, "mail_next_try": {"$lte": now}},
                             {"mail_state": MAIL_SENDING, "mail_next_try": {"$lte": now - CLAIM_EXPIRES}}]},
        {"$set": {"mail_state": MAIL_SENDING, "mail_claim": claim, "mail_next_try": now}})
    return claim


def _addresses(usernames: set[str]) -> dict[str, str]:
    return {u["_id"]: u["email"] for u in User._get_collection().find(
        {"_id": {"$in": sorted(usernames)}, "active": {"$ne": False}, "email": {"$nin": [None, ""]}},
        {"email": 1})}


def _settle(ids: list[str], sent: bool, attempts: int, now: dt.datetime) -> None:
    if sent:
        update = {"mail_state": MAIL_SENT, "mail_sent_at": now}
    elif attempts + 1 >= MAX_ATTEMPTS:
        update = {"mail_state": MAIL_FAILED}
    else:
        update = {"mail_state": MAIL_PENDING, "mail_next_try": now + retry_delay(attempts + 1)}
    Notification._get_collection().update_many(
        {"_id": {"$in": ids}}, {"$set": update, **({} if sent else {"$inc": {"mail_attempts": 1}})})


def _deliver(settings: Settings, ids: list[str], attempts: int, message: EmailMessage, now: dt.datetime) -> bool:
    try:
        send(settings, message)
    except (OSError, smtplib.SMTPException) as error:
        log.warning("e-mail of %d notification(s) not sent (attempt %d): %s", len(ids), attempts + 1, error)
        _settle(ids, False, attempts, now)
        return False
    _settle(ids, True, attempts, now)
    return True


def send_pending(settings: Settings, now: dt.datetime | None = None) -> int:
    """E-mail every item due to go at once; returns how many were sent. Without an SMTP host nothing is sent
    (the items wait); an item whose user has no address is settled as failed (it stays in the inbox)."""
    if not settings.smtp_host:
        return 0
    now = now or utc_now()
    claim = _claim({"delivery": EMAIL}, now)
    items = list(Notification._get_collection().find({"mail_claim": claim, "mail_state": MAIL_SENDING}))
    addresses = _addresses({i["user"] for i in items})
    sent = 0
    for item in items:
        address = addresses.get(item["user"])
        if address is None:
            _settle([item["_id"]], False, MAX_ATTEMPTS, now)
            continue
        sent += _deliver(settings, [item["_id"]], item.get("mail_attempts", 0),
                         immediate_message(settings, item, address), now)
    return sent


def send_digests(settings: Settings, now: dt.datetime | None = None) -> int:
    """E-mail each user one digest of their items waiting for it; returns how many digests were sent."""
    if not settings.smtp_host:
        return 0
    now = now or utc_now()
    claim = _claim({"delivery": DIGEST}, now)
    by_user: dict[str, list[dict]] = defaultdict(list)
    for item in Notification._get_collection().find({"mail_claim": claim, "mail_state": MAIL_SENDING}):
        by_user[item["user"]].append(item)
    addresses = _addresses(set(by_user))
    sent = 0
    for username, items in sorted(by_user.items()):
        ids = [i["_id"] for i in items]
        attempts = max(i.get("mail_attempts", 0) for i in items)
        if username not in addresses:
            _settle(ids, False, MAX_ATTEMPTS, now)
            continue
        sent += _deliver(settings, ids, attempts, digest_message(settings, items, addresses[username], now.date()),
                         now)
    return sent

"""E-mail through a real SMTP server on loopback (aiosmtpd): once, as chosen, grouped in a digest, no clinical data."""

from __future__ import annotations

import re
import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink

from ecrf.notifications import mail, notifier
from ecrf.notifications.inbox import Notification
from ecrf.notifications.preferences import set_choices
from ecrf.users import set_email


class Inbox(Sink):
    """Keeps every message the server accepts."""

    def __init__(self):
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), envelope.content.decode("utf-8", "replace")))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp(app):
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings = app.config["ECRF"]
    settings.smtp_host, settings.smtp_port = "127.0.0.1", controller.port
    yield handler
    controller.stop()


def setup_people(app, kind, delivery):
    with app.app_context():
        for name in ("staff01", "inv01"):
            set_email(name, f"{name}@example.org", name)
        set_choices("staff01", {kind: delivery})


def raise_query(as_user, subject, item="/HEIGHT"):
    return as_user("mon01").post("/studies/MINI/queries", {
        "subject": subject, "event": "SCREEN", "form": "VS", "item": item, "text": "Source says 171?"})


def run(app):
    with app.app_context():
        return notifier.run(app.config["ECRF"])


def test_an_immediate_email_is_sent_once_to_whom_chose_it_without_clinical_values(app, as_user, saved, smtp):
    setup_people(app, "query_opened", "email")  # inv01 keeps the default: inbox only
    raise_query(as_user, saved)
    run(app)
    run(app)
    assert [to for to, _ in smtp.messages] == [["staff01@example.org"]]
    body = smtp.messages[0][1]
    assert saved in body and "http://localhost:5000/notifications/" in body
    # The record holds HEIGHT 170, WEIGHT 70 and the query's text: none of it leaves by e-mail.
    text = re.sub(r"http://\S+", "", body.split("\r\n\r\n", 1)[1])  # ids in links are random hex
    for clinical in ("170", "70", "HEIGHT", "Source says", "VS"):
        assert clinical not in text


def test_a_failed_send_is_retried_later_and_never_fails_the_notifier(app, as_user, saved, smtp):
    setup_people(app, "query_opened", "email")
    settings = app.config["ECRF"]
    port, settings.smtp_port = settings.smtp_port, _free_port()  # nobody listens there
    raise_query(as_user, saved)
    run(app)
    with app.app_context():
        (item,) = Notification.objects(user="staff01")
        assert (item.mail_state, item.mail_attempts) == ("pending", 1)
        settings.smtp_port = port
        mail.send_pending(settings, item.mail_next_try)
    assert len(smtp.messages) == 1


def test_the_digest_groups_the_waiting_items_in_one_email_per_user(app, as_user, staff, saved, smtp):
    setup_people(app, "query_opened", "digest")
    other = staff.register()
    staff.save(other, "SCREEN", "VS", {"VSDTC": "2026-01-06", "HEIGHT": 160, "WEIGHT": 60})
    assert raise_query(as_user, saved).status_code == 201
    assert raise_query(as_user, other, "/WEIGHT").status_code == 201
    run(app)
    assert smtp.messages == []  # a digest item waits for the digest
    with app.app_context():
        assert mail.send_digests(app.config["ECRF"]) == 1
        assert mail.send_digests(app.config["ECRF"]) == 0
    ((to, body),) = smtp.messages
    assert to == ["staff01@example.org"] and "New query at my sites (2)" in body
    assert saved in body and other in body


def test_inbox_only_sends_nothing(app, as_user, saved, smtp):
    setup_people(app, "query_opened", "inbox")
    raise_query(as_user, saved)
    run(app)
    with app.app_context():
        mail.send_digests(app.config["ECRF"])
    assert smtp.messages == []

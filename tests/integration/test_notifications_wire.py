"""Notifiers running at once on the real wire server deliver each notification once and e-mail it once."""

from __future__ import annotations

import socket
import threading

from aiosmtpd.controller import Controller
from conftest import Api

from ecrf.notifications import notifier
from ecrf.notifications.inbox import Notification
from ecrf.notifications.preferences import set_choices
from ecrf.users import set_email


class Received:
    def __init__(self):
        self.messages: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(list(envelope.rcpt_tos))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_parallel_notifier_runs_deliver_and_email_each_notification_once(wire_app):
    received = Received()
    controller = Controller(received, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        settings = wire_app.config["ECRF"]
        settings.smtp_host, settings.smtp_port = "127.0.0.1", controller.port
        client = wire_app.test_client()
        staff = Api(client, wire_app.tokens["staff01"])
        subject = staff.register()
        assert staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-05", "HEIGHT": 170}).status_code == 201
        with wire_app.app_context():
            set_email("staff01", "staff01@example.org", "staff01")
            set_choices("staff01", {"query_opened": "email"})
        monitor = Api(client, wire_app.tokens["mon01"])
        for item in ("/HEIGHT", "/VSDTC"):
            assert monitor.post("/studies/MINI/queries", {"subject": subject, "event": "SCREEN", "form": "VS",
                                                          "item": item, "text": "check"}).status_code == 201
        start = threading.Barrier(4)
        errors: list[BaseException] = []

        def one_run():
            try:
                with wire_app.app_context():
                    start.wait()
                    notifier.run(settings)
            except BaseException as error:  # noqa: BLE001 - reported by the assertion below
                errors.append(error)

        runners = [threading.Thread(target=one_run) for _ in range(4)]
        for runner in runners:
            runner.start()
        for runner in runners:
            runner.join()
        assert errors == []
        with wire_app.app_context():
            mine = Notification.objects(user="staff01", kind="query_opened")
            assert mine.count() == 2 and {n.mail_state for n in mine} == {"sent"}
            assert Notification.objects(user="inv01", kind="query_opened").count() == 2
        assert received.messages == [["staff01@example.org"], ["staff01@example.org"]]
    finally:
        controller.stop()

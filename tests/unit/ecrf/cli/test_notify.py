"""``ecrf notify run`` and ``ecrf notify digest``: deliver from the trail, once, and send the digests."""

from __future__ import annotations


def test_notify_run_delivers_once_and_digest_reports_what_it_sent(cli, as_user, saved):
    as_user("mon01").post("/studies/MINI/queries", {
        "subject": saved, "event": "SCREEN", "form": "VS", "item": "/HEIGHT", "text": "Source says 171?"})
    first = cli("notify", "run")
    assert first.exit_code == 0 and first.output.strip() == "2 notification(s) delivered"
    assert cli("notify", "run").output.strip() == "0 notification(s) delivered"
    digest = cli("notify", "digest")  # no SMTP host configured: nothing leaves, nothing fails
    assert digest.exit_code == 0 and digest.output.strip() == "0 digest(s) sent"

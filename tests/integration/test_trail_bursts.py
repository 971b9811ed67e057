"""Admin events (users, sites, logins) appended to one stream by many writers at once, on the real wire server."""

import threading
from concurrent.futures import ThreadPoolExecutor

WRITERS = 40
EACH = 5


def test_parallel_appends_to_one_user_stream_all_succeed_and_chain(wire_app):
    from ecrf.trail import audit_store, record_admin_event

    ready = threading.Barrier(WRITERS, timeout=120)

    def writer(number):
        with wire_app.app_context():
            ready.wait()
            return [record_admin_event("user/staff01", "staff01", "login_failed", {"writer": number, "n": n})["seq"]
                    for n in range(EACH)]

    with ThreadPoolExecutor(WRITERS) as pool:
        seqs = [seq for appended in pool.map(writer, range(WRITERS)) for seq in appended]
    with wire_app.app_context():
        events = audit_store().events("user/staff01")
        assert audit_store().verify_stream("user/staff01", events) == []
    written = [e for e in events if e["action"] == "login_failed"]
    assert len(written) == WRITERS * EACH and sorted(seqs) == [e["seq"] for e in written]

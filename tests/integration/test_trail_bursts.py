"""Admin events (users, sites, logins) appended to one stream by many writers at once, on the real wire server."""

import json
import subprocess
import sys
import textwrap
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


# Each process appends with several threads of its own: threads of one process take turns on a stream,
# processes (gunicorn workers) collide and retry; both must record every event, chained.
APPENDER = textwrap.dedent("""
    import sys, threading
    from ecrf.app import create_app
    from ecrf.trail import record_admin_event
    app = create_app({"mongodb_uri": sys.argv[1], "mongodb_db": sys.argv[2], "instance_path": sys.argv[3],
                      "testing": True, "secret_key": "test-secret"})
    def write(thread):
        with app.app_context():
            for n in range(int(sys.argv[5])):
                details = {"process": sys.argv[4], "thread": thread, "n": n}
                record_admin_event("user/staff01", "staff01", "login_failed", details)
    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
""")


def test_appends_from_several_processes_to_one_stream_all_succeed_and_chain(wire_app, wire_uri):
    settings = wire_app.config["ECRF"]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                APPENDER,
                wire_uri,
                settings.mongodb_db,
                str(settings.resolved_instance_path()),
                str(p),
                str(EACH),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in range(3)
    ]
    failures = [p.stderr.read() for p in processes if p.wait(timeout=300) != 0]
    assert failures == []
    with wire_app.app_context():
        from ecrf.trail import audit_store

        events = audit_store().events("user/staff01")
        assert audit_store().verify_stream("user/staff01", events) == []
    written = [json.dumps(e["state"]["details"], sort_keys=True) for e in events if e["action"] == "login_failed"]
    assert len(written) == len(set(written)) == 3 * 4 * EACH

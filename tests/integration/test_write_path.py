"""The write path against a real wire-protocol server: saves, conflicts under concurrency, crashes."""

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from conftest import OVERRIDDEN, Api

pytestmark = pytest.mark.integration


@pytest.fixture
def staff(wire_app):
    return Api(wire_app.test_client(), wire_app.tokens["staff01"])


def test_save_read_change_and_audit_on_the_real_server(wire_app, staff):
    subject = staff.register()
    assert staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-05", "HEIGHT": 170, "WEIGHT": 70}).status_code == 201
    changed = staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-05", "HEIGHT": 170, "WEIGHT": 72},
                         version=1, reason="re-weighed")
    assert changed.status_code == 200 and changed.get_json()["derived"]["DOUBLE_WEIGHT"] == 144.0
    assert staff.save(subject, "SCREEN", "VS", {"WEIGHT": 1}, version=1, reason="late").status_code == 409
    invalid = staff.save(subject, "SCREEN", "VS", {"WEIGHT": "heavy"}, version=2, reason="x")
    assert invalid.status_code == 422 and invalid.get_json()["errors"][0]["path"] == "/WEIGHT"
    events = staff.get(f"/studies/MINI/subjects/{subject}/audit").get_json()
    assert [e["action"] for e in events] == ["subject_registered", "create", "update"]
    runner = wire_app.test_cli_runner()
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0


def test_many_writers_on_one_version_exactly_one_wins(wire_app):
    staff = Api(wire_app.test_client(), wire_app.tokens["staff01"])
    subject = staff.register()
    version = None
    for round_number in range(3):
        results = []
        barrier = threading.Barrier(8)

        def write(n, barrier=barrier, results=results, round_number=round_number, version=version):
            api = Api(wire_app.test_client(), wire_app.tokens["staff01"])
            barrier.wait()
            response = api.save(subject, "SCREEN", "VS", {"WEIGHT": 50 + round_number * 10 + n}, version=version,
                                 reason=None if version is None else "concurrent edit")
            results.append((response.status_code, n))

        threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [n for status, n in results if status in (200, 201)]
        assert len(winners) == 1, results
        assert sorted(status for status, _ in results)[1:] == [409] * 7
        record = staff.get(staff.record_path(subject, "SCREEN", "VS")).get_json()
        assert record["data"]["WEIGHT"] == 50 + round_number * 10 + winners[0]
        version = record["version"]
        assert version == round_number + 1
    with wire_app.app_context():
        from ecrf.db import database
        seqs = [e["seq"] for e in database().audit_events.find({"stream": {"$regex": "/VS$"}}).sort("seq", 1)]
    assert seqs == [1, 2, 3]


CRASH = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {tests!r})
    from ecrf.app import create_app
    import ecrf.records.save
    app = create_app({{"mongodb_uri": {uri!r}, "mongodb_db": {db!r}, "instance_path": {instance!r}, "secret_key": "x"}})
    ecrf.records.save.project = lambda *a, **k: os._exit(17)   # die right after the audit append
    from conftest import Api
    api = Api(app.test_client(), {token!r})
    api.save({subject!r}, "SCREEN", "VS", {{"WEIGHT": 99}}, version=1, reason="before the crash")
""")


def test_a_crash_between_append_and_projection_loses_nothing(wire_app, wire_uri, tmp_path):
    staff = Api(wire_app.test_client(), wire_app.tokens["staff01"])
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    db = wire_app.config["ECRF"].mongodb_db
    script = CRASH.format(tests=str(Path(__file__).parent.parent), uri=wire_uri, db=db,
                          instance=wire_app.config["ECRF"].instance_path, token=wire_app.tokens["staff01"],
                          subject=subject)
    crashed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert crashed.returncode == 17, crashed.stderr
    with wire_app.app_context():
        from ecrf.db import database
        stored = database().records.find_one({"_id": f"record/MINI/{subject}/SCREEN/VS"})
        assert stored["version"] == 1  # the projection is behind its stream ...
        from ecrf.integrity import verify_all
        assert verify_all(), "verify must notice the lagging projection"
    record = staff.get(staff.record_path(subject, "SCREEN", "VS")).get_json()
    assert record["version"] == 2 and record["data"]["WEIGHT"] == 99  # ... and a read brings it forward
    assert wire_app.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 0


def test_appending_to_several_streams_at_once_stops_at_a_stale_one_on_the_real_server(wire_app):
    from audit import GENESIS, StaleVersion
    from ecrf.trail import audit_store

    start = {"seq": 0, "hash": GENESIS}
    with wire_app.app_context():
        store = audit_store()
        store.append("wire/b", 0, actor="u", action="create")
        with pytest.raises(StaleVersion) as raised:
            store.append_all([{"stream": f"wire/{name}", "expected_version": 0, "actor": "u", "action": "create",
                               "head": start} for name in "abc"])
        assert raised.value.stream == "wire/b"
        assert [e["stream"] for e in raised.value.stored] == ["wire/a"]
        assert [len(store.events(f"wire/{name}")) for name in "abc"] == [1, 1, 0]


def test_a_save_reads_everything_it_needs_in_one_command_before_it_writes(wire_app, staff):
    from conftest import sent_commands

    subject = staff.register()
    runner = wire_app.test_cli_runner()
    added = runner.invoke(args=["ranges", "add", "--site", "01", "--analyte", "ALT", "--unit", "U/L", "--low", "5",
                                "--high", "50", "--valid-from", "2026-03-01", "--as", "dm"])
    assert added.exit_code == 0, added.output
    assert staff.save(subject, "SCREEN", "DM", {"SEX": "M", "BRTHDTC": "1980-01-01"}).status_code == 201
    assert staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-02-28", "ALT": 45}).status_code == 201
    with sent_commands() as sent:
        changed = staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-03-01", "ALT": 45}, version=1, reason="date")
    assert changed.status_code == 200, changed.get_json()
    # before its writes: who calls (the token with its user) and which study version, as every request, then one
    # read for the save itself: the subject, the record with the DM record its rules read, the locks, the site's ranges
    writes = next(i for i, name in enumerate(sent) if name.startswith(("insert", "update")))
    assert sent[:writes] == ["aggregate api_tokens", "find studies", "aggregate subjects"], sent
    assert changed.get_json()["derived"]["ALT_X_ULN"] == 45 / 50 and changed.get_json()["flags"] == []


def test_a_frozen_subject_refuses_new_records_on_the_real_server(wire_app, staff):
    subject = staff.register()
    assert staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70}).status_code == 201
    dm = Api(wire_app.test_client(), wire_app.tokens["dm"])
    frozen = dm.post(f"/studies/MINI/subjects/{subject}/freeze", OVERRIDDEN)
    assert frozen.status_code == 200, frozen.get_json()
    refused = staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-02-28", "ALT": 45})
    assert refused.status_code == 423 and "frozen" in refused.get_json()["detail"]


@pytest.mark.parametrize("backend", ["app", "wire_app"])  # mongomock and the real server must agree
@pytest.mark.parametrize("stored_version, moved_to, moves", [
    (None, 2, True),   # a subject document from before versions
    (1, 2, True),
    (2, 2, False),     # already there
    (3, 2, False),     # ahead: never back to an older version
])
def test_a_subject_document_only_ever_moves_forward(request, backend, stored_version, moved_to, moves):
    app = request.getfixturevalue(backend)
    with app.app_context():
        from ecrf.db import database
        from ecrf.records.enrollment import update_enrollment
        from ecrf.studies import study_runtime
        from ecrf.subjects import register_subject
        from ecrf.users import get_user

        runtime = study_runtime("MINI")
        subject = register_subject(runtime, get_user("staff01"), "01")
        subjects = database().subjects
        subjects.update_one({"_id": subject.key}, {"$unset": {"version": ""}} if stored_version is None
                            else {"$set": {"version": stored_version}})
        update_enrollment(runtime, subject, "enrolled", "staff01", moved={"seq": moved_to, "hash": "h"})
        stored = subjects.find_one({"_id": subject.key})
        assert (stored["status"] == "enrolled") is moves
        assert stored.get("version") == (moved_to if moves else stored_version)

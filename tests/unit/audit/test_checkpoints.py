"""Checkpoints: signed, chained lines appended outside the database, every N events or M minutes and on exit."""

import json
import signal
import stat
import threading
import time

import mongomock
import pytest

import audit.checkpoints
from audit import AuditStore
from audit.checkpoints import SEAL, Checkpointer, CheckpointLog
from audit.keys import Keyring

RING = Keyring({"k1": b"1" * 32}, "k1")


def store_with(checkpointer):
    return AuditStore(mongomock.MongoClient().db.audit_events, RING, checkpointer.note)


def append(store, stream, times):
    for version in range(times):
        store.append(stream, version, actor="u", action="update")


def test_lines_are_signed_chained_and_merged_by_highest_seq(tmp_path):
    log = CheckpointLog(tmp_path / "cp.jsonl", RING, "db")
    log.append({"a": (2, "h2"), "b": (1, "b1")})
    log.append({"a": (1, "h1")})  # a slower process's older head: the newer one stays
    CheckpointLog(tmp_path / "cp.jsonl", RING, "other").append({"c": (9, "c9")})
    read = log.read()
    assert read.heads == {"a": (2, "h2"), "b": (1, "b1")} and read.lines == 2 and read.problems == []
    assert not read.sealed
    lines = [json.loads(line) for line in (tmp_path / "cp.jsonl").read_text().splitlines()]
    assert [line["prev"] for line in lines[1:]] == [line["mac"] for line in lines[:-1]]
    assert stat.S_IMODE((tmp_path / "cp.jsonl").stat().st_mode) == 0o600


def test_a_line_torn_by_a_crash_is_named_and_the_next_line_starts_clean(tmp_path):
    path = tmp_path / "cp.jsonl"
    log = CheckpointLog(path, RING, "db")
    log.append({"a": (1, "h1")})
    with path.open("a") as out:
        out.write('{"db": "db", "kind"')  # the crash
    log.append({"a": (2, "h2")})
    read = log.read()
    assert read.problems == ["line 2 is not a checkpoint (edited, or torn by a crash)"]
    assert read.heads == {"a": (2, "h2")}


def test_a_checkpoint_is_written_every_n_events(tmp_path):
    log = CheckpointLog(tmp_path / "cp.jsonl", RING, "db")
    checkpointer = Checkpointer(log, every_events=3, every_seconds=3600)
    store = store_with(checkpointer)
    append(store, "a", 1)  # the file's first line is written at once
    assert log.read().heads == {"a": (1, store.head("a")["hash"])}
    for version in range(1, 3):
        store.append("a", version, actor="u", action="update")
    assert log.read().heads["a"][0] == 1  # two events pending, fewer than three
    store.append("b", 0, actor="u", action="create")
    assert log.read().heads == {"a": (3, store.head("a")["hash"]), "b": (1, store.head("b")["hash"])}


def test_pending_heads_are_written_within_the_time_limit(tmp_path):
    log = CheckpointLog(tmp_path / "cp.jsonl", RING, "db")
    checkpointer = Checkpointer(log, every_events=1000, every_seconds=0.05)
    store = store_with(checkpointer)
    append(store, "a", 1)
    written = threading.Event()
    original = log.append

    def noting(heads, kind="heads"):
        original(heads, kind)
        written.set()

    log.append = noting
    store.append("a", 1, actor="u", action="update")
    assert written.wait(timeout=60), "the ticker never wrote the pending head"
    assert log.read().heads["a"][0] == 2


def test_close_writes_what_is_pending_and_exit_does_too(tmp_path):
    log = CheckpointLog(tmp_path / "cp.jsonl", RING, "db")
    checkpointer = Checkpointer(log, every_events=1000, every_seconds=3600)
    store = store_with(checkpointer)
    append(store, "a", 2)
    assert log.read().heads["a"][0] == 1
    audit.checkpoints.flush_all()  # what atexit runs
    assert log.read().heads["a"][0] == 2
    store.append("a", 2, actor="u", action="update")
    checkpointer.close()
    assert log.read().heads["a"][0] == 3


EXITING = """
import sys
import mongomock
from audit import AuditStore
from audit.checkpoints import CheckpointLog, Checkpointer
from audit.keys import Keyring
ring = Keyring({"k1": b"1" * 32}, "k1")
log = CheckpointLog(sys.argv[1], ring, "db")
store = AuditStore(mongomock.MongoClient().db.e, ring, Checkpointer(log, 1000, 3600).note)
for version in range(3):
    store.append("a", version, actor="u", action="update")
sys.exit(0)  # no flush called: atexit writes what is pending
"""


def test_a_process_that_exits_writes_its_pending_heads(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "cp.jsonl"
    done = subprocess.run([sys.executable, "-c", EXITING, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert CheckpointLog(path, RING, "db").read().heads["a"][0] == 3


def test_a_database_born_keyed_is_sealed_by_its_first_checkpoint(tmp_path):
    log = CheckpointLog(tmp_path / "cp.jsonl", RING, "db")
    store = store_with(Checkpointer(log, 100, 60, born_keyed=lambda: True))
    append(store, "a", 1)
    assert log.read().sealed
    assert json.loads((tmp_path / "cp.jsonl").read_text())["kind"] == SEAL


def test_a_failed_write_never_fails_the_append_and_is_retried(tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    log = CheckpointLog(blocker / "cp.jsonl", RING, "db")
    checkpointer = Checkpointer(log, every_events=1, every_seconds=3600)
    store = store_with(checkpointer)
    append(store, "a", 1)  # the checkpoint fails; the event is stored
    assert store.head("a")["seq"] == 1 and "audit checkpoint" in caplog.text
    assert checkpointer.pending == {"a": (1, store.head("a")["hash"])}
    log.path = tmp_path / "cp.jsonl"
    checkpointer.flush()
    assert log.read().heads == {"a": (1, store.head("a")["hash"])}


@pytest.mark.parametrize("edit, problem", [
    (lambda r: r["heads"].update(a=[1, "h1"]), "line 2 was altered: its signature does not match"),
    (lambda r: r.update(kid="k9"), "line 2 is signed with key 'k9'"),
    (lambda r: r.update(prev="0" * 64), "line 2 was altered"),
])
def test_an_edited_line_is_named_and_its_heads_are_not_trusted(tmp_path, edit, problem):
    path = tmp_path / "cp.jsonl"
    log = CheckpointLog(path, RING, "db")
    log.append({"a": (1, "h1")})
    log.append({"a": (2, "h2")})
    lines = path.read_text().splitlines()
    record = json.loads(lines[1])
    edit(record)
    path.write_text(lines[0] + "\n" + json.dumps(record) + "\n")
    read = log.read()
    assert read.problems and read.problems[0].startswith(problem)
    assert read.heads == {"a": (1, "h1")}


def test_a_removed_line_breaks_the_chain_of_lines(tmp_path):
    path = tmp_path / "cp.jsonl"
    log = CheckpointLog(path, RING, "db")
    for seq in (1, 2, 3):
        log.append({"a": (seq, f"h{seq}")})
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    assert log.read().problems == ["line 2 does not follow the line before it (checkpoints removed or reordered)"]


def test_a_forked_worker_checkpoints_what_it_appends(tmp_path):
    import os

    log = CheckpointLog(tmp_path / "cp.jsonl", RING, "db")
    checkpointer = Checkpointer(log, every_events=1000, every_seconds=3600)
    store = store_with(checkpointer)
    append(store, "a", 1)
    checkpointer.lock.acquire()  # held by some thread at the moment of the fork
    child = os.fork()
    if child == 0:
        try:
            store.append("a", 1, actor="u", action="update")
            checkpointer.flush()
        finally:
            os._exit(0)
    checkpointer.lock.release()
    deadline = time.monotonic() + 60
    while (done := os.waitpid(child, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            pytest.fail("the forked worker hung on a lock held at the fork")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(done[1]) == 0
    assert log.read().heads["a"][0] == 2

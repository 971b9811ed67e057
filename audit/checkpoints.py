"""Signed checkpoints of stream heads, kept outside the database in an append-only file.

A keyed chain shows that no event was altered, but not that none is missing:
deleting a stream's last events, or a whole stream, leaves a shorter chain
that still holds. So the application writes, outside the database, what it
appended: one JSON line per checkpoint, ``{"db", "kind", "at", "heads":
{stream: [seq, hash]}, "prev", "kid", "mac"}``, each signed (HMAC-SHA-256 of
its canonical JSON under the audit key) and chained to the line before by
``prev`` (the previous line's ``mac``), appended under an exclusive lock and
fsynced. A line lists only the heads that moved since the process's last
checkpoint; reading the file merges them, the highest ``seq`` of each stream
winning. A ``seal`` line marks the database as keyed from then on.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from audit.events import GENESIS, canonical_json, utc_now
from audit.keys import Keyring

HEADS, SEAL = "heads", "seal"
_TAIL_CHUNK = 65536
log = logging.getLogger(__name__)


@dataclass
class Checkpoints:
    """What a checkpoint file says about one database: merged heads, whether it is sealed, what is wrong."""

    heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    sealed: bool = False
    lines: int = 0
    problems: list[str] = field(default_factory=list)


class CheckpointLog:
    """The checkpoint file of one database (lines of other databases sharing the file are skipped)."""

    def __init__(self, path: Path, keyring: Keyring, database: str):
        self.path, self.keyring, self.database = Path(path), keyring, database

    def exists(self) -> bool:
        """Whether the file has been written."""
        return self.path.exists()

    def append(self, heads: dict[str, tuple[int, str]], kind: str = HEADS) -> None:
        """Append one signed line with ``heads``, chained to the last line, and fsync it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)  # writers of several processes take turns: the chain stays linear
            last, torn = _last_line(descriptor)
            record = {"db": self.database, "kind": kind, "at": utc_now().isoformat(),
                      "heads": {stream: [seq, digest] for stream, (seq, digest) in sorted(heads.items())},
                      "prev": _mac_of(last), "kid": self.keyring.current}
            record["mac"] = self.keyring.sign(canonical_json(record))
            line = json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"
            os.write(descriptor, (b"\n" if torn else b"") + line)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)  # closing releases the lock

    def read(self) -> Checkpoints:
        """Every line checked (signature, key, chain); the heads of this database's good lines merged."""
        found = Checkpoints()
        if not self.path.exists():
            return found
        prev = GENESIS
        with open(self.path, "rb") as lines:
            for number, raw in enumerate(lines, start=1):
                if not raw.strip():
                    continue
                record, problem = self._checked(raw, prev, number)
                if problem:
                    found.problems.append(problem)
                if record is None:
                    continue
                prev = record["mac"]
                if record.get("db") != self.database:
                    continue
                found.lines += 1
                found.sealed = found.sealed or record.get("kind") == SEAL
                for stream, (seq, digest) in record.get("heads", {}).items():
                    if stream not in found.heads or found.heads[stream][0] < seq:
                        found.heads[stream] = (seq, digest)
        return found

    def _checked(self, raw: bytes, prev: str, number: int) -> tuple[dict | None, str | None]:
        """The line's record if its signature holds (and a problem if it does not follow ``prev``)."""
        try:
            record = json.loads(raw)
            mac, kid = record.pop("mac"), record["kid"]
            heads = record["heads"]
            if not isinstance(heads, dict) or not all(
                    isinstance(v, list) and len(v) == 2 and isinstance(v[0], int) for v in heads.values()):
                raise ValueError("heads")
        except (ValueError, KeyError, TypeError, AttributeError):
            return None, f"line {number} is not a checkpoint (edited, or torn by a crash)"
        if self.keyring.key(kid) is None:
            return None, f"line {number} is signed with key {kid!r}, which no audit key here holds"
        if not self.keyring.holds(canonical_json(record), mac, kid):
            return None, f"line {number} was altered: its signature does not match (edited without the key)"
        record["mac"] = mac
        if record.get("prev") != prev:
            return record, f"line {number} does not follow the line before it (checkpoints removed or reordered)"
        return record, None


def _last_line(descriptor: int) -> tuple[bytes, bool]:
    """The file's last complete line, and whether the file ends in a torn (unterminated) one."""
    size = os.fstat(descriptor).st_size
    if size == 0:
        return b"", False
    end = size
    tail = b""
    while end > 0:
        start = max(0, end - _TAIL_CHUNK)
        tail = os.pread(descriptor, end - start, start) + tail
        end = start
        if tail.count(b"\n") >= 2 or (end == 0 and tail):
            break
    torn = not tail.endswith(b"\n")
    lines = [line for line in tail.split(b"\n") if line.strip()]
    if torn and lines:
        lines = lines[:-1]
    return (lines[-1] if lines else b""), torn


def _mac_of(line: bytes) -> str:
    if not line:
        return GENESIS
    try:
        return json.loads(line)["mac"]
    except (ValueError, KeyError, TypeError):
        return GENESIS  # the reader names the bad line; the chain restarts after it


class Checkpointer:
    """Notes the heads a process appends; checkpoints them every ``every_events`` events or
    ``every_seconds`` seconds (whichever comes first), and when :meth:`close` is called.

    ``born_keyed`` is asked once, when the file does not exist yet: True (the
    database holds no plain event) makes the first line a seal. A failed
    write never fails the append that caused it: the heads stay pending and
    the failure is logged.
    """

    def __init__(self, log_file: CheckpointLog, every_events: int, every_seconds: float,
                 born_keyed: Callable[[], bool] | None = None):
        self.log, self.every_events, self.every_seconds = log_file, max(1, every_events), every_seconds
        self.born_keyed = born_keyed
        self.pending: dict[str, tuple[int, str]] = {}
        self.count = 0
        self.due_at: float | None = None
        self.lock = threading.Lock()
        _live.add(self)

    def note(self, events: Iterable[dict]) -> None:
        """Remember the heads these appended events moved to; write a checkpoint when one is due."""
        with self.lock:
            for event in events:
                stream, seq = event["stream"], event["seq"]
                if stream not in self.pending or self.pending[stream][0] < seq:
                    self.pending[stream] = (seq, event["hash"])
                self.count += 1
            due = self.count >= self.every_events or not self.log.exists()
            if not due and self.due_at is None:
                self.due_at = time.monotonic() + self.every_seconds
                _ticker.wake()
        if due:
            self.flush()

    def flush(self) -> None:
        """Write the pending heads (if any) as one checkpoint line now."""
        with self.lock:
            heads, self.pending, self.count, self.due_at = self.pending, {}, 0, None
        if not heads:
            return
        try:
            kind = SEAL if not self.log.exists() and self.born_keyed is not None and self.born_keyed() else HEADS
            self.log.append(heads, kind)
        except Exception:  # noqa: BLE001 - the events are stored; only their checkpoint is late
            log.exception("audit checkpoint to %s failed; retried with the next one", self.log.path)
            with self.lock:
                for stream, head in heads.items():
                    if stream not in self.pending or self.pending[stream][0] < head[0]:
                        self.pending[stream] = head
                if self.due_at is None:
                    self.due_at = time.monotonic() + self.every_seconds

    close = flush


_live: weakref.WeakSet[Checkpointer] = weakref.WeakSet()


def flush_all() -> None:
    """Checkpoint every live checkpointer's pending heads (for a process about to exit; registered with atexit)."""
    for checkpointer in list(_live):
        checkpointer.flush()


atexit.register(flush_all)


class _Ticker:
    """One daemon thread per process that flushes checkpointers whose time has come."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.thread: threading.Thread | None = None

    def wake(self) -> None:
        with self.condition:
            if self.thread is None or not self.thread.is_alive():  # none yet, or lost in a fork
                self.thread = threading.Thread(target=self._run, name="audit-checkpoints", daemon=True)
                self.thread.start()
            self.condition.notify()

    def _run(self) -> None:
        while True:
            with self.condition:
                deadlines = [c.due_at for c in list(_live) if c.due_at is not None]
                now = time.monotonic()
                if not deadlines or min(deadlines) > now:
                    self.condition.wait(timeout=(min(deadlines) - now) if deadlines else None)
                    continue
            for checkpointer in list(_live):
                if checkpointer.due_at is not None and checkpointer.due_at <= time.monotonic():
                    checkpointer.flush()


_ticker = _Ticker()


def _after_fork_in_child() -> None:
    # A worker forked from a process that had appended starts with fresh locks (one may have been held
    # by another thread at the fork) and its own ticker; the heads it inherited stay pending, harmlessly.
    global _ticker
    _ticker = _Ticker()
    for checkpointer in list(_live):
        checkpointer.lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)

"""The embedded database: a SecantusDB server run as a child process.

SecantusDB is GPL-2.0. The engine never imports it: it starts the
``secantusd-py`` console script and speaks to it over the MongoDB wire
protocol only, like any other MongoDB server.

One server runs per instance folder. Its address is kept in
``<instance>/embedded.json`` so that a second process (an ``ecrf`` CLI command
while ``ecrf serve`` runs) connects to the running server instead of starting
a rival one on the same files. The file also names the process that owns the
server: a server whose owner is gone (killed before it could stop it) is an
orphan, which the next start stops and replaces instead of attaching to it.
On Linux the server is moreover asked to stop when its owner dies.

Started with ``--sync-on-commit``, the server fsyncs its WiredTiger journal
before it acknowledges each commit, so an acknowledged write survives a crash
of the server or of the machine.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pymongo

STATE_FILE = "embedded.json"
START_TIMEOUT_S = 60
# A clean stop checkpoints; past this the server is killed (its journal still holds every acknowledged write).
STOP_TIMEOUT_S = 4
ORPHAN_STOP_TIMEOUT_S = 30
PR_SET_PDEATHSIG = 1

log = logging.getLogger(__name__)


class EmbeddedServerError(RuntimeError):
    """The embedded database could not be started or reached."""


def server_executable() -> str:
    """Path of the ``secantusd-py`` script, beside this Python first."""
    beside = Path(sys.executable).with_name("secantusd-py")
    if beside.exists():
        return str(beside)
    found = shutil.which("secantusd-py")
    if not found:
        raise EmbeddedServerError(
            "no MongoDB configured (ECRF_MONGODB_URI) and the embedded server is not "
            "installed: pip install 'ecrf[embedded]'"
        )
    return found


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(uri: str, timeout_ms: int = 500) -> bool:
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms)
    try:
        client.admin.command("ping")
        return True
    except pymongo.errors.PyMongoError:
        return False
    finally:
        client.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _running(pid: int) -> bool:
    """Alive and not a zombie (a process that has exited is gone, reaped or not)."""
    if not _pid_alive(pid):
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):  # no /proc: trust the signal probe
        return True


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _stop_orphan(pid: int) -> None:
    """Stop a server whose owner died: SIGTERM, then SIGKILL if it outlives the budget."""
    log.warning("embedded database %s outlived the process that started it; stopping it", pid)
    try:
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, ORPHAN_STOP_TIMEOUT_S):
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, ORPHAN_STOP_TIMEOUT_S)
    except ProcessLookupError:
        pass


def _stop_with_parent() -> None:
    """In the server's child process: ask Linux to send SIGTERM when the parent dies (no orphan)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@contextmanager
def _start_lock(folder: Path):
    with open(folder / "embedded.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class EmbeddedServer:
    """A SecantusDB server with its data under ``instance_path/db``.

    ``start()`` either attaches to a server already running on this instance
    folder or launches one; only the process that launched it stops it.
    """

    def __init__(self, instance_path: str | os.PathLike, port: int | None = None, *, sync_on_commit: bool = True):
        self.folder = Path(instance_path)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.data_path = self.folder / "db"
        self.state_path = self.folder / STATE_FILE
        self.port = port
        self.sync_on_commit = sync_on_commit
        self.process: subprocess.Popen | None = None
        self.launched_by: int | None = None
        self.uri: str | None = None

    @property
    def owner(self) -> bool:
        """True when this object launched the server in this process (and so must stop it).

        A process forked from the owner (a gunicorn worker) inherits the object but not the ownership.
        """
        return self.process is not None and self.launched_by == os.getpid()

    def running_uri(self) -> str | None:
        """The URI of a live server on this instance folder, if one answers and its owner lives.

        A server whose owner died is stopped here, so the caller starts a fresh one.
        """
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return None
        uri, pid, owner = state.get("uri"), int(state.get("pid", 0)), int(state.get("owner", 0))
        if not (uri and pid and _pid_alive(pid)):
            return None
        if owner and owner != os.getpid() and not _pid_alive(owner):
            _stop_orphan(pid)
            return None
        return uri if _answers(uri) else None

    def start(self) -> str:
        """Attach to the running server or launch one; return its URI."""
        with _start_lock(self.folder):
            uri = self.running_uri()
            if uri:
                self.uri = uri
                return uri
            self.port = self.port or free_port()
            return self._launch()

    def alive(self) -> bool:
        """False once the server this object launched has exited (True for a server it only attached to)."""
        return not self.owner or self.process.poll() is None

    def restart(self) -> str:
        """Launch the server again on the same port and data after it died; return its URI.

        Clients keep their URI and reconnect by themselves.
        """
        with _start_lock(self.folder):
            if self.owner and self.process.poll() is None:
                return self.uri
            self.process = None
            return self._launch()

    def _command(self) -> list[str]:
        return [
            server_executable(),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--storage-path", str(self.data_path),
            "--standalone",
            "--log-level", "WARNING",
            *(["--sync-on-commit"] if self.sync_on_commit else []),
        ]

    def _launch(self) -> str:
        """Start the server process (the start lock is held) and wait until it answers."""
        self.data_path.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "embedded.log", "ab") as log_file:
            self.process = subprocess.Popen(
                self._command(),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Its own session: a Ctrl-C meant for the app does not kill the database under it.
                start_new_session=True,
                preexec_fn=_stop_with_parent,
            )
        self.launched_by = os.getpid()
        uri = f"mongodb://127.0.0.1:{self.port}/?directConnection=true"
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(uri):
            if self.process.poll() is not None:  # kept: a supervisor sees a dead server and tries again
                raise EmbeddedServerError(
                    f"embedded database exited at start; see {self.folder / 'embedded.log'}"
                )
            if time.monotonic() > deadline:
                self.process.kill()
                self.process.wait()
                raise EmbeddedServerError(f"embedded database did not answer within {START_TIMEOUT_S} s")
            time.sleep(0.1)
        # Written aside and renamed: a process reading the state never sees it half written.
        partial = self.state_path.with_name(STATE_FILE + ".part")
        partial.write_text(json.dumps({"uri": uri, "pid": self.process.pid, "owner": os.getpid()}))
        partial.replace(self.state_path)
        self.uri = uri
        return uri

    def stop(self) -> None:
        """Stop the server if this object launched it: a clean stop flushes data to disk.

        Bounded: a server still running after ``STOP_TIMEOUT_S`` is killed, which loses nothing
        acknowledged (the journal holds it).
        """
        if not self.owner:
            return
        if self.process.poll() is None:
            log.info("stopping the embedded database (pid %s)", self.process.pid)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.warning("embedded database did not stop within %s s; killing it", STOP_TIMEOUT_S)
                self.process.kill()
                self.process.wait()
            log.info("embedded database stopped")
        self.process = None
        try:
            state = json.loads(self.state_path.read_text())
            if state.get("uri") == self.uri:
                self.state_path.unlink()
        except (OSError, ValueError):
            pass

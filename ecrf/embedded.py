"""The embedded database: a SecantusDB server run as a child process.

SecantusDB is GPL-2.0. The engine never imports it: it starts the
``secantusd-py`` console script and speaks to it over the MongoDB wire
protocol only, like any other MongoDB server.

One server runs per instance folder. Its address is kept in
``<instance>/embedded.json`` so that a second process (an ``ecrf`` CLI command
while ``ecrf serve`` runs) connects to the running server instead of starting
a rival one on the same files.
"""

from __future__ import annotations

import fcntl
import json
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

    def __init__(self, instance_path: str | os.PathLike, port: int | None = None):
        self.folder = Path(instance_path)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.data_path = self.folder / "db"
        self.state_path = self.folder / STATE_FILE
        self.port = port
        self.process: subprocess.Popen | None = None
        self.uri: str | None = None

    @property
    def owner(self) -> bool:
        """True when this object launched the server (and so must stop it)."""
        return self.process is not None

    def running_uri(self) -> str | None:
        """The URI of a live server on this instance folder, if one answers."""
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return None
        uri = state.get("uri")
        if uri and _pid_alive(int(state.get("pid", 0))) and _answers(uri):
            return uri
        return None

    def start(self) -> str:
        """Attach to the running server or launch one; return its URI."""
        with _start_lock(self.folder):
            uri = self.running_uri()
            if uri:
                self.uri = uri
                return uri
            port = self.port or free_port()
            self.data_path.mkdir(parents=True, exist_ok=True)
            log = open(self.folder / "embedded.log", "ab")
            self.process = subprocess.Popen(
                [
                    server_executable(),
                    "--host", "127.0.0.1",
                    "--port", str(port),
                    "--storage-path", str(self.data_path),
                    "--standalone",
                    "--log-level", "WARNING",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            log.close()
            uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
            deadline = time.monotonic() + START_TIMEOUT_S
            while not _answers(uri):
                if self.process.poll() is not None:
                    self.process = None
                    raise EmbeddedServerError(
                        f"embedded database exited at start; see {self.folder / 'embedded.log'}"
                    )
                if time.monotonic() > deadline:
                    self.stop()
                    raise EmbeddedServerError("embedded database did not answer within 60 s")
                time.sleep(0.1)
            self.state_path.write_text(json.dumps({"uri": uri, "pid": self.process.pid}))
            self.uri = uri
            return uri

    def stop(self) -> None:
        """Stop the server if this object launched it; flushes data to disk."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        try:
            state = json.loads(self.state_path.read_text())
            if state.get("uri") == self.uri:
                self.state_path.unlink()
        except (OSError, ValueError):
            pass

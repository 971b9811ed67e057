"""Durability of a served app: every acknowledged save survives a killed database or a killed app.

Real processes throughout: ``ecrf serve`` (gunicorn and the embedded SecantusDB it owns) on loopback,
client threads saving through the HTTP API, SIGKILL of the database or of the serving process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pymongo
import pytest
import requests
from conftest import MINI_STUDY, PASSWORD, sent_commands

from audit import fold
from ecrf.app import create_app
from ecrf.embedded import EmbeddedServer, free_port
from ecrf.sites import add_site
from ecrf.users import add_user, issue_token

pytestmark = pytest.mark.integration
ECRF = str(Path(sys.executable).with_name("ecrf"))
STOP_BUDGET_S = 10  # the promise: serve stops within 10 s of SIGINT or SIGTERM
START_BUDGET_S = 120  # generous: starting the app and its database on a busy 2-core machine
CLIENTS = 4
SAVES_BETWEEN_KILLS = 6


def serve_env(instance: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECRF_")}
    env.update(ECRF_INSTANCE_PATH=str(instance), ECRF_STUDY_PATH=str(MINI_STUDY), ECRF_WORKERS="2",
               ECRF_THREADS="4", ECRF_ADMIN_PASSWORD="s3cret passphrase")
    return env


def wait_for(condition, seconds: float, what: str, output=lambda: "") -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` and showing the process output if it never does."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} not within {seconds} s; output:\n{output()}"
        time.sleep(0.2)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child that died but was not yet reaped is gone for our purpose.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class Served:
    """One ``ecrf serve`` process on a free loopback port, its output kept in a file.

    ``background_job``: started as ``cmd &`` by a non-interactive shell, which gives it SIGINT ignored;
    ``process`` is then the shell (it waits for serve) and :meth:`ignored` the signals serve started with ignored.
    """

    def __init__(self, instance: Path, log: Path, background_job: bool = False):
        self.instance, self.log = instance, log
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [ECRF, "serve", "--port", str(self.port)]
        if background_job:
            # A first background job notes the signals it starts with ignored; serve is started the same way.
            self.mask = log.with_name("sigign")
            shell = (f'grep SigIgn /proc/self/status >"{self.mask}" & "{ECRF}" serve --port {self.port} '
                     f'>>"{log}" 2>&1 & echo "$!"; wait')
            self.process = subprocess.Popen(["bash", "-c", shell], env=serve_env(instance), stdout=subprocess.PIPE,
                                            text=True)
            self.pid = int(self.process.stdout.readline())
            return
        with open(log, "a") as out:
            self.process = subprocess.Popen(command, env=serve_env(instance), stdout=out, stderr=subprocess.STDOUT)
        self.pid = self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def ignored(self) -> int:
        """The mask of signals a background job of the same shell started with ignored (``SigIgn``)."""
        return int(self.mask.read_text().split()[1], 16)

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.base}/healthz", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def wait_healthy(self) -> None:
        def up():
            assert self.process.poll() is None, f"serve exited with {self.process.returncode}:\n{self.output()}"
            return self.healthy()

        wait_for(up, START_BUDGET_S, "serve healthy", self.output)

    def database_pid(self) -> int:
        return json.loads((self.instance / "embedded.json").read_text())["pid"]

    def stop(self, sig=signal.SIGTERM) -> None:
        """Stop it as a process manager would and check it stopped in time, with its database."""
        database = self.database_pid()
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=STOP_BUDGET_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"serve did not stop within {STOP_BUDGET_S} s of {sig!r}; output:\n{self.output()}")
        assert not pid_alive(database), "serve left its database running"
        assert not (self.instance / "embedded.json").exists()


class SaveLoops:
    """Client threads, each saving its own record again and again through the HTTP API.

    Every save answered 200/201 is kept as acknowledged: (subject, version, data).
    """

    def __init__(self, base: str, token: str):
        self.base, self.token = base, token
        self.acked: list[tuple[str, int, dict]] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.subjects = [self._call("post", "/studies/MINI/subjects", {"site": "01"}).json()["subject_id"]
                         for _ in range(CLIENTS)]
        self.threads = [threading.Thread(target=self._loop, args=(subject, n), daemon=True)
                        for n, subject in enumerate(self.subjects)]

    def _call(self, method: str, path: str, body=None) -> requests.Response:
        return requests.request(method, f"{self.base}/api/v1{path}", json=body, timeout=15,
                                headers={"Authorization": f"Bearer {self.token}"})

    def _path(self, subject: str) -> str:
        return f"/studies/MINI/subjects/{subject}/events/SCREEN/forms/VS"

    def _version(self, subject: str) -> int | None:
        """The record's version as the server now has it (None if unreachable)."""
        try:
            response = self._call("get", self._path(subject))
        except requests.RequestException:
            return None
        if response.status_code == 404:
            return 0
        return response.json()["version"] if response.status_code == 200 else None

    def _loop(self, subject: str, n: int) -> None:
        version, step = 0, 0
        while not self.stop.is_set():
            step += 1
            data = {"VSDTC": "2026-01-05", "HEIGHT": 170, "WEIGHT": 40 + (n * 37 + step) % 300}
            try:
                response = self._call("put", self._path(subject),
                                      {"data": data, "version": version or None, "reason": "loop"})
            except requests.RequestException:
                response = None
            if response is not None and response.status_code in (200, 201):
                record = response.json()
                with self.lock:
                    self.acked.append((subject, record["version"], record["data"]))
                version = record["version"]
                continue
            # Unknown outcome (the database or the app went away) or a stale version: ask the server.
            known = self._version(subject)
            while known is None and not self.stop.is_set():
                time.sleep(0.2)
                known = self._version(subject)
            version = known or 0

    def count(self) -> int:
        with self.lock:
            return len(self.acked)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
            assert not thread.is_alive(), "a client thread did not finish"

    def wait_for_more(self, how_many: int, output) -> None:
        target = self.count() + how_many
        wait_for(lambda: self.count() >= target, START_BUDGET_S, f"{how_many} more acknowledged saves", output)


def enrol_staff(instance: Path) -> str:
    """A site and a site_staff user on the served database; returns the user's API token."""
    uri = json.loads((instance / "embedded.json").read_text())["uri"]
    app = create_app({"mongodb_uri": uri, "instance_path": str(instance)})
    with app.app_context():
        add_site("01", "Site one", "UTC")
        add_user("staff", "site_staff", ["01"], PASSWORD, min_password_length=8)
        return issue_token("staff")


def lost_saves(uri: str, acked: list[tuple[str, int, dict]]) -> list[str]:
    """Every acknowledged save the store does not hold at its version with its data."""
    events = pymongo.MongoClient(uri, serverSelectionTimeoutMS=30000).ecrf.audit_events
    lost = []
    for subject, version, data in acked:
        stream = f"record/MINI/{subject}/SCREEN/VS"
        history = list(events.find({"stream": stream, "seq": {"$lte": version}}, sort=[("seq", 1)]))
        held = fold(history).get("data") if len(history) == version else None
        if held != data:
            lost.append(f"{subject} v{version}: acknowledged {data}, stored {held}")
    return lost


def audit_verify(instance: Path) -> subprocess.CompletedProcess:
    return subprocess.run([ECRF, "audit", "verify"], env=serve_env(instance), capture_output=True, text=True,
                          timeout=START_BUDGET_S)


def check_after_restart(instance: Path, log: Path, acked: list) -> None:
    """Restart serve (its catch-up runs), then: no acknowledged save lost, and the audit trail verifies."""
    served = Served(instance, log)
    try:
        served.wait_healthy()
        uri = json.loads((instance / "embedded.json").read_text())["uri"]
        lost = lost_saves(uri, acked)
        print(f"\n{len(acked)} acknowledged saves, {len(lost)} lost")
        assert lost == []
        verified = audit_verify(instance)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    finally:
        served.stop()


def test_no_acknowledged_save_is_lost_when_the_database_is_killed_and_healthz_recovers_without_an_app_restart(tmp_path):
    instance, log = tmp_path / "instance", tmp_path / "serve.log"
    served = Served(instance, log)
    served.wait_healthy()
    loops = SaveLoops(served.base, enrol_staff(instance))
    loops.start()
    try:
        for kill in range(3):
            loops.wait_for_more(SAVES_BETWEEN_KILLS, served.output)
            database = served.database_pid()
            os.kill(database, signal.SIGKILL)
            wait_for(lambda database=database: served.database_pid() != database, START_BUDGET_S,
                     f"database restarted after kill {kill + 1}", served.output)
            wait_for(served.healthy, START_BUDGET_S, f"/healthz 200 after kill {kill + 1}", served.output)
            assert served.process.poll() is None  # the app itself was never restarted
        loops.wait_for_more(SAVES_BETWEEN_KILLS, served.output)
        assert served.output().count("embedded database restarted") == 3
    finally:
        # Under load, as a process manager stops it: SIGTERM, stopped within 10 s with its database.
        served.stop(signal.SIGTERM)
        loops.finish()
    check_after_restart(instance, log, loops.acked)


def test_no_acknowledged_save_is_lost_when_the_serving_process_is_killed_and_sigterm_stops_it_under_load(tmp_path):
    instance, log = tmp_path / "instance", tmp_path / "serve.log"
    served = Served(instance, log)
    served.wait_healthy()
    loops = SaveLoops(served.base, enrol_staff(instance))
    loops.start()
    try:
        for _kill in range(3):
            loops.wait_for_more(SAVES_BETWEEN_KILLS, served.output)
            left = [*children(served.pid)]
            served.process.send_signal(signal.SIGKILL)
            served.process.wait(timeout=30)
            # Its workers and its database notice and stop: nothing is left behind.
            wait_for(lambda left=left: not any(pid_alive(pid) for pid in left), 60, "workers and database gone",
                     served.output)
            served = Served(instance, log)
            loops.base = served.base
            served.wait_healthy()
        loops.wait_for_more(SAVES_BETWEEN_KILLS, served.output)
    finally:
        served.stop(signal.SIGTERM)  # under load
        loops.finish()
    check_after_restart(instance, log, loops.acked)


def test_serve_started_as_a_background_job_stops_on_sigint_under_load(tmp_path):
    instance = tmp_path / "instance"
    served = Served(instance, tmp_path / "serve.log", background_job=True)
    try:
        served.wait_healthy()
        assert served.ignored() & (1 << (signal.SIGINT - 1)), "the background job did not start with SIGINT ignored"
        loops = SaveLoops(served.base, enrol_staff(instance))
        loops.start()
        loops.wait_for_more(SAVES_BETWEEN_KILLS, served.output)
        database = served.database_pid()
        os.kill(served.pid, signal.SIGINT)
        wait_for(lambda: not pid_alive(served.pid), STOP_BUDGET_S, "serve stopped after SIGINT", served.output)
        loops.finish()
        assert not pid_alive(database), "serve left its database running"
        assert not (instance / "embedded.json").exists()
    finally:
        if pid_alive(served.pid):
            os.kill(served.pid, signal.SIGKILL)
        served.process.wait(timeout=30)


def test_a_refused_admin_password_is_one_line_and_exit_2(tmp_path):
    env = serve_env(tmp_path / "instance") | {"ECRF_ADMIN_PASSWORD": "short"}
    refused = subprocess.run([ECRF, "serve", "--port", str(free_port())], env=env, capture_output=True, text=True,
                             timeout=START_BUDGET_S)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.splitlines() == [
        "error: ECRF_ADMIN_PASSWORD refused: password must have at least 8 characters"]
    assert not (tmp_path / "instance" / "embedded.json").exists()


def test_every_write_asks_for_a_majority_and_the_journal(wire_app):
    with wire_app.app_context(), sent_commands(whole=True) as sent:
        add_site("09", "Site nine", "UTC")
    writes = [command for name, command in sent if name.split()[0] in ("insert", "update", "delete")]
    assert writes and all(command.get("writeConcern") == {"w": "majority", "j": True} for command in writes)


def test_the_embedded_database_fsyncs_every_commit(tmp_path):
    server = EmbeddedServer(tmp_path)
    server.start()
    try:
        command = Path(f"/proc/{server.process.pid}/cmdline").read_bytes().split(b"\0")
        assert b"--sync-on-commit" in command
    finally:
        server.stop()

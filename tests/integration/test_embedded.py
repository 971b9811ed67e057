"""The embedded database: a real SecantusDB child process, started, attached to, stopped, restarted."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pymongo
import pytest
import requests
from conftest import wait_until_healthy

from ecrf.embedded import EmbeddedServer, EmbeddedServerError, free_port

pytestmark = pytest.mark.integration
ECRF = str(Path(sys.executable).with_name("ecrf"))


def test_data_survives_a_stop_and_restart(tmp_path):
    server = EmbeddedServer(tmp_path)
    uri = server.start()
    assert server.owner
    pymongo.MongoClient(uri).ecrf.things.insert_one({"_id": "kept", "value": 42})
    server.stop()
    assert not (tmp_path / "embedded.json").exists()
    again = EmbeddedServer(tmp_path)
    uri = again.start()
    try:
        assert pymongo.MongoClient(uri).ecrf.things.find_one({"_id": "kept"})["value"] == 42
    finally:
        again.stop()


def test_a_second_process_attaches_to_the_running_server(tmp_path):
    first = EmbeddedServer(tmp_path)
    uri = first.start()
    second = EmbeddedServer(tmp_path)
    try:
        assert second.start() == uri and not second.owner
        second.stop()  # not the owner: leaves the server running
        assert pymongo.MongoClient(uri, serverSelectionTimeoutMS=2000).admin.command("ping")["ok"] == 1
    finally:
        first.stop()


def test_a_stale_state_file_is_ignored(tmp_path):
    (tmp_path / "embedded.json").write_text('{"uri": "mongodb://127.0.0.1:1/", "pid": 999999}')
    server = EmbeddedServer(tmp_path)
    try:
        assert server.start() != "mongodb://127.0.0.1:1/" and server.owner
    finally:
        server.stop()


def run_cli(env, *args, stdin=None):
    return subprocess.run([ECRF, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)


def stop_as_a_process_manager_does(process, log: Path, seconds: float = 30) -> str:
    """SIGTERM, then a bounded wait that shows what the process was doing if it does not stop."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"serve did not stop within {seconds} s of SIGTERM:\n{log.read_text()}")
    return log.read_text()


def test_cli_and_serve_share_the_embedded_database(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECRF_")}
    env.update(ECRF_INSTANCE_PATH=str(tmp_path / "instance"), ECRF_ADMIN_PASSWORD="s3cret passphrase",
               ECRF_STUDY_PATH=str(Path(__file__).parent.parent / "fixtures" / "mini-study"), ECRF_WORKERS="1")
    # With nothing running, a CLI command starts the embedded server for itself and stops it.
    added = run_cli(env, "sites", "add", "01", "--name", "First")
    assert added.returncode == 0, added.stderr
    assert not (tmp_path / "instance" / "embedded.json").exists()
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        serve = subprocess.Popen([ECRF, "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", serve, log)
        # While serve runs, the CLI connects to its database instead of starting a rival.
        user = run_cli(env, "users", "add", "alice", "--role", "site_staff", "--site", "01")
        assert user.returncode == 0, user.stderr
        token = run_cli(env, "users", "token", "alice").stdout.strip()
        response = requests.get(f"http://127.0.0.1:{port}/api/v1/studies",
                                headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert response.status_code == 200 and response.json()[0]["oid"] == "MINI"
    finally:
        output = stop_as_a_process_manager_does(serve, log)
    assert output.count("eCRF running at") == 1
    assert not (tmp_path / "instance" / "embedded.json").exists(), "serve left its database running"
    # After a restart everything is still there.
    listed = run_cli(env, "users", "token", "alice")
    assert listed.returncode == 0 and listed.stdout.startswith("ecrf_")


def test_a_server_whose_owner_died_is_replaced_not_attached_to(tmp_path):
    orphan = EmbeddedServer(tmp_path)
    orphan.start()
    state = json.loads((tmp_path / "embedded.json").read_text())
    owner = subprocess.Popen(["true"])  # an owner that has exited, as one killed before it could stop it
    owner.wait()
    (tmp_path / "embedded.json").write_text(json.dumps({**state, "owner": owner.pid}))
    fresh = EmbeddedServer(tmp_path)
    try:
        assert fresh.start() and fresh.owner
        assert orphan.process.wait(timeout=60) is not None  # the orphan was stopped
    finally:
        fresh.stop()
        orphan.stop()


def test_a_failed_restart_leaves_the_server_dead_for_the_supervisor_to_try_again(tmp_path, monkeypatch):
    server = EmbeddedServer(tmp_path, port=free_port())
    monkeypatch.setattr(server, "_command", lambda: [sys.executable, "-c", "raise SystemExit(1)"])
    with pytest.raises(EmbeddedServerError, match="exited at start"):
        server.restart()
    assert server.owner and not server.alive()

"""The embedded database: a real SecantusDB child process, started, attached to, stopped, restarted."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pymongo
import pytest
import requests

from conftest import wait_until_healthy
from ecrf.embedded import EmbeddedServer, free_port

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


def test_cli_and_serve_share_the_embedded_database(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECRF_")}
    env.update(ECRF_INSTANCE_PATH=str(tmp_path / "instance"), ECRF_ADMIN_PASSWORD="s3cret passphrase",
               ECRF_STUDY_PATH=str(Path(__file__).parent.parent / "fixtures" / "mini-study"))
    # With nothing running, a CLI command starts the embedded server for itself and stops it.
    added = run_cli(env, "sites", "add", "01", "--name", "First")
    assert added.returncode == 0, added.stderr
    assert not (tmp_path / "instance" / "embedded.json").exists()
    port = free_port()
    serve = subprocess.Popen([ECRF, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", serve)
        # While serve runs, the CLI connects to its database instead of starting a rival.
        user = run_cli(env, "users", "add", "alice", "--role", "site_staff", "--site", "01")
        assert user.returncode == 0, user.stderr
        token = run_cli(env, "users", "token", "alice").stdout.strip()
        response = requests.get(f"http://127.0.0.1:{port}/api/v1/studies",
                                headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert response.status_code == 200 and response.json()[0]["oid"] == "MINI"
    finally:
        serve.send_signal(signal.SIGINT)
        output, _ = serve.communicate(timeout=60)
    assert "eCRF running at" in output
    assert not (tmp_path / "instance" / "embedded.json").exists(), "serve left its database running"
    # After a restart everything is still there.
    listed = run_cli(env, "users", "token", "alice")
    assert listed.returncode == 0 and listed.stdout.startswith("ecrf_")

"""Load through gunicorn with several workers on the real server: no lost update, no duplicate seq,
every accepted write in the audit trail."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from conftest import make_app, wait_until_healthy

from ecrf.embedded import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


@pytest.fixture
def served(tmp_path, wire_uri):
    app = make_app(tmp_path, wire_uri)
    settings = app.config["ECRF"]
    port = free_port()
    env = {**os.environ, "ECRF_MONGODB_URI": wire_uri, "ECRF_MONGODB_DB": settings.mongodb_db,
           "ECRF_INSTANCE_PATH": str(tmp_path / "instance"), "ECRF_SECRET_KEY": "load-test"}
    process = subprocess.Popen([GUNICORN, "-w", "3", "--threads", "2", "-b", f"127.0.0.1:{port}", "wsgi:app"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    wait_until_healthy(base, process)
    yield app, base
    process.terminate()
    process.wait(timeout=30)


def put(base, token, subject, data, version, reason=None):
    body = {"data": data, "version": version, **({"reason": reason} if reason else {})}
    return requests.put(f"{base}/api/v1/studies/MINI/subjects/{subject}/events/SCREEN/forms/VS", json=body,
                        headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_concurrent_writers_lose_nothing(served):
    app, base = served
    token = app.tokens["staff01"]
    headers = {"Authorization": f"Bearer {token}"}
    # Different records: each client registers its own subject and saves it (ids assigned concurrently).
    own, errors = [], []

    def register_and_save(n):
        response = requests.post(f"{base}/api/v1/studies/MINI/subjects", json={"site": "01"}, headers=headers,
                                 timeout=30)
        if response.status_code != 201:
            errors.append(response.text)
            return
        subject = response.json()["subject_id"]
        own.append(subject)
        if put(base, token, subject, {"WEIGHT": 50 + n}, None).status_code != 201:
            errors.append(subject)

    threads = [threading.Thread(target=register_and_save, args=(n,)) for n in range(12)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == [] and len(set(own)) == 12
    # One record, many writers: each increments WEIGHT from the version it read; 409 means read again.
    shared = own[0]
    start = requests.get(f"{base}/api/v1/studies/MINI/subjects/{shared}/events/SCREEN/forms/VS", headers=headers,
                         timeout=30).json()["data"]["WEIGHT"]
    accepted = []

    def increment(worker):
        done, attempts = 0, 0
        while done < 5 and attempts < 500:  # bounded by count, never by time
            attempts += 1
            current = requests.get(f"{base}/api/v1/studies/MINI/subjects/{shared}/events/SCREEN/forms/VS",
                                   headers=headers, timeout=30).json()
            response = put(base, token, shared, {"WEIGHT": current["data"]["WEIGHT"] + 1}, current["version"],
                           f"w{worker}")
            if response.status_code == 200:
                accepted.append(response.json()["version"])
                done += 1
            else:
                assert response.status_code == 409, response.text

    threads = [threading.Thread(target=increment, args=(w,)) for w in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    final = requests.get(f"{base}/api/v1/studies/MINI/subjects/{shared}/events/SCREEN/forms/VS", headers=headers,
                         timeout=30).json()
    assert len(accepted) == 30 and sorted(accepted) == list(range(2, 32))   # every version won exactly once
    assert final["data"]["WEIGHT"] == start + 30 and final["version"] == 31  # no lost update
    with app.app_context():
        from ecrf.db import database
        stream = {"stream": f"record/MINI/{shared}/SCREEN/VS"}
        seqs = [e["seq"] for e in database().audit_events.find(stream).sort("seq", 1)]
        assert seqs == list(range(1, 32))                                   # no duplicate, no gap
        from ecrf.integrity import verify_all
        assert verify_all() == []

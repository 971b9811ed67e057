"""HTTP: concurrent saves through gunicorn and the JSON API, against bare pymongo writes at the same concurrency.

gunicorn serves :mod:`bench.wsgi` on 127.0.0.1 with a few sync workers over the
embedded server. Client threads (``requests``, one session each) PUT the
largest form for distinct, pre-registered subjects, so every request is a new
record, until a request count or a time limit is reached. The bare baseline
runs the same number of threads, each doing the two writes a save needs
(``insert_one`` of the audit event, ``update_one`` upsert of the projection).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pymongo
import requests

from bench.common import BIG_FORM, ROOT, STUDY, bundled_app, db_name, indexed_like, median, ms, percentile, progress
from bench.save import big_form_data
from bench.synth import Synth, write_subjects


def start_gunicorn(uri: str, database: str, workers: int) -> tuple[subprocess.Popen, str, str]:
    from ecrf.embedded import free_port

    port = free_port()
    folder = tempfile.mkdtemp(prefix="ecrf-bench-http-")
    env = {**os.environ, "ECRF_MONGODB_URI": uri, "ECRF_MONGODB_DB": database, "ECRF_INSTANCE_PATH": folder,
           "ECRF_SECRET_KEY": "bench-secret", "PYTHONPATH": str(ROOT)}
    log = open(os.path.join(folder, "gunicorn.log"), "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning",
         "--chdir", str(ROOT), "bench.wsgi:app"],
        env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    log.close()
    return process, f"http://127.0.0.1:{port}", folder


def wait_ready(process: subprocess.Popen, base: str, token: str, folder: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited; see {folder}/gunicorn.log")
        try:
            if requests.get(f"{base}/api/v1/studies", headers={"Authorization": f"Bearer {token}"}, timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {timeout} s; see {folder}/gunicorn.log")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # the master stops its workers
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def drive(work, subjects: list[str], threads: int, max_seconds: float) -> dict:
    """Run ``work(session, subject) -> ok`` over the subjects from ``threads`` threads; latency and throughput."""
    lock = threading.Lock()
    queue = list(reversed(subjects))
    latencies, errors = [], []
    deadline = time.perf_counter() + max_seconds

    def worker():
        session = requests.Session()
        while time.perf_counter() < deadline:
            with lock:
                if not queue:
                    return
                subject = queue.pop()
            t0 = time.perf_counter()
            try:
                outcome = work(session, subject)
            except Exception as exc:  # counted, not raised: one failure must not hide the rest
                outcome = repr(exc)
            elapsed = time.perf_counter() - t0
            with lock:
                (latencies.append(elapsed) if outcome is True else errors.append(outcome))

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    wall = time.perf_counter() - started
    done = len(latencies)
    return {"requests": done, "errors": len(errors), "first_errors": errors[:3], "seconds": round(wall, 3),
            "per_s": round(done / wall, 2) if wall else 0.0,
            "p50_ms": ms(median(latencies)) if latencies else None,
            "p95_ms": ms(percentile(latencies, 95)) if latencies else None}


def run(uri: str, quick: bool) -> dict:
    workers, threads = (3, 6)
    requests_max, seconds_max = (160, 10.0) if quick else (2000, 120.0)
    warmup = 4 * workers
    app = bundled_app(uri)
    database = db_name(app)
    token = app.tokens["staff01"]
    with app.app_context():
        from ecrf.db import database as ecrf_db
        from ecrf.studies import study_runtime

        synth = Synth(study_runtime(STUDY))
        subjects = [f"H-{n:05d}" for n in range(requests_max + warmup)]
        write_subjects(ecrf_db(), synth, subjects, records=False)  # registered, nothing saved yet
    data = big_form_data()
    event, form = BIG_FORM
    progress(f"http: gunicorn, {workers} sync workers; {threads} client threads; "
             f"up to {requests_max} PUTs of {form} or {seconds_max:.0f} s")
    process, base, folder = start_gunicorn(uri, database, workers)
    try:
        wait_ready(process, base, token, folder)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

        def put(session, subject):
            response = session.put(f"{base}/api/v1/studies/{STUDY}/subjects/{subject}/events/{event}/forms/{form}",
                                   json={"data": data, "version": None}, headers=headers, timeout=60)
            return True if response.status_code == 201 else f"{response.status_code}: {response.text[:200]}"

        drive(put, subjects[:warmup], threads, 60)  # every worker compiles the study once
        saves = drive(put, subjects[warmup:], threads, seconds_max)
    finally:
        stop(process)
    if saves["errors"]:
        progress(f"http: errors, e.g. {saves['first_errors'][:1]}; gunicorn log kept in {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    progress(f"http: {saves['requests']} saves, {saves['errors']} errors; bare writes at the same concurrency")
    client = pymongo.MongoClient(uri, maxPoolSize=threads * 2)
    try:
        db = client[database]
        audit, records = db.bench_bare_audit, db.bench_bare_records
        indexed_like(audit, db.audit_events)
        indexed_like(records, db.records)
        stored = db.audit_events.find_one({"stream": {"$regex": "^record/"}})
        event_doc = {k: v for k, v in stored.items() if k != "_id"}
        projection = {k: v for k, v in db.records.find_one().items() if k != "_id"}

        def bare(_session, name):
            audit.insert_one({**event_doc, "stream": name})
            records.update_one({"_id": name, "version": {"$lt": 1}}, {"$set": projection}, upsert=True)
            return True

        drive(bare, [f"bare/w{n}" for n in range(warmup)], threads, 30)
        bare_result = drive(bare, [f"bare/{n}" for n in range(saves["requests"] or requests_max)], threads, seconds_max)
    finally:
        client.close()
    return {
        "http_saves_per_s": saves["per_s"],
        "http_p50_ms": saves["p50_ms"],
        "http_p95_ms": saves["p95_ms"],
        "http_errors": saves["errors"],
        "http_bare_writes_per_s": bare_result["per_s"],
        "http_bare_p50_ms": bare_result["p50_ms"],
        "http_vs_bare_throughput_ratio": round(bare_result["per_s"] / saves["per_s"], 2) if saves["per_s"] else None,
        "details_http": {"workers": workers, "client_threads": threads, "form": "/".join(BIG_FORM),
                         "saves": saves, "bare": bare_result},
    }

"""Exports (ODM 1.3.2 with the audit trail, CSV zip) at two study sizes, and audit verification speed.

Time is measured without tracing; peak memory in a second run of the same
export under ``tracemalloc`` (Python allocations, including lxml's Python
objects but not libxml2's own C buffers). Output goes to a temporary file, so
the document itself is never held in memory by the benchmark.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import tempfile
import time
import tracemalloc

import bson
from bson.raw_bson import RawBSONDocument

from bench import plans
from bench.common import STUDY, bundled_app, get_ok, median, progress, signed_in_client
from bench.synth import Synth, write_subjects


def _export(kind: str, runtime, path: str) -> int:
    from ecrf.exports import export_subjects, write_export

    with open(path, "wb") as out:
        return write_export(kind, out, runtime, export_subjects(runtime))


def measure_export(kind: str, runtime, folder: str) -> dict:
    path = os.path.join(folder, f"export.{kind}")
    t0 = time.perf_counter()
    subjects = _export(kind, runtime, path)
    elapsed = time.perf_counter() - t0
    size = os.path.getsize(path)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        _export(kind, runtime, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    os.unlink(path)
    return {"seconds": round(elapsed, 3), "peak_mib": round(peak / 2**20, 3), "bytes": size, "subjects": subjects}


# The collections verify reads besides the events and the record projections (ecrf/projections.py).
PROJECTION_COLLECTIONS = ("subjects", "queries", "users", "api_tokens", "sites", "lab_ranges", "signatures",
                          "container_locks", "studies")


def verify(db, rounds: int = 3) -> dict:
    """Events/s of ``verify_all`` against the server's raw read and raw SHA-256 of the same events.

    ``verify_all`` and the raw read alternate ``rounds`` times (medians kept), so a machine busy with
    something else slows both alike.
    """
    from audit import AuditStore, canonical_json, event_hash
    from ecrf.integrity import verify_all
    from ecrf.trail import audit_store

    verify_times, serve_times, ceiling_times, verify_cpu = [], [], [], []
    raw = bson.CodecOptions(document_class=RawBSONDocument)
    raw_events = db.audit_events.with_options(codec_options=raw)
    for _ in range(rounds):
        # What the server costs before the client decodes anything: the same sorted read as raw BSON.
        t0 = time.perf_counter()
        served = sum(1 for _ in raw_events.find({}, sort=[("stream", 1), ("seq", 1)]))
        serve_times.append(time.perf_counter() - t0)
        # What verify must have the server send, read as it reads them, one after the other, nothing decoded.
        t0 = time.perf_counter()
        sum(1 for _ in raw_events.find({}, sort=[("stream", 1), ("seq", 1)]))
        sum(1 for _ in db.records.find_raw_batches({}, sort=[("_id", 1)], hint=[("_id", 1)], batch_size=1000))
        for name in PROJECTION_COLLECTIONS:
            sum(1 for _ in db[name].with_options(codec_options=raw).find({}))
        ceiling_times.append(time.perf_counter() - t0)
        t0, c0 = time.perf_counter(), time.thread_time()
        problems = verify_all()
        verify_times.append(time.perf_counter() - t0)
        verify_cpu.append(time.thread_time() - c0)  # the calling thread's own work: decoding, hashing, comparing
    verify_s, serve_s, ceiling_s = median(verify_times), median(serve_times), median(ceiling_times)
    events = list(db.audit_events.find({}))
    count = len(events)

    t0 = time.perf_counter()
    store = AuditStore(db.audit_events, audit_store().keyring)
    walked = 0
    for stream, batch in store.walk():
        store.verify_stream(stream, batch)
        walked += len(batch)
    walk_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for event in events:
        event_hash(event)
    hash_s = time.perf_counter() - t0

    # What reading the events costs the client before any checking: decoding their BSON, in memory.
    encoded = [bson.encode(event) for event in events]
    t0 = time.perf_counter()
    for document in encoded:
        bson.decode(document)
    decode_s = time.perf_counter() - t0

    bodies = [canonical_json({k: v for k, v in e.items() if k not in ("_id", "hash")}) for e in events]
    rounds = 5  # raw hashing is fast: repeat it to time it reliably
    t0 = time.perf_counter()
    for _ in range(rounds):
        for body in bodies:
            hashlib.sha256(body).hexdigest()
    raw_s = (time.perf_counter() - t0) / rounds
    rate = {"verify_all": count / verify_s, "walk_verify_stream": walked / walk_s,
            "server_read_raw_bson": served / serve_s,
            "event_hash_in_memory": count / hash_s, "bson_decode_in_memory": count / decode_s,
            "raw_sha256": count / raw_s}
    return {
        "events": count, "problems": len(problems), "verify_all_s": round(verify_s, 3),
        "verify_all_runs_s": [round(t, 3) for t in verify_times],
        "verify_all_main_thread_cpu_runs_s": [round(t, 3) for t in verify_cpu],
        # Of verify_all's wall time, the share its thread computes (the rest: waiting on the server or the CPU).
        "verify_main_thread_cpu_fraction": round(median(verify_cpu) / verify_s, 3),
        "server_read_runs_s": [round(t, 3) for t in serve_times],
        "events_and_projections_read_runs_s": [round(t, 3) for t in ceiling_times],
        "verify_vs_server_read": round(rate["verify_all"] / rate["server_read_raw_bson"], 3),
        # The best verify_vs_server_read a verifier that reads all it compares through this server can reach.
        "verify_ceiling_events_and_projections_vs_server_read": round(serve_s / ceiling_s, 3),
        "mean_canonical_bytes": round(sum(map(len, bodies)) / max(1, count)),
        "events_per_s": {k: round(v) for k, v in rate.items()},
        "ratios_to_raw_sha256": {k: round(v / rate["raw_sha256"], 4) for k, v in rate.items()},
    }


def reports_page(client) -> dict:
    """GETs of the study's reports page with ``client`` (the data manager's: every site): seconds and size.

    ``seconds``: the median of 3 GETs, each drawing its charts (the per-process memo of drawn charts,
    :data:`ecrf.charts.DRAWN`, emptied before each: what a first view after a change costs); ``seconds_each``
    those 3; ``repeat_seconds``: one more GET with the charts as the last one drew them (a view again, the
    data unchanged).
    """
    from ecrf.charts import DRAWN

    each = []
    for _ in range(3):
        DRAWN.clear()
        started = time.perf_counter()
        html = get_ok(client, f"/studies/{STUDY}/reports")
        each.append(round(time.perf_counter() - started, 3))
    started = time.perf_counter()
    get_ok(client, f"/studies/{STUDY}/reports")
    return {"seconds": median(each), "seconds_each": each, "repeat_seconds": round(time.perf_counter() - started, 3),
            "bytes": len(html.encode())}


QUERIES_PER_SUBJECT = 20


def query_list(db, clients: dict, subjects: list[str]) -> dict:
    """GETs of the query list with ``QUERIES_PER_SUBJECT`` synthetic queries per subject: median seconds of 3.

    Per user (``clients``: name -> signed-in test client): the first page, open ones, the last page and
    one subject's queries.
    """
    opened = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    owners = [subject for subject in subjects for _ in range(QUERIES_PER_SUBJECT)]
    documents = [{"_id": f"bench-q-{n:07d}", "study": STUDY, "subject": subject, "site": "01", "event": "D7",
                  "form": "LB_HEM", "item": "/NEUT", "origin": "system", "check": "bench",
                  "state": ("open", "answered", "closed")[n % 3], "version": 1,
                  "messages": [{"at": opened, "author": "mon01", "text": f"query {n}", "action": "open"}],
                  "opened_at": opened + dt.timedelta(minutes=n)} for n, subject in enumerate(owners)]
    for start in range(0, len(documents), 1000):
        db.queries.insert_many(documents[start:start + 1000])
    last = -(-len(documents) // 100)
    paths = {"first page": "", "open": "?state=open", "last page": f"?page={last}",
             "one subject": f"?subject={subjects[0]}"}
    seconds = {}
    for who, client in clients.items():
        for label, query in paths.items():
            url = f"/studies/{STUDY}/queries{query}"
            get_ok(client, url)
            times = []
            for _ in range(3):
                started = time.perf_counter()
                get_ok(client, url)
                times.append(time.perf_counter() - started)
            seconds[f"{who}, {label}"] = round(sorted(times)[1], 3)
    db.queries.delete_many({"check": "bench"})  # written without their audit streams: verify would name each
    return {"queries": len(documents), "seconds": seconds}


def run(uri: str, quick: bool) -> dict:
    """CSV at two small sizes first, then ODM at two larger ones (the same database, filled as it goes)."""
    csv_sizes, odm_sizes = ((4, 8), (20, 100)) if quick else ((5, 15), (100, 1000))
    forms = 24 if quick else None
    app = bundled_app(uri)
    folder = tempfile.mkdtemp(prefix="ecrf-bench-export-")
    results: dict[str, dict] = {"csv": {}, "odm": {}, "reports": {}}
    query_plans, verified, queries = {}, None, None
    with app.app_context():
        from ecrf.db import database
        from ecrf.exports.odm import write_odm
        from ecrf.exports.tables import write_csv_zip
        from ecrf.studies import study_runtime
        from ecrf.subjects import Subject

        db = database()
        runtime = study_runtime(STUDY)
        manager = signed_in_client(app, "dm")  # once: Flask-WTF keeps its CSRF token in this app context's g
        with app.app_context():  # its own g, so its own CSRF token
            staff = signed_in_client(app, "staff01")
        synth = Synth(runtime, forms)
        records_per_subject = len(synth.plan)
        progress(f"export: subjects of {records_per_subject} records each; "
                 f"CSV at {csv_sizes}, ODM at {odm_sizes} subjects")
        done = 0
        steps = [(size, "csv") for size in csv_sizes] + [(size, "odm") for size in odm_sizes]
        for size, kind in steps:
            ids = [f"X-{n:05d}" for n in range(done, size)]
            write_subjects(db, synth, ids, status="enrolled", label=f"export: filling to {size} subjects")
            done = max(done, size)
            progress(f"export: {kind} of {size} subjects (timed, then under tracemalloc)")
            results[kind][size] = measure_export(kind, runtime, folder)
            if kind == "odm":
                progress(f"export: the reports page at {size} subjects")
                results["reports"][size] = reports_page(manager)
            if size == max(csv_sizes) and kind == "csv":
                query_plans["csv, one subject"] = plans.capture(
                    lambda: write_csv_zip(io.BytesIO(), runtime, ["X-00000"]), db)
            if size == max(odm_sizes) and kind == "odm":
                subject = Subject.objects(key=f"{STUDY}/X-00000").first()
                query_plans["odm, one subject"] = plans.capture(
                    lambda subject=subject: write_odm(io.BytesIO(), runtime, [subject]), db)
                query_plans["reports page"] = plans.capture(lambda: reports_page(manager), db)
                progress(f"export: the query list with {QUERIES_PER_SUBJECT * size:,} queries")
                queries = query_list(db, {"data manager": manager, "site staff": staff},
                                     [f"X-{n:05d}" for n in range(size)])
            if size == (max(odm_sizes) if quick else min(odm_sizes)) and kind == "odm":
                progress(f"export: verify_all over the {size}-subject database")
                verified = verify(db)
    os.rmdir(folder)
    small, large = odm_sizes
    odm, csv_ = results["odm"], results["csv"]
    odm_ratio = odm[large]["peak_mib"] / odm[small]["peak_mib"]
    csv_ratio = csv_[max(csv_sizes)]["peak_mib"] / csv_[min(csv_sizes)]["peak_mib"]
    csv_growth = csv_[max(csv_sizes)]["seconds"] / csv_[min(csv_sizes)]["seconds"]
    return {
        "export_memory_ratio": round(max(odm_ratio, csv_ratio), 3),
        "export_memory_ratio_odm": round(odm_ratio, 3),
        "export_memory_ratio_csv": round(csv_ratio, 3),
        "odm_export_s1k_s": round(odm[large]["seconds"] * 1000 / large, 2),
        "odm_export_s1k_measured": large == 1000,
        "odm_export_large_s": odm[large]["seconds"],
        "odm_export_small_s": odm[small]["seconds"],
        "odm_export_ms_per_record": round(odm[large]["seconds"] * 1000 / (large * records_per_subject), 3),
        "reports_page_small_s": results["reports"][small]["seconds"],
        "reports_page_large_s": results["reports"][large]["seconds"],
        "reports_page_large_each_s": results["reports"][large]["seconds_each"],
        "reports_page_large_repeat_s": results["reports"][large]["repeat_seconds"],
        "reports_page_large_mib": round(results["reports"][large]["bytes"] / 2**20, 2),
        "query_list_queries": queries["queries"],
        "query_list_dm_s": queries["seconds"]["data manager, first page"],
        "query_list_staff_subject_s": queries["seconds"]["site staff, one subject"],
        "csv_export_large_s": csv_[max(csv_sizes)]["seconds"],
        "csv_export_time_growth": round(csv_growth, 2),
        "csv_export_size_growth": round(max(csv_sizes) / min(csv_sizes), 2),
        "verify_vs_sha256": verified["ratios_to_raw_sha256"]["verify_all"],
        "verify_vs_server_read": verified["verify_vs_server_read"],
        "verify_events_per_s": verified["events_per_s"]["verify_all"],
        "verify_ceiling_bson_decode_vs_sha256": verified["ratios_to_raw_sha256"]["bson_decode_in_memory"],
        "verify_ceiling_server_read_vs_sha256": verified["ratios_to_raw_sha256"]["server_read_raw_bson"],
        "verify_ceiling_events_and_projections_vs_server_read":
            verified["verify_ceiling_events_and_projections_vs_server_read"],
        "raw_sha256_events_per_s": verified["events_per_s"]["raw_sha256"],
        "verify_problems": verified["problems"],
        "collscans_export": [f"{op}: {line}" for op, shapes in query_plans.items() for line in plans.collscans(shapes)],
        "details_export": {"records_per_subject": records_per_subject,
                           "csv": {str(k): v for k, v in csv_.items()}, "odm": {str(k): v for k, v in odm.items()},
                           "reports": {str(k): v for k, v in results["reports"].items()},
                           "verify": verified, "query_list": queries, "query_plans": query_plans},
    }

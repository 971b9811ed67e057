"""Scaling: save latency, audit-history and subject-matrix reads with few and with many audit events stored.

The database is filled with synthetic subjects (full casebooks of the bundled
study: audit events and record projections, ``insert_many`` in batches, not
through the engine); the measured saves are real ``save_record`` calls on
freshly registered subjects, of the largest form (IE, the metric) and of the
screening chemistry panel (LB_CHEM, whose save re-checks dependent records);
the reads go through the JSON API and the HTML pages (Flask test client, no network), cycling over up to
50 subjects with a full casebook.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager

from bench import plans
from bench.common import (
    BIG_FORM,
    COUNTER,
    STUDY,
    bundled_app,
    median,
    ms,
    percentile,
    progress,
    signed_in_client,
    test_helpers,
)
from bench.save import big_form_data
from bench.synth import Synth, write_subjects

DEPENDENT_FORM = ("SCREEN", "LB_CHEM")  # its save re-derives IE and LB_CHEM records of the subject
FORMS = {"IE": BIG_FORM, "LB_CHEM": DEPENDENT_FORM}
READ_SUBJECTS = 50  # the "matrix page for 50 subjects": reads cycle over this many full casebooks


def _api(app):
    _, Api, _, _, _ = test_helpers()
    return Api(app.test_client(), app.tokens["staff01"], STUDY)


def assert_ok(response, path: str) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}: {response.get_data(as_text=True)[:300]}")


def read_times(client, paths: list[str], requests: int) -> dict:
    """p50/p95 (ms) of ``client.get`` cycling over ``paths`` (after one warm-up pass)."""
    for path in paths:
        assert_ok(client.get(path), path)
    times = []
    for n in range(requests):
        path = paths[n % len(paths)]
        t0 = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - t0)
        assert_ok(response, path)
    return {"p50_ms": ms(median(times)), "p95_ms": ms(percentile(times, 95)), "requests": requests}


class ScaleRig:
    def __init__(self, uri: str, saves_per_size: int, warmup: int):
        from ecrf.app import ready_to_serve
        from ecrf.db import database
        from ecrf.studies import study_runtime
        from ecrf.users import get_user

        self.app = bundled_app(uri)
        ready_to_serve()  # as `ecrf serve` and wsgi.py do: the reads measured are a serving process's
        self.context = self.app.app_context()
        self.context.push()
        self.db = database()
        self.runtime = study_runtime(STUDY)
        self.user = get_user("staff01")
        self.synth = Synth(self.runtime)
        self.data = {name: big_form_data(form, event) for name, (event, form) in FORMS.items()}
        self.per_size = saves_per_size + warmup
        self.warmup = warmup
        self.registered = 0
        self.synthetic = 0
        self.casebooks: list[str] = []

    def close(self):
        self.context.pop()

    def events(self) -> int:
        return self.db.audit_events.count_documents({})

    def take(self, count: int) -> list[str]:
        """``count`` subjects registered just now with nothing saved (registered when taken, so that the
        smallest size is still mostly full casebooks)."""
        ids = [f"M-{n:05d}" for n in range(self.registered, self.registered + count)]
        self.registered += count
        write_subjects(self.db, self.synth, ids, records=False)
        return ids

    def fill_to(self, target: int) -> int:
        """Add synthetic full-casebook subjects (events and projections) until about ``target`` events are stored."""
        missing = target - self.events()
        if missing <= 0:
            return self.events()
        count = math.ceil(missing / self.synth.events_per_subject)
        ids = [f"S-{n:06d}" for n in range(self.synthetic, self.synthetic + count)]
        self.synthetic += count
        t0 = time.perf_counter()
        written = write_subjects(self.db, self.synth, ids, label=f"scale: filling to {target:,} events")
        elapsed = time.perf_counter() - t0
        self.casebooks += ids
        progress(f"scale: {count} synthetic subjects, {written:,} events (+ as many projections) in {elapsed:.1f} s "
                 f"({2 * written / elapsed:,.0f} documents/s)")
        return self.events()

    def save(self, name: str, subject: str):
        from ecrf.records.save import save_record

        return save_record(self.runtime, self.user, subject, *FORMS[name], dict(self.data[name]))

    def save_times(self, name: str, saves: int, max_seconds: float, bare: bool = False) -> dict:
        """Saves of ``name`` on fresh subjects: ``saves`` of them or as many as fit in ``max_seconds`` (at least 3).

        With ``bare``, each save is followed by the bare writes of a save into the real, equally full
        ``audit_events`` and ``records`` collections, timed apart (is it the engine or the server that slows?).
        """
        times, bare_times = [], []
        subjects = self.take(self.per_size)
        warmed = getattr(self, "warmed", set())
        for subject in subjects[:1 if name in warmed else self.warmup]:  # caches are warm after the first size
            self.save(name, subject)
        self.warmed = warmed | {name}
        if bare:
            self.prepare_bare(subjects[0], FORMS[name])
        COUNTER.reset()
        started = time.perf_counter()
        for subject in subjects[self.warmup:self.warmup + saves]:
            t0 = time.perf_counter()
            self.save(name, subject)
            times.append(time.perf_counter() - t0)
            if bare:
                counted = COUNTER.snapshot_raw()
                t0 = time.perf_counter()
                self.bare_save()
                bare_times.append(time.perf_counter() - t0)
                COUNTER.restore_raw(counted)
            if len(times) >= 3 and time.perf_counter() - started > max_seconds:
                break
        result = {"p50_ms": ms(median(times)), "p95_ms": ms(percentile(times, 95)), "saves": len(times),
                  "db_commands_per_save": COUNTER.snapshot(per=len(times))}
        if bare:
            result["bare_p50_ms"] = ms(median(bare_times))
        return result

    def prepare_bare(self, subject: str, form: tuple[str, str]) -> None:
        from ecrf.trail import record_stream

        stream = record_stream(STUDY, subject, *form)
        self.sample_event = {k: v for k, v in self.db.audit_events.find_one({"stream": stream}).items() if k != "_id"}
        self.sample_projection = {k: v for k, v in self.db.records.find_one({"_id": stream}).items() if k != "_id"}
        self.sample_projection["subject"] = "BARE"
        self.sample_event["context"] = {**self.sample_event["context"], "subject": "BARE"}

    def bare_save(self) -> None:
        self.bare_count = getattr(self, "bare_count", 0) + 1
        stream = f"bench-bare/{self.bare_count}"
        self.db.audit_events.insert_one({**self.sample_event, "stream": stream})
        self.db.records.update_one({"_id": stream, "version": {"$lt": 1}}, {"$set": self.sample_projection},
                                   upsert=True)

    def paths(self) -> dict:
        """The first (up to) 50 full-casebook subjects: at a larger size the same ones and more."""
        subjects = self.casebooks[:READ_SUBJECTS]
        return {"audit_history": [f"/studies/{STUDY}/subjects/{s}/audit" for s in subjects],
                "matrix": [f"/studies/{STUDY}/subjects/{s}" for s in subjects]}

    @contextmanager
    def requests_only(self):
        """Without the benchmark's own app context: each test-client request then gets a fresh one
        (a shared one would keep ``g.api_user`` and skip the token lookup of every request after the first)."""
        self.context.pop()
        try:
            yield
        finally:
            self.context = self.app.app_context()
            self.context.push()

    def reads(self, requests: int) -> dict:
        """Each read through the JSON API (bearer token) and as the HTML page (signed-in site staff)."""
        reads = self.paths()
        with self.requests_only():
            api, browser = _api(self.app), signed_in_client(self.app, "staff01")
            found = {name: read_times(api, paths, requests) for name, paths in reads.items()}
            found.update({f"{name}_page": read_times(browser, paths, requests) for name, paths in reads.items()})
            found["subjects_read"] = len(reads["matrix"])
            return found

    def query_plans(self) -> dict:
        """Query shapes, their cost and the server's plan for one save of each form and one of each read."""
        api = _api(self.app)
        found = {f"save {name}": plans.capture(lambda name=name: self.save(name, self.take(1)[0]), self.db)
                 for name in FORMS}
        subject = self.take(1)[0]
        counted = {}

        def put():
            COUNTER.reset()
            response = api.save(subject, *BIG_FORM, dict(self.data["IE"]))
            counted["commands"] = COUNTER.count
            if response.status_code != 201:
                raise RuntimeError(f"PUT answered {response.status_code}: {response.get_data(as_text=True)[:300]}")

        with self.requests_only():
            found["PUT IE (JSON API)"] = plans.capture(put, self.db)
            browser = signed_in_client(self.app, "staff01")
            for name, paths in self.paths().items():
                found[f"GET {name}"] = plans.capture(lambda paths=paths: api.get(paths[0]), self.db)
                found[f"GET {name} page"] = plans.capture(lambda paths=paths: browser.get(paths[0]), self.db)
        self.api_put_commands = counted["commands"]
        return found


MIDDLE = 100_000  # the 1e5, measured on the way to a larger size


def _worse(entry: dict, read: str) -> float:
    return max(entry[read]["p95_ms"], entry[f"{read}_page"]["p95_ms"])


def run(uri: str, quick: bool, large: int | None = None) -> dict:
    small, large = 1_000, large or (30_000 if quick else 1_000_000)
    sizes = [small, *([MIDDLE] if large > MIDDLE else []), large]
    saves, warmup, reads = (40, 3, 30) if quick else (200, 3, 200)
    budget = 3.0 if quick else 120.0  # seconds of measured saves per form and size (a scan can make saves slow)
    progress(f"scale: sizes {', '.join(f'{n:,}' for n in sizes)} audit events; {saves} saves each of "
             f"{', '.join(FORMS)} per size")
    rig = ScaleRig(uri, saves, warmup)
    try:
        results = {}
        for target in sizes:
            stored = rig.fill_to(target)
            # A checkpoint now, not during the first measured saves: after a fill of 1e6 documents the
            # server's own checkpoint slowed even the bare writes by 14% in one full run.
            rig.db.client.admin.command("fsync")
            progress(f"scale: {stored:,} events stored; measuring saves and reads")
            entry = {"events_stored": stored, "records_stored": rig.db.records.estimated_document_count(),
                     "events_per_history": rig.synth.events_per_subject}
            for name in FORMS:
                entry[f"save_{name}"] = rig.save_times(name, saves, budget, bare=name == "IE")
            entry.update(rig.reads(reads))
            results[target] = entry
        plans_large = rig.query_plans()
        small_r, large_r = results[small], results[large]
        middle = {"scaling_ratio_1e5_vs_1e3":
                  round(results[MIDDLE]["save_IE"]["p50_ms"] / small_r["save_IE"]["p50_ms"], 3),
                  "save_p50_ms_1e5": results[MIDDLE]["save_IE"]["p50_ms"],
                  "scaling_1e5_events": results[MIDDLE]["events_stored"]} if MIDDLE in results else {}
        return {
            **middle,
            "scaling_ratio_1e6_vs_1e3": round(large_r["save_IE"]["p50_ms"] / small_r["save_IE"]["p50_ms"], 3),
            "scaling_ratio_bare_writes":
                round(large_r["save_IE"]["bare_p50_ms"] / small_r["save_IE"]["bare_p50_ms"], 3),
            "scaling_ratio_normalised": round(
                (large_r["save_IE"]["p50_ms"] / small_r["save_IE"]["p50_ms"])
                / (large_r["save_IE"]["bare_p50_ms"] / small_r["save_IE"]["bare_p50_ms"]), 3),
            "scaling_ratio_lb_chem": round(large_r["save_LB_CHEM"]["p50_ms"] / small_r["save_LB_CHEM"]["p50_ms"], 3),
            "scaling_large_events": large_r["events_stored"],
            "scaling_small_events": small_r["events_stored"],
            "save_p50_ms_small": small_r["save_IE"]["p50_ms"],
            "save_p50_ms_large": large_r["save_IE"]["p50_ms"],
            "save_lb_chem_p50_ms_small": small_r["save_LB_CHEM"]["p50_ms"],
            "save_lb_chem_p50_ms_large": large_r["save_LB_CHEM"]["p50_ms"],
            # The target keys take the slower of the API read and the HTML page.
            "audit_history_p95_ms": _worse(large_r, "audit_history"),
            "audit_history_p95_ms_small": _worse(small_r, "audit_history"),
            "audit_history_api_p95_ms": large_r["audit_history"]["p95_ms"],
            "audit_history_page_p95_ms": large_r["audit_history_page"]["p95_ms"],
            "matrix_p95_ms": _worse(large_r, "matrix"),
            "matrix_p95_ms_small": _worse(small_r, "matrix"),
            "matrix_api_p95_ms": large_r["matrix"]["p95_ms"],
            "matrix_page_p95_ms": large_r["matrix_page"]["p95_ms"],
            "reads_subjects": large_r["subjects_read"],
            "api_put_db_commands": rig.api_put_commands,
            "collscans_scale": [f"{op}: {line}" for op, shapes in plans_large.items()
                                for line in plans.collscans(shapes)],
            "details_scale": {"sizes": {str(k): v for k, v in results.items()}, "query_plans_large": plans_large},
        }
    finally:
        rig.close()

"""The audit page of a subject with 10,000 events: first, following, deep and filtered pages (issue 19).

One subject of the bundled study gets 10,000 audit events over three years, as a subject edited for years
would have them: the events of ``tests/long_history.py`` (weight changes on its Vital signs stream, answers
on 49 query streams about Height, three people taking turns), hash-chained and keyed with the app's audit
key as the store chains them, written in batches (the store's own appends would stamp them all with
today's time; ``ecrf audit verify`` accepts these). A Flask test client signed in as the site's monitor then GETs
``/studies/{study}/subjects/{subject}/audit`` in five shapes, cycled: the first page; the page after it
(its "Next" link); a page deep in the trail (a signed key at about event 5,000); the first and the next
page filtered by person; the first page filtered by form and a rare item (one event in 50, so the page
spans about 2,500 numbers); and the first page of a date filter. The first read indexes the subject once
(``ecrf.subject_trail``: the key of the deep page is made by it, before the timed GETs); every later GET
only brings the index up to date. Server time through the test client, no network.
``audit_page_10k_p95_ms`` is the p95 over all of them; per-shape medians and p95s are kept.
"""

from __future__ import annotations

import re
import time

from bench.common import STUDY, bundled_app, get_ok, median, ms, percentile, progress, signed_in_client, test_helpers

EVENTS = 10_000
USER = "mon01"


def _next(html: str) -> str:
    found = re.search(r'rel="next" href="([^"]+)"', html)
    if not found:
        raise RuntimeError("the audit page has no Next link")
    return found.group(1).replace("&amp;", "&")


def _deep_key(app, subject: str) -> str:
    """A signed page key at about the middle of the trail, as a reader following Next would reach it."""
    from itsdangerous import URLSafeSerializer

    from ecrf.studies import study_runtime
    from ecrf.subject_history import subject_history
    from ecrf.users import get_user

    with app.test_request_context():
        page = subject_history(study_runtime(STUDY), get_user(USER), subject, per_page=EVENTS // 2)
        return URLSafeSerializer(app.secret_key, salt="audit-page").dumps(page.after.text())


def _spread_history(subject: str, years: float = 3.0) -> None:
    """The subject registered ``years`` ago (as bench/synth.py writes one), then ``EVENTS`` events evenly
    up to now, chained and keyed per stream."""
    import datetime as dt

    from audit import event_hash
    from bench.synth import Synth
    from ecrf.db import database
    from ecrf.studies import study_runtime
    from ecrf.trail import audit_store

    test_helpers()  # tests/ on the path
    from long_history import QUERY_STREAMS, long_history_entry

    store = audit_store()
    keyring = store.keyring
    streams = [f"record/{STUDY}/{subject}/SCREEN/VS"] + [f"query/{subject}-q{n}" for n in range(QUERY_STREAMS)]
    heads: dict[str, dict | None] = {stream: None for stream in streams}
    step = dt.timedelta(days=365 * years) / EVENTS
    start = dt.datetime.now(dt.UTC).replace(tzinfo=None) - step * (EVENTS + 1)
    synth = Synth(study_runtime(STUDY), forms=1)
    synth.t0 = start - dt.timedelta(days=1)
    document, registered, _ = synth.subject(subject, "01", records=False)
    database()["subjects"].insert_one(document)
    batch = registered
    for n in range(EVENTS):
        stream = streams[n % len(streams)]
        head = heads[stream]
        entry = long_history_entry(STUDY, subject, "01", stream, head["seq"] if head else 0, head, n)
        event = {"stream": stream, "seq": entry["expected_version"] + 1,
                 "at": (start + step * n).replace(microsecond=(start + step * n).microsecond // 1000 * 1000),
                 "actor": entry["actor"], "action": entry["action"], "changes": entry.get("changes") or [],
                 "reason": entry.get("reason"), "state": entry.get("state") or {}, "context": entry["context"],
                 "prev": head["hash"] if head else "0" * 64, "kid": keyring.current}
        event["hash"] = event_hash(event, keyring.keys[keyring.current])
        heads[stream] = event
        batch.append(event)
        if len(batch) == 1000:
            store.collection.insert_many(batch)
            batch = []
    if batch:
        store.collection.insert_many(batch)


def run(uri: str, quick: bool) -> dict:
    app = bundled_app(uri)
    subject = "01-900"
    started = time.perf_counter()
    with app.app_context():
        _spread_history(subject)
    progress(f"audit page: {EVENTS} events appended in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    with app.app_context():
        from ecrf.subject_trail import caught_up

        caught_up(STUDY, subject)  # the first view of the subject indexes its whole trail
    first_index_s = time.perf_counter() - started
    progress(f"audit page: the subject's {EVENTS} events indexed in {first_index_s:.1f} s (first view)")
    client = signed_in_client(app, USER)
    base = f"/studies/{STUDY}/subjects/{subject}/audit"
    shapes = {
        "first": base,
        "next": _next(get_ok(client, base)),
        "deep": f"{base}?after={_deep_key(app, subject)}",
        "person": f"{base}?actor=dm",
        "person_next": _next(get_ok(client, f"{base}?actor=dm")),
        "rare_item": f"{base}?form=VS&item=/WEIGHT",
        "date": f"{base}?since={time.strftime('%Y-%m-%d', time.gmtime(time.time() - 86400))}",
    }
    rounds = 5 if quick else 20
    for path in shapes.values():
        get_ok(client, path)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in shapes}
    for _ in range(rounds):
        for name, path in shapes.items():
            t0 = time.perf_counter()
            get_ok(client, path)
            times[name].append(time.perf_counter() - t0)
    every = [t for values in times.values() for t in values]
    progress(f"audit page: p95 {ms(percentile(every, 95))} ms over {len(every)} GETs")
    unfiltered = times["first"] + times["next"] + times["deep"]
    return {
        "audit_page_10k_p95_ms": ms(percentile(every, 95)),
        "audit_page_10k_unfiltered_p95_ms": ms(percentile(unfiltered, 95)),
        "audit_page_10k_p50_ms": ms(median(every)),
        "audit_page_10k_first_index_s": round(first_index_s, 2),
        "details_audit_page": {name: {"p50_ms": ms(median(values)), "p95_ms": ms(percentile(values, 95)),
                                      "gets": len(values)} for name, values in times.items()},
    }

"""Synthetic subjects written straight into the database, as the engine would have stored them.

Each subject gets its subject document, a ``subject_registered`` event, and
for each of the first ``forms`` scheduled forms of the bundled study a
``create`` audit event (changes, state, context, hash chain: ``ecrf audit
verify`` accepts them) and, optionally, the record projection and the
subject's summary, as a reader would have brought it up to date
(:mod:`ecrf.records.summary`: the cells, then the cursor at the time of
writing, so the next reader re-reads only records written since). Derived values
are left empty (they would need the CEL programs run per record). Nothing
goes through the engine: this is only how the benchmark fills a database fast.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Iterable

from audit import GENESIS, diff, event_hash
from bench.common import STUDY, progress, test_helpers

INFUSION = dt.date(2026, 3, 2)
BATCH = 1000


class Synth:
    """Documents for synthetic subjects of the bundled study (the first ``forms`` forms of the schedule each)."""

    def __init__(self, runtime, forms: int | None = None):
        from ecrf.records.normalise import normalise
        from ecrf.trail import audit_store

        _, _, _, form_data, schedule = test_helpers()
        self.runtime = runtime
        plan = schedule(runtime.metadata(), INFUSION)
        self.plan = []
        for event, form, visit, day in plan[:forms] if forms else plan:
            compiled = runtime.form(form)
            raw = {k: v for k, v in form_data(form, event, visit, infusion=INFUSION, day=day).items() if v is not None}
            data = normalise(compiled, raw, {})
            self.plan.append((event, form, data, diff({}, data), compiled.hash))
        self.t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        self.tick = 0
        self.keyring = audit_store().keyring  # keyed as the engine keys them: verify accepts them in a keyed database

    def _hashed(self, event: dict) -> dict:
        event["kid"] = self.keyring.current
        event["hash"] = event_hash(event, self.keyring.keys[self.keyring.current])
        return event

    @property
    def events_per_subject(self) -> int:
        return len(self.plan) + 1

    def _at(self) -> dt.datetime:
        self.tick += 1
        return self.t0 + dt.timedelta(milliseconds=self.tick)

    def subject(self, subject_id: str, site: str = "01", *, status: str = "screening", records: bool = True,
                projections: bool = True) -> tuple[dict, list[dict], list[dict]]:
        """``(subject document, audit events, projections)`` of one subject."""
        created = self._at()
        subject = {"_id": f"{STUDY}/{subject_id}", "study": STUDY, "subject_id": subject_id, "site": site,
                   "status": status, "created_at": created, "created_by": "staff01"}
        registered = {"stream": f"subject/{STUDY}/{subject_id}", "seq": 1, "at": created, "actor": "staff01",
                      "action": "subject_registered", "changes": [{"path": "/site", "old": None, "new": site}],
                      "reason": None, "state": {"status": status},  # as the subject document says
                      "context": {"study": STUDY, "subject": subject_id, "site": site}, "prev": GENESIS}
        self._hashed(registered)
        subject.update(version=1, head=registered["hash"])  # the subject document is its stream's projection
        events, documents = [registered], []
        if not records:
            return subject, events, documents
        for event_oid, form, data, changes, definition in self.plan:
            identity = {"study": STUDY, "subject": subject_id, "site": site, "event": event_oid, "form": form}
            stream = f"record/{STUDY}/{subject_id}/{event_oid}/{form}"
            state = {"derived": {}, "status": "complete", "definition": definition, "flags": []}
            event = {"stream": stream, "seq": 1, "at": self._at(), "actor": "staff01", "action": "create",
                     "changes": changes, "reason": None, "state": state, "context": identity, "prev": GENESIS}
            self._hashed(event)
            events.append(event)
            if projections:
                documents.append({"_id": stream, **identity, "data": data, **state, "version": 1,
                                    "head": event["hash"], "updated_at": event["at"], "updated_by": "staff01"})
        return subject, events, documents


class BulkWriter:
    """``insert_many`` in batches of 1,000 on a background thread, so generating and inserting overlap."""

    def __init__(self, db):
        self.db = db
        self.buffers: dict[str, list] = {}
        self.queue: queue.Queue = queue.Queue(maxsize=4)
        self.error: BaseException | None = None
        self.written = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            item = self.queue.get()
            if item is None:
                return
            collection, docs = item
            try:
                if self.error is None:
                    self.db[collection].insert_many(docs, ordered=False)
                    self.written += len(docs)
            except BaseException as exc:  # reported by close()
                self.error = exc

    def add(self, collection: str, docs: Iterable[dict]) -> None:
        buffer = self.buffers.setdefault(collection, [])
        buffer.extend(docs)
        while len(buffer) >= BATCH:
            self.queue.put((collection, buffer[:BATCH]))
            del buffer[:BATCH]

    def close(self) -> None:
        for collection, buffer in self.buffers.items():
            if buffer:
                self.queue.put((collection, list(buffer)))
        self.buffers = {}
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


def write_subjects(db, synth: Synth, ids: list[str], *, site: str = "01", status: str = "screening",
                   records: bool = True, projections_for: int | None = None, label: str = "") -> int:
    """Insert these synthetic subjects; projections for the first ``projections_for`` (all when None).

    Returns how many audit events were written.
    """
    from audit import utc_now
    from ecrf.records.summary import mark_refreshed, refresh, summaries_from

    summarised = records and (projections_for is None or projections_for > 0)
    if summarised:
        refresh(db.records)  # what the engine wrote before (the bench's own saves): as a reader would
    writer = BulkWriter(db)
    events_written = 0
    step = max(1, len(ids) // 10)
    for n, subject_id in enumerate(ids):
        with_projection = projections_for is None or n < projections_for
        subject, events, projections = synth.subject(subject_id, site, status=status, records=records,
                                                     projections=with_projection)
        writer.add("subjects", [subject])
        writer.add("audit_events", events)
        if projections:
            writer.add("records", projections)
            writer.add("subject_summaries", summaries_from(projections).values())
        events_written += len(events)
        if label and len(ids) >= 100 and n and n % step == 0:
            progress(f"{label}: {n}/{len(ids)} subjects, {events_written} events")
    writer.close()
    if summarised:
        mark_refreshed(utc_now())  # the summaries hold every record written so far
    return events_written

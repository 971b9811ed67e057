"""A batch: a file's submissions planned (created, updated, unchanged or refused) and written through the write path.

    submissions -> plan each (subject, record, typed data, hard validation) -> [dry run: stop]
                -> [all or nothing: stop at any refusal] -> register new subjects, save_record
                -> summary (created / updated / unchanged / refused, queries raised)

Unchanged data is never saved again, so re-importing a file appends no audit event. Each
save carries a fixed reason naming the file and the source's provenance.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TextIO

from audit import diff
from ecrf.data_import.submission import Submission, applied
from ecrf.errors import Conflict, DomainError, FieldError, Invalid
from ecrf.exports.tables import safe_line
from ecrf.records.document import current
from ecrf.records.normalise import normalise
from ecrf.records.save import save_record
from ecrf.records.validation import validate
from ecrf.roles import Action
from ecrf.sites import get_site
from ecrf.studies import StudyRuntime
from ecrf.subjects import SUBJECT_ID, Subject, casebook_version, register_subject, require, subject_key
from ecrf.trail import record_stream

REFUSAL_COLUMNS = ["line", "subject", "event", "form", "item", "label", "reason"]
OUTCOMES = ("created", "updated", "unchanged", "refused")


@dataclass
class Refusal:
    """Why one submission was refused: its line, the item by JSON pointer and label, the reason."""

    line: int
    subject: str
    event: str | None
    form: str | None
    item: str
    label: str
    reason: str


@dataclass
class Plan:
    """What writing one submission would do; ``data`` is the form's data after it."""

    submission: Submission
    outcome: str
    data: dict = field(default_factory=dict)
    version: int = 0
    register_at: str | None = None  # the site of a subject to register first
    faults: list[FieldError] = field(default_factory=list)


@dataclass
class Summary:
    """What a batch did (or, dry or stopped, would do), row by row."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: int = 0
    queries: int = 0
    registered: int = 0
    written: bool = False
    rows: list[dict] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)

    def count(self, plan: Plan, outcome: str | None = None) -> None:
        outcome = outcome or plan.outcome
        setattr(self, outcome, getattr(self, outcome) + 1)
        found = plan.submission
        self.rows.append({"line": found.line, "subject": found.subject, "event": found.event, "form": found.form,
                          "outcome": outcome, "registers": bool(plan.register_at)})

    def as_dict(self, limit: int | None = None) -> dict:
        """The counts, and the rows and refusals (the first ``limit`` of each when given)."""
        counts = {name: getattr(self, name) for name in (*OUTCOMES, "queries", "registered", "written")}
        return {**counts, "rows": self.rows[:limit], "refusals": [asdict(r) for r in self.refusals[:limit]]}

    def line(self) -> str:
        """One line for a terminal or a log."""
        verb = "" if self.written else "would be "
        return (f"{verb}created {self.created}, {verb}updated {self.updated}, unchanged {self.unchanged}, "
                f"refused {self.refused}; queries raised {self.queries}; subjects registered {self.registered}")


def import_reason(file: str) -> str:
    """The reason for change every save of an import gives: the file it came from."""
    return f"Data import from {re.sub(r'[^A-Za-z0-9 ._()+-]', '_', file)[:200]}"


def label_of(study: StudyRuntime, form_oid: str | None, pointer: str) -> str:
    """The English label of the item a JSON pointer names in the form ('' when it names none)."""
    form = study.forms.get(form_oid or "")
    parts = pointer.strip("/").split("/")
    item = form.item_by_oid.get(parts[0]) if form else None
    if item is not None and item.kind == "group" and len(parts) == 3:
        item = next((child for child in item.children if child.oid == parts[2]), item)
    return item.label("en") if item is not None else ""


def _refusals(study: StudyRuntime, found: Submission, faults: list[FieldError]) -> list[Refusal]:
    version = casebook_version(study, found.subject, found.site) if found.subject else study
    return [Refusal(found.line, found.subject, found.event, found.form, fault.path,
                    label_of(version, found.form, fault.path), fault.message) for fault in faults]


def _subject_plan(study: StudyRuntime, found: Submission) -> tuple[bool, list[FieldError]]:
    """Whether the subject exists, or why it cannot be registered."""
    stored = Subject._get_collection().find_one({"_id": subject_key(study.oid, found.subject)}, {"site": 1})
    if stored is not None:
        if found.site and found.site != stored.get("site"):
            at = stored.get("site")
            return True, [FieldError("/site", f"subject {found.subject} is at site {at}, not {found.site}")]
        return True, []
    if not SUBJECT_ID.fullmatch(found.subject):
        return False, [FieldError("/subject", "a new subject's id: 1-40 letters, digits, '-' or '_'")]
    if not found.site:
        return False, [FieldError("/site", f"subject {found.subject} is not registered and the file names no site")]
    try:
        get_site(found.site)
    except DomainError as error:
        return False, error.errors
    return False, []


def plan(study: StudyRuntime, found: Submission) -> Plan:
    """What writing ``found`` would do, from the stored record and the form's hard validation; writes nothing."""
    if found.faults or not found.subject or found.event is None or found.form is None:
        return Plan(found, "refused", faults=found.faults or [FieldError("/", "nothing to match")])
    exists, faults = _subject_plan(study, found)
    if faults:
        return Plan(found, "refused", faults=faults)
    stored = current(record_stream(study.oid, found.subject, found.event, found.form)) if exists else None
    if stored and (stored.get("locked") or stored.get("frozen")):
        state = "locked" if stored.get("locked") else "frozen"
        return Plan(found, "refused", faults=[FieldError("/", f"{found.form} at {found.event} is {state}")])
    # Checked as save_record will check it: with the forms of the study version the casebook is (or starts) on.
    form = casebook_version(study, found.subject, found.site).forms.get(found.form)
    if form is None:
        return Plan(found, "refused", faults=[FieldError("/form", f"the subject's study version has no form "
                                                                  f"{found.form}")])
    old = (stored or {}).get("data") or {}
    data = applied(old, found.changes)
    try:
        normal = normalise(form, data, old)
        faults = validate(form, normal)
    except Invalid as error:
        normal, faults = {}, error.errors
    if faults:
        return Plan(found, "refused", faults=faults)
    version = (stored or {}).get("version", 0)
    if not diff(old, normal):  # the same data, or an empty form that was never saved: nothing to write
        return Plan(found, "unchanged", data, version)
    return Plan(found, "created" if stored is None else "updated", data, version, None if exists else found.site)


def _write(study: StudyRuntime, user, chosen: Plan, reason: str, summary: Summary) -> None:
    found = chosen.submission
    try:
        if chosen.register_at:
            try:
                register_subject(study, user, chosen.register_at, found.subject, imported=True)
                summary.registered += 1
            except Conflict:
                pass  # registered by an earlier row of the file
        result = save_record(study, user, found.subject, found.event, found.form, chosen.data,
                             version=chosen.version, reason=reason, provenance=found.provenance)
    except DomainError as error:
        summary.refusals += _refusals(study, found, error.errors or [FieldError("/", error.detail)])
        summary.count(chosen, "refused")
        return
    if not result.changed:
        summary.count(chosen, "unchanged")
        return
    summary.queries += sum(1 for finding in result.findings if finding.severity == "query")
    summary.count(chosen, "created" if result.created else "updated")


def run_batch(study: StudyRuntime, user, submissions: list[Submission], file: str, *, dry_run: bool = False,
              all_or_nothing: bool = False, progress: Callable[[int], None] | None = None) -> Summary:
    """Plan every submission, then (unless dry, or all-or-nothing with a refusal) write the valid ones.

    Progress is reported once per submission planned and, unless stopped, once more as each is written. The
    summary's ``written`` says whether anything was written.
    """
    require(user, Action.IMPORT_DATA)
    plans = []
    for found in submissions:
        plans.append(plan(study, found))
        if progress:
            progress(1)
    summary = Summary()
    stop = dry_run or (all_or_nothing and any(p.outcome == "refused" for p in plans))
    reason = import_reason(file)
    for chosen in plans:
        if chosen.outcome == "refused":
            summary.refusals += _refusals(study, chosen.submission, chosen.faults)
            summary.count(chosen)
        elif stop or chosen.outcome == "unchanged":
            summary.count(chosen)
        else:
            _write(study, user, chosen, reason, summary)
        if progress and not stop:
            progress(1)
    summary.written = not stop
    if stop:
        summary.registered = len({p.submission.subject for p in plans if p.register_at})
    return summary


def write_refusals(out: TextIO, refusals: list[Refusal]) -> None:
    """The refused rows as CSV: line, subject, event, form, item (JSON pointer), label, reason; no cell a formula."""
    writer = csv.writer(out)
    writer.writerow(REFUSAL_COLUMNS)
    for refusal in refusals:
        writer.writerow(safe_line([getattr(refusal, name) for name in REFUSAL_COLUMNS]))

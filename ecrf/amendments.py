"""Protocol amendments: a new study version loaded without moving anyone, and casebooks migrated to it.

    load (sites carried on their version) -> activate per site (ecrf.study_versions) -> migrate casebooks

A migration plans every record first (what retires, what is added, what becomes required, which values
no longer fit, which derived values and check results change), then, unless it is a dry run, moves each
subject that nothing blocks: an audit event on the subject's stream (from -> to version, who, the
amendment's reason), then every record through the write path (``save_record``), which retires dropped
items' values, re-derives, re-checks, re-computes completeness and syncs queries. A subject holding a
locked or frozen record, or a value the new version refuses, is reported and left where it is.
Running it again changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ecrf.errors import FieldError, Invalid, NotFound
from ecrf.records.document import Record
from ecrf.records.reads import read_scope
from ecrf.records.recheck import recheck_record
from ecrf.records.retired import split_retired
from ecrf.records.rules import evaluate
from ecrf.records.save import save_record
from ecrf.records.validation import validate
from ecrf.roles import Action, require
from ecrf.sites import Site
from ecrf.studies import StudyRuntime, load_study, runtime_by_hash, study_runtime
from ecrf.study_diff import Difference, diff_studies
from ecrf.study_folder import read_study
from ecrf.study_uploads import read_upload
from ecrf.study_versions import carry_sites, find_version, loaded_definition
from ecrf.subjects import Subject, pin_subject, subject_runtime
from ecrf.text import MAX_REASON, check_text
from ecrf.trail import record_admin_event

log = logging.getLogger(__name__)


@dataclass
class RecordPlan:
    """What migrating one record changes (or why it is left alone)."""

    event: str
    form: str
    outcome: str  # "migrate", "unchanged", "locked", "frozen", "refused" (values that do not fit), "form removed"
    retired: dict = field(default_factory=dict)
    added: list[str] = field(default_factory=list)
    new_required: list[str] = field(default_factory=list)
    misfits: list[dict] = field(default_factory=list)
    derived: dict = field(default_factory=dict)  # name -> [before, after]
    checks_failing: list[list[str]] = field(default_factory=list)  # [check, item] failing from now on
    checks_passing: list[list[str]] = field(default_factory=list)  # [check, item] no longer failing


@dataclass
class SubjectPlan:
    """One subject's casebook: its version now and after, each record's plan, and what happened."""

    subject: str
    site: str
    from_version: str
    to_version: str
    records: list[RecordPlan] = field(default_factory=list)
    outcome: str = "planned"  # "planned" (dry run), "migrated", "unchanged", "skipped: ..."

    @property
    def blocked(self) -> str | None:
        """Why the subject cannot move (a locked, frozen or refused record), else None."""
        for record in self.records:
            if record.outcome in ("locked", "frozen", "refused"):
                return f"{record.event}/{record.form} {record.outcome}"
        return None


@dataclass
class MigrationReport:
    """The whole migration, per subject and record; ``as_dict`` is what the report download holds."""

    study: str
    to_version: str
    dry_run: bool
    reason: str
    subjects: list[SubjectPlan] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Subjects per outcome."""
        counts: dict[str, int] = {}
        for subject in self.subjects:
            key = subject.outcome.split(":")[0]
            counts[key] = counts.get(key, 0) + 1
        return counts

    def as_dict(self) -> dict:
        return {**asdict(self), "counts": self.counts()}

    def lines(self) -> list[str]:
        """The report as text, one line per subject and per record that changes or is held back."""
        out = []
        for subject in self.subjects:
            out.append(f"{subject.subject} (site {subject.site}) {subject.from_version} → {subject.to_version}: "
                       f"{subject.outcome}")
            for record in subject.records:
                if record.outcome == "unchanged":
                    continue
                said = [f"retired {', '.join(sorted(record.retired))}" if record.retired else "",
                        f"added {', '.join(record.added)}" if record.added else "",
                        f"now required and empty {', '.join(record.new_required)}" if record.new_required else "",
                        "; ".join(f"{m['path']}: {m['message']}" for m in record.misfits),
                        ", ".join(f"{k} {v[0]} → {v[1]}" for k, v in record.derived.items()),
                        ", ".join(f"check {c} fails at {i}" for c, i in record.checks_failing),
                        ", ".join(f"check {c} passes at {i}" for c, i in record.checks_passing)]
                out.append(f"  {record.event}/{record.form}: {record.outcome}"
                           + "".join(f"; {s}" for s in said if s))
        return out


def load_version(path: str | Path, *, actor: str):
    """Load a study folder as a new version without moving anyone onto it.

    Before the new version becomes current, every site that has activated none keeps the current one
    (:func:`ecrf.study_versions.carry_sites`) and every casebook not yet pinned is pinned where it stands.
    Returns :func:`ecrf.studies.load_study`'s answer.
    """
    from_folder = _current_of(path)
    if from_folder is not None:
        carry_sites(from_folder.oid, from_folder.definition_hash, [s.code for s in Site.objects.only("code")],
                    actor=actor)
        for subject in Subject.objects(study=from_folder.oid, study_version=None):
            pin_subject(from_folder.oid, subject, from_folder.definition_hash, actor=actor, action="subject_pinned",
                        reason="pinned to the version in use before a new version was loaded")
    return load_study(path, actor=actor)


def upload_version(study: StudyRuntime, user, content: bytes, folder: Path) -> tuple[str, list[Difference]]:
    """Check an uploaded study zip and load it as a new version of ``study``; its version and the differences
    from the current version.

    :raise 403: not a data manager; 422 ``/file``: an unsafe zip or another study's;
      :class:`~ecrf.errors.DefinitionError`: the faults ``study check`` lists, nothing loaded.
    """
    require(user, Action.AMEND_STUDY)
    definition = read_upload(content, folder)
    if definition.oid != study.oid:
        raise Invalid(f"the zip holds study {definition.oid}, not {study.oid}",
                      [FieldError("/file", f"a version of {study.oid} is expected")])
    differences = diff_studies(loaded_definition(study.oid, study.version), definition)
    load_version(Path(definition.path), actor=user.username)
    return definition.version, differences


def _current_of(path: str | Path) -> StudyRuntime | None:
    """The current version of the study the folder holds, if one is loaded and differs from the folder."""
    definition = read_study(path)
    try:
        current = study_runtime(definition.oid)
    except NotFound:  # not loaded yet: nothing to carry
        return None
    return None if current.definition_hash == definition.hash else current


def migrate(study: StudyRuntime, user, to_version: str, *, reason: str, site: str | None = None,
            subject_id: str | None = None, dry_run: bool = False,
            progress: Callable[[int], None] | None = None) -> MigrationReport:
    """Plan, and unless ``dry_run`` carry out, the migration of casebooks to ``to_version``.

    ``site`` and ``subject_id`` narrow it. A dry run writes nothing. Idempotent: a casebook already on
    the version whose records all stand as the version makes them is ``unchanged``.
    :raise 403: not a data manager; 404: the version is not loaded; 422: no reason.
    """
    require(user, Action.AMEND_STUDY)
    reason = migration_reason(reason)
    target = runtime_by_hash(find_version(study.oid, to_version).definition_hash)
    report = MigrationReport(study.oid, to_version, dry_run, reason)
    for subject in subjects_to_migrate(study.oid, site, subject_id):
        plan = plan_subject(study, target, subject)
        report.subjects.append(plan)
        if not dry_run:
            _carry_out(plan, study, target, subject, user, reason)
        if progress:
            progress(1)
    if not dry_run:
        record_admin_event(f"study/{study.oid}", user.username, "study_migrated",
                           {"version": to_version, "definition_hash": target.definition_hash, "site": site,
                            "subject": subject_id, "reason": reason, "counts": report.counts()})
    return report


def migration_reason(reason) -> str:
    """The amendment's reason as a migration records it (stripped); 422 on ``/reason`` when empty or unstorable."""
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise Invalid("a migration needs the amendment's reason", [FieldError("/reason", "required")])
    check_text(reason, "/reason", multiline=True, max_length=MAX_REASON, label="Reason for change")
    return reason


def subjects_to_migrate(study_oid: str, site: str | None = None, subject_id: str | None = None) -> list[Subject]:
    """The subjects a migration covers, in id order."""
    query = {"study": study_oid, **({"site": site} if site else {}),
             **({"subject_id": subject_id} if subject_id else {})}
    return list(Subject.objects(**query).order_by("subject_id"))


def plan_subject(study: StudyRuntime, target: StudyRuntime, subject: Subject) -> SubjectPlan:
    """What moving the subject's casebook to ``target`` changes, record by record (reads only)."""
    source = subject_runtime(study, subject)
    plan = SubjectPlan(subject.subject_id, subject.site, source.version, target.version)
    for stored in Record._get_collection().find({"study": study.oid, "subject": subject.subject_id}).sort("_id", 1):
        plan.records.append(plan_record(source, target, subject, stored))
    moves = source.definition_hash != target.definition_hash
    plan.outcome = "planned" if moves or any(r.outcome == "migrate" for r in plan.records) else "unchanged"
    if plan.outcome == "planned" and plan.blocked:
        plan.outcome = f"skipped: {plan.blocked}"
    return plan


def plan_record(source: StudyRuntime, target: StudyRuntime, subject: Subject, stored: dict) -> RecordPlan:
    """One record's plan: retired and added items, new required items, misfits, derivation and check changes."""
    plan = RecordPlan(stored["event"], stored["form"], "migrate")
    if stored["form"] not in target.forms or stored["form"] not in _event_forms(target, stored["event"]):
        plan.outcome = "form removed"
        return plan
    form = target.form(stored["form"])
    old_form = source.forms.get(stored["form"])
    kept, plan.retired = split_retired(form, stored)
    plan.retired = {k: v for k, v in plan.retired.items() if k not in (stored.get("retired") or {})}
    plan.added = [item.oid for item in form.items if old_form is None or item.oid not in old_form.item_by_oid]
    plan.misfits = [{"path": e.path, "message": e.message} for e in validate(form, kept)]
    rules = evaluate(target, form, read_scope(target, subject, target.event(stored["event"]), form, kept))
    before_missing = set(old_form.missing_items(stored.get("data") or {})) if old_form else set()
    plan.new_required = [p for p in rules.missing if p not in before_missing]
    before = stored.get("derived") or {}
    plan.derived = {k: [before.get(k), rules.derived.get(k)] for k in sorted(set(before) | set(rules.derived))
                    if before.get(k) != rules.derived.get(k)}
    failing_before = {tuple(p) for p in (stored.get("failing") or {}).get("found", [])}
    failing_after = {(f.check, f.item) for f in rules.findings}
    plan.checks_failing = [list(p) for p in sorted(failing_after - failing_before)]
    plan.checks_passing = [list(p) for p in sorted(failing_before - failing_after)]
    if stored.get("locked") or stored.get("frozen"):
        plan.outcome = "locked" if stored.get("locked") else "frozen"
    elif plan.misfits:
        plan.outcome = "refused"
    elif (stored.get("definition") == form.hash and not plan.retired and not rules.differs_from(stored)
          and (stored.get("failing") or {}).get("study") == target.definition_hash):
        plan.outcome = "unchanged"
    return plan


def _event_forms(study: StudyRuntime, event_oid: str) -> list[str]:
    return next((event["forms"] for event in study.events if event["oid"] == event_oid), [])


def _carry_out(plan: SubjectPlan, study: StudyRuntime, target: StudyRuntime, subject: Subject, user,
               reason: str) -> None:
    """Move one planned subject: its pin, then each record through the write path."""
    if plan.outcome != "planned":
        return
    amendment = {"amendment": {"from": plan.from_version, "to": plan.to_version, "reason": reason}}
    pin_subject(study.oid, subject, target.definition_hash, actor=user.username, reason=reason,
                details={"from_version": plan.from_version, "to_version": plan.to_version})
    for record in plan.records:
        if record.outcome != "migrate":
            continue
        stored = Record._get_collection().find_one(
            {"study": study.oid, "subject": subject.subject_id, "event": record.event, "form": record.form})
        form = target.form(record.form)
        if record.retired or stored.get("definition") != form.hash:
            kept, _ = split_retired(form, stored)
            save_record(target, user, subject.subject_id, record.event, record.form, kept, stored.get("version"),
                        f"amendment {plan.from_version} → {plan.to_version}: {reason}", provenance=amendment)
        else:  # the same form under other parameters: only what the rules say changes
            recheck_record(target, stored, user.username, subject, record_failing=True)
    plan.outcome = "migrated"

"""SAE reports: the document, its audit stream and its state machine.

Each report is its own audit stream, ``sae/<study>/<report id>``; the ``sae_reports`` collection is the
fold of that stream (the report's content is the stream's data, its state what each event sets). The id
is derived from what opened it (subject, visit, form, row), so saving the same adverse event again finds
the report it opened and never opens a second one.

    draft --submit (investigator, password)--> submitted --acknowledge--> acknowledged --close--> closed
    submitted | acknowledged --request follow-up--> followup_requested --submit--> submitted

Audit actions: ``sae_opened``, ``sae_updated``, ``sae_submitted``, ``sae_acknowledged``,
``sae_followup_requested``, ``sae_closed`` (the notification stream reads them by these names).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from typing import Any

from mongoengine import DateTimeField, DictField, Document, IntField, NotUniqueError, StringField

from audit import StaleVersion, diff, fold, utc_now
from ecrf.errors import Conflict, FieldError, Invalid, NotFound
from ecrf.roles import Action, require
from ecrf.safety import clock
from ecrf.safety.content import check_content, missing_for_submission, parse_time, prefilled
from ecrf.safety.triggers import Match, matches, study_triggers
from ecrf.sites import site_timezone
from ecrf.studies import StudyRuntime
from ecrf.text import MAX_MESSAGE, check_text
from ecrf.trail import audit_store

log = logging.getLogger(__name__)

STATES = ("draft", "submitted", "acknowledged", "followup_requested", "closed")
# action -> (states it leaves, state it reaches, audit action, permission)
TRANSITIONS = {
    "submit": (("draft", "followup_requested"), "submitted", "sae_submitted", Action.SUBMIT_SAE),
    "acknowledge": (("submitted",), "acknowledged", "sae_acknowledged", Action.REVIEW_SAE),
    "followup": (("submitted", "acknowledged"), "followup_requested", "sae_followup_requested", Action.REVIEW_SAE),
    "close": (("acknowledged",), "closed", "sae_closed", Action.REVIEW_SAE),
}
DONE = {"submit": "submitted", "acknowledge": "acknowledged", "followup": "sent back for follow-up",
        "close": "closed"}
EDITABLE = ("draft", "followup_requested")
SUBMIT_MEANING = "I confirm this serious adverse event report is accurate and complete"


class SaeReport(Document):
    """The fold of one report's audit stream: content in ``data``, the rest as each event set it."""

    report_id = StringField(primary_key=True)
    study = StringField(required=True)
    subject = StringField(required=True)
    site = StringField(required=True)
    event = StringField(required=True)
    form = StringField(required=True)
    row = StringField()
    kind = StringField(required=True)  # serious | death | expedited
    trigger = DictField()  # {"item", "value"}: what opened it
    state = StringField(required=True, choices=STATES)
    data = DictField()  # the CIOMS content (see ecrf.safety.content)
    awareness_at = DateTimeField()
    due_at = DateTimeField()  # what is owed next, by when (None: nothing)
    followup_due_at = DateTimeField()
    opened_at = DateTimeField()
    submitted_at = DateTimeField()
    acknowledged_at = DateTimeField()
    closed_at = DateTimeField()
    submissions = IntField(default=0)  # 1: the initial report, 2 and on: follow-ups
    signature = DictField(default=None)  # the latest submission's {"by", "name", "at", "meaning"}
    message = DictField(default=None)  # the reviewer's latest word {"by", "at", "text", "action"}
    version = IntField(default=0)
    head = StringField()
    meta = {"collection": "sae_reports", "indexes": [("study", "site", "due_at"), ("study", "subject")]}

    @property
    def stream(self) -> str:
        return report_stream(self.study, self.report_id)

    def is_overdue(self, now: dt.datetime) -> bool:
        """True when the report owes something and ``now`` is past its due time."""
        return clock.overdue(self.due_at, now)

    def remaining(self, now: dt.datetime) -> dt.timedelta | None:
        """Time left until due (negative when overdue), None when nothing is owed."""
        return clock.remaining(self.due_at, now)


def report_stream(study: str, report_id: str) -> str:
    """The audit stream of one SAE report."""
    return f"sae/{study}/{report_id}"


def report_id_for(study: str, subject: str, event: str, form: str, row: str | None) -> str:
    """The report id of what opened it: the same event of the same subject always gives the same id."""
    source = "\x1f".join([study, subject, event, form, row or ""])
    return hashlib.sha256(source.encode()).hexdigest()[:16]


# ------------------------------------------------------------------ opening, from the write path


def open_reports(study: StudyRuntime, identity: dict, data: dict, derived: dict, actor: str,
                 now: dt.datetime | None = None) -> list[SaeReport]:
    """Open an SAE report for each expedited rule the saved record meets that has none yet; the new ones.

    ``identity`` is the saved record's ``{"study", "subject", "site", "event", "form"}``. The site's awareness
    starts as the moment of the save (it can be set earlier in the draft). Idempotent: a report already
    opened for the same record or row is left as it is.
    """
    found = matches(study_triggers(study.definition.get("parameters")), identity["form"], data, derived)
    if not found:
        return []  # most saves: no read at all
    ids = {report_id_for(study.oid, identity["subject"], identity["event"], identity["form"], m.row): m for m in found}
    opened, now = set(SaeReport.objects(report_id__in=list(ids)).scalar("report_id")), now or utc_now()
    return [report for report_id, match in ids.items()
            if report_id not in opened and (report := _open(study, identity, report_id, match, actor, now))]


def _open(study: StudyRuntime, identity: dict, report_id: str, match: Match, actor: str,
          now: dt.datetime) -> SaeReport | None:
    content = prefilled(match, now)
    state = {
        "report_id": report_id, **{k: identity[k] for k in ("study", "subject", "site", "event", "form")},
        "row": match.row, "kind": match.trigger.kind, "trigger": {"item": match.trigger.item, "value": match.value},
        "state": "draft", "awareness_at": now, "due_at": clock.initial_due(now), "opened_at": now, "submissions": 0,
    }
    try:
        event = audit_store().append(report_stream(study.oid, report_id), 0, actor=actor, action="sae_opened",
                                     changes=diff({}, content), state=state, context=_context(state))
    except StaleVersion:
        _restore(report_stream(study.oid, report_id))
        return None  # opened already: by a concurrent save, or before a crash that lost its projection
    return _project(event, None)


def _restore(stream: str) -> None:
    """Write a report's projection from its stream when it has none (a crash between append and projection)."""
    events = audit_store().events(stream)
    if not events or SaeReport.objects(report_id=events[0]["state"]["report_id"]).only("report_id").first():
        return
    projection = fold(events, {"data": {}, "version": 0, "head": None})
    try:
        SaeReport(**{k: v for k, v in projection.items() if k in SaeReport._fields}).save(force_insert=True)
    except NotUniqueError:
        pass  # restored meanwhile by another reader


def _context(state: dict) -> dict:
    return {k: state[k] for k in ("study", "subject", "site", "event", "form")} | {"sae": state["report_id"]}


def _project(event: dict, report: SaeReport | None) -> SaeReport:
    """The stored report moved to ``event`` (inserted for a stream's first event)."""
    base = {"data": {}, "version": 0, "head": None} if report is None else _folded(report)
    projection = fold([event], base)
    document = SaeReport(**{k: v for k, v in projection.items() if k in SaeReport._fields})
    if report is None:
        document.save(force_insert=True)
    else:
        fields = {f"set__{k}": v for k, v in projection.items() if k in SaeReport._fields and k != "report_id"}
        SaeReport.objects(report_id=report.report_id, version=event["seq"] - 1).update(**fields)
    return document


def _folded(report: SaeReport) -> dict:
    return {name: getattr(report, name) for name in SaeReport._fields}


# ------------------------------------------------------------------ reading


def get_report(study: StudyRuntime, user, report_id: str) -> SaeReport:
    """The report if the user may see SAE reports at its site; :class:`NotFound` otherwise."""
    require(user, Action.VIEW_SAE)
    report = SaeReport.objects(report_id=str(report_id), study=study.oid).first()
    if report is None or not user.sees_site(report.site):
        raise NotFound(f"no SAE report {report_id!r}")
    return _caught_up(report)


def _caught_up(report: SaeReport) -> SaeReport:
    """The report with every event of its stream folded in (a crash may have left it behind)."""
    behind = audit_store().events(report.stream, after=report.version)
    for event in behind:
        report = _project(event, report)
    return report


def list_reports(study: StudyRuntime, user, *, site: str | None = None, state: str | None = None,
                 overdue_only: bool = False, now: dt.datetime | None = None) -> list[SaeReport]:
    """The reports the user may see: overdue first (most overdue first), then by due time, then newest opened.

    ``now`` decides what is overdue (default: this moment); tests pass a fake clock's time.
    """
    require(user, Action.VIEW_SAE)
    now = now or utc_now()
    criteria: dict[str, Any] = {"study": study.oid}
    if state:
        criteria["state"] = state
    sites = user.site_filter()
    if site:
        if sites is not None and site not in sites:
            return []
        criteria["site"] = site
    elif sites is not None:
        criteria["site"] = {"$in": sites}
    reports = [r for r in SaeReport.objects(__raw__=criteria) if not overdue_only or r.is_overdue(now)]
    far = dt.datetime.max.replace(tzinfo=dt.UTC)

    def order(r: SaeReport):
        return (not r.is_overdue(now), clock.aware(r.due_at) or far, -clock.aware(r.opened_at).timestamp())

    return sorted(reports, key=order)


def overdue_by_site(reports: list[SaeReport], now: dt.datetime) -> dict[str, int]:
    """How many of ``reports`` are overdue at each site, sites in code order."""
    counts: dict[str, int] = {}
    for report in reports:
        if report.is_overdue(now):
            counts[report.site] = counts.get(report.site, 0) + 1
    return dict(sorted(counts.items()))


def report_trail(report: SaeReport) -> list[dict]:
    """The report's audit events, oldest first."""
    return audit_store().events(report.stream)


# ------------------------------------------------------------------ changing


def update_report(study: StudyRuntime, user, report_id: str, content: Any, version: Any) -> SaeReport:
    """Site staff or the investigator change the report's content while it is a draft or owes a follow-up.

    ``content`` holds the fields to change (``null`` clears one); times without a zone are the site's.
    422 naming each bad field, 409 when the report moved past ``version`` or is not editable.
    """
    require(user, Action.REPORT_SAE)
    report = get_report(study, user, report_id)
    if not isinstance(content, dict):
        raise Invalid("content must be an object", [FieldError("/content", "must be an object")])
    new = check_content({**report.data, **content}, site_timezone(report.site))
    _refuse_stale(report, version)
    if report.state not in EDITABLE:
        raise Conflict(f"the report is {report.state}; only a draft or a requested follow-up can change")
    changes = diff(report.data, new)
    if not changes:
        return report
    state: dict[str, Any] = {}
    if "awareness_at" in content:
        awareness = _awareness(new.get("awareness_at"), site_timezone(report.site))
        state["awareness_at"] = awareness
        if report.state == "draft":
            state["due_at"] = clock.initial_due(awareness)
    return _append(report, user.username, "sae_updated", changes, state)


def _awareness(value: str | None, tz) -> dt.datetime:
    """The site's awareness as UTC: required (the clock runs from it) and never later than now."""
    awareness = parse_time(value, tz)
    if awareness is None:
        raise Invalid("the site's awareness is required", [FieldError("/awareness_at", "the clock starts from it")])
    if awareness > utc_now():
        raise Invalid("the site's awareness cannot be later than now", [FieldError("/awareness_at", "in the future")])
    return awareness


def _refuse_stale(report: SaeReport, version: Any) -> None:
    if version is None:
        return
    if isinstance(version, bool) or not isinstance(version, int):
        raise Invalid("version must be a whole number", [FieldError("/version", "must be an integer")])
    if version != report.version:
        raise Conflict(f"the report is at version {report.version}, not {version}; reload and try again")


def _append(report: SaeReport, actor: str, action: str, changes: list[dict], state: dict) -> SaeReport:
    try:
        event = audit_store().append(report.stream, report.version, actor=actor, action=action, changes=changes,
                                     state=state, context=_context(_folded(report)),
                                     head={"seq": report.version, "hash": report.head})
    except StaleVersion:
        _caught_up(report)
        raise Conflict("someone changed the report first; reload and try again") from None
    return _project(event, report)


def submit(study: StudyRuntime, user, report_id: str, password: Any, *,
           check_password: Callable[[Any, str], Any], version: Any = None) -> SaeReport:
    """The investigator submits the report (initial or follow-up), re-entering the password (21 CFR 11.200).

    422 naming every field a submission needs that is empty (and the password), 401 for a wrong password
    (counted toward lockout), 409 in a state that cannot submit.
    """
    require(user, Action.SUBMIT_SAE)
    report = get_report(study, user, report_id)
    _refuse_stale(report, version)
    _refuse_transition(report, "submit")
    faults = missing_for_submission(report.data)
    if not isinstance(password, str) or not password:
        faults.append(FieldError("/password", "re-enter your password to sign"))
    if faults:
        raise Invalid("the report is not complete enough to submit", faults)
    check_password(user, password)
    now = utc_now()
    signature = {"by": user.username, "name": user.display_name, "at": now, "meaning": SUBMIT_MEANING}
    state = {"state": "submitted", "submitted_at": now, "due_at": None, "followup_due_at": None,
             "submissions": report.submissions + 1, "signature": signature}
    return _append(report, user.username, "sae_submitted", [], state)


def acknowledge(study: StudyRuntime, user, report_id: str, text: Any = None) -> SaeReport:
    """The sponsor's safety reviewer (or the data manager) acknowledges a submitted report."""
    return _review(study, user, report_id, "acknowledge", text, {"acknowledged_at": utc_now()})


def request_followup(study: StudyRuntime, user, report_id: str, text: Any, due: Any = None) -> SaeReport:
    """The reviewer asks the site for a follow-up report (what is asked for in ``text``), due at ``due``.

    ``due`` (ISO 8601; the site's time without a zone) defaults to seven days from now.
    """
    if not isinstance(text, str) or not text.strip():
        raise Invalid("say what the follow-up should add", [FieldError("/text", "a message is required")])
    report = get_report(study, user, report_id)
    now = utc_now()
    due_at = parse_time(due, site_timezone(report.site), "/due") if due else clock.followup_due(now)
    if due_at is not None and clock.aware(due_at) <= now:
        raise Invalid("the follow-up must be due in the future", [FieldError("/due", "must be later than now")])
    return _review(study, user, report_id, "followup", text, {"followup_due_at": due_at, "due_at": due_at})


def close(study: StudyRuntime, user, report_id: str, text: Any = None) -> SaeReport:
    """The reviewer closes an acknowledged report: nothing more is owed."""
    return _review(study, user, report_id, "close", text, {"closed_at": utc_now(), "due_at": None})


def _review(study: StudyRuntime, user, report_id: str, action: str, text: Any, state: dict) -> SaeReport:
    _, reached, audit_action, permission = TRANSITIONS[action]
    require(user, permission)
    if text is not None:
        check_text(text, "/text", multiline=True, max_length=MAX_MESSAGE, label="Message")
    report = get_report(study, user, report_id)
    _refuse_transition(report, action)
    message = {"by": user.username, "at": utc_now(), "text": (text or "").strip(), "action": action}
    return _append(report, user.username, audit_action, [], {**state, "state": reached, "message": message})


def _refuse_transition(report: SaeReport, action: str) -> None:
    """409 unless ``action`` may leave the report's state."""
    states = TRANSITIONS[action][0]
    if report.state not in states:
        raise Conflict(f"a report that is {report.state} cannot be {DONE[action]}; it must be {' or '.join(states)}")


def open_reports_quietly(study: StudyRuntime, identity: dict, data: dict, derived: dict, actor: str) -> None:
    """:func:`open_reports` after a save, which it never fails: a failure is logged (the report opens on the
    next save of the record, as opening is idempotent)."""
    try:
        open_reports(study, identity, data, derived, actor)
    except Exception:  # noqa: BLE001 - a save that stored its data must not be answered as failed
        log.exception("SAE report not opened after the save of %s", identity)

"""The SDV worklist: the saved forms that await source data verification, are partly verified, or changed since.

Read by monitors (their sites only) and data managers, filtered by site, subject and visit. One read of the
study's subjects (their order at each site, for targeted SDV) and one of its records, without their data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ecrf.errors import FieldError, Forbidden, Invalid
from ecrf.records.document import Record
from ecrf.roles import Action, may, require
from ecrf.sdv import STATUSES, SdvPlan, sdv_status, site_ranks
from ecrf.studies import StudyRuntime

OPEN = ("changed", "awaiting", "partial")  # what the worklist lists unless asked for another status
_FIELDS = {"subject": 1, "site": 1, "event": 1, "form": 1, "status": 1, "version": 1, "sdv": 1, "sdv_items": 1,
           "sdv_changes": 1, "signature": 1, "locked": 1, "updated_at": 1}


@dataclass
class WorkItem:
    """One saved form in the worklist: its SDV status, how many of its required items are verified, its markers."""

    site: str
    subject: str
    event: str
    form: str
    status: str
    verified: int
    required: int
    markers: dict[str, dict] = field(default_factory=dict)  # item pointer -> changed-since-SDV marker
    signed: bool = False
    locked: bool = False


def may_see_worklist(user) -> bool:
    """Monitors and data managers work the SDV worklist."""
    return may(user.role, Action.VERIFY) or may(user.role, Action.LOCK)


def worklist(study: StudyRuntime, user, *, site: str | None = None, subject: str | None = None,
             event: str | None = None, status: str | None = None) -> list[WorkItem]:
    """The saved forms of the user's sites that await SDV, are partly verified or changed since SDV.

    ``status`` (one of :data:`ecrf.sdv.STATUSES`) lists that status only. Sorted by site, subject, then
    the study's order of visits and forms. 403 for roles that do not verify or manage data, 422 for an
    unknown status, 404 for an unknown visit, nothing for a site the user does not work at.
    """
    require(user, Action.VIEW_DATA)
    if not may_see_worklist(user):
        raise Forbidden(f"a {user.role} does not work the SDV worklist")
    if status is not None and status not in STATUSES:
        raise Invalid(f"unknown SDV status {status!r}", [FieldError("/status", f"one of {', '.join(STATUSES)}")])
    if event is not None:
        study.event(event)
    sites = user.site_filter()
    if site is not None and sites is not None and site not in sites:
        return []
    query: dict = {"study": study.oid}
    for key, value in (("site", site), ("subject", subject), ("event", event)):
        if value:
            query[key] = value
    if sites is not None and not site:
        query["site"] = {"$in": sites}
    plan = SdvPlan.of(study.parameters)
    ranks = site_ranks(study.oid, site) if plan.ranked else {}
    wanted = (status,) if status else OPEN
    order = {(e["oid"], f): (i, j) for i, e in enumerate(study.events) for j, f in enumerate(e["forms"])}
    items = []
    for record in Record._get_collection().find(query, _FIELDS):
        required = plan.items(study.form(record["form"]), ranks.get(record["subject"]))
        state = sdv_status(record, required)
        if state not in wanted:
            continue
        verified = record.get("sdv_items") or {}
        done = len(required) if (record.get("sdv") and not verified) else sum(1 for p in required if p in verified)
        items.append(WorkItem(record["site"], record["subject"], record["event"], record["form"], state or "",
                              done, len(required), dict(record.get("sdv_changes") or {}),
                              bool(record.get("signature")), bool(record.get("locked"))))
    items.sort(key=lambda w: (w.site, w.subject, order.get((w.event, w.form), (len(order), 0))))
    return items

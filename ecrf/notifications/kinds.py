"""What happened, as a kind of notification: the mapping from an audit event to a notice, and who hears of it.

Pure: an event (a dict as the audit store keeps it) in, a :class:`Notice` or nothing out. The key of a notice
names what it is about so that the same fact is delivered once per recipient, however often it is read.
"""

from __future__ import annotations

from dataclasses import dataclass

QUERY_OPENED = "query_opened"
QUERY_ANSWERED = "query_answered"
RECORD_UNLOCKED = "record_unlocked"
LAB_GRADE = "lab_grade"
VISIT_OVERDUE = "visit_overdue"
SAE_OPENED = "sae_opened"
SAE_SUBMITTED = "sae_submitted"
SAE_OVERDUE = "sae_overdue"

# In the order the preferences page lists them; the labels are catalog keys (the interface translates them).
LABELS = {
    QUERY_OPENED: "New query at my sites",
    QUERY_ANSWERED: "Query answered",
    SAE_OPENED: "SAE opened",
    SAE_SUBMITTED: "SAE submitted",
    SAE_OVERDUE: "SAE report overdue",
    VISIT_OVERDUE: "Visit overdue",
    LAB_GRADE: "Lab result of CTCAE grade 3 or higher",
    RECORD_UNLOCKED: "Record unlocked",
}
KINDS = tuple(LABELS)

SITE_TEAM = ("site_staff", "investigator")
REVIEWERS = ("monitor", "data_manager")
# The sponsor's safety reviewer is a role of the SAE stream; a study without it leaves SAEs to the data manager.
SAFETY = ("investigator", "monitor", "data_manager", "safety")
RECIPIENT_ROLES = {
    QUERY_OPENED: SITE_TEAM,
    QUERY_ANSWERED: REVIEWERS,
    RECORD_UNLOCKED: (*SITE_TEAM, "monitor"),
    LAB_GRADE: ("investigator", "monitor", "data_manager"),
    VISIT_OVERDUE: SITE_TEAM,
    SAE_OPENED: SAFETY,
    SAE_SUBMITTED: SAFETY,
    SAE_OVERDUE: SAFETY,
}

# A lab result notifies from this CTCAE grade up.
LAB_GRADE_THRESHOLD = 3
GRADE_SUFFIX = "_GRADE"
# SAE actions of the SAE reports' streams (another part of the engine writes them).
SAE_ACTIONS = {"sae_opened": SAE_OPENED, "sae_submitted": SAE_SUBMITTED}
SAVE_ACTIONS = ("create", "update", "rederive")
# What the notifier asks the audit store for: every action above.
WATCHED_ACTIONS = ("query_opened", "query_answered", "unlock", "sae_updated", *SAE_ACTIONS, *SAVE_ACTIONS)


@dataclass(frozen=True)
class Notice:
    """One fact worth telling: its kind, where it happened, what it is about, and the key that makes it once."""

    kind: str
    key: str
    study: str
    site: str
    subject: str
    at: object  # the event's time (a UTC datetime)
    actor: str = ""
    event: str = ""
    form: str = ""
    item: str = ""
    detail: dict | None = None  # shown in the inbox only (never in an e-mail)


def notices(event: dict) -> list[Notice]:
    """The notices one audit event gives (none for an event nobody is told of).

    A record save gives one notice per derived ``*_GRADE`` at or above grade 3, keyed by record, analyte and
    grade, so saving the same grade again tells nobody twice while a worse grade later does.
    """
    action, context = event.get("action"), event.get("context") or {}
    if not context.get("subject") or not context.get("site"):
        return []
    base = {"study": context.get("study", ""), "site": context["site"], "subject": context["subject"],
            "at": event.get("at"), "actor": event.get("actor", ""), "event": context.get("event", ""),
            "form": context.get("form", "")}
    if action in ("query_opened", "query_answered"):
        kind = QUERY_OPENED if action == "query_opened" else QUERY_ANSWERED
        return [Notice(kind, f"{kind}:{event['stream']}:{event['seq']}", item=context.get("item", ""),
                       detail={"query": context.get("query")}, **base)]
    if action == "unlock":
        return [Notice(RECORD_UNLOCKED, f"{RECORD_UNLOCKED}:{event['stream']}:{event['seq']}", **base)]
    if action in SAE_ACTIONS:
        kind = SAE_ACTIONS[action]
        return [Notice(kind, f"{kind}:{event['stream']}:{event['seq']}", detail={"sae": event["stream"]}, **base)]
    if action in SAVE_ACTIONS:
        return _lab_grades(event, base)
    return []


def _lab_grades(event: dict, base: dict) -> list[Notice]:
    derived = (event.get("state") or {}).get("derived") or {}
    found = []
    for name, grade in sorted(derived.items()):
        if name.endswith(GRADE_SUFFIX) and isinstance(grade, int) and not isinstance(grade, bool) \
                and grade >= LAB_GRADE_THRESHOLD:
            found.append(Notice(LAB_GRADE, f"{LAB_GRADE}:{event['stream']}:{name}:{grade}",
                                item=name, detail={"grade": grade}, **base))
    return found


def visit_overdue(study: str, site: str, subject: str, visit: str, at) -> Notice:
    """A scheduled visit whose window closed with nothing saved (once per subject and visit)."""
    return Notice(VISIT_OVERDUE, f"{VISIT_OVERDUE}:{study}:{subject}:{visit}", study=study, site=site,
                  subject=subject, at=at, event=visit)


def sae_overdue(clock: dict, at) -> Notice:
    """An SAE report still not submitted when its initial report fell due (once per report)."""
    return Notice(SAE_OVERDUE, f"{SAE_OVERDUE}:{clock['_id']}", study=clock["study"], site=clock["site"],
                  subject=clock["subject"], at=at, detail={"sae": clock["_id"]})

"""Roles and what each may do: the one permission matrix of the engine."""

from __future__ import annotations

from enum import Enum

from ecrf.errors import Forbidden


class Role(str, Enum):
    SITE_STAFF = "site_staff"
    INVESTIGATOR = "investigator"
    MONITOR = "monitor"
    DATA_MANAGER = "data_manager"
    CODER = "coder"  # codes verbatim terms to the dictionaries (sponsor side)
    ADMIN = "admin"
    SAFETY = "safety"  # the sponsor's safety reviewer: SAE reports only, at every site


class Action(str, Enum):
    VIEW_DATA = "view data"
    ENTER_DATA = "enter/change data"
    REGISTER_SUBJECT = "register subject"
    VERIFY = "verify (SDV)"
    SIGN = "sign"
    MANAGE_QUERIES = "raise/close/reopen query"
    ANSWER_QUERIES = "answer query"
    LOCK = "lock/unlock, freeze"
    EXPORT = "export"
    IMPORT_DATA = "import clinical data"
    AMEND_STUDY = "amend study (new version, activation, migration)"
    MANAGE_RANGES = "manage lab reference ranges"
    ADMINISTER = "users, sites, study load"
    VIEW_SAE = "view SAE reports"
    REPORT_SAE = "write SAE report"
    SUBMIT_SAE = "submit SAE report (signature)"
    REVIEW_SAE = "acknowledge/follow-up/close SAE report"
    CODE = "code terms (coding queue)"


ROLES = [role.value for role in Role]

PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.VIEW_DATA: frozenset({Role.SITE_STAFF, Role.INVESTIGATOR, Role.MONITOR, Role.DATA_MANAGER, Role.CODER}),
    Action.ENTER_DATA: frozenset({Role.SITE_STAFF, Role.INVESTIGATOR}),
    Action.REGISTER_SUBJECT: frozenset({Role.SITE_STAFF, Role.INVESTIGATOR}),
    Action.VERIFY: frozenset({Role.MONITOR}),
    Action.SIGN: frozenset({Role.INVESTIGATOR}),
    Action.MANAGE_QUERIES: frozenset({Role.MONITOR, Role.DATA_MANAGER}),
    Action.ANSWER_QUERIES: frozenset({Role.SITE_STAFF, Role.INVESTIGATOR}),
    Action.LOCK: frozenset({Role.DATA_MANAGER}),
    Action.EXPORT: frozenset({Role.DATA_MANAGER}),
    Action.IMPORT_DATA: frozenset({Role.DATA_MANAGER}),
    Action.AMEND_STUDY: frozenset({Role.DATA_MANAGER}),
    Action.MANAGE_RANGES: frozenset({Role.DATA_MANAGER}),
    Action.ADMINISTER: frozenset({Role.ADMIN}),
    Action.VIEW_SAE: frozenset({Role.SITE_STAFF, Role.INVESTIGATOR, Role.MONITOR, Role.DATA_MANAGER, Role.SAFETY}),
    Action.REPORT_SAE: frozenset({Role.SITE_STAFF, Role.INVESTIGATOR}),
    Action.SUBMIT_SAE: frozenset({Role.INVESTIGATOR}),
    Action.REVIEW_SAE: frozenset({Role.SAFETY, Role.DATA_MANAGER}),
    Action.CODE: frozenset({Role.CODER, Role.DATA_MANAGER}),
}

# Roles whose work spans every site of the study.
ALL_SITES = frozenset({Role.DATA_MANAGER, Role.ADMIN, Role.SAFETY, Role.CODER})


def may(role: str, action: Action) -> bool:
    """True when ``role`` is allowed to perform ``action``."""
    try:
        return Role(role) in PERMISSIONS[action]
    except ValueError:
        return False


def require(user, action: Action) -> None:
    """:class:`Forbidden` unless the user's role allows the action."""
    if not may(user.role, action):
        raise Forbidden(f"a {user.role} may not {action.value}")


def matrix_markdown() -> str:
    """The permission matrix as a Markdown table (rendered in the README)."""
    head = "| action | " + " | ".join(ROLES) + " |"
    rule = "|---|" + "---|" * len(ROLES)
    rows = [
        f"| {action.value} | " + " | ".join("✓" if Role(r) in roles else "" for r in ROLES) + " |"
        for action, roles in PERMISSIONS.items()
    ]
    return "\n".join([head, rule, *rows])

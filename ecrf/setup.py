"""First-start work: indexes, the first admin, the bundled study."""

from __future__ import annotations

import secrets

from ecrf.attachments import Attachment
from ecrf.coding.codings import Coding
from ecrf.exports.jobs import ExportJob
from ecrf.locks import ContainerLock
from ecrf.notifications import notifier
from ecrf.notifications.inbox import Notification
from ecrf.notifications.preferences import Preferences
from ecrf.queries import Query
from ecrf.ranges import LabRange
from ecrf.records.document import Record
from ecrf.records.summary import SubjectSummary
from ecrf.safety.reports import SaeReport
from ecrf.signatures import Signature
from ecrf.sites import Site
from ecrf.studies import Study, load_study, loaded_studies
from ecrf.subject_trail import ensure_indexes as ensure_subject_trail_indexes
from ecrf.subjects import Subject
from ecrf.trail import audit_store
from ecrf.users import ApiToken, User, add_user


def ensure_indexes() -> None:
    """Create every collection's indexes (idempotent)."""
    audit_store().ensure_indexes()
    ensure_subject_trail_indexes()
    notifier.ensure_indexes()
    for model in (Record, Site, Study, Subject, User, ApiToken, ExportJob, Query, LabRange, ContainerLock, Signature,
                  Attachment, Notification, Preferences, Coding, SaeReport,
                  SubjectSummary):
        model.ensure_indexes()


def ensure_admin(password: str | None = None) -> str | None:
    """Create the ``admin`` user on an empty user collection.

    Returns the password when it was generated here (to print once), else None.
    """
    if User.objects.count():
        return None
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(15)
    add_user("admin", "admin", [], password, full_name="Administrator", min_password_length=8)
    return generated


def ensure_study(path: str) -> bool:
    """Load the study at ``path`` when no study is loaded yet; True when it loaded one."""
    if loaded_studies():
        return False
    load_study(path)
    return True

"""Subjects: registration at a site and visibility."""

from __future__ import annotations

import re

from mongoengine import DateTimeField, Document, IntField, NotUniqueError, StringField

from audit import GENESIS, StaleVersion, fold
from ecrf.errors import Conflict, FieldError, Forbidden, Invalid, NotFound
from ecrf.locks import refuse_if_study_closed
from ecrf.roles import Action, require
from ecrf.sites import get_site
from ecrf.studies import StudyRuntime
from ecrf.study_versions import pinned_runtime, version_for_new_subject
from ecrf.text import check_text
from ecrf.trail import audit_store, subject_stream

SUBJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
# The events of a subject's stream that its document projects (records append "subject_status").
# "subject_pinned"/"subject_migrated" move the casebook's study version (see ecrf.study_versions).
SUBJECT_ACTIONS = ("subject_registered", "subject_status", "subject_pinned", "subject_migrated")


class Subject(Document):
    key = StringField(primary_key=True)  # "<study>/<subject_id>"
    study = StringField(required=True)
    subject_id = StringField(required=True)
    site = StringField(required=True)
    status = StringField(default="screening")
    study_version = StringField()  # the definition hash the casebook is pinned to (None: from before pinning)
    created_at = DateTimeField()
    created_by = StringField()
    # The subject document is the projection of the subject's audit stream, as a record is of its own.
    version = IntField(default=0)
    head = StringField()
    meta = {"collection": "subjects", "indexes": [("study", "site"), ("study", "subject_id")]}


def register_subject(study: StudyRuntime, user, site: str, subject_id: str | None = None, *,
                     imported: bool = False) -> Subject:
    """Register a subject at a site the user belongs to; assigns ``<site>-NNN`` when no id is given.

    ``imported``: registered by a data import, under the import permission.

    :raise 423: while the study is locked or frozen.
    """
    require(user, Action.IMPORT_DATA if imported else Action.REGISTER_SUBJECT)
    refuse_if_study_closed(study.oid, "no subject can be registered")
    if not isinstance(site, str) or not site:
        raise Invalid("site is required", [FieldError("/site", "site is required")])
    check_text(site, "/site", label="Site")
    get_site(site)
    if not user.sees_site(site):
        raise Forbidden(f"you do not work at site {site}", [FieldError("/site", "not one of your sites")])
    if subject_id is not None and (not isinstance(subject_id, str) or not SUBJECT_ID.fullmatch(subject_id)):
        raise Invalid("invalid subject id", [FieldError("/subject_id", "1-40 letters, digits, '-' or '_'")])
    pinned = version_for_new_subject(study.oid, site)
    for attempt in range(50):
        candidate = subject_id or _next_id(study.oid, site, attempt)
        # Audit first, as every write: the stream's first event also claims the id.
        try:
            event = audit_store().append(
                subject_stream(study.oid, candidate), 0, actor=user.username, action="subject_registered",
                changes=[{"path": "/site", "old": None, "new": site}],
                state={"status": "screening", "study_version": pinned},
                context={"study": study.oid, "subject": candidate, "site": site},
                head={"seq": 0, "hash": GENESIS},
            )
            subject = Subject(
                key=subject_key(study.oid, candidate), study=study.oid, subject_id=candidate, site=site,
                status="screening", study_version=pinned, created_at=event["at"], created_by=user.username,
                version=event["seq"], head=event["hash"],
            )
            subject.save(force_insert=True)
        except (StaleVersion, NotUniqueError):
            if subject_id:
                raise Conflict(f"subject {subject_id!r} already exists",
                               [FieldError("/subject_id", "already exists")]) from None
            continue
        return subject
    raise Conflict("could not assign a subject id; try again")


def _next_id(study: str, site: str, attempt: int) -> str:
    count = Subject.objects(study=study, site=site).count()
    return f"{site}-{count + 1 + attempt:03d}"


def subject_key(study: str, subject_id: str) -> str:
    """The ``_id`` of a subject's document."""
    return f"{study}/{subject_id}"


def get_subject(study: StudyRuntime, user, subject_id: str) -> Subject:
    """The subject if the user may see it; :class:`NotFound` otherwise (never reveals other sites)."""
    require(user, Action.VIEW_DATA)
    found = Subject._get_collection().find_one({"_id": subject_key(study.oid, subject_id)})
    return visible_subject(study, user, subject_id, found)


def visible_subject(study: StudyRuntime, user, subject_id: str, document: dict | None) -> Subject:
    """The subject of its stored ``document`` (None: rebuilt from its stream, if it has one) if the user may see it.

    :class:`NotFound` otherwise, the same for a subject that does not exist and one at another site.
    """
    subject = Subject._from_son(document) if document else _restored(study, subject_id)
    if subject is None or not user.sees_site(subject.site):
        raise NotFound(f"no subject {subject_id!r}")
    return subject


def _restored(study: StudyRuntime, subject_id: str) -> Subject | None:
    """The subject rebuilt from its stream when the process registering it stopped before storing it."""
    if not isinstance(subject_id, str) or not SUBJECT_ID.match(subject_id):
        return None
    fields = subject_fields(audit_store().events(subject_stream(study.oid, subject_id)))
    if not fields:
        return None
    subject = Subject(key=subject_key(study.oid, subject_id), study=study.oid, subject_id=subject_id, **fields)
    try:
        subject.save(force_insert=True)
    except NotUniqueError:
        return Subject.objects(key=subject.key).first()
    return subject


def subject_fields(events: list[dict]) -> dict:
    """The fields of a subject's document that its stream decides (empty when it was never registered).

    ``site``, ``status``, ``created_at``/``created_by`` (its registration) and
    the position (``version``, ``head``) of its last registration or status
    event: the other events of the stream (locks over the casebook) leave
    the document alone.
    """
    own = [event for event in events if event.get("action") in SUBJECT_ACTIONS]
    if not own:
        return {}
    projection = fold(own)
    first = own[0]
    pinned = {"study_version": projection["study_version"]} if projection.get("study_version") else {}
    return {"site": projection["data"].get("site", (first.get("context") or {}).get("site")),
            "status": projection.get("status", "screening"), "created_at": first["at"],
            "created_by": first["actor"], "version": projection["version"], "head": projection["head"], **pinned}


def list_subjects(study: StudyRuntime, user, site: str | None = None) -> list[Subject]:
    """The subjects the user may see, optionally of one site."""
    require(user, Action.VIEW_DATA)
    query = {"study": study.oid}
    sites = user.site_filter()
    if site is not None:
        if sites is not None and site not in sites:
            return []
        query["site"] = site
    elif sites is not None:
        query["site__in"] = sites
    return list(Subject.objects(**query).order_by("subject_id"))


def require_site(user, subject: Subject) -> None:
    """:class:`NotFound` when the subject is of a site the user does not see."""
    if not user.sees_site(subject.site):
        raise NotFound(f"no subject {subject.subject_id!r}")


def subject_runtime(study: StudyRuntime, subject: Subject) -> StudyRuntime:
    """The study version the subject's casebook is read and saved with: the one it is pinned to."""
    return pinned_runtime(study, subject.study_version)


def casebook_version(study: StudyRuntime, subject_id: str, site: str | None = None) -> StudyRuntime:
    """The study version the subject's casebook is read and saved with; for a subject not registered yet, the
    version a new subject at ``site`` starts on (the current one when no site is named)."""
    stored = Subject._get_collection().find_one({"_id": subject_key(study.oid, subject_id)}, {"study_version": 1})
    if stored is not None:
        return pinned_runtime(study, stored.get("study_version"))
    return pinned_runtime(study, version_for_new_subject(study.oid, site) if site else None)


def pin_subject(study_oid: str, subject: Subject, definition_hash: str, *, actor: str, reason: str,
                action: str = "subject_migrated", details: dict | None = None) -> Subject:
    """Move the subject's casebook to the study version ``definition_hash`` (an audit event on its stream).

    ``action`` is ``subject_pinned`` when a casebook from before pinning is pinned where it stands.
    Returns the subject as it now stands; no event when it is pinned there already.
    """
    store, stream = audit_store(), subject_stream(study_oid, subject.subject_id)
    for _ in range(5):
        if subject.study_version == definition_hash:
            return subject
        head = store.head(stream) or {"seq": 0, "hash": GENESIS}
        try:
            event = store.append(
                stream, head["seq"], actor=actor, action=action, reason=reason,
                changes=[{"path": "/study_version", "old": subject.study_version, "new": definition_hash}],
                state={"study_version": definition_hash},
                context={"study": study_oid, "subject": subject.subject_id, "site": subject.site, **(details or {})},
                head=head,
            )
        except StaleVersion:
            subject = Subject.objects(key=subject.key).first() or subject
            continue
        Subject._get_collection().update_one(
            {"_id": subject.key, "version": {"$not": {"$gte": event["seq"]}}},
            {"$set": {"study_version": definition_hash, "version": event["seq"], "head": event["hash"]}})
        subject.study_version, subject.version, subject.head = definition_hash, event["seq"], event["hash"]
        return subject
    raise Conflict(f"subject {subject.subject_id} changed meanwhile; try again")



def casebook_runtime(study: StudyRuntime, subject_id: str) -> StudyRuntime:
    """The study version of the subject's casebook, by the subject's id (``study`` when unknown or not pinned).

    Reads only the pin: who may see the subject is decided where the subject is read.
    """
    found = Subject._get_collection().find_one({"_id": subject_key(study.oid, str(subject_id))}, {"study_version": 1})
    return pinned_runtime(study, (found or {}).get("study_version"))

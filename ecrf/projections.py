"""What every collection that projects an audit stream should hold, compared with what it holds.

:func:`ecrf.integrity.verify_all` walks the audit trail once, stream by
stream in name order, and hands each stream to :class:`ProjectionCheck`,
which folds it into the fields of its projection and names every field that
differs (``field 'site' is '02' in subjects, '01' in the stream``), every
projection without its stream and every stream without its projection.

    stream kind                    projection            compared
    record/<study>/<subj>/<ev>/<f> records               identity, updated_by/at (the folded fields: verify_stream)
    signature/<study>/<subj>/<id>  signatures            every field signature_from_event projects (signer, printed
                                                         name, meaning, scope, event, form, at, covers, digest,
                                                         heads, site, subject); the digest against its covers
    record/... "sign" events       signatures            signatures from before signature streams (no ``stream``):
                                                         signer, printed name, meaning, time, scope, signed heads
    subject/<study>/<subj>         subjects              study, subject id, site, status, created_at/by, version, head
    subject/..., study/<oid>       container_locks       kind and who set it (lock/freeze/unlock/unfreeze events)
    query/<id>                     queries               identity, item, origin, check, state, messages,
                                                         opened/closed_at, version
    attachment/<id>                attachments           identity, item, file name, type, size, SHA-256, who added
                                                         and removed it, why; the GridFS file's SHA-256
    user/<username>                users, api_tokens     role, sites, active, last login, full name and password hash
                                                         (as a digest), must change password after a reset; how
                                                         many tokens were issued and are live
    site/<code>                    sites                 name, time zone
    ranges/<site>                  lab_ranges            every field of each range, who added it, whether retired
    study/<oid>                    studies               versions loaded, which is current, who loaded it; the stored
                                                         definition against its content hash, its oid and name
    sae/<study>/<report id>        sae_reports           identity, kind, state, content, clock, signature, version
    study/<oid>                    site_versions         each site's version (hash and name), ethics approval date,
                                                         whether carried, who activated it (activations, carries)

Collections are read once each: those keyed like their streams (subjects,
queries, users, sites, lab ranges, tokens) through one cursor sorted the way
the walk comes, the others (studies, signatures, container locks) whole at
the end, since their keys do not follow stream names (site versions too:
their study's stream holds every site's).

Compared only where the document has them, since documents written before
the engine kept them lack them: a subject's ``version`` and ``head``, a
user's ``last_login``. Tolerating their absence gives nothing away: whoever
can remove a field can as well set it to what a truncated stream says,
which only the stream's checkpoints expose.

Not derived from any audit event, so not verified here: a user's
``password_history``, ``full_name`` and ``password_hash`` where the stream
predates their digest (users created and passwords set before it), ``failed_logins``
and ``locked_until`` (a lockout counter, written before its event and racing
it), ``created_at`` of users and sites, ``created_at`` and ``retired_at`` of
ranges, ``at`` of a container lock (each a clock read next to its event, not
the event's time), a study's ``loaded_at``, a site version's ``activated_at``, tokens' hashes and
times (no event names a token), ``broken_checks`` and export jobs (reports,
not facts of the trail).
"""

from __future__ import annotations

import json
from typing import Any

from audit import BEHIND, StreamProblem, fold
from ecrf.attachments import Attachment, attachment_problems
from ecrf.definitions import content_hash
from ecrf.field_differences import field_differences
from ecrf.keyed_cursor import KeyedCursor
from ecrf.locks import ContainerLock
from ecrf.queries import Query
from ecrf.ranges import LabRange
from ecrf.safety.reports import SaeReport
from ecrf.signatures import Signature, covers_digest, signature_from_event, signature_stream
from ecrf.sites import Site
from ecrf.stream_fields import PASSWORD_DIGEST, event_details, query_fields, range_fields, user_fields
from ecrf.studies import Study
from ecrf.study_versions import SiteVersion
from ecrf.subjects import Subject, subject_fields
from ecrf.users import ApiToken, User, password_digest

RECORD_IDENTITY = ("study", "subject", "site", "event", "form")
# What the record walk must read of each record for record_problems, beside the folded fields.
RECORD_FIELDS = (*RECORD_IDENTITY, "updated_at", "updated_by")
LOCK_ACTIONS = {"lock": ("locked", True), "unlock": ("locked", False),
                "freeze": ("frozen", True), "unfreeze": ("frozen", False)}
TOKEN_ENDS = ("tokens_revoked", "user_disabled")  # every live token of the user is revoked by these
# What a signature stream decides of its signatures document: all signature_from_event sets.
SIGNATURE_FIELDS = ("study", "subject", "site", "scope", "event", "form", "signer", "printed_name", "meaning", "at",
                    "covers", "digest", "heads", "stream")
# What an SAE report's stream decides of its sae_reports document (the fold of its events).
SAE_FIELDS = ("study", "subject", "site", "event", "form", "row", "kind", "trigger", "state", "data", "awareness_at",
              "due_at", "followup_due_at", "submissions", "signature", "message", "version", "head")


def record_problems(stream: str, events: list[dict], projection: dict) -> list[StreamProblem]:
    """Each of a record's identity fields and ``updated_by``/``updated_at`` that differs from its stream.

    Identity is study, subject, site, event and form; all are those of the
    stream's last event. A projection at another version than its stream is
    left to the version check.
    """
    last = events[-1] if events else None
    if last is None or projection.get("version") != last.get("seq"):
        return []
    context = last.get("context") or {}
    expected = {key: context[key] for key in RECORD_IDENTITY if key in context}
    expected.update(updated_at=last.get("at"), updated_by=last.get("actor"))
    get = projection.get
    for key, value in expected.items():
        if get(key) != value:
            return field_differences(stream, "records", expected, projection)
    return []  # the common case, without naming anything (strings and a time: == is exact here)


class ProjectionCheck:
    """One verification's comparison of projections with streams; feed it every stream in name order.

    :meth:`stream_problems` answers for the stream just walked (what needs
    only that stream and its own projection); :meth:`remaining_problems`,
    once the walk is over, for projections without streams and for the
    collections read whole (signatures, container locks, studies).
    """

    def __init__(self):
        self.subjects = KeyedCursor(Subject._get_collection())
        self.queries = KeyedCursor(Query._get_collection())
        self.attachments = KeyedCursor(Attachment._get_collection())
        self.users = KeyedCursor(User._get_collection())
        self.tokens = KeyedCursor(ApiToken._get_collection(), "username", {"username": 1, "revoked_at": 1})
        self.sites = KeyedCursor(Site._get_collection())
        self.ranges = KeyedCursor(LabRange._get_collection(), "site")
        self.signed: dict[str, dict[str, dict]] = {}  # signature id -> record stream -> what its sign stamp says
        self.streamed: dict[str, tuple[str, dict]] = {}  # signature id -> (its stream, the document it projects to)
        self.locks: dict[str, dict] = {}  # container key -> the lock its stream holds (kind, by)
        self.loads: dict[str, list[dict]] = {}  # study oid -> its study_loaded events
        self.sae: dict[str, tuple[str, dict]] = {}  # report id -> (its stream, the fold of its events)
        self.activations: dict[str, list[dict]] = {}  # study oid -> its site activation and carry events

    def stream_problems(self, stream: Any, events: list[dict]) -> list[StreamProblem]:
        """Projection problems of one stream's kind (none for a kind without a projection here)."""
        if not isinstance(stream, str) or not events:
            return []
        kind, _, key = stream.partition("/")
        if kind == "record":
            self._collect_signatures(stream, events)
            return []
        if kind == "signature":
            return self._collect_signature_stream(stream, events)
        if kind == "sae":  # compared once sae_reports is read whole (its ids do not follow stream names)
            self.sae[key.rpartition("/")[2]] = (stream, fold(events, {"data": {}, "version": 0, "head": None}))
            return []
        if kind in ("subject", "study"):
            self._collect_lock(stream, events)
        if kind == "study":
            self.loads[key] = [e for e in events if e.get("action") == "study_loaded"]
            self.activations[key] = [e for e in events if e.get("action") in SITE_VERSION_ACTIONS]
            return []
        check = {"subject": self._subject, "query": self._query, "user": self._user,
                 "site": self._site, "ranges": self._ranges, "attachment": self._attachment}.get(kind)
        return check(stream, key, events) if check else []

    def remaining_problems(self) -> list[StreamProblem]:
        """Projections no stream accounts for, then signatures, container locks and studies."""
        problems = []
        for cursor, collection, stream_of in (
                (self.queries, "queries", "query/{}"), (self.sites, "sites", "site/{}"),
                (self.subjects, "subjects", "subject/{}"), (self.users, "users", "user/{}"),
                (self.attachments, "attachments", "attachment/{}")):
            problems += [StreamProblem(stream_of.format(document["_id"]),
                                       f"{collection} document has no audit stream (events deleted)")
                         for document in cursor.unmatched()]
        problems += [StreamProblem(f"ranges/{document.get('site')}",
                                   f"range {document['_id']} in lab_ranges has no audit event")
                     for document in self.ranges.unmatched()]
        problems += [StreamProblem(f"user/{document.get('username')}", "API token has no token_issued event")
                     for document in self.tokens.unmatched()]
        return (problems + self._signature_problems() + self._lock_problems() + self._study_problems()
                + self._sae_problems())

    def _sae_problems(self) -> list[StreamProblem]:
        problems = []
        for document in SaeReport._get_collection().find({}).sort("_id", 1):
            stream, expected = self.sae.pop(document["_id"], (None, None))
            if expected is None:
                problems.append(StreamProblem(f"sae/{document.get('study')}/{document['_id']}",
                                              "sae_reports document has no audit stream (events deleted)"))
                continue
            problems += field_differences(stream, "sae_reports", {k: expected.get(k) for k in SAE_FIELDS}, document)
        return problems + [StreamProblem(stream, "stream has no projection in sae_reports")
                           for stream, _ in self.sae.values()]

    # ------------------------------------------------------------ subjects

    def _subject(self, stream: str, key: str, events: list[dict]) -> list[StreamProblem]:
        expected = subject_fields(events)
        found = self.subjects.take(key, wanted=bool(expected))
        if not expected:
            return []
        if not found:
            return [StreamProblem(stream, "stream has no projection in subjects")]
        study, _, subject = key.partition("/")
        expected.update(study=study, subject_id=subject)
        if "head" not in found[0]:  # written before subjects kept their stream position (see the module docstring)
            expected = {k: v for k, v in expected.items() if k not in ("version", "head")}
        return field_differences(stream, "subjects", expected, found[0])

    def _collect_lock(self, stream: str, events: list[dict]) -> None:
        # As lifecycle.set_lock writes them: a lock or freeze replaces what the container held,
        # an unlock or unfreeze removes only a lock or freeze of its own kind.
        held = None
        for event in events:
            kind, on = LOCK_ACTIONS.get(event.get("action"), (None, None))
            if kind is None:
                continue
            if on:
                held = {"kind": kind, "by": event.get("actor")}
            elif held is not None and held["kind"] == kind:
                held = None
        if held is not None:
            self.locks[stream] = held
        else:
            self.locks.pop(stream, None)

    def _lock_problems(self) -> list[StreamProblem]:
        problems = []
        stored = {document["_id"]: document for document in ContainerLock._get_collection().find({})}
        for key in sorted(set(stored) | set(self.locks), key=str):
            expected, found = self.locks.get(key), stored.get(key)
            if found is None:
                problems.append(StreamProblem(
                    key, f"stream holds a {expected['kind']} lock missing from container_locks"))
            elif expected is None:
                problems.append(StreamProblem(key, f"{found.get('kind')} lock in container_locks has no lock event"))
            else:
                problems += field_differences(key, "container_locks", expected, found)
        return problems

    # ------------------------------------------------------------ queries

    def _query(self, stream: str, key: str, events: list[dict]) -> list[StreamProblem]:
        found = self.queries.take(key, wanted=True)
        if not found:
            return [StreamProblem(stream, "stream has no projection in queries")]
        return field_differences(stream, "queries", query_fields(events), found[0])

    # ------------------------------------------------------------ attachments (and their files)

    def _attachment(self, stream: str, key: str, events: list[dict]) -> list[StreamProblem]:
        found = self.attachments.take(key, wanted=True)
        return attachment_problems(stream, events, found[0] if found else None)

    # ------------------------------------------------------------ users and their tokens

    def _user(self, stream: str, key: str, events: list[dict]) -> list[StreamProblem]:
        found = self.users.take(key, wanted=True)
        problems = self._token_problems(stream, key, events)
        if not found:
            return [StreamProblem(stream, "stream has no projection in users"), *problems]
        stored = {**found[0], PASSWORD_DIGEST: password_digest(found[0].get("password_hash"))}
        expected = user_fields(events)
        if "last_login" not in stored:  # written before users kept it (see the module docstring)
            del expected["last_login"]
        return field_differences(stream, "users", expected, stored) + problems

    def _token_problems(self, stream: str, username: str, events: list[dict]) -> list[StreamProblem]:
        issued = live = 0
        for event in events:
            if event.get("action") == "token_issued":
                issued, live = issued + 1, live + 1
            elif event.get("action") in TOKEN_ENDS:
                live = 0
        tokens = self.tokens.take(username, wanted=issued > 0)
        stored_live = sum(1 for token in tokens if token.get("revoked_at") is None)
        return field_differences(stream, "api_tokens", {"tokens issued": issued, "live tokens": live},
                            {"tokens issued": len(tokens), "live tokens": stored_live})

    # ------------------------------------------------------------ sites and their ranges

    def _site(self, stream: str, key: str, events: list[dict]) -> list[StreamProblem]:
        found = self.sites.take(key, wanted=True)
        if not found:
            return [StreamProblem(stream, "stream has no projection in sites")]
        details = event_details(events, "site_created")
        return field_differences(stream, "sites", {k: details.get(k) for k in ("name", "timezone")}, found[0])

    def _ranges(self, stream: str, site: str, events: list[dict]) -> list[StreamProblem]:
        expected = range_fields(events)
        stored = {document["_id"]: document for document in self.ranges.take(site, wanted=bool(expected))}
        problems = []
        for range_id, fields in expected.items():
            found = stored.pop(range_id, None)
            if found is None:
                problems.append(StreamProblem(stream, f"range {range_id} is missing from lab_ranges"))
                continue
            found = {**found, "retired": found.get("retired_at") is not None}
            problems += field_differences(stream, "lab_ranges", fields, found, label=f"range {range_id}: ")
        problems += [StreamProblem(stream, f"range {range_id} in lab_ranges has no audit event") for range_id in stored]
        return problems

    # ------------------------------------------------------------ signatures

    def _collect_signatures(self, stream: str, events: list[dict]) -> None:
        for event in events:
            signature = (event.get("state") or {}).get("signature")
            if event.get("action") == "sign" and isinstance(signature, dict) and signature.get("id"):
                context = event.get("context") or {}
                self.signed.setdefault(str(signature["id"]), {})[stream] = {
                    "signer": signature.get("by"), "printed_name": signature.get("name"),
                    "meaning": signature.get("meaning"), "at": signature.get("at"),
                    "head": signature.get("signed_head"),
                    **{k: context.get(k) for k in ("study", "subject", "site", "event", "form")}}

    def _collect_signature_stream(self, stream: str, events: list[dict]) -> list[StreamProblem]:
        # Read now, before verify_stream may share the events' values; compared once signatures is read whole.
        event = events[0]
        try:
            expected = signature_from_event(event).to_mongo().to_dict()
            key = str(expected["_id"])
        except (KeyError, TypeError, AttributeError):
            return [StreamProblem(stream, "the sign event does not hold a signature")]
        problems = []
        if key in self.streamed:  # one signature, one stream: a second stream for an id is a copy
            problems.append(StreamProblem(stream, f"signature {key} is also signed on {self.streamed[key][0]}"))
        if event.get("action") != "sign" or len(events) != 1:
            problems.append(StreamProblem(stream, "a signature stream must hold exactly one sign event"))
        if expected.get("digest") != covers_digest(expected.get("covers")):
            problems.append(StreamProblem(stream, "the sign event's digest is not the SHA-256 of its covers"))
        self.streamed.setdefault(key, (stream, expected))
        return problems

    def _signature_problems(self) -> list[StreamProblem]:
        problems = []
        streamed = set(self.streamed)  # their record stamps are judged by their streams, never on their own
        for document in Signature._get_collection().find({}).sort("_id", 1):
            key = str(document["_id"])
            evidence = self.signed.pop(key, None)  # a streamed signature's record stamps: the stream decides
            if key in self.streamed:
                stream, expected = self.streamed.pop(key)
                problems += field_differences(stream, "signatures", {k: expected.get(k) for k in SIGNATURE_FIELDS},
                                         document)
                if document.get("digest") != covers_digest(document.get("covers")):
                    problems.append(StreamProblem(stream, "the digest in signatures is not the SHA-256 of its covers"))
            elif document.get("stream"):
                # Written with a stream that is gone or never was: forged, or its event deleted.
                problems.append(StreamProblem(_stream_of(document),
                                              "signature in signatures has no audit stream (events deleted)"))
            elif evidence is None:
                problems.append(StreamProblem(f"signature/{key}",
                                              "signature in signatures has no sign event in any record stream"))
            else:
                problems += _signature_differences(f"signature/{key}", document, evidence)
        # A stream whose document is missing is repairable: reading the subject's signatures writes it back.
        problems += [StreamProblem(stream, "stream has no projection in signatures "
                                   "(repairable: brought back from the stream when the signatures are read)", BEHIND)
                     for stream, _ in sorted(self.streamed.values(), key=lambda pair: pair[0])]
        problems += [StreamProblem(f"signature/{key}", f"sign events in {', '.join(sorted(streams))} "
                                   "name a signature missing from signatures")
                     for key, streams in sorted(self.signed.items()) if key not in streamed]
        return problems

    # ------------------------------------------------------------ studies

    def _study_problems(self) -> list[StreamProblem]:
        problems = []
        stored: dict[str, list[dict]] = {}
        for document in Study._get_collection().find({}).sort("_id", 1):
            stored.setdefault(document.get("oid"), []).append(document)
        for oid in sorted(set(stored) | set(self.loads), key=str):
            problems += _study_differences(f"study/{oid}", self.loads.get(oid, []), stored.get(oid, []))
        activated: dict[str, dict[str, dict]] = {}
        for document in SiteVersion._get_collection().find({}).sort("_id", 1):
            activated.setdefault(document.get("study"), {})[document["_id"]] = document
        for oid in sorted(set(activated) | {k for k, v in self.activations.items() if v}, key=str):
            problems += _site_version_differences(f"study/{oid}", oid, self.activations.get(oid, []),
                                                  activated.get(oid, {}))
        return problems


def _stream_of(document: dict) -> str:
    """The stream a signatures document belongs to: its own id's, whatever its ``stream`` field claims."""
    return signature_stream(document.get("study"), document.get("subject"), str(document["_id"]))


def _signature_differences(name: str, document: dict, evidence: dict[str, dict]) -> list[StreamProblem]:
    """How a signature from before signature streams differs from the record sign stamps that carry its id."""
    problems = []
    heads = document.get("heads") or {}
    for stream in sorted(set(heads) - set(evidence)):
        problems.append(StreamProblem(name, f"signatures says it covers {stream}, which has no sign event for it"))
    for stream in sorted(set(evidence) - set(heads)):
        problems.append(StreamProblem(name, f"a sign event in {stream} is not among the signature's records"))
    for stream in sorted(set(heads) & set(evidence)):
        said = evidence[stream]
        expected = {k: said[k] for k in ("signer", "printed_name", "meaning", "at", "study", "subject", "site")}
        problems += field_differences(name, "signatures", {**expected, f"heads/{stream}": said["head"]},
                                 {**document, f"heads/{stream}": heads.get(stream)})
    scope = document.get("scope")
    signed = list(evidence.values())
    events = {said["event"] for said in signed}
    if scope == "record" and (len(signed) != 1 or (document.get("event"), document.get("form"))
                              != (signed[0]["event"], signed[0]["form"])):
        problems.append(StreamProblem(name, "a record signature must cover exactly its own record"))
    elif scope == "event" and (document.get("form") is not None or events != {document.get("event")}):
        problems.append(StreamProblem(
            name, f"an event signature of {document.get('event')!r} covers records of {sorted(map(str, events))}"))
    elif scope == "subject" and (document.get("event") is not None or document.get("form") is not None):
        problems.append(StreamProblem(name, "a casebook signature names an event or form"))
    elif scope not in ("record", "event", "subject"):
        problems.append(StreamProblem(name, f"unknown signature scope {scope!r}"))
    return problems


def _study_differences(stream: str, loads: list[dict], documents: list[dict]) -> list[StreamProblem]:
    """How a study's stored versions differ from its study_loaded events."""
    problems = []
    first_load: dict[str, dict] = {}
    for event in loads:
        first_load.setdefault(((event.get("state") or {}).get("details") or {}).get("definition_hash"), event)
    current = ((loads[-1].get("state") or {}).get("details") or {}).get("definition_hash") if loads else None
    for document in documents:
        key = document["_id"]
        event = first_load.pop(key, None)
        if event is None:
            problems.append(StreamProblem(stream, f"study version {key} in studies has no study_loaded event"))
            continue
        expected = {"version": event["state"]["details"].get("version"), "loaded_by": event.get("actor"),
                    "current": key == current}
        definition = _definition(document)
        if definition is None or content_hash(definition) != key:
            problems.append(StreamProblem(
                stream, f"version {key}: the stored definition does not hash to its id (altered)"))
        else:  # the definition holds: what the document repeats of it must match it
            expected.update(oid=definition["study"].get("oid"), name=definition["study"].get("name"))
        problems += field_differences(stream, "studies", expected, document, label=f"version {key}: ")
    problems += [StreamProblem(stream, f"study version {key} loaded in the stream is missing from studies")
                 for key in first_load]
    return problems


# The study stream's events that set a site's version (ecrf.study_versions: activate, carry_sites).
SITE_VERSION_ACTIONS = ("study_activated", "study_sites_carried")


def site_versions_from_events(oid: str, events: list[dict]) -> dict[str, dict]:
    """Each site's version as the study stream's activation and carry events leave it, by site_versions key."""
    expected: dict[str, dict] = {}
    for event in events:
        details = (event.get("state") or {}).get("details") or {}
        carried = event.get("action") == "study_sites_carried"
        for site in (details.get("sites") or []) if carried else [details.get("site")]:
            expected[f"{oid}/{site}"] = {"study": oid, "site": site, "definition_hash": details.get("definition_hash"),
                                         "version": details.get("version"),
                                         "approved": None if carried else details.get("approved"),
                                         "carried": carried, "activated_by": event.get("actor")}
    return expected


def _site_version_differences(stream: str, oid: str, events: list[dict],
                              documents: dict[str, dict]) -> list[StreamProblem]:
    """How a study's site_versions documents differ from its stream's activation and carry events."""
    problems = []
    expected = site_versions_from_events(oid, events)
    for key, document in sorted(documents.items()):
        said = expected.pop(key, None)
        if said is None:
            problems.append(StreamProblem(stream, f"site version {key} in site_versions has no activation event"))
            continue
        problems += field_differences(stream, "site_versions", said, document, label=f"site version {key}: ")
    problems += [StreamProblem(stream, f"site version {key} activated in the stream is missing from site_versions")
                 for key in sorted(expected)]
    return problems


def _definition(document: dict) -> dict | None:
    """What :attr:`ecrf.study_folder.StudyDefinition.hash` hashes, read back from a stored study (None: unreadable)."""
    try:
        study, forms = json.loads(document.get("study_json") or ""), json.loads(document.get("forms_json") or "")
        return {"study": study, "forms": {oid: form["schema"] for oid, form in forms.items()}}
    except (ValueError, TypeError, KeyError, AttributeError):
        return None

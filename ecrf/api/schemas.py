"""Request and response shapes of the JSON API (marshmallow), also used for OpenAPI."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from ecrf.errors import FieldError, Invalid


class SubjectCreate(Schema):
    class Meta:
        unknown = RAISE

    site = fields.String(required=True, validate=validate.Length(min=1, max=32))
    subject_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=40))


class RecordWrite(Schema):
    class Meta:
        unknown = RAISE

    data = fields.Dict(keys=fields.String(), required=True, metadata={
        "description": "item OID -> value, merged into the stored data: null clears an item, an item left out "
                       "is kept, a repeating group's value is its whole list of rows"})
    version = fields.Integer(strict=True, load_default=None, allow_none=True, validate=validate.Range(min=0))
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


# Response shapes. Marshmallow's default ``unknown = RAISE`` makes apispec describe each as
# ``additionalProperties: false``: a field the API sends must be described here, and the schemathesis
# test (tests/reliability/test_schemathesis.py) fails on any response that strays from it.


class StudySummary(Schema):
    oid = fields.String()
    name = fields.String()
    version = fields.String()


class Window(Schema):
    before = fields.Integer()
    after = fields.Integer()


class StudyEvent(Schema):
    oid = fields.String()
    name = fields.String()
    day = fields.Integer(allow_none=True, metadata={"description": "planned study day; null when not scheduled by day"})
    window = fields.Nested(
        Window, allow_none=True, metadata={"description": "allowed distance from the day; null: none"}
    )
    stage = fields.String()
    repeating = fields.Boolean()
    log = fields.Boolean()
    forms = fields.List(fields.String())


class StudyForm(Schema):
    oid = fields.String()
    title = fields.String()
    stage = fields.String()


class StudyStage(Schema):
    oid = fields.String()
    title = fields.String()


class StudyMetadata(Schema):
    oid = fields.String()
    name = fields.String()
    version = fields.String()
    definition_hash = fields.String()
    events = fields.List(fields.Nested(StudyEvent))
    forms = fields.List(fields.Nested(StudyForm))
    stages = fields.List(fields.Nested(StudyStage))
    parameters = fields.Dict()


class Subject(Schema):
    subject_id = fields.String()
    site = fields.String()
    status = fields.String()
    study = fields.String()
    created_at = fields.String(allow_none=True)
    study_version = fields.String(allow_none=True, metadata={
        "description": "definition hash of the study version the casebook is pinned to; null: the current one"})


class FormStatus(Schema):
    form = fields.String()
    status = fields.String(metadata={"description": "not_started, incomplete or complete"})
    lifecycle = fields.String(metadata={"description": "not_started, incomplete, complete, verified, signed, frozen "
                                                       "or locked"})
    version = fields.Integer()
    open_queries = fields.Integer()
    sdv = fields.String(allow_none=True, metadata={"description": "changed, awaiting, partial, verified or "
                                                                  "not_required; null when nothing is saved"})
    signed = fields.Boolean()
    locked = fields.Boolean()


class EventStatus(Schema):
    event = fields.String()
    name = fields.String()
    day = fields.Integer(allow_none=True, metadata={"description": "study day (day 0: the infusion)"})
    window = fields.Dict(allow_none=True, metadata={"description": '{"before": days, "after": days}'})
    planned = fields.String(allow_none=True, metadata={"description": "planned date; null until day 0 is known"})
    opens = fields.String(allow_none=True, metadata={"description": "first day of the visit window"})
    closes = fields.String(allow_none=True, metadata={"description": "last day of the visit window"})
    forms = fields.List(fields.Nested(FormStatus))


class SubjectDetail(Subject):
    events = fields.List(fields.Nested(EventStatus), metadata={"description": "the event/form status matrix"})


class Change(Schema):
    path = fields.String()
    old = fields.Raw(allow_none=True)
    new = fields.Raw(allow_none=True)


class AuditEvent(Schema):
    stream = fields.String()
    seq = fields.Integer()
    at = fields.String()
    actor = fields.String()
    action = fields.String()
    changes = fields.List(fields.Nested(Change))
    reason = fields.String(allow_none=True)
    prev = fields.String()
    hash = fields.String()
    event = fields.String(allow_none=True, metadata={"description": "null on a subject's own events"})
    form = fields.String(allow_none=True, metadata={"description": "null on a subject's own events"})


class QueryMessage(Schema):
    at = fields.String()
    author = fields.String()
    text = fields.String(allow_none=True)
    action = fields.String(allow_none=True)


class QueryOut(Schema):
    id = fields.String()
    subject = fields.String()
    site = fields.String()
    event = fields.String()
    form = fields.String()
    item = fields.String()
    origin = fields.String()
    check = fields.String(allow_none=True)
    state = fields.String()
    opened_at = fields.String()
    closed_at = fields.String(allow_none=True)
    age_days = fields.Integer()
    messages = fields.List(fields.Nested(QueryMessage))


class AttachmentOut(Schema):
    id = fields.String()
    subject = fields.String()
    site = fields.String()
    event = fields.String()
    form = fields.String()
    item = fields.String(allow_none=True, metadata={"description": "the item's JSON pointer; null: the whole record"})
    filename = fields.String()
    media_type = fields.String(metadata={"description": "as read from the file's bytes"})
    size = fields.Integer()
    sha256 = fields.String(metadata={"description": "as in the attachment_added audit event"})
    added_by = fields.String()
    added_at = fields.String()
    removed = fields.Boolean()
    removed_by = fields.String(allow_none=True)
    removed_at = fields.String(allow_none=True)
    removal_reason = fields.String(allow_none=True)


class AttachmentUpload(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary",
                                               "description": "a PDF, PNG or JPEG file"})
    item = fields.String(metadata={"description": "the item's JSON pointer, such as /ALT (none: the whole record)"})


class RecordOut(Schema):
    study = fields.String()
    subject = fields.String()
    site = fields.String()
    event = fields.String()
    form = fields.String()
    data = fields.Dict()
    derived = fields.Dict()
    status = fields.String(allow_none=True)
    missing = fields.List(fields.String())
    retired = fields.Dict(metadata={"description": "item OID -> value of items the casebook's study version no "
                                                   "longer has (read-only; kept in the audit trail)"})
    version = fields.Integer()
    definition = fields.String(allow_none=True)
    updated_at = fields.String(allow_none=True)
    updated_by = fields.String(allow_none=True)
    flags = fields.List(fields.Dict(), metadata={"description": "lab values outside the site's normal range"})
    lifecycle = fields.String(metadata={"description": "review state: status, verified, signed, frozen or locked"})
    sdv = fields.Dict(allow_none=True, metadata={"description": "who verified the whole form, when"})
    sdv_items = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(allow_none=True),
        metadata={"description": "item pointer -> who verified it, when, at which version, value hash"},
    )
    sdv_changes = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(),
        metadata={"description": "item pointer -> changed since SDV: old (the value verified), new, by, name, at, "
                                 "verified (who had verified it, when); cleared when the item is verified again"},
    )
    signature = fields.Dict(allow_none=True)
    frozen = fields.Dict(allow_none=True)
    locked = fields.Dict(allow_none=True)
    queries = fields.List(fields.Nested(QueryOut))


class LockResult(Schema):
    action = fields.String()
    records = fields.Integer(metadata={"description": "how many records changed"})


class SdvWorkItem(Schema):
    site = fields.String()
    subject = fields.String()
    event = fields.String()
    form = fields.String()
    sdv = fields.String(metadata={"description": "changed, awaiting, partial, verified or not_required"})
    verified_items = fields.Integer(metadata={"description": "required items verified"})
    required_items = fields.Integer(metadata={"description": "items the study's targeted-SDV setting asks for"})
    signed = fields.Boolean()
    locked = fields.Boolean()
    changes = fields.Dict(keys=fields.String(), values=fields.Dict(),
                          metadata={"description": "item pointer -> changed since SDV: old, new, by, name, at, "
                                                   "verified"})


class BrokenCheck(Schema):
    study = fields.String()
    form = fields.String()
    check = fields.String()
    item = fields.String()
    error = fields.String()
    stream = fields.String()
    at = fields.String()
    count = fields.Integer()


class FieldProblem(Schema):
    path = fields.String(metadata={"description": "JSON pointer of the faulty field"})
    message = fields.String()


class Obstacle(Schema):
    kind = fields.String(metadata={"enum": ["open_query", "missing_item", "not_started", "not_verified", "unsigned"]})
    subject = fields.String()
    event = fields.String()
    form = fields.String()
    item = fields.String(metadata={"description": "JSON pointer of the item (open queries, missing items)"})
    label = fields.String(metadata={"description": "the item's label, or the form's title"})
    query = fields.String(metadata={"description": "the open query's id"})


class Problem(Schema):
    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.List(fields.Nested(FieldProblem))
    obstacles = fields.List(fields.Nested(Obstacle), metadata={
        "description": "409 of a sign, freeze or lock: what stands against it (give override_reason to proceed)"})


class Readiness(Schema):
    step = fields.String(metadata={"enum": ["sign", "freeze", "lock"]})
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={"description": "obstacles by kind"})
    obstacles = fields.List(fields.Nested(Obstacle))


class AwaitingSignature(Schema):
    scope = fields.String(metadata={"enum": ["record", "event", "subject"]})
    subject = fields.String()
    site = fields.String()
    event = fields.String(allow_none=True)
    form = fields.String(allow_none=True)
    voided = fields.String(allow_none=True, metadata={"description": "why the last signature over it was voided"})


def load(schema: Schema, body: dict) -> dict:
    """``body`` loaded by ``schema``; :class:`Invalid` naming each faulty field by JSON pointer."""
    try:
        return schema.load(body)
    except ValidationError as error:
        raise Invalid("request body is not valid", _field_errors(error.messages)) from None


def _field_errors(messages, prefix: str = "") -> list[FieldError]:
    errors = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            errors += _field_errors(value, f"{prefix}/{key}")
    elif isinstance(messages, list):
        for message in messages:
            if isinstance(message, (dict, list)):
                errors += _field_errors(message, prefix)
            else:
                errors.append(FieldError(prefix or "/", str(message)))
    return errors


class QueryCreate(Schema):
    class Meta:
        unknown = RAISE

    subject = fields.String(required=True)
    event = fields.String(required=True)
    form = fields.String(required=True)
    item = fields.String(required=True, metadata={"description": "JSON pointer, e.g. /ALT or /AE/<row_id>/AETERM"})
    text = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class QueryText(Schema):
    class Meta:
        unknown = RAISE

    text = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=4000))


class QueryBulk(Schema):
    class Meta:
        unknown = RAISE

    action = fields.String(required=True, validate=validate.OneOf(("reply", "close")),
                           metadata={"description": "reply (site staff, investigator), close (monitor, data manager)"})
    ids = fields.List(fields.String(), required=True, validate=validate.Length(min=1, max=500),
                      metadata={"description": "the queries to act on, each once"})
    text = fields.String(required=True, validate=validate.Length(min=1, max=4000),
                         metadata={"description": "the one comment each query gets"})


class QueryBulkFailure(Schema):
    id = fields.String()
    status = fields.Integer()
    title = fields.String()
    detail = fields.String()
    errors = fields.List(fields.Dict())


class QueryBulkOut(Schema):
    done = fields.List(fields.Nested(QueryOut))
    failed = fields.List(fields.Nested(QueryBulkFailure))


class SdvRequest(Schema):
    class Meta:
        unknown = RAISE

    items = fields.List(
        fields.String(),
        load_default=None,
        allow_none=True,
        metadata={"description": "verify only these items (JSON pointers); omit for the whole form"},
    )


class SignRequest(Schema):
    class Meta:
        unknown = RAISE

    password = fields.String(required=True, metadata={"description": "the signer re-enters their password"})
    meaning = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    override_reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000), metadata={
        "description": "why sign despite the obstacles listed (required when any; kept in the signature's event)"})


class VoidingEvent(Schema):
    stream = fields.String()
    seq = fields.Integer()
    action = fields.String()
    actor = fields.String()
    at = fields.String()
    reason = fields.String(allow_none=True)


class SignatureOut(Schema):
    id = fields.String()
    scope = fields.String(metadata={"enum": ["record", "event", "subject"]})
    subject = fields.String()
    event = fields.String(allow_none=True)
    form = fields.String(allow_none=True)
    signer = fields.String()
    printed_name = fields.String()
    meaning = fields.String(metadata={"description": "the meaning that was signed"})
    at = fields.String()
    at_site = fields.String()
    site_timezone = fields.String()
    records = fields.List(fields.String(), metadata={"description": "the record streams the signature covers"})
    digest = fields.String(allow_none=True, metadata={"description": "SHA-256 of the record heads it covers"})
    valid = fields.Boolean()
    voided_reason = fields.String(allow_none=True, metadata={"description": "why it no longer holds"})
    voided_by = fields.Nested(VoidingEvent, allow_none=True, metadata={"description": "the event that voided it"})
    override_reason = fields.String(allow_none=True, metadata={"description": "why it was signed despite obstacles"})


class ReasonRequest(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    override_reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000), metadata={
        "description": "why lock or freeze despite the obstacles listed (required when any; kept in each event)"})


# ---------------------------------------------------------------- clinical data imports (ecrf/api/imports.py)


class ImportOptions(Schema):
    class Meta:
        unknown = RAISE

    kind = fields.String(required=True, validate=validate.OneOf(["odm", "csv"]),
                         metadata={"description": "odm: ODM 1.3.x ClinicalData; csv: one row per subject and visit"})
    form = fields.String(validate=validate.Length(max=120),
                         metadata={"description": "csv: the form every row fills"})
    event = fields.String(validate=validate.Length(max=120),
                          metadata={"description": "csv: the visit of every row (or event_column)"})
    event_column = fields.String(validate=validate.Length(max=120))
    subject_column = fields.String(validate=validate.Length(max=120))
    site_column = fields.String(validate=validate.Length(max=120))
    dry_run = fields.Boolean(load_default=False, metadata={"description": "report what would happen; write nothing"})
    all_or_nothing = fields.Boolean(load_default=False, metadata={"description": "write nothing if any row is refused"})


class ImportRequest(ImportOptions):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})
    map = fields.Raw(metadata={"type": "string", "format": "binary",
                               "description": "csv: a YAML or JSON column map (renames, unit factors)"})


class ImportCounts(Schema):
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    refused = fields.Integer()
    queries = fields.Integer(metadata={"description": "queries raised by the imported data's edit checks"})
    registered = fields.Integer(metadata={"description": "subjects registered (or that would be)"})
    written = fields.Boolean(metadata={"description": "false for a dry run or an all-or-nothing import stopped"})


class ImportRow(Schema):
    line = fields.Integer()
    subject = fields.String()
    event = fields.String(allow_none=True)
    form = fields.String(allow_none=True)
    outcome = fields.String(validate=validate.OneOf(["created", "updated", "unchanged", "refused"]))
    registers = fields.Boolean()


class ImportRefusal(Schema):
    line = fields.Integer()
    subject = fields.String()
    event = fields.String(allow_none=True)
    form = fields.String(allow_none=True)
    item = fields.String(metadata={"description": "JSON pointer of the item (or /subject, /event, /site)"})
    label = fields.String()
    reason = fields.String()


class ImportJobOut(Schema):
    id = fields.String()
    study = fields.String()
    kind = fields.String()
    file = fields.String()
    state = fields.String(validate=validate.OneOf(["running", "done", "failed"]))
    dry_run = fields.Boolean()
    all_or_nothing = fields.Boolean()
    requested_by = fields.String()
    confirms = fields.String(allow_none=True, metadata={"description": "the dry run this import confirms"})
    progress = fields.Integer()
    error = fields.String(allow_none=True, metadata={"description": "why the file could not be read (file:line)"})
    created_at = fields.String()
    finished_at = fields.String(allow_none=True)
    counts = fields.Nested(ImportCounts, allow_none=True, metadata={"description": "null until done"})
    rows = fields.List(fields.Nested(ImportRow))
    refusals = fields.List(fields.Nested(ImportRefusal))


# ---------------------------------------------------------------- user administration (ecrf/api/users.py)


class UserCreate(Schema):
    class Meta:
        unknown = RAISE

    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    role = fields.String(required=True, validate=validate.Length(min=1, max=32))
    sites = fields.List(fields.String(validate=validate.Length(min=1, max=32)), load_default=list,
                        validate=validate.Length(max=500))
    full_name = fields.String(load_default="", validate=validate.Length(max=200))
    password = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000), metadata={
        "description": "left out: a one-time password is made, answered once, and must be changed at first sign-in"})
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class RoleChange(Schema):
    class Meta:
        unknown = RAISE

    role = fields.String(required=True, validate=validate.Length(min=1, max=32))
    sites = fields.List(fields.String(validate=validate.Length(min=1, max=32)), load_default=list,
                        validate=validate.Length(max=500))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class RequiredReason(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class UserOut(Schema):
    username = fields.String()
    full_name = fields.String()
    role = fields.String()
    sites = fields.List(fields.String())
    active = fields.Boolean()
    status = fields.String(metadata={"description": "active, disabled, locked or must change password"})
    must_change_password = fields.Boolean()
    last_login = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(allow_none=True)
    live_tokens = fields.Integer()
    one_time_password = fields.String(metadata={"description": "only when one was made: shown once"})


class OneTimePassword(Schema):
    username = fields.String()
    one_time_password = fields.String()


class TokensRevoked(Schema):
    username = fields.String()
    revoked = fields.Integer()


class AccessGrant(Schema):
    username = fields.String()
    full_name = fields.String()
    role = fields.String(allow_none=True)
    site = fields.String(allow_none=True, metadata={"description": "a site code, or * for every site"})
    granted_at = fields.DateTime(allow_none=True)
    granted_by = fields.String(allow_none=True)
    grant_reason = fields.String(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    ended_by = fields.String(allow_none=True)
    end_reason = fields.String(allow_none=True)
    current = fields.Boolean()
    last_login = fields.DateTime(allow_none=True)
    status = fields.String()


# ---------------------------------------------------------------- protocol amendments (ecrf/api/amendments.py)


class ActivateRequest(Schema):
    class Meta:
        unknown = RAISE

    site = fields.String(required=True, validate=validate.Length(min=1, max=32))
    approved = fields.String(required=True, validate=validate.Length(max=40),
                             metadata={"description": "the site's ethics approval date, YYYY-MM-DD, not in the future"})


class MigrationRequest(Schema):
    class Meta:
        unknown = RAISE

    to = fields.String(required=True, validate=validate.Length(min=1, max=120),
                       metadata={"description": "the loaded version to move casebooks to"})
    site = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=32),
                         metadata={"description": "only the subjects of this site"})
    subject = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=40),
                            metadata={"description": "only this subject"})
    dry_run = fields.Boolean(load_default=False, metadata={"description": "report what would change; write nothing"})
    reason = fields.String(load_default=None, allow_none=True, metadata={
        "description": "the amendment's reason, recorded on every change; required unless a dry run"})


class StudyVersion(Schema):
    version = fields.String()
    definition_hash = fields.String()
    name = fields.String(allow_none=True)
    loaded_at = fields.String(allow_none=True)
    loaded_by = fields.String(allow_none=True)
    current = fields.Boolean(metadata={"description": "the version the study's metadata and forms show"})


class SiteActivation(Schema):
    site = fields.String()
    version = fields.String(metadata={"description": "the version new subjects at the site start on"})
    definition_hash = fields.String()
    approved = fields.String(allow_none=True, metadata={
        "description": "ethics approval date; null when the site never activated a version or was kept on its "
                       "version when a newer one was loaded"})
    carried = fields.Boolean(metadata={"description": "kept on its version when a newer one was loaded"})
    activated_at = fields.String(allow_none=True)
    activated_by = fields.String(allow_none=True)


class StudyVersions(Schema):
    study = fields.String()
    current = fields.String(metadata={"description": "the current version"})
    versions = fields.List(fields.Nested(StudyVersion), metadata={"description": "loaded versions, oldest first"})
    sites = fields.List(fields.Nested(SiteActivation), metadata={"description": "every site, in code order"})


class MigrationJobOut(Schema):
    id = fields.String()
    study = fields.String()
    to = fields.String()
    site = fields.String(allow_none=True)
    subject = fields.String(allow_none=True)
    dry_run = fields.Boolean()
    reason = fields.String()
    requested_by = fields.String()
    state = fields.String(validate=validate.OneOf(["running", "done", "failed"]))
    progress = fields.Integer(metadata={"description": "subjects planned (and moved) so far"})
    total = fields.Integer(metadata={"description": "subjects the migration covers"})
    error = fields.String(allow_none=True)
    created_at = fields.String()
    finished_at = fields.String(allow_none=True)
    report = fields.Dict(allow_none=True, metadata={
        "description": "null until done: study, to_version, dry_run, reason, counts (subjects per outcome) and "
                       "subjects, each with its from/to version, outcome and records (event, form, outcome, "
                       "retired, added, new_required, misfits, derived, checks_failing, checks_passing)"})

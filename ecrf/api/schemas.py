"""Request and response shapes of the JSON API (marshmallow), also used for OpenAPI."""

from __future__ import annotations

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from ecrf.errors import FieldError, Invalid


class SubjectCreate(Schema):
    class Meta:
        unknown = RAISE

    site = fields.String(required=True, validate=validate.Length(min=1, max=32))
    subject_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=40))


class RecordWrite(Schema):
    class Meta:
        unknown = RAISE

    data = fields.Dict(keys=fields.String(), required=True, metadata={"description": "item OID -> value"})
    version = fields.Integer(strict=True, load_default=None, allow_none=True, validate=validate.Range(min=0))
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class Subject(Schema):
    class Meta:
        unknown = EXCLUDE

    subject_id = fields.String()
    site = fields.String()
    status = fields.String()
    study = fields.String()
    created_at = fields.String()


class Change(Schema):
    path = fields.String()
    old = fields.Raw(allow_none=True)
    new = fields.Raw(allow_none=True)


class AuditEvent(Schema):
    seq = fields.Integer()
    at = fields.String()
    actor = fields.String()
    action = fields.String()
    changes = fields.List(fields.Nested(Change))
    reason = fields.String(allow_none=True)
    prev = fields.String()
    hash = fields.String()
    event = fields.String()
    form = fields.String()


class RecordOut(Schema):
    subject = fields.String()
    event = fields.String()
    form = fields.String()
    data = fields.Dict()
    derived = fields.Dict()
    status = fields.String()
    missing = fields.List(fields.String())
    version = fields.Integer()
    definition = fields.String()
    updated_at = fields.String()
    updated_by = fields.String()
    queries = fields.List(fields.Dict())


class Problem(Schema):
    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.List(fields.Dict())


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


class QueryOut(Schema):
    id = fields.String()
    subject = fields.String()
    event = fields.String()
    form = fields.String()
    item = fields.String()
    origin = fields.String()
    check = fields.String(allow_none=True)
    state = fields.String()
    messages = fields.List(fields.Dict())


class SdvRequest(Schema):
    class Meta:
        unknown = RAISE

    items = fields.List(fields.String(), load_default=None, allow_none=True,
                        metadata={"description": "verify only these items (JSON pointers); omit for the whole form"})


class SignRequest(Schema):
    class Meta:
        unknown = RAISE

    password = fields.String(required=True, metadata={"description": "the signer re-enters their password"})
    meaning = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


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


class ReasonRequest(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))

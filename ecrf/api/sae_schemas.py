"""Request and response shapes of the SAE report routes (marshmallow), and their OpenAPI paths."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate


class SaeUpdate(Schema):
    class Meta:
        unknown = RAISE

    content = fields.Dict(keys=fields.String(), required=True, metadata={
        "description": "field -> value, merged into the report's content: null clears a field"})
    version = fields.Integer(strict=True, load_default=None, allow_none=True, validate=validate.Range(min=0))


class SaeSubmit(Schema):
    class Meta:
        unknown = RAISE

    password = fields.String(required=True, metadata={"description": "the investigator re-enters their password"})
    version = fields.Integer(strict=True, load_default=None, allow_none=True, validate=validate.Range(min=0))


class SaeReview(Schema):
    class Meta:
        unknown = RAISE

    text = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=4000))
    due = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40), metadata={
        "description": "a follow-up's due time, ISO 8601 (the site's time without a zone)"})


class SaeOut(Schema):
    id = fields.String()
    subject = fields.String()
    site = fields.String()
    event = fields.String()
    form = fields.String()
    row = fields.String(allow_none=True)
    kind = fields.String()
    trigger = fields.Dict()
    state = fields.String()
    version = fields.Integer()
    content = fields.Dict()
    awareness_at = fields.String(allow_none=True)
    due_at = fields.String(allow_none=True)
    overdue = fields.Boolean()
    seconds_remaining = fields.Integer(allow_none=True)
    opened_at = fields.String(allow_none=True)
    submitted_at = fields.String(allow_none=True)
    acknowledged_at = fields.String(allow_none=True)
    closed_at = fields.String(allow_none=True)
    followup_due_at = fields.String(allow_none=True)
    submissions = fields.Integer()
    signature = fields.Dict(allow_none=True)
    message = fields.Dict(allow_none=True)


RESPONSES = {"SaeReport": SaeOut}
REQUESTS = {"SaeUpdate": SaeUpdate, "SaeSubmit": SaeSubmit, "SaeReview": SaeReview}


def describe_sae(doc, study_path: str, read: dict, write: dict) -> None:
    """Add the SAE report paths to the API description ``doc`` (``study_path``: ``/api/v1/studies/{study}``)."""
    params = lambda *names: [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}  # noqa: E731
                             for n in names]
    ok = lambda text, schema: {"description": text, "content": {"application/json": {"schema": schema}}}  # noqa: E731
    body = lambda name: {"content": {"application/json": {"schema": name}}}  # noqa: E731
    report = f"{study_path}/sae/{{report_id}}"
    doc.path(path=f"{study_path}/sae", parameters=params("study"), operations={"get": {
        "summary": "SAE reports the caller may see, overdue first",
        "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}} for n in ("site", "state", "overdue")],
        "responses": {"200": ok("reports", {"type": "array", "items": "SaeReport"}), **read}}})
    doc.path(path=report, parameters=params("study", "report_id"), operations={
        "get": {"summary": "One SAE report", "responses": {"200": ok("report", "SaeReport"), **read}},
        "put": {"summary": "Change a draft's (or a requested follow-up's) content", "requestBody": body("SaeUpdate"),
                "responses": {"200": ok("report", "SaeReport"), **write}}})
    for action, summary, request in (("submit", "Sign and submit (investigator, password)", "SaeSubmit"),
                                     ("acknowledge", "Acknowledge a submitted report", "SaeReview"),
                                     ("followup", "Ask the site for a follow-up report", "SaeReview"),
                                     ("close", "Close an acknowledged report", "SaeReview")):
        doc.path(path=f"{report}/{action}", parameters=params("study", "report_id"), operations={"post": {
            "summary": summary, "requestBody": body(request),
            "responses": {"200": ok("report", "SaeReport"), **write}}})
    doc.path(path=f"{report}/cioms.pdf", parameters=params("study", "report_id"), operations={"get": {
        "summary": "The report as a CIOMS-I PDF (?lang=en or zh)",
        "parameters": [{"name": "lang", "in": "query", "schema": {"type": "string", "enum": ["en", "zh"]}}],
        "responses": {"200": {"description": "PDF", "content": {"application/pdf": {
            "schema": {"type": "string", "format": "binary"}}}}, **read}}})

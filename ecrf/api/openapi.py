"""The OpenAPI 3 description of the JSON API, built with apispec from the marshmallow schemas."""

from __future__ import annotations

from functools import lru_cache

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from ecrf.api import schemas

_ERRORS = {code: {"description": text, "content": {"application/problem+json": {"schema": "Problem"}}}
           for code, text in {"400": "bad request", "401": "not authenticated", "403": "not allowed",
                              "404": "not found or not visible", "409": "stale version",
                              "415": "not JSON", "422": "validation failed", "423": "locked"}.items()}

_S, _SUBJ, _REC = "{study}", "{subject}", "{event}"


def _params(*names: str) -> list[dict]:
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]


def _json(schema) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


@lru_cache(maxsize=1)
def spec() -> dict:
    """The OpenAPI document (built once)."""
    doc = APISpec(title="eCRF engine API", version="1", openapi_version="3.0.3", plugins=[MarshmallowPlugin()])
    doc.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for name, schema in (("Problem", schemas.Problem), ("SubjectCreate", schemas.SubjectCreate),
                         ("Subject", schemas.Subject), ("RecordWrite", schemas.RecordWrite),
                         ("Record", schemas.RecordOut), ("AuditEvent", schemas.AuditEvent),
                         ("QueryCreate", schemas.QueryCreate), ("QueryText", schemas.QueryText), ("Query", schemas.QueryOut),
                         ("SdvRequest", schemas.SdvRequest), ("SignRequest", schemas.SignRequest),
                         ("Signature", schemas.SignatureOut),
                         ("ReasonRequest", schemas.ReasonRequest)):
        doc.components.schema(name, schema=schema)
    errors = lambda *codes: {c: _ERRORS[c] for c in codes}  # noqa: E731
    base = "/api/v1/studies"
    record = f"{base}/{_S}/subjects/{_SUBJ}/events/{_REC}/forms/{{form}}"
    doc.path(path=base, operations={"get": {"summary": "Loaded studies", "responses": {"200": {"description": "list"}, **errors("401")}}})
    doc.path(path=f"{base}/{_S}", parameters=_params("study"), operations={
        "get": {"summary": "Study metadata", "responses": {"200": {"description": "study"}, **errors("401", "404")}}})
    doc.path(path=f"{base}/{_S}/forms/{{form}}", parameters=_params("study", "form"), operations={
        "get": {"summary": "A form's JSON Schema", "responses": {"200": {"description": "schema"}, **errors("401", "404")}}})
    doc.path(path=f"{base}/{_S}/subjects", parameters=_params("study"), operations={
        "get": {"summary": "Subjects the caller may see",
                "parameters": [{"name": "site", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": _json({"type": "array", "items": "Subject"}) | {"description": "subjects"}, **errors("401", "403", "404")}},
        "post": {"summary": "Register a subject", "requestBody": _json("SubjectCreate"),
                 "responses": {"201": _json("Subject") | {"description": "registered"}, **errors("400", "401", "403", "404", "409", "415", "422", "423")}}})
    doc.path(path=f"{base}/{_S}/subjects/{_SUBJ}", parameters=_params("study", "subject"), operations={
        "get": {"summary": "Subject with its event/form status matrix", "responses": {"200": {"description": "subject"}, **errors("401", "404")}}})
    doc.path(path=record, parameters=_params("study", "subject", "event", "form"), operations={
        "get": {"summary": "Current record", "responses": {"200": _json("Record") | {"description": "record"}, **errors("401", "404")}},
        "put": {"summary": "Save the record through the audited write path", "requestBody": _json("RecordWrite"),
                "responses": {"200": _json("Record") | {"description": "saved"}, "201": _json("Record") | {"description": "created"},
                              **errors("400", "401", "403", "404", "409", "415", "422", "423")}}})
    doc.path(path=f"{record}/audit", parameters=_params("study", "subject", "event", "form"), operations={
        "get": {"summary": "Audit events of one form instance", "responses": {"200": _json({"type": "array", "items": "AuditEvent"}) | {"description": "events"}, **errors("401", "404")}}})
    doc.path(path=f"{base}/{_S}/subjects/{_SUBJ}/audit", parameters=_params("study", "subject"), operations={
        "get": {"summary": "The subject's audit events, oldest first", "responses": {"200": _json({"type": "array", "items": "AuditEvent"}) | {"description": "events"}, **errors("401", "404")}}})
    queries = f"{base}/{_S}/queries"
    doc.path(path=queries, parameters=_params("study"), operations={
        "get": {"summary": "Queries the caller may see",
                "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}}
                               for n in ("site", "subject", "event", "form", "item", "state", "origin")],
                "responses": {"200": _json({"type": "array", "items": "Query"}) | {"description": "queries"}, **errors("401", "403", "404")}},
        "post": {"summary": "Raise a manual query (monitor, data manager)", "requestBody": _json("QueryCreate"),
                 "responses": {"201": _json("Query") | {"description": "raised"}, **errors("400", "401", "403", "404", "409", "415", "422", "423")}}})
    doc.path(path=f"{queries}/{{query_id}}", parameters=_params("study", "query_id"), operations={
        "get": {"summary": "One query with its thread", "responses": {"200": _json("Query") | {"description": "query"}, **errors("401", "404")}}})
    for verb, summary in (("replies", "Answer (site staff, investigator)"), ("close", "Close (monitor, data manager)"),
                          ("reopen", "Reopen (monitor, data manager)")):
        doc.path(path=f"{queries}/{{query_id}}/{verb}", parameters=_params("study", "query_id"), operations={
            "post": {"summary": summary, "requestBody": _json("QueryText"),
                     "responses": {"200": _json("Query") | {"description": "done"}, **errors("400", "401", "403", "404", "409", "415", "422", "423")}}})
    doc.path(path=f"{base}/{_S}/checks/broken", parameters=_params("study"), operations={
        "get": {"summary": "Edit checks that failed to evaluate (monitors, data managers)",
                "responses": {"200": {"description": "broken checks"}, **errors("401", "403", "404")}}})
    subject = f"{base}/{_S}/subjects/{_SUBJ}"
    review = ("400", "401", "403", "404", "409", "415", "422", "423")
    doc.path(path=f"{record}/sdv", parameters=_params("study", "subject", "event", "form"), operations={
        "post": {"summary": "Source data verification (monitor)", "requestBody": _json("SdvRequest"),
                 "responses": {"200": _json("Record") | {"description": "verified"}, **errors(*review)}}})
    for path, names in ((f"{record}/sign", ("study", "subject", "event", "form")),
                        (f"{subject}/events/{_REC}/sign", ("study", "subject", "event")),
                        (f"{subject}/sign", ("study", "subject"))):
        doc.path(path=path, parameters=_params(*names), operations={
            "post": {"summary": "Electronic signature (investigator, password re-entered)", "requestBody": _json("SignRequest"),
                     "responses": {"201": _json("Signature") | {"description": "signature manifest"},
                                   **errors(*review)}}})
    doc.path(path=f"{subject}/signatures", parameters=_params("study", "subject"), operations={
        "get": {"summary": "The subject's signatures and whether each still holds",
                "responses": {"200": _json({"type": "array", "items": "Signature"}) | {"description": "signatures"},
                              **errors("401", "404")}}})
    for verb in ("lock", "unlock", "freeze", "unfreeze"):
        for path, names in ((f"{record}/{verb}", ("study", "subject", "event", "form")),
                            (f"{subject}/{verb}", ("study", "subject")), (f"{base}/{_S}/{verb}", ("study",))):
            doc.path(path=path, parameters=_params(*names), operations={
                "post": {"summary": f"{verb.capitalize()} (data manager){'; reason required' if verb == 'unlock' else ''}",
                         "requestBody": _json("ReasonRequest"),
                         "responses": {"200": {"description": "done"}, **errors(*review)}}})
    doc.path(path=f"{base}/{_S}/export/{{kind}}", parameters=_params("study", "kind"), operations={
        "get": {"summary": "Export: odm (ODM 1.3.2 with audit trail), csv (zip) or xlsx (data managers)",
                "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}} for n in ("site", "subject")],
                "responses": {"200": {"description": "the export file"}, **errors("401", "403", "404")}}})
    doc.path(path=f"{subject}/casebook.pdf", parameters=_params("study", "subject"), operations={
        "get": {"summary": "The subject's complete casebook (PDF)",
                "responses": {"200": {"description": "PDF"}, **errors("401", "403", "404")}}})
    result = doc.to_dict()
    result["security"] = [{"bearer": []}]
    return result

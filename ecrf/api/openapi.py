"""The OpenAPI 3 description of the JSON API, built with apispec from the marshmallow schemas."""

from __future__ import annotations

from functools import lru_cache

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from ecrf.api import schemas
from ecrf.exports import FORMATS

_ERRORS = {
    code: {"description": text, "content": {"application/problem+json": {"schema": "Problem"}}}
    for code, text in {
        "400": "malformed request, or a change of a saved value without a reason",
        "401": "not authenticated (or a wrong password when signing)",
        "403": "the caller's role or sites do not allow it",
        "404": "not found or not visible",
        "409": "stale version or conflicting write",
        "413": "body too large",
        "415": "not JSON",
        "422": "validation failed (field errors by JSON pointer)",
        "423": "locked or frozen",
        "503": "the database does not answer; nothing was stored",
    }.items()
}

# The statuses each kind of operation can answer; the schemathesis test checks that none other is ever sent.
_READ = ("401", "403", "404", "503")
_WRITE = ("400", "401", "403", "404", "409", "413", "415", "422", "423", "503")

# Response components (and those nested in them): every property is always sent (nullable ones may be null)
# unless named here.
_RESPONSES = {
    "StudySummary": schemas.StudySummary,
    "StudyMetadata": schemas.StudyMetadata,
    "Subject": schemas.Subject,
    "SubjectDetail": schemas.SubjectDetail,
    "Record": schemas.RecordOut,
    "AuditEvent": schemas.AuditEvent,
    "Query": schemas.QueryOut,
    "Signature": schemas.SignatureOut,
    "LockResult": schemas.LockResult,
    "BrokenCheck": schemas.BrokenCheck,
    "ImportJob": schemas.ImportJobOut,
    "StudyVersions": schemas.StudyVersions,
    "SiteActivation": schemas.SiteActivation,
    "MigrationJob": schemas.MigrationJobOut,
    "Problem": schemas.Problem,
}
# (A problem lists field errors only for invalid input; a signature manifest may predate its digest and voiding.)
_OPTIONAL = {"Problem": {"errors"}, "Signature": {"digest", "voided_reason", "voided_by"}}
_REQUESTS = {
    "SubjectCreate": schemas.SubjectCreate,
    "RecordWrite": schemas.RecordWrite,
    "QueryCreate": schemas.QueryCreate,
    "QueryText": schemas.QueryText,
    "SdvRequest": schemas.SdvRequest,
    "SignRequest": schemas.SignRequest,
    "ReasonRequest": schemas.ReasonRequest,
    "ImportRequest": schemas.ImportRequest,
    "ActivateRequest": schemas.ActivateRequest,
    "MigrationRequest": schemas.MigrationRequest,
}

_S, _SUBJ, _REC = "{study}", "{subject}", "{event}"


def _component_name(schema) -> str:
    """A nested schema's component: the name it is registered under (``QueryOut`` is ``Query``), else its class."""
    cls = schema if isinstance(schema, type) else type(schema)
    return next((name for name, known in (_RESPONSES | _REQUESTS).items() if known is cls), cls.__name__)


def _params(*names: str) -> list[dict]:
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]


def _json(schema) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _ok(description: str, schema=None, media: str = "application/json") -> dict:
    return {"description": description, **({"content": {media: {"schema": schema}}} if schema else {})}


def _list(name: str) -> dict:
    return {"type": "array", "items": name}


@lru_cache(maxsize=1)
def spec() -> dict:
    """The OpenAPI document (built once)."""
    doc = APISpec(
        title="eCRF engine API",
        version="1",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin(schema_name_resolver=_component_name)],
    )
    doc.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for name, schema in (_RESPONSES | _REQUESTS).items():
        if name not in doc.components.schemas:  # a nested schema registers itself with the first that holds it
            doc.components.schema(name, schema=schema)
    errors = lambda *codes: {c: _ERRORS[c] for c in codes}  # noqa: E731
    read, write = errors(*_READ), errors(*_WRITE)
    base = "/api/v1/studies"
    record = f"{base}/{_S}/subjects/{_SUBJ}/events/{_REC}/forms/{{form}}"
    subject = f"{base}/{_S}/subjects/{_SUBJ}"
    doc.path(
        path=base,
        operations={
            "get": {
                "summary": "Loaded studies",
                "responses": {"200": _ok("list", _list("StudySummary")), **errors("401", "503")},
            }
        },
    )
    doc.path(
        path=f"{base}/{_S}",
        parameters=_params("study"),
        operations={
            "get": {
                "summary": "Study metadata",
                "responses": {"200": _ok("study", "StudyMetadata"), **errors("401", "404", "503")},
            }
        },
    )
    doc.path(
        path=f"{base}/{_S}/forms/{{form}}",
        parameters=_params("study", "form"),
        operations={
            "get": {
                "summary": "A form's JSON Schema",
                "responses": {
                    "200": _ok("the form definition (JSON Schema 2020-12)", {"type": "object"}),
                    **errors("401", "404", "503"),
                },
            }
        },
    )
    doc.path(
        path=f"{base}/{_S}/subjects",
        parameters=_params("study"),
        operations={
            "get": {
                "summary": "Subjects the caller may see",
                "parameters": [{"name": "site", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": _ok("subjects", _list("Subject")), **read},
            },
            "post": {
                "summary": "Register a subject",
                "requestBody": _json("SubjectCreate"),
                "responses": {"201": _ok("registered", "Subject"), **write},
            },
        },
    )
    doc.path(
        path=subject,
        parameters=_params("study", "subject"),
        operations={
            "get": {
                "summary": "Subject with its event/form status matrix",
                "responses": {"200": _ok("subject", "SubjectDetail"), **read},
            }
        },
    )
    doc.path(
        path=record,
        parameters=_params("study", "subject", "event", "form"),
        operations={
            "get": {"summary": "Current record", "responses": {"200": _ok("record", "Record"), **read}},
            "put": {
                "summary": "Save the record through the audited write path",
                "description": "`data` merges into the stored record: an item sent replaces the stored value, "
                               "`null` clears it (a saved value needs a `reason`), an item left out stays as "
                               "stored. A repeating group's value is its whole list of rows, matched to the "
                               "stored rows by `row_id`; rows left out are removed.",
                "requestBody": _json("RecordWrite"),
                "responses": {"200": _ok("saved", "Record"), "201": _ok("created", "Record"), **write},
            },
        },
    )
    doc.path(
        path=f"{record}/audit",
        parameters=_params("study", "subject", "event", "form"),
        operations={
            "get": {
                "summary": "Audit events of one form instance",
                "responses": {"200": _ok("events", _list("AuditEvent")), **read},
            }
        },
    )
    doc.path(
        path=f"{subject}/audit",
        parameters=_params("study", "subject"),
        operations={
            "get": {
                "summary": "The subject's audit events, oldest first",
                "responses": {"200": _ok("events", _list("AuditEvent")), **read},
            }
        },
    )
    queries = f"{base}/{_S}/queries"
    doc.path(
        path=queries,
        parameters=_params("study"),
        operations={
            "get": {
                "summary": "Queries the caller may see",
                "parameters": [
                    {"name": n, "in": "query", "schema": {"type": "string"}}
                    for n in ("site", "subject", "event", "form", "item", "state", "origin")
                ],
                "responses": {"200": _ok("queries", _list("Query")), **read},
            },
            "post": {
                "summary": "Raise a manual query (monitor, data manager)",
                "requestBody": _json("QueryCreate"),
                "responses": {"201": _ok("raised", "Query"), **write},
            },
        },
    )
    doc.path(
        path=f"{queries}/{{query_id}}",
        parameters=_params("study", "query_id"),
        operations={
            "get": {"summary": "One query with its thread", "responses": {"200": _ok("query", "Query"), **read}}
        },
    )
    for verb, summary in (
        ("replies", "Answer (site staff, investigator)"),
        ("close", "Close (monitor, data manager)"),
        ("reopen", "Reopen (monitor, data manager)"),
    ):
        doc.path(
            path=f"{queries}/{{query_id}}/{verb}",
            parameters=_params("study", "query_id"),
            operations={
                "post": {
                    "summary": summary,
                    "requestBody": _json("QueryText"),
                    "responses": {"200": _ok("done", "Query"), **write},
                }
            },
        )
    doc.path(
        path=f"{base}/{_S}/checks/broken",
        parameters=_params("study"),
        operations={
            "get": {
                "summary": "Edit checks that failed to evaluate (monitors, data managers)",
                "responses": {"200": _ok("broken checks", _list("BrokenCheck")), **read},
            }
        },
    )
    doc.path(
        path=f"{record}/sdv",
        parameters=_params("study", "subject", "event", "form"),
        operations={
            "post": {
                "summary": "Source data verification (monitor)",
                "requestBody": _json("SdvRequest"),
                "responses": {"200": _ok("verified", "Record"), **write},
            }
        },
    )
    for path, names in (
        (f"{record}/sign", ("study", "subject", "event", "form")),
        (f"{subject}/events/{_REC}/sign", ("study", "subject", "event")),
        (f"{subject}/sign", ("study", "subject")),
    ):
        doc.path(
            path=path,
            parameters=_params(*names),
            operations={
                "post": {
                    "summary": "Electronic signature (investigator, password re-entered)",
                    "requestBody": _json("SignRequest"),
                    "responses": {"201": _ok("signature manifest", "Signature"), **write},
                }
            },
        )
    doc.path(
        path=f"{subject}/signatures",
        parameters=_params("study", "subject"),
        operations={
            "get": {
                "summary": "The subject's signatures and whether each still holds",
                "responses": {"200": _ok("signatures", _list("Signature")), **read},
            }
        },
    )
    for verb in ("lock", "unlock", "freeze", "unfreeze"):
        for path, names, done in (
            (f"{record}/{verb}", ("study", "subject", "event", "form"), _ok("the record", "Record")),
            (f"{subject}/{verb}", ("study", "subject"), _ok("records changed", "LockResult")),
            (f"{base}/{_S}/{verb}", ("study",), _ok("records changed", "LockResult")),
        ):
            doc.path(
                path=path,
                parameters=_params(*names),
                operations={
                    "post": {
                        "summary": f"{verb.capitalize()} (data manager)"
                        + ("; reason required" if verb == "unlock" else ""),
                        "requestBody": _json("ReasonRequest"),
                        "responses": {"200": done, **write},
                    }
                },
            )
    kinds = _params("study") + [
        {"name": "kind", "in": "path", "required": True, "schema": {"type": "string", "enum": list(FORMATS)}}
    ]
    doc.path(
        path=f"{base}/{_S}/export/{{kind}}",
        parameters=kinds,
        operations={
            "get": {
                "summary": "Export: odm (ODM 1.3.2 with audit trail), csv (zip) or xlsx (data managers)",
                "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}} for n in ("site", "subject")],
                "responses": {
                    "200": {
                        "description": "the export file",
                        "content": {
                            mimetype: {"schema": {"type": "string", "format": "binary"}}
                            for mimetype, _suffix in FORMATS.values()
                        },
                    },
                    **read,
                },
            }
        },
    )
    doc.path(
        path=f"{subject}/casebook.pdf",
        parameters=_params("study", "subject"),
        operations={
            "get": {
                "summary": "The subject's complete casebook (PDF)",
                "responses": {"200": _ok("PDF", {"type": "string", "format": "binary"}, "application/pdf"), **read},
            }
        },
    )
    imports = f"{base}/{_S}/imports"
    doc.path(path=imports, parameters=_params("study"), operations={
        "post": {"summary": "Import clinical data: ODM ClinicalData or a CSV lab file, through the write path "
                            "(data managers); answers at once with the job to poll",
                 "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": "ImportRequest"}}},
                 "responses": {"202": {**_ok("import started", "ImportJob"),
                                       "headers": {"Location": {"schema": {"type": "string"},
                                                                "description": "the job to poll"}}}, **write}}})
    doc.path(path=f"{imports}/{{job_id}}", parameters=_params("study", "job_id"), operations={
        "get": {"summary": "An import job: state, counts, rows and refused rows (data managers)",
                "responses": {"200": _ok("job", "ImportJob"), **read}}})
    doc.path(path=f"{base}/{_S}/versions", parameters=_params("study"), operations={
        "get": {"summary": "Loaded versions of the study and each site's version with its ethics approval date "
                           "(data managers)",
                "responses": {"200": _ok("versions", "StudyVersions"), **read}}})
    doc.path(path=f"{base}/{_S}/versions/{{version}}/activate", parameters=_params("study", "version"), operations={
        "post": {"summary": "Activate a loaded version at a site from its ethics approval date (data managers, "
                            "audited): new subjects there start on it; existing casebooks move only by migration",
                 "requestBody": _json("ActivateRequest"),
                 "responses": {"200": _ok("the site's version", "SiteActivation"), **write}}})
    migrations = f"{base}/{_S}/migrations"
    doc.path(path=migrations, parameters=_params("study"), operations={
        "post": {"summary": "Migrate casebooks to a loaded version through the write path, or its dry run "
                            "(data managers); answers at once with the job to poll",
                 "requestBody": _json("MigrationRequest"),
                 "responses": {"202": {**_ok("migration started", "MigrationJob"),
                                       "headers": {"Location": {"schema": {"type": "string"},
                                                                "description": "the job to poll"}}}, **write}}})
    doc.path(path=f"{migrations}/{{job_id}}", parameters=_params("study", "job_id"), operations={
        "get": {"summary": "A migration job: state, progress and, once done, its report (data managers)",
                "responses": {"200": _ok("job", "MigrationJob"), **read}}})
    result = doc.to_dict()
    for name, component in result["components"]["schemas"].items():
        if name not in _REQUESTS:  # responses and the shapes nested in them
            component["required"] = sorted(set(component["properties"]) - _OPTIONAL.get(name, set()))
    result["security"] = [{"bearer": []}]
    return result

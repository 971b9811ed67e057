"""The OpenAPI 3 description of the JSON API, built with apispec from the marshmallow schemas."""

from __future__ import annotations

from functools import lru_cache

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from ecrf.api import schemas
from ecrf.api.sae_schemas import REQUESTS as SAE_REQUESTS
from ecrf.api.sae_schemas import RESPONSES as SAE_RESPONSES
from ecrf.api.sae_schemas import describe_sae
from ecrf.exports import FORMATS
from ecrf.queries import STATES

_ERRORS = {
    code: {"description": text, "content": {"application/problem+json": {"schema": "Problem"}}}
    for code, text in {
        "400": "malformed request, or a change of a saved value without a reason",
        "401": "not authenticated (or a wrong password when signing)",
        "403": "the caller's role or sites do not allow it",
        "404": "not found or not visible",
        "409": "stale version or conflicting write; a sign, freeze or lock with obstacles and no override_reason",
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
    "SdvWorkItem": schemas.SdvWorkItem,
    "ImportJob": schemas.ImportJobOut,
    "User": schemas.UserOut,
    "OneTimePassword": schemas.OneTimePassword,
    "TokensRevoked": schemas.TokensRevoked,
    "AccessGrant": schemas.AccessGrant,
    "Attachment": schemas.AttachmentOut,
    "StudyVersions": schemas.StudyVersions,
    "SiteActivation": schemas.SiteActivation,
    "MigrationJob": schemas.MigrationJobOut,
    "Problem": schemas.Problem,
    "QueryBulkOut": schemas.QueryBulkOut,
    "Readiness": schemas.Readiness,
    "AwaitingSignature": schemas.AwaitingSignature,
    **SAE_RESPONSES,
}
# (A problem lists field errors only for invalid input; a signature manifest may predate its digest and voiding.)
_OPTIONAL = {"Problem": {"errors", "obstacles"}, "Signature": {"digest", "voided_reason", "voided_by"},
             "User": {"one_time_password"}, "Obstacle": {"item", "query"}}
_REQUESTS = {
    "SubjectCreate": schemas.SubjectCreate,
    "RecordWrite": schemas.RecordWrite,
    "QueryCreate": schemas.QueryCreate,
    "QueryText": schemas.QueryText,
    "QueryBulk": schemas.QueryBulk,
    "SdvRequest": schemas.SdvRequest,
    "SignRequest": schemas.SignRequest,
    "ReasonRequest": schemas.ReasonRequest,
    "ImportRequest": schemas.ImportRequest,
    "UserCreate": schemas.UserCreate,
    "RoleChange": schemas.RoleChange,
    "RequiredReason": schemas.RequiredReason,
    "AttachmentUpload": schemas.AttachmentUpload,
    **SAE_REQUESTS,
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
                    *({"name": n, "in": "query", "schema": {"type": "string"}}
                      for n in ("site", "subject", "event", "form", "item", "origin")),
                    {"name": "state", "in": "query", "description": "one state; repeat it, or separate by commas",
                     "schema": {"type": "array", "items": {"type": "string", "enum": list(STATES)}},
                     "style": "form", "explode": True},
                    {"name": "min_age", "in": "query", "description": "open at least this many whole days",
                     "schema": {"type": "integer", "minimum": 0}},
                ],
                "responses": {"200": _ok("queries", _list("Query")), **read, **errors("422")},
            },
            "post": {
                "summary": "Raise a manual query (monitor, data manager)",
                "requestBody": _json("QueryCreate"),
                "responses": {"201": _ok("raised", "Query"), **write},
            },
        },
    )
    doc.path(
        path=f"{base}/{_S}/query-actions",
        parameters=_params("study"),
        operations={
            "post": {
                "summary": "Answer or close several queries with one comment; names each that was refused and why",
                "requestBody": _json("QueryBulk"),
                "responses": {"200": _ok("each query done or failed", "QueryBulkOut"), **write},
            }
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
        path=f"{base}/{_S}/sdv",
        parameters=_params("study"),
        operations={
            "get": {
                "summary": "SDV worklist: forms awaiting SDV, partly verified or changed since (monitor, data manager)",
                "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}}
                               for n in ("site", "subject", "event", "status")],
                "responses": {"200": _ok("forms", _list("SdvWorkItem")), **read, **errors("422")},
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
        path=f"{base}/{_S}/obstacles",
        parameters=_params("study"),
        operations={
            "get": {
                "summary": "What stands against signing, freezing or locking a form, visit, casebook or the study",
                "parameters": [{"name": "step", "in": "query", "required": True,
                                "schema": {"type": "string", "enum": ["sign", "freeze", "lock"]}}]
                + [{"name": n, "in": "query", "schema": {"type": "string"}} for n in ("subject", "event", "form")],
                "responses": {"200": _ok("obstacles", "Readiness"), **errors(*_READ, "422")},
            }
        },
    )
    doc.path(
        path=f"{base}/{_S}/awaiting-signature",
        parameters=_params("study"),
        operations={
            "get": {
                "summary": "What awaits the investigator's signature at their sites",
                "responses": {"200": _ok("forms, visits and casebooks", _list("AwaitingSignature")), **read},
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
    _user_paths(doc, read, write)
    attachments = f"{record}/attachments"
    doc.path(path=attachments, parameters=_params("study", "subject", "event", "form"), operations={
        "get": {"summary": "The record's source documents, removed ones included",
                "responses": {"200": _ok("list", _list("Attachment")), **read}},
        "post": {"summary": "Attach a PDF, PNG or JPEG file (its type read from its bytes) to the record or an item",
                 "requestBody": {"required": True,
                                 "content": {"multipart/form-data": {"schema": "AttachmentUpload"}}},
                 "responses": {"201": _ok("attached", "Attachment"), **write}}})
    one = f"{subject}/attachments/{{attachment_id}}"
    doc.path(
        path=one,
        parameters=_params("study", "subject", "attachment_id"),
        operations={
            "get": {
                "summary": "The file, as a download (removed files too: the trail refers to them)",
                "responses": {
                    "200": {"description": "the file, typed as its bytes say",
                            "content": {media: {"schema": {"type": "string", "format": "binary"}}
                                        for media in ("application/pdf", "image/png", "image/jpeg")}},
                    **read,
                    **errors("409"),
                },
            }
        },
    )
    doc.path(
        path=f"{one}/remove",
        parameters=_params("study", "subject", "attachment_id"),
        operations={
            "post": {
                "summary": "Take the file off its record, with a reason (the file stays stored)",
                "requestBody": {"required": True, **_json("ReasonRequest")},
                "responses": {"200": _ok("removed", "Attachment"), **write},
            }
        },
    )
    describe_sae(doc, f"{base}/{_S}", read, write)
    _notification_paths(doc, read, write)
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


def _user_paths(doc: APISpec, read: dict, write: dict) -> None:
    """User administration and the access review (administrators only)."""
    users = "/api/v1/users"
    user = f"{users}/{{username}}"
    doc.path(
        path=users,
        operations={
            "get": {
                "summary": "Every user with role, sites, status and last sign-in (administrators)",
                "responses": {"200": _ok("users", _list("User")), **read},
            },
            "post": {
                "summary": "Create a user; without a password a one-time password is answered once (administrators)",
                "requestBody": _json("UserCreate"),
                "responses": {"201": _ok("created", "User"), **write},
            },
        },
    )
    doc.path(
        path=user,
        parameters=_params("username"),
        operations={"get": {"summary": "One user (administrators)", "responses": {"200": _ok("user", "User"), **read}}},
    )
    changes = (
        ("role", "Change role and sites, with a reason; the user's sessions end", "RoleChange", "User"),
        ("disable", "Disable, with a reason; sessions end and tokens are revoked", "RequiredReason", "User"),
        ("enable", "Enable again, with a reason", "RequiredReason", "User"),
        (
            "reset-password",
            "A one-time password (answered once) the user must change at next sign-in; until "
            "then their tokens answer 403",
            "RequiredReason",
            "OneTimePassword",
        ),
        ("unlock", "End a lockout after failed sign-ins", "ReasonRequest", "User"),
        ("revoke-tokens", "Revoke every API token of the user", "ReasonRequest", "TokensRevoked"),
        ("sign-out", "End every browser session of the user", "ReasonRequest", "User"),
    )
    for verb, summary, body, answer in changes:
        doc.path(
            path=f"{user}/{verb}",
            parameters=_params("username"),
            operations={
                "post": {
                    "summary": f"{summary} (administrators)",
                    "requestBody": _json(body),
                    "responses": {"200": _ok("done", answer), **write},
                }
            },
        )
    doc.path(
        path="/api/v1/access-review",
        operations={
            "get": {
                "summary": "Access review: every grant of a role at a site, since when, by whom, ended or current; "
                "last sign-in and status (administrators)",
                "responses": {"200": _ok("grants", _list("AccessGrant")), **read},
            }
        },
    )
    doc.path(
        path="/api/v1/access-review.csv",
        operations={
            "get": {
                "summary": "The access review as CSV (administrators)",
                "responses": {"200": _ok("CSV", {"type": "string"}, "text/csv"), **read},
            }
        },
    )


_NOTIFICATION = {"type": "object", "properties": {
    "id": {"type": "string"}, "kind": {"type": "string"}, "study": {"type": "string"}, "site": {"type": "string"},
    "subject": {"type": "string"}, "event": {"type": "string", "nullable": True},
    "form": {"type": "string", "nullable": True}, "item": {"type": "string", "nullable": True},
    "actor": {"type": "string", "nullable": True}, "detail": {"type": "object"},
    "at": {"type": "string", "format": "date-time"}, "read": {"type": "boolean"},
    "read_at": {"type": "string", "format": "date-time", "nullable": True},
    "delivery": {"type": "string", "enum": ["inbox", "email", "digest"]}}}
_DELIVERY = {"type": "string", "enum": ["inbox", "email", "digest"]}
_PREFERENCES = {"type": "object", "properties": {
    "email": {"type": "string", "nullable": True}, "choices": {"type": "object", "additionalProperties": _DELIVERY}}}


def _notification_paths(doc: APISpec, read: dict, write: dict) -> None:
    """The caller's inbox and notification preferences (no study in the path: a user's inbox spans studies)."""
    base = "/api/v1/notifications"
    page = {"type": "object", "properties": {"items": {"type": "array", "items": _NOTIFICATION},
                                             "page": {"type": "integer"}, "pages": {"type": "integer"},
                                             "total": {"type": "integer"}, "unread": {"type": "integer"}}}
    doc.path(path=base, operations={"get": {
        "summary": "The caller's notifications, newest first (?unread=1 for unread only, ?page=N)",
        "parameters": [{"name": "unread", "in": "query", "schema": {"type": "string"}},
                       {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}}],
        "responses": {"200": _ok("inbox", page), **read, "422": _ERRORS["422"]}}})
    mark = {"type": "object", "properties": {"ids": {"type": "array", "items": {"type": "string"}},
                                             "all": {"type": "boolean"}}}
    doc.path(path=f"{base}/read", operations={"post": {
        "summary": "Mark the named notifications (or all) read",
        "requestBody": {"required": True, "content": {"application/json": {"schema": mark}}},
        "responses": {"200": _ok("marked", {"type": "object", "properties": {
            "marked": {"type": "integer"}, "unread": {"type": "integer"}}}), **write}}})
    doc.path(path=f"{base}/preferences", operations={
        "get": {"summary": "The caller's e-mail address and delivery per kind of notification",
                "responses": {"200": _ok("preferences", _PREFERENCES), **read}},
        "put": {"summary": "Set the caller's e-mail address and/or deliveries (kinds left out keep theirs)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _PREFERENCES}}},
                "responses": {"200": _ok("preferences", _PREFERENCES), **write}}})

"""The API description is the truth: schemathesis drives every operation of ``/api/v1/openapi.json``, in
process on the WSGI app (mongomock), with each role's token, and checks every answer against the description:
no server error, only documented status codes, the documented content type, headers and response schema,
405 with ``Allow`` for undeclared methods, 4xx for data the description forbids.

Bounded by examples, not by time: ``max-examples`` per operation and phase, generation deterministic, so
each run sends the same requests (about 900 per role).
"""

from __future__ import annotations

import pytest
import schemathesis
from conftest import Api, make_app
from schemathesis.engine import events, from_schema

ROLES = {"site_staff": "staff01", "investigator": "inv01", "monitor": "mon01", "data_manager": "dm", "admin": "root"}
MAX_EXAMPLES = 3
# Off: checks that need a stateful scenario (a resource created, then deleted) or that expect every valid body
# to be accepted (roles and locks refuse valid bodies by design); and ignored_auth, whose probe hands
# `max_redirects` to Werkzeug's test client and errs on every in-process call (schemathesis 4.32) -- that
# every route refuses a request without a token is tested in test_authorization.py. Every other check runs.
OFF = ("positive_data_acceptance", "use_after_free", "ensure_resource_availability", "ignored_auth")


@pytest.fixture
def world(tmp_path):
    """The mini study with a subject, a saved record and an open query, and the path values that name them."""
    app = make_app(tmp_path, "mongomock://")
    client = app.test_client()
    staff = Api(client, app.tokens["staff01"])
    subject = staff.register()
    assert staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70}).status_code == 201
    raised = Api(client, app.tokens["mon01"]).post("/studies/MINI/queries", {
        "subject": subject, "event": "SCREEN", "form": "VS", "item": "/WEIGHT", "text": "check"})
    assert raised.status_code == 201
    app.known = {"study": "MINI", "subject": subject, "event": "SCREEN", "form": "VS",
                 "query_id": raised.get_json()["id"], "version": "1"}
    return app


def run_schemathesis(app, token: str, parameters: dict) -> tuple[int, set[str], list[str]]:
    """Every phase but the stateful one over every operation: (cases sent, operations tested, failures)."""
    config = schemathesis.Config.from_dict({
        "headers": {"Authorization": f"Bearer {token}"},
        "parameters": parameters,
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
        "checks": {"enabled": True, **{name: {"enabled": False} for name in OFF}},
    })
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)
    cases, tested, failures = 0, set(), []
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            cases += len(event.recorder.cases)
            if event.recorder.cases:
                tested.add(event.recorder.label)
            for checks in event.recorder.checks.values():
                failures += [f"{event.recorder.label}: {check.name}: {check.failure_info.failure.title}: "
                             f"{check.failure_info.failure.message[:500]}"
                             for check in checks if check.failure_info is not None]
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            failures.append(f"{getattr(event, 'label', 'engine')}: {event.info.title}: {event.info.message[:500]}")
    return cases, tested, failures


def described_operations(app) -> set[str]:
    paths = app.test_client().get("/api/v1/openapi.json").get_json()["paths"]
    return {f"{method.upper()} {path}" for path, item in paths.items() for method in item
            if method in ("get", "put", "post", "delete", "patch")}


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_as_described_for_each_role(world, role):
    cases, tested, failures = run_schemathesis(world, world.tokens[ROLES[role]], world.known)
    print(f"schemathesis as {role}: {cases} cases over {len(tested)} operations, {len(failures)} failures")
    assert failures == [], "\n".join(failures)
    assert tested == described_operations(world)
    assert cases >= 10 * len(tested)


def test_every_operation_answers_as_described_on_paths_that_name_nothing(world):
    """Generated path values (unknown studies, subjects, queries): still only described answers."""
    cases, tested, failures = run_schemathesis(world, world.tokens["dm"], {})
    print(f"schemathesis on generated paths: {cases} cases over {len(tested)} operations, {len(failures)} failures")
    assert failures == [], "\n".join(failures)
    assert tested == described_operations(world)

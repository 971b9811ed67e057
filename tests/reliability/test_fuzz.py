"""Hostile input: fuzzed bodies on every write endpoint (hypothesis and schemathesis), operator and
dotted keys, script everywhere, CSRF on every HTML form, security headers."""

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import MINI_STUDY, Api, login, make_app

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20) | st.sampled_from(["$where", "$gt", "a.b", "<script>alert(1)</script>", "1e309", "\x00"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(max_size=8) | st.sampled_from(["$gt", "$where", "a.b", "WEIGHT", "data", "version", "reason", "text",
                                                "site", "subject_id", "items", "password"]), inner, max_size=5),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("fuzz"), "mongomock://")
    client = app.test_client()
    staff = Api(client, app.tokens["staff01"])
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    qid = Api(client, app.tokens["mon01"]).post("/studies/MINI/queries", {"subject": subject, "event": "SCREEN", "form": "VS",
                                                                         "item": "/WEIGHT", "text": "check"}).get_json()["id"]
    return app, client, subject, qid


def snapshot(app):
    with app.app_context():
        from ecrf.db import database
        db = database()
        return (db.audit_events.count_documents({}), db.records.count_documents({}), db.subjects.count_documents({}),
                db.queries.count_documents({}))


WRITES = [
    ("PUT", "/api/v1/studies/MINI/subjects/{subject}/events/SCREEN/forms/VS", "staff01"),
    ("PUT", "/api/v1/studies/MINI/subjects/{subject}/events/LOGS/forms/AE", "staff01"),
    ("POST", "/api/v1/studies/MINI/subjects", "staff01"),
    ("POST", "/api/v1/studies/MINI/queries", "mon01"),
    ("POST", "/api/v1/studies/MINI/queries/{qid}/replies", "staff01"),
    ("POST", "/api/v1/studies/MINI/subjects/{subject}/events/SCREEN/forms/VS/sdv", "mon01"),
    ("POST", "/api/v1/studies/MINI/subjects/{subject}/events/SCREEN/forms/VS/sign", "inv01"),
    ("POST", "/api/v1/studies/MINI/subjects/{subject}/events/SCREEN/forms/VS/unlock", "dm"),
]


@pytest.mark.parametrize("method, template, who", WRITES)
def test_fuzzed_bodies_never_fail_and_rejected_ones_store_nothing(fuzz_world, method, template, who):
    app, client, subject, qid = fuzz_world
    path = template.format(subject=subject, qid=qid)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=JSON)
    def run(body):
        before = snapshot(app)
        response = client.open(path, method=method, data=json.dumps(body), content_type="application/json",
                               headers={"Authorization": f"Bearer {app.tokens[who]}"})
        assert response.status_code < 500, (body, response.get_data(as_text=True)[:300])
        if response.status_code >= 400:
            assert snapshot(app) == before, body
            assert response.mimetype == "application/problem+json"

    run()


def test_operator_and_dotted_keys_in_every_json_field_are_refused(fuzz_world):
    app, client, subject, qid = fuzz_world
    staff, monitor = Api(client, app.tokens["staff01"]), Api(client, app.tokens["mon01"])
    before = snapshot(app)
    attempts = [
        staff.post("/studies/MINI/subjects", {"site": {"$ne": None}}),
        staff.post("/studies/MINI/subjects", {"site": "01", "subject_id": {"$gt": ""}}),
        staff.post("/studies/MINI/subjects", {"site": "01", "subject_id": "a.b"}),
        staff.put(staff.record_path(subject, "SCREEN", "VS"), {"data": {"WEIGHT.x": 1}, "version": 1, "reason": "x"}),
        staff.put(staff.record_path(subject, "SCREEN", "VS"), {"data": {"WEIGHT": 71}, "version": {"$gt": 0}}),
        staff.put(staff.record_path(subject, "SCREEN", "VS"), {"data": {"WEIGHT": 71}, "version": 1, "reason": {"$x": 1}}),
        monitor.post("/studies/MINI/queries", {"subject": {"$ne": "x"}, "event": "SCREEN", "form": "VS", "item": "/WEIGHT", "text": "x"}),
        monitor.post("/studies/MINI/queries", {"subject": subject, "event": "SCREEN", "form": "VS", "item": "/$where", "text": "x"}),
    ]
    assert [r.status_code for r in attempts] == [422, 422, 422, 422, 422, 422, 422, 422]
    assert snapshot(app) == before


def test_every_html_form_refuses_a_post_without_its_csrf_token(fuzz_world):
    app, client, subject, qid = fuzz_world
    web = app.test_client()
    login(web, "dm")
    before = snapshot(app)
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.rule.startswith("/api/") or rule.endpoint == "auth.login":
            continue
        path = rule.rule
        for name, value in {"study": "MINI", "subject": subject, "event": "SCREEN", "form": "VS", "query_id": qid,
                            "action": "close", "username": "staff01", "range_id": "x", "job_id": "x"}.items():
            path = path.replace(f"<{name}>", value)
        response = web.post(path, data={"text": "no token", "reason": "no token"})
        assert response.status_code in (302, 400), (rule.rule, response.status_code)
        if response.status_code == 302:  # views that flash "the form expired" instead of a bare 400
            assert "/login" not in response.headers["Location"]
    assert snapshot(app) == before


def test_security_headers_and_hsts_behind_tls(fuzz_world):
    app, client, subject, qid = fuzz_world
    plain = client.get("/login")
    assert plain.headers["X-Frame-Options"] == "DENY" and plain.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in plain.headers["Content-Security-Policy"] and "unsafe-inline" not in plain.headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in plain.headers
    secure = client.get("/login", base_url="https://ecrf.example")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")
    page = plain.get_data(as_text=True)
    assert "<script>" not in page and "onclick=" not in page  # no inline script: the CSP holds


def test_script_in_query_texts_is_escaped_on_the_pages(fuzz_world):
    app, client, subject, qid = fuzz_world
    evil = "<script>alert('q')</script>"
    Api(client, app.tokens["staff01"]).post(f"/studies/MINI/queries/{qid}/replies", {"text": evil})
    web = app.test_client()
    login(web, "mon01")
    for path in (f"/studies/MINI/subjects/{subject}/events/SCREEN/forms/VS", "/studies/MINI/queries"):
        html = web.get(path).get_data(as_text=True)
        assert evil not in html and "&lt;script&gt;alert(" in html


def test_schemathesis_every_operation_never_answers_500(fuzz_world):
    """Schemathesis generates requests for every operation of /api/v1/openapi.json."""
    app, client, subject, qid = fuzz_world
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    for operation in operations:
        token = app.tokens["dm" if any(w in operation.path for w in ("export", "lock", "freeze")) else "staff01"]

        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case):
            for name, value in {"study": "MINI", "subject": subject, "query_id": qid}.items():
                if name in (case.path_parameters or {}) and not str(case.path_parameters[name]).strip():
                    case.path_parameters[name] = value
            before = snapshot(app)
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])
            if response.status_code >= 400 and case.method.upper() in ("POST", "PUT"):
                assert snapshot(app) == before

        run()

"""Hostile input: fuzzed bodies and query strings on every write endpoint (hypothesis; schemathesis in
test_schemathesis.py), operator and dotted keys, script everywhere, CSRF on every HTML form, security headers."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import PASSWORD, Api, login, make_app

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20) | st.sampled_from(["$where", "$gt", "a.b", "<script>alert(1)</script>", "1e309", "\x00"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(max_size=8) | st.sampled_from(["$gt", "$where", "a.b", "WEIGHT", "data", "version", "reason", "text",
                                                "site", "subject_id", "items", "password"]), inner, max_size=5),
    max_leaves=12,
)


def build_world(path):
    """The mini study with a subject, a saved record and a query a monitor raised on it."""
    app = make_app(path, "mongomock://")
    client = app.test_client()
    staff = Api(client, app.tokens["staff01"])
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    qid = Api(client, app.tokens["mon01"]).post("/studies/MINI/queries", {"subject": subject, "event": "SCREEN", "form": "VS",
                                                                         "item": "/WEIGHT", "text": "check"}).get_json()["id"]
    return app, client, subject, qid


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture
def fresh_world(tmp_path):
    """The same world, new for each endpoint: the trail that one endpoint's accepted writes grow never slows
    the next (mongomock finds a stream's head by scanning the whole trail)."""
    return build_world(tmp_path)


def snapshot(app, people: bool = True):
    """Everything stored: each collection's documents, the append-only audit trail by its count.

    Without ``people``: users and their streams left out (a wrong password re-entered to sign is counted
    toward lockout and audited, as 21 CFR 11.300(d) asks, although the signature is refused).
    """
    with app.app_context():
        from ecrf.db import database
        db = database()
        state = {}
        for name in sorted(db.list_collection_names()):
            if name == "audit_events":
                state[name] = (db[name].estimated_document_count() if people
                               else db[name].count_documents({"stream": {"$not": {"$regex": "^user/"}}}))
            elif people or name != "users":
                state[name] = list(db[name].find({}, sort=[("_id", 1)]))
        return state


RECORD = "/api/v1/studies/MINI/subjects/{subject}/events/SCREEN/forms/VS"
SUBJECT = "/api/v1/studies/MINI/subjects/{subject}"
# Every write endpoint of the API, the user who may use it, and the body fields it knows (so that a share of the
# fuzzed bodies gets past the shape check into the service behind it).
WRITES = [
    ("PUT", RECORD, "staff01", ("data", "version", "reason")),
    ("PUT", "/api/v1/studies/MINI/subjects/{subject}/events/LOGS/forms/AE", "staff01", ("data", "version", "reason")),
    ("POST", "/api/v1/studies/MINI/subjects", "staff01", ("site", "subject_id")),
    ("POST", "/api/v1/studies/MINI/queries", "mon01", ("subject", "event", "form", "item", "text")),
    ("POST", "/api/v1/studies/MINI/queries/{qid}/replies", "staff01", ("text",)),
    ("POST", "/api/v1/studies/MINI/queries/{qid}/close", "mon01", ("text",)),
    ("POST", "/api/v1/studies/MINI/queries/{qid}/reopen", "mon01", ("text",)),
    ("POST", RECORD + "/sdv", "mon01", ("items",)),
    ("POST", RECORD + "/sign", "inv01", ("password", "meaning")),
    ("POST", SUBJECT + "/events/SCREEN/sign", "inv01", ("password", "meaning")),
    ("POST", SUBJECT + "/sign", "inv01", ("password", "meaning")),
    *[("POST", f"{scope}/{verb}", "dm", ("reason",))
      for verb in ("lock", "unlock", "freeze", "unfreeze") for scope in (RECORD, SUBJECT, "/api/v1/studies/MINI")],
]
EXAMPLES_PER_ENDPOINT = 440  # x 23 endpoints: 10,120 fuzzed requests in a run

TEXT = st.text(max_size=12) | st.sampled_from(["", " ", "01", "02", "MINI", "SCREEN", "VS", "/WEIGHT", "/AE/0/AETERM",
                                                "a.b", "$where", "\x00", "\ud800", "x" * 5000, PASSWORD, "reason"])
VALUES = JSON | TEXT | st.integers(-2, 5)


def bodies(fields):
    """Fuzzed JSON: anything at all, or an object of the endpoint's own fields (some missing, some extra)."""
    shaped = st.fixed_dictionaries({}, optional={name: VALUES for name in fields} | {
        "data": st.dictionaries(st.sampled_from(["WEIGHT", "HEIGHT", "AE", "SEX", "x", "$set"]) | st.text(max_size=6),
                                VALUES, max_size=4)}) | st.dictionaries(TEXT, VALUES, max_size=3)
    return st.one_of(JSON, shaped, shaped.map(lambda body: {**body, "data": body.get("data", {})}))


URL_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)  # what a URL can carry: no lone surrogates
REQUESTS = st.tuples(
    st.dictionaries(URL_TEXT | st.sampled_from(["site", "subject", "page", "version"]),
                    URL_TEXT | st.sampled_from(["01", "02", "$gt", "a.b", "x" * 3000]), max_size=3),
    st.sampled_from(["application/json"] * 6 + ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"]),
    st.booleans(),  # sent as JSON text, or as arbitrary bytes
    st.binary(max_size=40),
)


@pytest.mark.parametrize("method, template, who, fields", WRITES, ids=[f"{m} {t}" for m, t, _w, _f in WRITES])
def test_fuzzed_writes_never_fail_and_refused_ones_store_nothing(fresh_world, method, template, who, fields):
    """JSON bodies, raw bytes, content types and query strings on every write endpoint: never a 5xx; a refused
    request (4xx) leaves every collection and the audit trail exactly as they were."""
    app, client, subject, qid = fresh_world
    path = template.format(subject=subject, qid=qid)
    people = "/sign" not in path
    known = []  # what is stored, when the last request changed nothing (saves a snapshot per example)
    sent = []

    @settings(max_examples=EXAMPLES_PER_ENDPOINT, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=bodies(fields), request=REQUESTS)
    def run(body, request):
        query, content_type, as_json, raw = request
        before = known.pop() if known else snapshot(app, people)
        sent.append(method)
        response = client.open(path, method=method, query_string=query, content_type=content_type,
                               data=json.dumps(body) if as_json else raw,
                               headers={"Authorization": f"Bearer {app.tokens[who]}"})
        assert response.status_code < 500, (body, query, response.get_data(as_text=True)[:300])
        if response.status_code >= 400:
            after = snapshot(app, people)
            assert after == before, (body, query, response.status_code)
            assert response.mimetype == "application/problem+json"
            known.append(after)

    run()
    assert len(sent) >= EXAMPLES_PER_ENDPOINT


def test_the_write_fuzz_covers_every_api_write_route_with_ten_thousand_requests(fuzz_world):
    app = fuzz_world[0]
    names = {"study": "MINI", "subject": "{subject}", "event": "SCREEN", "form": "VS", "query_id": "{qid}"}
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = rule.rule
            for name, value in names.items():
                path = path.replace(f"<{name}>", value)
            routes |= {(method, path) for method in rule.methods & {"POST", "PUT", "PATCH", "DELETE"}}
    fuzzed = {(method, template) for method, template, _who, _fields in WRITES}
    assert routes == fuzzed - {("PUT", "/api/v1/studies/MINI/subjects/{subject}/events/LOGS/forms/AE")}  # one form more
    assert len(WRITES) * EXAMPLES_PER_ENDPOINT >= 10_000


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

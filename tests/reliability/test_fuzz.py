"""Hostile input: fuzzed bodies and query strings on every write endpoint (hypothesis; schemathesis in
test_schemathesis.py), operator and dotted keys, script everywhere, CSRF on every HTML form, security headers."""

import io
import json
import threading

import pytest
from conftest import OVERRIDDEN, PASSWORD, SIGNING, Api, login, make_app
from documents import pdf_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20) | st.sampled_from(["$where", "$gt", "a.b", "<script>alert(1)</script>", "1e309", "\x00"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(max_size=8) | st.sampled_from(["$gt", "$where", "a.b", "WEIGHT", "data", "version", "reason", "text",
                                                "site", "subject_id", "items", "password"]), inner, max_size=5),
    max_leaves=12,
)


def build_world(path, uri="mongomock://"):
    """The mini study with a subject, a saved record and a query a monitor raised on it."""
    app = make_app(path, uri)
    client = app.test_client()
    staff = Api(client, app.tokens["staff01"])
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    qid = Api(client, app.tokens["mon01"]).post("/studies/MINI/queries",
                                                {"subject": subject, "event": "SCREEN", "form": "VS",
                                                "item": "/WEIGHT",
                                                 "text": "check"}).get_json()["id"]
    app.attachment_id = client.post(f"/api/v1/studies/MINI/subjects/{subject}/events/SCREEN/forms/VS/attachments",
                                    data={"file": (io.BytesIO(pdf_bytes()), "scale.pdf")},
                                    headers={"Authorization": f"Bearer {app.tokens['staff01']}"},
                                    content_type="multipart/form-data").get_json()["id"]
    return app, client, subject, qid


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="module")
def wire_world(tmp_path_factory, wire_uri):
    return build_world(tmp_path_factory.mktemp("fuzz-wire"), wire_uri)


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
                if not people:
                    state[name] = db[name].count_documents({"stream": {"$not": {"$regex": "^user/"}}})
                elif app.config["ECRF"].mongodb_uri.startswith("mongomock"):
                    state[name] = db[name].estimated_document_count()  # exact there, and no scan of the trail
                else:
                    state[name] = db[name].count_documents({})
            elif people or name != "users":
                state[name] = list(db[name].find({}, sort=[("_id", 1)]))
        return state


RECORD = "/api/v1/studies/MINI/subjects/{subject}/events/SCREEN/forms/VS"
SUBJECT = "/api/v1/studies/MINI/subjects/{subject}"
QUERY = {"subject": "{subject}", "event": "SCREEN", "form": "VS", "item": "/WEIGHT", "text": "please check"}
SIGN, TEXT_BODY = {**SIGNING, "meaning": "approved"}, {"text": "answered"}
REASON = {"reason": "because", **OVERRIDDEN}
# Every write endpoint of the API, the user who may use it, and a body it accepts: fuzzed bodies are anything at
# all, objects of its fields, or this body with one value replaced by a hostile one.
WRITES = [
    ("PUT", RECORD, "staff01", {"data": {"WEIGHT": 71}, "version": 1, "reason": "typo"}),
    ("PUT", "/api/v1/studies/MINI/subjects/{subject}/events/LOGS/forms/AE", "staff01",
     {"data": {"AE": [{"AETERM": "fever", "AESTDTC": "2026-01-02"}]}, "version": None}),
    ("POST", "/api/v1/studies/MINI/subjects", "staff01", {"site": "01", "subject_id": "01-900"}),
    ("POST", "/api/v1/studies/MINI/queries", "mon01", QUERY),
    ("POST", "/api/v1/studies/MINI/queries/{qid}/replies", "staff01", TEXT_BODY),
    ("POST", "/api/v1/studies/MINI/queries/{qid}/close", "mon01", TEXT_BODY),
    ("POST", "/api/v1/studies/MINI/queries/{qid}/reopen", "mon01", TEXT_BODY),
    ("POST", "/api/v1/studies/MINI/query-actions", "mon01", {"action": "close", "ids": ["{qid}"], "text": "checked"}),
    ("POST", RECORD + "/sdv", "mon01", {"items": ["/WEIGHT"]}),
    ("POST", RECORD + "/sign", "inv01", SIGN),
    ("POST", SUBJECT + "/events/SCREEN/sign", "inv01", SIGN),
    ("POST", SUBJECT + "/sign", "inv01", SIGN),
    *[("POST", f"{scope}/{verb}", "dm", REASON)
      for verb in ("lock", "unlock", "freeze", "unfreeze") for scope in (RECORD, SUBJECT, "/api/v1/studies/MINI")],
    # Multipart only: every body here is refused (415, 422) and stores nothing; schemathesis fuzzes its multipart.
    ("POST", "/api/v1/studies/MINI/imports", "dm", {"kind": "csv", "form": "LB", "event": "SCREEN"}),
    ("POST", RECORD + "/attachments", "staff01", {"item": "/WEIGHT"}),
    ("POST", SUBJECT + "/attachments/{aid}/remove", "staff01", REASON),
    # User administration (admin only), on another user than the one whose token sends the requests.
    ("POST", "/api/v1/users", "root", {"username": "new01", "role": "site_staff", "sites": ["01"], "reason": "hired"}),
    ("POST", "/api/v1/users/staff02/role", "root", {"role": "monitor", "sites": ["02"], "reason": "new job"}),
    *[("POST", f"/api/v1/users/staff02/{verb}", "root", REASON)
      for verb in ("disable", "enable", "reset-password", "unlock", "revoke-tokens", "sign-out")],
    # SAE reports (the mini study opens none: every request names an unknown report and must store nothing).
    ("PUT", "/api/v1/studies/MINI/sae/{rid}", "staff01", {"content": {"narrative": "fever"}, "version": 1}),
    ("POST", "/api/v1/studies/MINI/sae/{rid}/submit", "inv01", {"password": PASSWORD, "version": 1}),
    *[("POST", f"/api/v1/studies/MINI/sae/{{rid}}/{verb}", "dm", body)
      for verb, body in (("acknowledge", TEXT_BODY), ("followup", TEXT_BODY), ("close", TEXT_BODY))],
    # The caller's own inbox and preferences.
    ("POST", "/api/v1/notifications/read", "staff01", {"ids": [], "all": True}),
    ("PUT", "/api/v1/notifications/preferences", "staff01", {"email": "staff01@example.org", "choices": {}}),
    ("POST", "/api/v1/studies/MINI/versions/1/activate", "dm", {"site": "01", "approved": "2026-01-02"}),
    ("POST", "/api/v1/studies/MINI/migrations", "dm",
     {"to": "1", "site": "01", "subject": "{subject}", "dry_run": True, "reason": "Amendment 2"}),
]
EXAMPLES_PER_ENDPOINT = 230  # x 44 endpoints: 10,120 fuzzed requests in a run, on mongomock
WIRE_EXAMPLES = 20  # x 44 on the wire server, after every unstorable value in every field

TEXT = st.text(max_size=12) | st.sampled_from(["", " ", "01", "02", "MINI", "SCREEN", "VS", "/WEIGHT", "/AE/0/AETERM",
                                                "a.b", "$where", PASSWORD, "reason"])
# What a careless or hostile client puts where a valid value goes: text that XML, BSON or a PDF cannot carry,
# operators, wrong types, sizes at and over the limits.
SPECIAL = st.sampled_from([
    "\ud800", "\udfff", "a\x00b", "\x01", "\x1b[2J", "\ufffe", "\uffff", "\u202e", "\u200b", "\r\n", "x" * 4001,
    "x" * 2001, "\u4e2d" * 700, "", " ", "$gt", "a.b", "/a.b$c", "../..", "=cmd|' /C calc'!A0", None, True, -1, 0,
    2**63, 1e308, -0.0, [], {}, {"$ne": None}, ["\ud800"], {"\ud800": 1}, "2026-02-30", "9999-12-31"])
HOSTILE = st.one_of(SPECIAL, SPECIAL, SPECIAL, TEXT, JSON)
VALUES = JSON | TEXT | st.integers(-2, 5)


def _leaves(value, path=()):
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path


def _replaced(value, path, new):
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(value[path[0]], path[1:], new)
    return copy


def bodies(valid: dict):
    """Fuzzed JSON: anything at all, an object of the endpoint's own fields (some missing, some extra), or its
    valid body with one value (or one more key) made hostile."""
    shaped = st.fixed_dictionaries({}, optional={name: VALUES for name in valid}) | st.dictionaries(TEXT, VALUES,
                                                                                                    max_size=3)
    mutated = st.builds(lambda path, new: _replaced(valid, path, new), st.sampled_from(list(_leaves(valid))), HOSTILE)
    extra = st.builds(lambda key, new: {**valid, key: new}, TEXT | st.just("\ud800"), HOSTILE)
    return st.one_of(JSON, shaped, mutated, mutated, extra)


URL_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)  # what a URL can carry: no lone surrogates
REQUESTS = st.tuples(
    st.dictionaries(URL_TEXT | st.sampled_from(["site", "subject", "page", "version"]),
                    URL_TEXT | st.sampled_from(["01", "02", "$gt", "a.b", "x" * 3000]), max_size=3),
    st.sampled_from(["application/json"] * 6 + ["text/plain", "application/x-www-form-urlencoded",
                                                "application/json; charset=latin-1"]),
    st.sampled_from([True] * 5 + [False]),  # sent as JSON text, or as arbitrary bytes
    st.binary(max_size=40),
)


def finish_jobs() -> None:
    """Wait for the background migrations an accepted request started: the next snapshot must not race them."""
    for thread in threading.enumerate():
        if thread.name.startswith("migrate-"):
            thread.join()


def fuzz_endpoint(world, method: str, template: str, who: str, valid: dict, examples: int) -> int:
    """Send ``examples`` fuzzed requests to one endpoint; each must answer below 500, and each refused one
    (4xx, problem+json) must leave every collection and the audit trail as they were. Returns how many ran."""
    app, client, subject, qid = world
    path = template.format(subject=subject, qid=qid, aid=app.attachment_id, rid="0" * 16)
    valid = json.loads(json.dumps(valid).replace("{subject}", subject).replace("{qid}", qid))
    people = "/sign" not in path
    known = []  # what is stored, when the last request changed nothing (saves a snapshot per example)
    sent = []

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=bodies(valid), request=REQUESTS)
    def run(body, request):
        query, content_type, as_json, raw = request
        before = known.pop() if known else snapshot(app, people)
        sent.append(method)
        response = client.open(path, method=method, query_string=query, content_type=content_type,
                               data=json.dumps(body) if as_json else raw,
                               headers={"Authorization": f"Bearer {app.tokens[who]}"})
        assert response.status_code < 500, (body, query, response.get_data(as_text=True)[:300])
        finish_jobs()
        if response.status_code >= 400:
            after = snapshot(app, people)
            assert after == before, (body, query, response.status_code)
            assert response.mimetype == "application/problem+json"
            known.append(after)

    run()
    return len(sent)


WRITE_IDS = [f"{method} {template}" for method, template, _who, _valid in WRITES]


@pytest.mark.parametrize("method, template, who, valid", WRITES, ids=WRITE_IDS)
def test_fuzzed_writes_never_fail_and_refused_ones_store_nothing(fresh_world, method, template, who, valid):
    """JSON bodies, raw bytes, content types and query strings on every write endpoint: never a 5xx; a refused
    request (4xx) leaves every collection and the audit trail exactly as they were."""
    assert fuzz_endpoint(fresh_world, method, template, who, valid, EXAMPLES_PER_ENDPOINT) >= EXAMPLES_PER_ENDPOINT


# What UTF-8, BSON or the server cannot carry: only the real wire server refuses these, mongomock keeps them.
UNSTORABLE = ["\ud800", "\udfff", "a\x00b", {"\ud800": 1}, ["\udc00"], {"a.b": 1}, {"$set": 1}, 2**63, -(2**63) - 1]


@pytest.mark.integration
@pytest.mark.parametrize("method, template, who, valid", WRITES, ids=WRITE_IDS)
def test_unstorable_values_in_every_field_on_the_wire_server_are_refused_and_store_nothing(wire_world, method, template,
                                                                                        who, valid):
    """Every value of every write endpoint's valid body, replaced by each thing the wire server cannot store:
    a 4xx and nothing stored, never a 500; then a few random fuzzed requests as on mongomock."""
    app, client, subject, qid = wire_world
    path = template.format(subject=subject, qid=qid, aid=app.attachment_id, rid="0" * 16)
    valid = json.loads(json.dumps(valid).replace("{subject}", subject).replace("{qid}", qid))
    people = "/sign" not in path
    for leaf in _leaves(valid):
        for value in UNSTORABLE:
            body = _replaced(valid, leaf, value)
            before = snapshot(app, people)
            response = client.open(path, method=method, data=json.dumps(body), content_type="application/json",
                                   headers={"Authorization": f"Bearer {app.tokens[who]}"})
            assert response.status_code < 500, (leaf, body, response.get_data(as_text=True)[:300])
            finish_jobs()
            if response.status_code >= 400:
                assert snapshot(app, people) == before, (leaf, body, response.status_code)
    assert fuzz_endpoint(wire_world, method, template, who, valid, WIRE_EXAMPLES) >= WIRE_EXAMPLES


def test_the_write_fuzz_covers_every_api_write_route_with_ten_thousand_requests(fuzz_world):
    app = fuzz_world[0]
    names = {"study": "MINI", "subject": "{subject}", "event": "SCREEN", "form": "VS", "query_id": "{qid}",
             "attachment_id": "{aid}", "username": "staff02", "version": "1", "report_id": "{rid}"}
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = rule.rule
            for name, value in names.items():
                path = path.replace(f"<{name}>", value)
            routes |= {(method, path) for method in rule.methods & {"POST", "PUT", "PATCH", "DELETE"}}
    fuzzed = {(method, template) for method, template, _who, _valid in WRITES}
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
        staff.put(staff.record_path(subject, "SCREEN", "VS"),
                  {"data": {"WEIGHT": 71}, "version": 1, "reason": {"$x": 1}}),
        monitor.post("/studies/MINI/queries",
                     {"subject": {"$ne": "x"}, "event": "SCREEN", "form": "VS", "item": "/WEIGHT", "text": "x"}),
        monitor.post("/studies/MINI/queries",
                     {"subject": subject, "event": "SCREEN", "form": "VS", "item": "/$where", "text": "x"}),
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
                            "action": "close", "username": "staff01", "range_id": "x", "job_id": "x",
                            "attachment_id": app.attachment_id}.items():
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
    policy = plain.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
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

"""What a lock and a freeze refuse at each scope (record, visit, subject, study), walked over every write route.

Every write route of the app (API and HTML, each action of an ``<action>`` route) is either exercised here
against every lock scope, or listed in ``ALLOWED_UNDER_LOCK`` with the reason it stays open. A write route
added later without a decision fails :func:`test_every_write_route_has_a_lock_decision`.

The rules (README, "Locks and freezes"): a lock refuses every write to what it covers; a freeze of a record,
visit or subject stops its data but lets its review (queries, SDV, signatures) finish; a freeze of the whole
study is the database's soft lock and refuses every write, as its lock does. Registration and a site's
reference ranges belong to the study as a whole: only a study lock or freeze covers them.
"""

from __future__ import annotations

import io
import re

import pytest
from conftest import OVERRIDDEN, PASSWORD, SIGNING, login, token_in
from documents import pdf_bytes

from ecrf.api.openapi import spec
from ecrf.db import database
from ecrf.lifecycle import set_lock
from ecrf.locks import study_closure
from ecrf.ranges import add_range
from ecrf.studies import study_runtime
from ecrf.users import get_user
from ecrf.views.queries import ACTIONS
from ecrf.views.records import _record_actions

RECORD = "/studies/MINI/subjects/{s}/events/SCREEN/forms/VS"
SCOPES = ("form", "visit", "subject", "study")
KINDS = ("locked", "frozen")
DATA = ("records", "subjects", "queries", "signatures", "lab_ranges", "container_locks", "audit_events",
        "attachments", "attachments.files")

# Write routes that no lock refuses, and why. Everything else is walked below.
ALLOWED_UNDER_LOCK = {
    "auth.login": "signing in writes no study data",
    "auth.logout": "signing out writes no study data",
    "auth.password": "a user's own password is not study data",
    "api.notifications_read": "a user's read marks on their notifications are not study data",
    "api.set_notification_preferences": "a user's notification settings are not study data",
    "notifications.read": "a user's read marks on their notifications are not study data",
    "notifications.preferences": "a user's notification settings are not study data",
    "admin.sites": "sites are administration, shared by every study",
    "users.index": "users are administration, shared by every study",
    "users.act": "users, their roles and sites are administration, shared by every study",
    **{route: "users, their roles and sites are administration, shared by every study"
       for route in ("api.create_user", "api.user_role", "api.user_disable", "api.user_enable",
                     "api.user_reset_password", "api.user_unlock", "api.user_revoke_tokens", "api.user_sign_out")},
    "exports.index": "an export reads the locked data: it is what a lock is for",
    **{route: "a bulk action answers 200 and lists each query a lock refused (423) under `failed`: each goes through "
              "its own transition, walked below (tests/unit/ecrf/test_query_list.py)"
       for route in ("api.queries_bulk", "queries.bulk")},
    "coding.act": "coding is review: ecrf.coding.codings refuses it as a query under a lock or a study freeze; "
                  "the mini study has no coded item, so tests/unit/ecrf/coding/test_codings.py checks it on CD7",
    **{route: "an import starts a job; each row goes through save_record and register_subject, which refuse a "
              "locked or frozen record, subject or study: that row is refused (test_import_batch.py)"
       for route in ("api.start_import_job", "imports.index", "imports.confirm")},
    "studies.upload": "loading a study version writes no clinical data and moves no casebook",
    **{route: "activating a version at a site moves no existing casebook"
       for route in ("studies.activate_version", "api.activate_study_version")},
    **{route: "a migration reports and skips every subject holding a locked or frozen record; a held study or "
              "subject refuses its save_record (tests/unit/ecrf/test_amendments.py)"
       for route in ("studies.migrate", "api.start_study_migration")},
    **{f"api.{scope}_{verb}": "the lock's own controls: the data manager's way in and out"
       for scope in ("record", "subject", "study") for verb in ("lock", "unlock", "freeze", "unfreeze")},
    **{f"records.act:{verb}": "the lock's own controls: the data manager's way in and out"
       for verb in ("lock", "unlock", "freeze", "unfreeze")},
    "signoff.database_lock": "the study's freeze and lock page: the lock's own controls",
    **{endpoint: "expedited safety reporting is a legal duty that no database lock pauses (docs/api.md)"
       for endpoint in ("sae.page", "sae.act", "api.sae_update", "api.sae_submit", "api.sae_acknowledge",
                        "api.sae_followup", "api.sae_close")},
}


def data_writes(scope, kind):
    """A record's data: refused by every lock and every freeze that covers it."""
    return True


def review(scope, kind):
    """Queries, SDV, signatures: refused by a lock at any scope, and by a freeze of the whole study."""
    return kind == "locked" or scope == "study"


def study_wide(scope, kind):
    """Registration and a site's reference ranges: refused by a study lock or freeze only."""
    return scope == "study"


class World:
    """One subject with saved records, queries in each state, a site range; a client per person."""

    def __init__(self, app, as_user):
        self.app, self.api = app, {name: as_user(name) for name in ("staff01", "mon01", "inv01", "dm")}
        staff, monitor = self.api["staff01"], self.api["mon01"]
        self.subject = staff.register()
        staff.save(self.subject, "SCREEN", "VS", {"VSDTC": "2026-01-05", "HEIGHT": 170, "WEIGHT": 70})
        staff.save(self.subject, "SCREEN", "DM", {"SEX": "M", "BRTHDTC": "1980-01-01"})
        self.record = RECORD.format(s=self.subject)
        self.queries = {name: self._raise(monitor, name) for name in
                        ("reply", "close", "reopen", "html-reply", "html-close", "html-reopen")}
        for name in ("reopen", "html-reopen"):
            assert monitor.post(f"/studies/MINI/queries/{self.queries[name]}/close", {}).status_code == 200
        with app.app_context():
            self.range_id = add_range(get_user("dm"), "01", "ALT", "U/L", 5, 45, valid_from="2026-01-01").range_id
        self.attachments = {name: self._attach(staff, name) for name in ("api", "html")}
        self.web, self.tokens = {}, {}
        for name in ("staff01", "mon01", "inv01", "dm"):
            client = app.test_client()
            login(client, name)
            self.web[name] = client
            self.tokens[name] = token_in(client.get(self.record).get_data(as_text=True))

    def _raise(self, monitor, name):
        raised = monitor.post("/studies/MINI/queries", {"subject": self.subject, "event": "SCREEN", "form": "VS",
                                                        "item": "/WEIGHT", "text": f"query for {name}"})
        assert raised.status_code == 201
        return raised.get_json()["id"]

    def _attach(self, staff, name):
        attached = staff.client.post(f"/api/v1{self.record}/attachments", headers=staff.headers(),
                                     data={"file": (io.BytesIO(pdf_bytes()), f"{name}.pdf")},
                                     content_type="multipart/form-data")
        assert attached.status_code == 201, attached.get_json()
        return attached.get_json()["id"]

    def upload(self, via):
        """Attach one more file through the API or the form page."""
        if via == "api":
            staff = self.api["staff01"]
            return staff.client.post(f"/api/v1{self.record}/attachments", headers=staff.headers(),
                                     data={"file": (io.BytesIO(pdf_bytes()), "late.pdf")},
                                     content_type="multipart/form-data")
        return self.html("staff01", self.record + "/attachments", file=(io.BytesIO(pdf_bytes()), "late.pdf"))

    def lock(self, scope, kind):
        dm = self.api["dm"]
        verb = "lock" if kind == "locked" else "freeze"
        if scope == "visit":  # no route locks a visit: the service does, as a bulk lock would
            with self.app.app_context():
                set_lock(study_runtime("MINI"), get_user("dm"), kind, True, subject_id=self.subject, event="SCREEN")
            return
        path = {"form": self.record, "subject": f"/studies/MINI/subjects/{self.subject}",
                "study": "/studies/MINI"}[scope]
        assert dm.post(f"{path}/{verb}", OVERRIDDEN).status_code == 200

    def html(self, name, url, **form):
        """POST a page's form; the errors it flashed (a redirect's way of refusing) as ``flashed_errors``."""
        response = self.web[name].post(url, data={"csrf_token": self.tokens[name], **form})
        with self.web[name].session_transaction() as session:
            response.flashed_errors = [text for category, text in session.pop("_flashes", []) if category == "error"]
        return response

    def version(self):
        return self.api["staff01"].get(self.record).get_json()["version"]

    def snapshot(self):
        with self.app.app_context():
            db = database()
            return {name: sorted(map(repr, db[name].find())) for name in DATA if name in db.list_collection_names()}


# route (an endpoint, or endpoint:action) -> (who is refused by which scopes, the request)
ROUTES = {
    "api.write_record": (data_writes, lambda w: w.api["staff01"].save(
        w.subject, "SCREEN", "VS", {"WEIGHT": 75}, version=w.version(), reason="re-weighed")),
    "records.page": (data_writes, lambda w: w.html(
        "staff01", w.record, version=str(w.version()), VSDTC="2026-01-05", HEIGHT="170", WEIGHT="76",
                                                   reason="re-weighed")),
    "api.attachment_upload": (data_writes, lambda w: w.upload("api")),
    "attachments.upload": (data_writes, lambda w: w.upload("html")),
    "api.attachment_remove": (data_writes, lambda w: w.api["staff01"].post(
        f"/studies/MINI/subjects/{w.subject}/attachments/{w.attachments['api']}/remove", {"reason": "wrong file"})),
    "attachments.remove": (data_writes, lambda w: w.html(
        "staff01", f"/studies/MINI/subjects/{w.subject}/attachments/{w.attachments['html']}/remove",
        reason="wrong file")),
    "api.create_subject": (study_wide, lambda w: w.api["staff01"].post("/studies/MINI/subjects", {"site": "01"})),
    "subjects.index": (study_wide, lambda w: w.html("staff01", "/studies/MINI/subjects", site="01", subject_id="")),
    "ranges.index": (study_wide, lambda w: w.html(
        "dm", "/studies/MINI/ranges", site="01", analyte="ALT", unit="U/L", low="6", high="44", sex="",
        valid_from="2026-02-01")),
    "ranges.retire": (study_wide, lambda w: w.html("dm", f"/studies/MINI/ranges/{w.range_id}/retire")),
    "api.create_query": (review, lambda w: w.api["mon01"].post("/studies/MINI/queries", {
        "subject": w.subject, "event": "SCREEN", "form": "VS", "item": "/HEIGHT", "text": "source?"})),
    "api.query_reply": (review, lambda w: w.api["staff01"].post(
        f"/studies/MINI/queries/{w.queries['reply']}/replies", {"text": "as in source"})),
    "api.query_close": (review, lambda w: w.api["mon01"].post(f"/studies/MINI/queries/{w.queries['close']}/close", {})),
    "api.query_reopen": (review, lambda w: w.api["mon01"].post(
        f"/studies/MINI/queries/{w.queries['reopen']}/reopen", {"text": "again"})),
    "queries.raise_query": (review, lambda w: w.html(
        "mon01", "/studies/MINI/queries", subject=w.subject, event="SCREEN", form="VS", item="/VSDTC", text="date?")),
    "queries.act:reply": (review, lambda w: w.html(
        "staff01", f"/studies/MINI/queries/{w.queries['html-reply']}/reply", text="as in source")),
    "queries.act:close": (review, lambda w: w.html("mon01", f"/studies/MINI/queries/{w.queries['html-close']}/close")),
    "queries.act:reopen": (review, lambda w: w.html(
        "mon01", f"/studies/MINI/queries/{w.queries['html-reopen']}/reopen", text="again")),
    "records.query": (review, lambda w: w.html(
        "mon01", w.record + "/query", _query="raise:/HEIGHT", **{"text:raise:/HEIGHT": "source?"})),
    "api.record_sdv": (review, lambda w: w.api["mon01"].post(w.record + "/sdv", {})),
    "records.act:sdv": (review, lambda w: w.html("mon01", w.record + "/do/sdv")),
    "records.act:sdv-items": (review, lambda w: w.html("mon01", w.record + "/do/sdv-items", item="/WEIGHT")),
    "api.record_sign": (review, lambda w: w.api["inv01"].post(w.record + "/sign", SIGNING)),
    "api.event_sign": (review, lambda w: w.api["inv01"].post(
        f"/studies/MINI/subjects/{w.subject}/events/SCREEN/sign", SIGNING)),
    "api.subject_sign": (review, lambda w: w.api["inv01"].post(
        f"/studies/MINI/subjects/{w.subject}/sign", SIGNING)),
    "records.act:sign": (review, lambda w: w.html("inv01", w.record + "/do/sign", password=PASSWORD, **OVERRIDDEN)),
    "records.act:sign-visit": (review, lambda w: w.html(
        "inv01", w.record + "/do/sign-visit", password=PASSWORD, **OVERRIDDEN)),
    # The casebook's own buttons: signing is review; its lock, unlock, freeze and unfreeze are the lock's controls.
    "signoff.casebook": (review, lambda w: w.html(
        "inv01", f"/studies/MINI/subjects/{w.subject}/casebook/sign", password=PASSWORD, **OVERRIDDEN)),
}


def _text(response) -> str:
    return response.get_json()["detail"] if response.is_json else response.get_data(as_text=True)


def test_every_write_route_has_a_lock_decision(app):
    actions = {"queries.act": set(ACTIONS), "records.act": set(_record_actions(None, None, "s", "e", "f"))}
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.methods & {"POST", "PUT", "PATCH", "DELETE"}:
            routes |= {f"{rule.endpoint}:{a}" for a in actions[rule.endpoint]} if rule.endpoint in actions \
                else {rule.endpoint}
    decided = set(ROUTES) | set(ALLOWED_UNDER_LOCK)
    assert routes - decided == set(), "write routes without a lock decision: add them to ROUTES or ALLOWED_UNDER_LOCK"
    assert decided - routes == set(), "decisions about routes that no longer exist"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scope", SCOPES)
def test_every_write_route_under_each_lock_scope_is_refused_with_423_or_allowed_by_rule(app, as_user, scope, kind):
    world = World(app, as_user)
    world.lock(scope, kind)
    refused = {route: call for route, (rule, call) in ROUTES.items() if rule(scope, kind)}
    before = world.snapshot()
    wrong = {}
    for route, call in refused.items():
        response = call(world)
        if response.status_code != 423 or not re.search(r"locked|frozen", _text(response)):
            wrong[route] = (response.status_code, _text(response)[:200])
    assert wrong == {}, f"not refused with 423 under a {scope} {kind}"
    assert world.snapshot() == before, "a refused write stored something"
    # What the lock does not cover still goes through: the scope is no wider than its rule.
    for route, (_rule, call) in ROUTES.items():
        if route not in refused:
            response = call(world)
            if response.status_code not in (200, 201, 302) or getattr(response, "flashed_errors", None):
                wrong[route] = (response.status_code,
                                getattr(response, "flashed_errors", None) or _text(response)[:200])
    assert wrong == {}, f"refused although a {scope} {kind} does not cover it"


@pytest.mark.parametrize("kind", KINDS)
def test_the_command_line_is_refused_like_the_api_under_a_study_lock(app, as_user, kind):
    world = World(app, as_user)
    world.lock("study", kind)
    before = world.snapshot()
    runner = app.test_cli_runner()
    added = runner.invoke(args=["ranges", "add", "--site", "01", "--analyte", "ALT", "--unit", "U/L", "--high", "50",
                                "--valid-from", "2026-03-01", "--as", "dm"])
    assert added.exit_code == 1 and f"study MINI is {kind}" in added.output
    assert world.snapshot() == before


@pytest.mark.parametrize("kind", KINDS)
def test_rerunning_the_checks_leaves_a_locked_or_frozen_studys_records_alone(app, as_user, kind):
    world = World(app, as_user)
    world.lock("study", kind)
    with app.app_context():  # derived values that a rule change would recompute
        database().records.update_many({}, {"$set": {"derived": {}}})
    before = world.snapshot()
    result = app.test_cli_runner().invoke(args=["checks", "run"])
    assert result.exit_code == 0 and f"MINI: 2 {kind}" in result.output
    assert world.snapshot() == before


def test_a_subjects_freeze_lets_its_review_finish_while_a_lock_stops_it(app, as_user):
    world = World(app, as_user)
    world.lock("subject", "frozen")
    assert world.api["staff01"].save(world.subject, "SCREEN", "LB", {"ALT": 20}).status_code == 423
    assert world.api["mon01"].post(world.record + "/sdv", {}).status_code == 200
    dm = world.api["dm"]
    subject = f"/studies/MINI/subjects/{world.subject}"
    assert dm.post(f"{subject}/unfreeze", {}).status_code == 200
    assert dm.post(f"{subject}/lock", OVERRIDDEN).status_code == 200
    refused = world.api["staff01"].post(f"/studies/MINI/queries/{world.queries['reply']}/replies", {"text": "late"})
    assert refused.status_code == 423
    assert refused.get_json()["detail"] == f"subject {world.subject} is locked; its queries cannot change"


def test_registration_reopens_when_the_study_is_unlocked(app, as_user):
    world = World(app, as_user)
    world.lock("study", "locked")
    refused = world.api["staff01"].post("/studies/MINI/subjects", {"site": "01"})
    assert refused.status_code == 423 and refused.get_json()["detail"] == \
        "study MINI is locked; no subject can be registered"
    assert world.api["dm"].post("/studies/MINI/unlock", {"reason": "late subject found"}).status_code == 200
    assert world.api["staff01"].post("/studies/MINI/subjects", {"site": "01"}).status_code == 201


def test_a_visit_lock_covers_its_records_and_leaves_the_subjects_other_visits_open(app, as_user):
    world = World(app, as_user)
    world.lock("visit", "locked")
    staff = world.api["staff01"]
    assert staff.save(world.subject, "SCREEN", "DM", {"SEX": "F"}, version=1, reason="x").status_code == 423
    assert staff.save(world.subject, "D28", "LB", {"ALT": 20}).status_code == 201
    with app.app_context():
        assert database().container_locks.count_documents({}) == 0


def test_the_api_description_names_423_on_every_api_route_a_lock_refuses(app):
    with app.app_context():
        paths = spec()["paths"]
    undocumented = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ROUTES and rule.endpoint.startswith("api."):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            for method in rule.methods & {"POST", "PUT", "PATCH", "DELETE"}:
                if "423" not in paths[path][method.lower()]["responses"]:
                    undocumented.append(f"{method} {path}")
    assert undocumented == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_study_is_held_before_its_records_are_locked_one_by_one(app, as_user, kind):
    world = World(app, as_user)
    seen = []
    with app.app_context():
        set_lock(study_runtime("MINI"), get_user("dm"), kind, True,
                 progress=lambda n: seen.append(study_closure("MINI")))
    assert seen == [kind, kind]  # while each record was being locked, the study already refused new writes
    assert world.api["staff01"].post("/studies/MINI/subjects", {"site": "01"}).status_code == 423


def test_freezing_a_locked_study_keeps_it_locked(app, as_user):
    world = World(app, as_user)
    dm = world.api["dm"]
    assert dm.post("/studies/MINI/lock", OVERRIDDEN).status_code == 200
    assert dm.post("/studies/MINI/freeze", OVERRIDDEN).get_json() == {"action": "freeze", "records": 0}
    assert dm.post("/studies/MINI/unfreeze", {}).status_code == 200
    refused = world.api["staff01"].post("/studies/MINI/subjects", {"site": "01"})
    assert refused.status_code == 423
    assert refused.get_json()["detail"] == "study MINI is locked; no subject can be registered"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scope, neighbour", [
    ("form", ("own", "SCREEN", "DM")),       # the visit's other form
    ("visit", ("own", "D28", "LB")),         # the subject's other visit
    ("subject", ("other", "SCREEN", "VS")),  # another subject
])
def test_a_lock_is_no_wider_than_its_scope(app, as_user, scope, neighbour, kind):
    world = World(app, as_user)
    staff = world.api["staff01"]
    other = staff.register()
    world.lock(scope, kind)
    whose, event, form = neighbour
    subject = world.subject if whose == "own" else other
    version = (staff.get(staff.record_path(subject, event, form)).get_json() or {}).get("version")
    saved = staff.save(subject, event, form,
                       {"SEX": "F"} if form == "DM" else {"ALT": 21} if form == "LB" else {"WEIGHT": 61},
                       version=version, reason="corrected" if version else None)
    assert saved.status_code in (200, 201), saved.get_json()


@pytest.mark.parametrize("kind", KINDS)
def test_the_subjects_page_offers_no_registration_while_the_study_is_closed(app, as_user, kind):
    world = World(app, as_user)
    page = world.web["staff01"].get("/studies/MINI/subjects").get_data(as_text=True)
    assert 'id="register"' in page and 'id="study-closed"' not in page
    world.lock("study", kind)
    page = world.web["staff01"].get("/studies/MINI/subjects").get_data(as_text=True)
    assert 'id="register"' not in page and f"Study MINI is {kind}: no subject can be registered." in page

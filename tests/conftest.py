"""Shared fixtures: apps on mongomock (unit) or a real wire-protocol server (integration)."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path

import pymongo.monitoring
import pytest
from hypothesis import settings as hypothesis_settings
from hypothesis.database import DirectoryBasedExampleDatabase

from ecrf.app import create_app

FIXTURES = Path(__file__).parent / "fixtures"
MINI_STUDY = FIXTURES / "mini-study"
ROOT = Path(__file__).resolve().parent.parent
BUNDLED_STUDY = ROOT / "forms" / "cd7-cart-saa"
PASSWORD = "correct horse battery"
# A sign, freeze or lock that obstacles stand against needs a reason to proceed (ecrf.readiness); tests that are
# about something else give one.
OVERRIDDEN = {"override_reason": "Proceeding despite the obstacles listed (test)"}
SIGNING = {"password": PASSWORD, **OVERRIDDEN}

# Hypothesis profiles: ``ci`` (the default, what ``make test`` runs) derandomized with no example database, so
# that a run is the same on every machine and every time; ``dev`` (``HYPOTHESIS_PROFILE=dev`` or
# ``--hypothesis-profile=dev``) random, remembering failing examples under the pytest cache, never in the tree.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
hypothesis_settings.register_profile("dev", database=None,
                                     print_blob=True)  # its database: below, once the cache is known


@pytest.hookimpl(trylast=True)  # after the cache plugin (config.cache) and hypothesis' own (--hypothesis-profile)
def pytest_configure(config):
    """Load the chosen hypothesis profile; ``dev`` keeps its examples in the pytest cache folder."""
    cache = getattr(config, "cache", None)
    if cache is not None:
        hypothesis_settings.register_profile(
            "dev", database=DirectoryBasedExampleDatabase(cache.mkdir("hypothesis")), print_blob=True)
    hypothesis_settings.load_profile(
        config.getoption("--hypothesis-profile", None) or os.environ.get("HYPOTHESIS_PROFILE") or "ci")


# name -> (role, sites)
PEOPLE = {
    "staff01": ("site_staff", ["01"]),
    "staff02": ("site_staff", ["02"]),
    "inv01": ("investigator", ["01"]),
    "mon01": ("monitor", ["01"]),
    "mon02": ("monitor", ["02"]),
    "dm": ("data_manager", []),
    "root": ("admin", []),
}


def make_app(tmp_path: Path, uri: str, study: Path | None = MINI_STUDY):
    """An app on its own fresh database with two sites, the study and one user per role."""
    app = create_app({
        "mongodb_uri": uri, "mongodb_db": f"t_{uuid.uuid4().hex[:12]}", "instance_path": str(tmp_path / "instance"),
        "testing": True, "secret_key": "test-secret", "password_min_length": 8,
    })
    with app.app_context():
        from ecrf.sites import add_site
        from ecrf.studies import load_study
        from ecrf.users import add_user, issue_token

        add_site("01", "Site one", "Asia/Shanghai")
        add_site("02", "Site two", "Europe/Berlin")
        if study is not None:
            load_study(study)
        app.tokens = {}
        for name, (role, sites) in PEOPLE.items():
            add_user(name, role, sites, PASSWORD, full_name=name.title())
            app.tokens[name] = issue_token(name)
    return app


class Api:
    """A JSON client acting as one user through a bearer token."""

    def __init__(self, client, token: str, study: str = "MINI"):
        self.client, self.token, self.study = client, token, study

    def headers(self):
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kw):
        return self.client.get(f"/api/v1{path}", headers=self.headers(), **kw)

    def post(self, path: str, body=None, **kw):
        return self.client.post(f"/api/v1{path}", json=body, headers=self.headers(), **kw)

    def put(self, path: str, body=None, **kw):
        return self.client.put(f"/api/v1{path}", json=body, headers=self.headers(), **kw)

    def register(self, site: str = "01", subject_id: str | None = None) -> str:
        body = {"site": site} | ({"subject_id": subject_id} if subject_id else {})
        response = self.post(f"/studies/{self.study}/subjects", body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["subject_id"]

    def record_path(self, subject: str, event: str, form: str) -> str:
        return f"/studies/{self.study}/subjects/{subject}/events/{event}/forms/{form}"

    def save(self, subject: str, event: str, form: str, data: dict, version=None, reason=None):
        body = {"data": data, "version": version}
        if reason is not None:
            body["reason"] = reason
        return self.put(self.record_path(subject, event, form), body)


class _CommandLog(pymongo.monitoring.CommandListener):
    """Names (or keeps) the commands that wire clients send while :func:`sent_commands` records."""

    recording: list | None = None
    whole = False

    def started(self, event):
        if self.recording is not None:
            target = event.command.get(event.command_name)
            name = f"{event.command_name} {target}" if isinstance(target, str) else event.command_name
            self.recording.append((name, dict(event.command)) if self.whole else name)

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def _mongomock_takes_bulk_updates_of_this_pymongo() -> None:
    """pymongo 4.11+ passes ``sort`` to a bulk update (``UpdateOne``); mongomock 4.3 does not know it. Unused here
    (the engine's bulk updates do not sort), so the test double drops it rather than refusing the bulk write."""
    import mongomock.collection

    builder = mongomock.collection.BulkOperationBuilder
    original = builder.add_update
    if getattr(original, "takes_sort", False):
        return

    def add_update(self, *args, sort=None, **kwargs):
        assert sort is None, "mongomock cannot sort a bulk update"
        return original(self, *args, **kwargs)

    add_update.takes_sort = True
    builder.add_update = add_update


_mongomock_takes_bulk_updates_of_this_pymongo()
_COMMAND_LOG = _CommandLog()
pymongo.monitoring.register(_COMMAND_LOG)  # at import, before any client: it sees only clients created afterwards


@contextmanager
def sent_commands(whole: bool = False):
    """``"command collection"`` of every command a wire client (not mongomock) sends inside the block.

    With ``whole``: ``("command collection", command document)`` pairs.
    """
    _COMMAND_LOG.recording, _COMMAND_LOG.whole = [], whole
    try:
        yield _COMMAND_LOG.recording
    finally:
        _COMMAND_LOG.recording = None


def counting_calls(monkeypatch, method: str) -> list[str]:
    """Collection names of every call of ``method`` (find, find_one, ...) on mongomock from now on."""
    import mongomock

    calls: list[str] = []
    original = getattr(mongomock.collection.Collection, method)

    def counted(self, *args, **kwargs):
        calls.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(mongomock.collection.Collection, method, counted)
    return calls


def save_several_streams(staff: Api) -> list[str]:
    """Two subjects of the mini study with several record streams, corrections and repeating rows."""
    subjects = [staff.register(), staff.register()]
    for subject in subjects:
        staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
        staff.save(subject, "SCREEN", "VS", {"WEIGHT": 71}, version=1, reason="fix")
        staff.save(subject, "SCREEN", "DM", {"SEX": "M"})
        staff.save(subject, "LOGS", "AE", {"AE": [{"AETERM": "fever"}, {"AETERM": "rash"}]})
        staff.save(subject, "LOGS", "AE", {"AE": [{"AETERM": "fever"}]}, version=1, reason="entered in error")
    return subjects


@pytest.fixture
def app(tmp_path):
    """An app on mongomock with the mini study."""
    return make_app(tmp_path, "mongomock://")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def cli(app):
    """``cli("study", "check", path)`` -> the result of that ``ecrf`` command run in-process on the app."""
    runner = app.test_cli_runner()
    return lambda *args, **kw: runner.invoke(args=list(args), **kw)


@pytest.fixture
def as_user(app, client):
    """``as_user("staff01")`` -> an :class:`Api` acting as that user."""
    return lambda name, study="MINI": Api(client, app.tokens[name], study)


@pytest.fixture
def staff(as_user):
    """Site staff of site 01 on the mini study."""
    return as_user("staff01")


@pytest.fixture
def subject(staff):
    """A freshly registered subject at site 01."""
    return staff.register()


@pytest.fixture
def saved(staff):
    """A subject at site 01 with VS and DM saved at SCREEN."""
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-05", "HEIGHT": 170, "WEIGHT": 70})
    staff.save(subject, "SCREEN", "DM", {"SEX": "M", "BRTHDTC": "1980-01-01"})
    return subject


def record(api, subject, form="VS", event="SCREEN"):
    """The record's JSON as ``api`` reads it."""
    return api.get(api.record_path(subject, event, form)).get_json()


@pytest.fixture(scope="session")
def wire_uri(tmp_path_factory):
    """A real MongoDB wire-protocol server: ECRF_TEST_MONGODB_URI, or SecantusDB started here."""
    configured = os.environ.get("ECRF_TEST_MONGODB_URI")
    if configured:
        yield configured
        return
    from ecrf.embedded import EmbeddedServer

    server = EmbeddedServer(tmp_path_factory.mktemp("wire"))
    uri = server.start()
    yield uri
    server.stop()


@pytest.fixture
def wire_app(tmp_path, wire_uri):
    """An app on the real wire server (fresh database) with the mini study."""
    return make_app(tmp_path, wire_uri)


class _MongomockBucket:
    """GridFS for unit tests on mongomock (pymongo's GridFSBucket accepts only its own Database): the same
    layout (``<bucket>.files`` and ``.chunks``) and the calls :mod:`ecrf.attachments` makes. The integration
    tests run pymongo's own GridFS on the wire server."""

    CHUNK = 255 * 1024

    def __init__(self, db, bucket_name: str):
        self.files, self.chunks = db[f"{bucket_name}.files"], db[f"{bucket_name}.chunks"]

    def upload_from_stream(self, filename, data, metadata=None):
        from bson import ObjectId

        file_id = ObjectId()
        for n, at in enumerate(range(0, len(data), self.CHUNK)):
            self.chunks.insert_one({"files_id": file_id, "n": n, "data": data[at:at + self.CHUNK]})
        self.files.insert_one({"_id": file_id, "filename": filename, "length": len(data), "metadata": metadata})
        return file_id

    def open_download_stream(self, file_id):
        import gridfs

        if self.files.find_one({"_id": file_id}) is None:
            raise gridfs.errors.NoFile(file_id)
        chunks = iter([bytes(c["data"]) for c in self.chunks.find({"files_id": file_id}, sort=[("n", 1)])])

        class _Out:
            def readchunk(self):
                return next(chunks, b"")

        return _Out()

    def delete(self, file_id):
        self.files.delete_one({"_id": file_id})
        self.chunks.delete_many({"files_id": file_id})


@pytest.fixture(autouse=True, scope="session")
def _gridfs_on_mongomock():
    """Source documents on mongomock go to :class:`_MongomockBucket`; on a wire server to pymongo's GridFS."""
    import pymongo.database

    import ecrf.attachments
    from ecrf.db import database

    real = ecrf.attachments._bucket

    def bucket():
        db = database()
        return real() if isinstance(db, pymongo.database.Database) else _MongomockBucket(db, ecrf.attachments.BUCKET)

    ecrf.attachments._bucket = bucket
    yield
    ecrf.attachments._bucket = real


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """Cheap argon2 parameters for tests: the algorithm is the same, only its cost differs."""
    from argon2 import PasswordHasher

    import ecrf.users

    ecrf.users._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield


@pytest.fixture
def cd7_app(tmp_path):
    """An app on mongomock with the bundled CD7-CAR-T study."""
    return make_app(tmp_path, "mongomock://", study=BUNDLED_STUDY)


@pytest.fixture
def cd7(cd7_app):
    """``cd7("staff01")`` -> an :class:`Api` for the CD7 study."""
    client = cd7_app.test_client()
    return lambda name: Api(client, cd7_app.tokens[name], "CD7_CART_SAA")


def token_in(html: str) -> str:
    """The CSRF token of the first form on a page."""
    import re

    match = re.search(r'(?:id="csrf_token" name="csrf_token" type="hidden" value|name="csrf_token" value)="([^"]+)"',
                      html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def login(client, username: str, password: str = PASSWORD):
    """Sign in through the login page like a browser would."""
    page = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token_in(page)})


# ---------------------------------------------------------------- browser tests

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium, headless, with nothing reaching out to the network."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync"]}


@pytest.fixture(scope="module")
def live_app(tmp_path_factory, wire_uri):
    """The CD7 study served over HTTP on loopback, on the real wire-protocol server."""
    yield from served_over_http(make_app(tmp_path_factory.mktemp("live"), wire_uri, study=BUNDLED_STUDY))


def served_over_http(app):
    """Serve ``app`` on loopback (a port the system chose), many requests at once; yields it with its ``base_url``."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.base_url = f"http://127.0.0.1:{server.server_port}"
    yield app
    server.shutdown()
    thread.join(timeout=60)


def sign_in(page, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Sign in through the login page in a real browser."""
    page.goto(f"{base_url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def wait_until_healthy(base_url: str, process, log: Path | None = None, seconds: float = 120) -> None:
    """Poll ``/healthz`` until the server answers 200; fail with its output (``log``) if it dies or stays silent."""
    import time

    import requests

    said = lambda: f":\n{log.read_text()}" if log is not None and log.exists() else ""  # noqa: E731
    deadline = time.monotonic() + seconds
    while True:
        try:
            if requests.get(f"{base_url}/healthz", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        assert process.poll() is None, f"server exited with {process.returncode}{said()}"
        assert time.monotonic() < deadline, f"server not healthy within {seconds} s{said()}"
        time.sleep(0.3)

"""Bursts of parallel wrong logins against a served app on the real wire-protocol server: the account locks
after at most the limit of password checks, no request fails, and every attempt is on the user's audit stream."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from conftest import PASSWORD, make_app, served_over_http, token_in

PARALLEL = 40
LIMIT = 5
ATTEMPTS = {"login_failed", "login_refused_locked", "login_refused_disabled", "login"}


@pytest.fixture
def served(tmp_path, wire_uri):
    """The mini study served over HTTP on loopback (a port the system chose), many requests at once."""
    yield from served_over_http(make_app(tmp_path, wire_uri))


@pytest.fixture
def checks_of_the_real_hash(served, monkeypatch):
    """How many argon2 verifications ran against staff01's own hash (not the dummy one)."""
    import ecrf.users

    with served.app_context():
        real = ecrf.users.get_user("staff01").password_hash
    hasher, seen = ecrf.users._hasher, []

    class Counting:
        def hash(self, password):
            return hasher.hash(password)

        def verify(self, password_hash, password):
            seen.append(password_hash == real)  # list.append is atomic: safe from the server's threads
            return hasher.verify(password_hash, password)

    monkeypatch.setattr(ecrf.users, "_hasher", Counting())
    return lambda: sum(seen)


def burst(base_url: str, password: str, count: int = PARALLEL) -> list[int]:
    """``count`` browsers each open the login page, then all post their password at the same moment."""
    ready = threading.Barrier(count, timeout=120)

    def attempt(_):
        with requests.Session() as browser:
            page = browser.get(f"{base_url}/login", timeout=120).text
            ready.wait()
            return browser.post(f"{base_url}/login", timeout=120, allow_redirects=False,
                                data={"username": "staff01", "password": password, "csrf_token": token_in(page)})

    with ThreadPoolExecutor(count) as pool:
        return [(r.status_code, r.text) for r in pool.map(attempt, range(count))]


def stream(app):
    with app.app_context():
        from ecrf.trail import audit_store
        store = audit_store()
        events = store.events("user/staff01")
        return events, store.verify_stream("user/staff01", events)


def locked(app) -> bool:
    with app.app_context():
        from audit import utc_now
        from ecrf.users import get_user, is_locked
        return is_locked(get_user("staff01"), utc_now())


def test_parallel_wrong_logins_lock_the_account_after_at_most_the_limit_with_every_attempt_audited(
        served, checks_of_the_real_hash):
    before, _ = stream(served)
    answers = burst(served.base_url, "wrong password")
    assert [status for status, _ in answers] == [401] * PARALLEL
    assert all("wrong username or password" in text for _, text in answers)
    assert checks_of_the_real_hash() <= LIMIT
    assert locked(served)
    events, problems = stream(served)
    new = [event["action"] for event in events[len(before):]]
    assert sum(action in ATTEMPTS for action in new) == PARALLEL and new.count("account_locked") == 1
    assert problems == []


def test_further_bursts_on_a_locked_account_check_no_password_not_even_the_right_one(served, checks_of_the_real_hash):
    burst(served.base_url, "wrong password")
    checked = checks_of_the_real_hash()
    answers = burst(served.base_url, PASSWORD) + burst(served.base_url, "wrong password")
    assert [status for status, _ in answers] == [401] * (2 * PARALLEL)
    assert checks_of_the_real_hash() == checked <= LIMIT
    events, problems = stream(served)
    assert sum(event["action"] in ATTEMPTS for event in events) == 3 * PARALLEL and problems == []

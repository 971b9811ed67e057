"""What every benchmark shares: progress lines, percentiles, the test helpers, apps on fresh databases."""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pymongo.monitoring

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
STUDY = "CD7_CART_SAA"
BIG_FORM = ("SCREEN", "IE")  # the bundled study's form with the most items (26 items, 2 derivations, 9 checks)

_T0 = time.monotonic()


def progress(message: str) -> None:
    """One progress line on stderr, with the seconds since the run started."""
    print(f"[bench {time.monotonic() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _tests_on_path() -> None:
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))


def test_helpers():
    """``(make_app, Api, BUNDLED_STUDY, form_data, schedule)`` from the test suite."""
    _tests_on_path()
    from conftest import BUNDLED_STUDY, Api, make_app
    from synthetic import form_data, schedule

    return make_app, Api, BUNDLED_STUDY, form_data, schedule


def cheap_password_hashing() -> None:
    """Argon2 with tiny parameters while the benchmark creates its users (as the tests do).

    Nothing measured here checks a password: the API is driven with bearer tokens.
    """
    from argon2 import PasswordHasher

    import ecrf.users

    ecrf.users._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def bundled_app(uri: str, folder: Path | None = None):
    """An app on a fresh database (of the server at ``uri``) with the bundled study, two sites and a user per role."""
    make_app, _, bundled, _, _ = test_helpers()
    cheap_password_hashing()
    folder = Path(folder or tempfile.mkdtemp(prefix="ecrf-bench-"))
    return make_app(folder, uri, study=bundled)


def indexed_like(target, source) -> None:
    """Give collection ``target`` every index ``source`` has (the bare baselines write against the same indexes)."""
    for name, spec in source.index_information().items():
        if name != "_id_":
            target.create_index(spec["key"], name=name, unique=spec.get("unique", False))


def signed_in_client(app, username: str):
    """A test client signed in as ``username`` through the login page (CSRF token and all)."""
    test_helpers()  # puts tests/ on the path
    from conftest import login

    client = app.test_client()
    response = login(client, username)
    if response.status_code not in (302, 303):
        raise RuntimeError(f"login answered {response.status_code}")
    return client


def get_ok(client, path: str) -> str:
    """GET ``path``; its HTML, or RuntimeError unless it answered 200."""
    response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}: {response.get_data(as_text=True)[:300]}")
    return response.get_data(as_text=True)


def db_name(app) -> str:
    return app.config["ECRF"].mongodb_db


class CommandCounter(pymongo.monitoring.CommandListener):
    """Counts (and times, as the driver sees it) the database commands of clients created after
    :func:`install_counter`, per ``"command collection"``."""

    def __init__(self):
        self.reset()

    def started(self, event):
        self.count += 1
        target = event.command.get(event.command_name)
        key = f"{event.command_name} {target}" if isinstance(target, str) else event.command_name
        self._keys[event.request_id] = key
        self.names[key] = self.names.get(key, 0) + 1

    def succeeded(self, event):
        key = self._keys.pop(event.request_id, event.command_name)
        self.micros[key] = self.micros.get(key, 0) + event.duration_micros

    def failed(self, event):
        self._keys.pop(event.request_id, None)

    def reset(self):
        self.count = 0
        self.names: dict[str, int] = {}
        self.micros: dict[str, int] = {}
        self._keys: dict[int, str] = {}

    def snapshot_raw(self) -> tuple:
        return self.count, dict(self.names), dict(self.micros)

    def restore_raw(self, raw: tuple) -> None:
        """Forget what was counted since :meth:`snapshot_raw` (to leave some commands out)."""
        self.count, self.names, self.micros = raw[0], dict(raw[1]), dict(raw[2])

    def snapshot(self, per: int = 1) -> dict:
        """``{"command collection": {"n": count, "ms": total driver-side milliseconds}}`` divided by ``per``."""
        return {key: {"n": round(n / per, 2), "ms": round(self.micros.get(key, 0) / 1000 / per, 3)}
                for key, n in sorted(self.names.items(), key=lambda kv: -self.micros.get(kv[0], 0))}


COUNTER = CommandCounter()
_registered: set[int] = set()


def register_listener(listener) -> None:
    """Register a pymongo command listener once (it sees only clients created afterwards)."""
    if id(listener) not in _registered:
        pymongo.monitoring.register(listener)
        _registered.add(id(listener))


def install_counter() -> None:
    register_listener(COUNTER)


@contextmanager
def embedded_server():
    """A SecantusDB server in a temporary folder for the whole run."""
    from ecrf.embedded import EmbeddedServer

    folder = tempfile.mkdtemp(prefix="ecrf-bench-db-")
    server = EmbeddedServer(folder)
    uri = server.start()
    progress(f"embedded SecantusDB at {uri} (data in {folder})")
    try:
        yield uri
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)

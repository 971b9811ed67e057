"""A serving process takes what it built at startup out of the garbage collector's walks."""

import gc
import os
import subprocess
import sys
import weakref
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


class Node:
    pass


def test_objects_built_before_serving_are_frozen_and_later_cycles_still_collected():
    from ecrf.app import ready_to_serve

    startup = Node()
    startup.itself = startup
    assert any(o is startup for o in gc.get_objects())
    try:
        ready_to_serve()
        assert gc.get_freeze_count() > 0
        assert not any(o is startup for o in gc.get_objects())   # out of every generation a collection walks
        later = Node()
        later.itself = later
        gone = weakref.ref(later)
        del later
        gc.collect()
        assert gone() is None   # a request's garbage cycle is collected as before
    finally:
        gc.unfreeze()


def test_the_gunicorn_entry_point_is_ready_to_serve(tmp_path):
    env = {**os.environ, "ECRF_MONGODB_URI": "mongomock://", "ECRF_MONGODB_DB": "serving",
           "ECRF_INSTANCE_PATH": str(tmp_path), "ECRF_SECRET_KEY": "x" * 32}
    out = subprocess.run([sys.executable, "-c", "import gc, wsgi; print(gc.get_freeze_count())"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) > 10_000   # the app, its study and its libraries


class FakeDatabase:
    """An embedded server that dies on demand, whose restarts can be made to fail, on a fake clock."""

    def __init__(self, now):
        self.now, self.up, self.attempts, self.refuse = now, True, [], 0
        self.process = type("Process", (), {"pid": 1, "returncode": None})()

    def alive(self):
        return self.up

    def restart(self):
        from ecrf.embedded import EmbeddedServerError

        self.attempts.append(self.now[0])
        if self.refuse:
            self.refuse -= 1
            raise EmbeddedServerError("port busy")
        self.up = True
        return "mongodb://127.0.0.1:1/"


def run_until_up(supervisor, database, now):
    while not database.up:
        supervisor.check()
        now[0] += 0.1


def test_the_supervisor_restarts_a_dead_database_at_once_then_backs_off():
    from ecrf.serving import DatabaseSupervisor

    now = [0.0]
    database = FakeDatabase(now)
    supervisor = DatabaseSupervisor(database, clock=lambda: now[0])
    supervisor.check()
    assert database.attempts == []  # alive: nothing to do
    database.up = False
    supervisor.check()
    assert database.attempts == [0.0]  # the first death after a steady spell: restarted at once
    database.up, database.refuse = False, 3
    died = now[0]
    run_until_up(supervisor, database, now)
    gaps = [b - a for a, b in zip([died, *database.attempts[1:]], database.attempts[1:], strict=False)]
    assert len(gaps) == 4 and all(later > earlier for earlier, later in pairwise(gaps))  # each wait longer
    assert gaps[0] >= 0.5 - 1e-9


def test_a_database_up_for_a_steady_spell_is_restarted_at_once_again():
    from ecrf.serving import STEADY_S, DatabaseSupervisor

    now = [0.0]
    database = FakeDatabase(now)
    supervisor = DatabaseSupervisor(database, clock=lambda: now[0])
    for _ in range(3):  # three quick deaths: the delay grows
        database.up = False
        run_until_up(supervisor, database, now)
    assert supervisor.delay > 1
    now[0] += STEADY_S
    supervisor.check()
    assert supervisor.delay == 0


def test_workers_and_threads_are_sized_to_the_machine_unless_set():
    from ecrf.config import Settings
    from ecrf.serving import gunicorn_options

    sized = gunicorn_options(Settings(), "127.0.0.1", 5000)
    assert sized["workers"] >= 2 and sized["threads"] >= 2 and sized["worker_class"] == "gthread"
    assert sized["workers"] <= len(os.sched_getaffinity(0)) or sized["workers"] == 2
    chosen = gunicorn_options(Settings.from_env({"ECRF_WORKERS": "3", "ECRF_THREADS": "7"}), "0.0.0.0", 80)
    assert (chosen["workers"], chosen["threads"], chosen["bind"]) == (3, 7, ["0.0.0.0:80"])

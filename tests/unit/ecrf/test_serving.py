"""A serving process takes what it built at startup out of the garbage collector's walks."""

import gc
import os
import subprocess
import sys
import weakref
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


class Node:
    pass


def test_objects_built_before_serving_are_frozen_and_later_cycles_still_collected():
    from ecrf import ready_to_serve

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

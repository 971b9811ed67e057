"""Heavy libraries bound at module level but loaded on first use.

scipy.stats, lifelines and openpyxl take ~3 s, ~2.4 s and ~0.7 s to import; only reports and spreadsheet
exports need them. Binding them here keeps every dependency named at the top of its module (no import
inside a function) while the app, the CLI and each test process start without paying for them.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for the module ``name`` and imports it on the first attribute read, once, under a lock
    (the standard library's LazyLoader is not thread-safe before Python 3.12; gunicorn serves in threads)."""

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None
        self._lock = threading.Lock()

    def __getattr__(self, attribute: str) -> Any:
        if self._module is None:
            with self._lock:
                if self._module is None:
                    self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}{' (loaded)' if self._module is not None else ''}>"


def lazy_module(name: str) -> LazyModule:
    """The module ``name``, imported when one of its attributes is first read."""
    return LazyModule(name)

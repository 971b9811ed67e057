"""A bounded per-process memo of results keyed by the value of a function's arguments.

For work that is slow and whose result depends on nothing but its inputs (a chart drawn from report data):
the same inputs again return the result kept from before instead of doing the work again.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def _no_context() -> Hashable:
    return None


class Memo:
    """At most ``entries`` results, the least recently used dropped first; safe to share between threads."""

    def __init__(self, entries: int):
        self.entries = entries
        self._kept: OrderedDict[bytes, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._kept)

    def clear(self) -> None:
        """Forget every result kept."""
        with self._lock:
            self._kept.clear()

    def remember(self, context: Callable[[], Hashable] = _no_context) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """A decorator: the function's result is kept under its name, the value of its arguments and ``context()``.

        ``context`` gives what the result depends on besides the arguments (the reader's language, say).
        The key is a digest of the pickled values: equal values of the same types give the same key (one
        object passed twice may pickle apart from two equal ones: a miss, never a wrong hit), and a changed
        value (or ``1`` for ``"1"``, ``1.0`` for ``1``) another. Arguments that cannot be pickled are
        not remembered: the function is simply called.
        """

        def decorate(function: Callable[P, R]) -> Callable[P, R]:
            @functools.wraps(function)
            def remembered(*args: P.args, **kwargs: P.kwargs) -> R:
                try:
                    pickled = pickle.dumps((function.__qualname__, context(), args, sorted(kwargs.items())),
                                           protocol=pickle.HIGHEST_PROTOCOL)
                except (pickle.PicklingError, TypeError, AttributeError):
                    return function(*args, **kwargs)
                # A digest, not the pickle: the key stays small however large the inputs.
                key = hashlib.blake2b(pickled, digest_size=20).digest()
                with self._lock:
                    if key in self._kept:
                        self._kept.move_to_end(key)
                        return self._kept[key]
                # Drawn outside the lock: two threads wanting the same result may both compute it (the same
                # value), but none waits for another's unrelated work.
                result = function(*args, **kwargs)
                with self._lock:
                    self._kept[key] = result
                    self._kept.move_to_end(key)
                    while len(self._kept) > self.entries:
                        self._kept.popitem(last=False)
                return result

            return remembered

        return decorate

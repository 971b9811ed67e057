"""Times as the engine writes them in JSON: UTC ISO-8601 text to the millisecond.

A low-level module so that the API's serialisers and the services format times the same way without the
services importing the API.
"""

from __future__ import annotations

import datetime as dt


def iso(value: dt.datetime | None) -> str | None:
    """UTC ISO-8601 text of a datetime (``...Z``, milliseconds); None for None. Naive times are UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

"""The append-only, hash-chained audit trail.

An event belongs to one stream (for example one form instance) and has a
position ``seq`` in it (1, 2, 3, ...). Each event carries the hash of the one
before it (``prev``) and its own ``hash`` over its canonical JSON: HMAC-SHA-256
under the key it names (``kid``, see :mod:`audit.keys`), or plain SHA-256 for
events written before keying. Signed checkpoints of stream heads, kept
outside the database (:mod:`audit.checkpoints`), show what was deleted.
The pair ``(stream, seq)`` is unique, which gives optimistic concurrency: two
writers that read the same version cannot both append.

This package knows nothing of Flask, forms or the eCRF: it stores events,
reads them back, folds them into a projection and verifies streams.
"""

from audit.events import (
    GENESIS,
    ROW_ID,
    TimeOutOfRange,
    apply_changes,
    canonical_json,
    diff,
    escape_token,
    event_hash,
    json_pointer,
    unescape_token,
    utc_now,
)
from audit.store import (
    BEHIND,
    BROKEN,
    PROJECTION,
    UNSEALED,
    AuditStore,
    StaleVersion,
    StreamProblem,
    fold,
    position_problem,
    projection_problems,
)

__all__ = [
    "BEHIND",
    "BROKEN",
    "GENESIS",
    "PROJECTION",
    "ROW_ID",
    "UNSEALED",
    "AuditStore",
    "StaleVersion",
    "StreamProblem",
    "TimeOutOfRange",
    "apply_changes",
    "canonical_json",
    "diff",
    "escape_token",
    "event_hash",
    "fold",
    "json_pointer",
    "position_problem",
    "projection_problems",
    "unescape_token",
    "utc_now",
]

"""Sealing a database's plain chains, and rotating the audit key: both audited, both outside the database.

A database written before the trail was keyed holds plain SHA-256 chains,
which anyone with database access can recompute. Sealing verifies them,
then writes every stream head into a signed ``seal`` checkpoint: from then
on a rewritten plain event no longer matches what the checkpoint saw, and a
plain event that no checkpoint covers is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit import BROKEN, UNSEALED, StreamProblem
from ecrf.trail import (
    audit_store,
    checkpoint_heads,
    checkpoint_path,
    flush_checkpoints,
    read_checkpoints,
    record_admin_event,
    rotate_audit_key,
)

SEAL_STREAM = "audit/seal"
KEYS_STREAM = "audit/keys"
SEAL_LINE_HEADS = 5000  # heads per checkpoint line: a large database seals in several lines


class SealRefused(Exception):
    """A chain does not verify: sealing it would vouch for tampering. ``problems`` names each."""

    def __init__(self, problems: list[StreamProblem]):
        super().__init__(f"{len({p.stream for p in problems})} stream(s) do not verify")
        self.problems = problems


@dataclass
class Sealed:
    """What :func:`seal_database` did: streams and events covered, whether anything was written."""

    streams: int
    events: int
    unsealed: int
    written: bool


def seal_database(actor: str) -> Sealed:
    """Verify every chain, then checkpoint every stream head as a seal, with an audit event saying who sealed.

    Idempotent: a database already sealed, with no plain event left
    uncovered, is left as it is (``written`` False). Raises
    :class:`SealRefused`, writing nothing, when a chain or the checkpoint
    file does not verify.
    """
    store = audit_store()
    checkpoints = read_checkpoints()
    problems = [StreamProblem(str(checkpoint_path()), p) for p in checkpoints.problems]
    heads: dict[str, tuple[int, str]] = {}
    unsealed = events = 0
    for stream, batch in store.walk():
        found = store.verify_stream(stream, batch, checkpoint=checkpoints.heads.pop(stream, None),
                                    sealed=checkpoints.sealed)
        problems += [p for p in found if p.kind == BROKEN]
        unsealed += any(p.kind == UNSEALED for p in found)
        heads[stream] = (batch[-1]["seq"], batch[-1]["hash"])
        events += len(batch)
    problems += [StreamProblem(stream, f"stream deleted: a checkpoint saw it at seq {seq}, no event of it is left")
                 for stream, (seq, _) in sorted(checkpoints.heads.items())]
    if problems:
        raise SealRefused(problems)
    if checkpoints.sealed and not unsealed:
        return Sealed(len(heads), events, 0, written=False)
    sealed = record_admin_event(SEAL_STREAM, actor, "seal", details={
        "streams": len(heads), "events": events, "unsealed_streams": unsealed,
        "checkpoints": str(checkpoint_path()), "key": store.keyring.current})
    heads[SEAL_STREAM] = (sealed["seq"], sealed["hash"])
    names = sorted(heads)
    for start in range(0, len(names), SEAL_LINE_HEADS):
        checkpoint_heads({name: heads[name] for name in names[start:start + SEAL_LINE_HEADS]}, seal=True)
    flush_checkpoints()
    return Sealed(len(heads), events + 1, unsealed, written=True)


def rotate_key(actor: str) -> tuple[str, str]:
    """Sign new events with a new audit key (old keys stay, by id, for what they signed); audited.

    Returns the old and the new key id.
    """
    old = audit_store().keyring.current
    new = rotate_audit_key()
    record_admin_event(KEYS_STREAM, actor, "rotate-key", details={"old": old, "new": new})
    return old, new

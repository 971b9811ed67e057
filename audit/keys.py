"""The audit chain's keys: HMAC-SHA-256 secrets by key id, kept outside the database.

Whoever can write the database can recompute a plain SHA-256 chain; nobody
can recompute a keyed one without the key. Each keyed event names its key by
``kid``, so keys can rotate: a new key signs new events, old ones stay on the
ring (by id) to verify what they signed.

A key file holds one key per line, ``<kid> <hex key> <created, ISO UTC>``,
oldest first; the last line is the current key. It is created with mode 0600
and only ever appended to.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

KEY_BYTES = 32


def key_id(key: bytes) -> str:
    """A short public name for ``key``: it names the key without revealing it."""
    return "k" + hashlib.sha256(b"ecrf audit key id\0" + key).hexdigest()[:16]


@dataclass
class Keyring:
    """Keys by id and the id of the one that signs new events."""

    keys: dict[str, bytes]
    current: str
    path: Path | None = field(default=None, compare=False)

    def key(self, kid: str) -> bytes | None:
        """The key named ``kid``, or None when this ring does not hold it."""
        return self.keys.get(kid) if isinstance(kid, str) else None

    def sign(self, data: bytes, kid: str | None = None) -> str:
        """HMAC-SHA-256 (hex) of ``data`` under key ``kid`` (default: the current key)."""
        return hmac.digest(self.keys[kid or self.current], data, "sha256").hex()

    def holds(self, data: bytes, mac: str, kid: str) -> bool:
        """True when ``mac`` is the HMAC of ``data`` under a key of this ring named ``kid``."""
        key = self.key(kid)
        return key is not None and isinstance(mac, str) and hmac.compare_digest(
            hmac.digest(key, data, "sha256").hex(), mac)

    @classmethod
    def from_secrets(cls, secrets_text: str) -> Keyring:
        """A ring from ``ECRF_AUDIT_KEY``: one or more secrets separated by commas, the last current.

        Each secret is used as its UTF-8 bytes; its id is derived from it.
        """
        values = [part.strip().encode() for part in secrets_text.split(",") if part.strip()]
        if not values:
            raise ValueError("ECRF_AUDIT_KEY is set but holds no key")
        keys = {key_id(value): value for value in values}
        return cls(keys, key_id(values[-1]))

    @classmethod
    def load(cls, path: Path) -> Keyring:
        """The ring kept in ``path``; the file and a first key are created (mode 0600) if missing."""
        path = Path(path)
        if not path.exists():
            _append_key(path, exclusive=True)
        keys: dict[str, bytes] = {}
        current = None
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                kid, hex_key = line.split()[:2]
                keys[kid] = bytes.fromhex(hex_key)
            except ValueError:
                raise ValueError(f"{path}:{number}: not a '<kid> <hex key> <created>' line") from None
            current = kid
        if current is None:
            raise ValueError(f"{path} holds no key")
        return cls(keys, current, path)

    def rotate(self) -> Keyring:
        """Append a new key to this ring's file and return the ring with it current (old keys kept)."""
        if self.path is None:
            raise ValueError("a ring from ECRF_AUDIT_KEY rotates by adding a secret at its end")
        _append_key(self.path, exclusive=False)
        return Keyring.load(self.path)


def _append_key(path: Path, *, exclusive: bool) -> None:
    """Write one new random key line; ``exclusive`` creates the file (a racing creator wins, we read theirs)."""
    key = secrets.token_bytes(KEY_BYTES)
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    line = f"{key_id(key)} {key.hex()} {created}\n".encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_EXCL if exclusive else 0)
    try:
        # Created 0600 from the start: there is no moment at which the key file is readable by others.
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:
        return
    try:
        os.write(descriptor, line)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)

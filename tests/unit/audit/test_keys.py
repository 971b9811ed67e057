"""Audit keys: created once with mode 0600, named by id, rotated without losing old ones."""

import stat

import pytest

from audit import event_hash
from audit.keys import Keyring, key_id


def test_a_key_file_is_created_once_readable_only_by_its_owner(tmp_path):
    path = tmp_path / "instance" / "audit_keys"
    ring = Keyring.load(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(ring.keys[ring.current]) == 32 and ring.current == key_id(ring.keys[ring.current])
    assert Keyring.load(path) == ring  # read again, not regenerated


def test_rotation_appends_a_new_current_key_and_keeps_the_old(tmp_path):
    ring = Keyring.load(tmp_path / "keys")
    rotated = ring.rotate()
    assert rotated.current != ring.current and set(rotated.keys) == {ring.current, rotated.current}
    assert rotated.keys[ring.current] == ring.keys[ring.current]
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o600


def test_keys_from_the_environment_take_the_last_as_current():
    ring = Keyring.from_secrets(" first , second ")
    assert ring.current == key_id(b"second") and ring.key(key_id(b"first")) == b"first"
    with pytest.raises(ValueError, match="ECRF_AUDIT_KEY"):
        Keyring.from_secrets(" , ")


def test_a_damaged_key_file_is_refused_by_line(tmp_path):
    path = tmp_path / "keys"
    path.write_text("k1 not-hex 2026\n")
    with pytest.raises(ValueError, match=r"keys:1"):
        Keyring.load(path)


def test_the_keyed_hash_depends_on_the_key_and_differs_from_plain_sha256():
    event = {"stream": "s", "seq": 1, "kid": "k1"}
    assert event_hash(event, b"a" * 32) != event_hash(event, b"b" * 32) != event_hash(event)
    assert event_hash({**event, "hash": "x", "_id": 1}, b"a" * 32) == event_hash(event, b"a" * 32)


def test_holds_checks_the_mac_under_the_named_key_only():
    ring = Keyring({"k1": b"1" * 32, "k2": b"2" * 32}, "k2")
    mac = ring.sign(b"data", "k1")
    assert ring.holds(b"data", mac, "k1")
    assert not ring.holds(b"data", mac, "k2") and not ring.holds(b"datA", mac, "k1")
    assert not ring.holds(b"data", mac, "k9") and not ring.holds(b"data", None, "k1")

"""Key rotation's steps, run by the journal package (`agp keys rotate` only parses and prints)."""

from __future__ import annotations

import os
import stat

import pytest

from agp.errors import JournalError, JournalWriteError, KeyFileError, UsageError
from agp.journal import Journal, Keyring, load_signing_key, rotate_key, verify_journal
from agp.journal import store as store_mod
from tests.support.journal import make_journal


def _snapshot(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


def test_rotate_key_installs_the_new_key_and_the_journal_verifies_across_it(tmp_path):
    path, old, ring = make_journal(tmp_path, 4)
    d = tmp_path / "keys"
    r = rotate_key(path, d)
    assert r.old_kid == old.kid and r.new_kid != old.kid
    new = load_signing_key(d)
    assert new.kid == r.new_kid
    assert load_signing_key(r.retired).kid == old.kid
    assert stat.S_IMODE(os.stat(r.retired).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(d / "agp.key").st_mode) == 0o600
    assert not (d / "agp.key.next").exists()
    assert list(Keyring.load(r.keyring)) == [old.kid, new.kid]
    verify_journal(path, ring)  # the first key alone vouches for the rotation
    j = Journal.open(path, new)  # the journal now takes the new key
    j.append("gate.decision", "s", {"after": True})
    j.close()
    verify_journal(path, Keyring.load(r.keyring))
    r2 = rotate_key(path, d)  # and a second rotation extends the keyring
    assert list(Keyring.load(r2.keyring)) == [old.kid, new.kid, r2.new_kid]
    verify_journal(path, ring)


def test_no_journal_leaves_the_key_directory_untouched(tmp_path):
    path, _, _ = make_journal(tmp_path, 1)
    d = tmp_path / "keys"
    before = _snapshot(d)
    with pytest.raises(UsageError, match="no journal"):
        rotate_key(tmp_path / "missing.jsonl", d)
    assert _snapshot(d) == before


def test_a_journal_in_use_leaves_the_key_directory_untouched(tmp_path):
    path, key, _ = make_journal(tmp_path, 1)
    d = tmp_path / "keys"
    before = _snapshot(d)
    held = Journal.open(path, key)  # another writer holds the lock
    try:
        with pytest.raises(JournalError, match="in use"):
            rotate_key(path, d)
    finally:
        held.close()
    assert _snapshot(d) == before
    assert not (d / "retired").exists()


def test_a_failed_rotation_entry_leaves_the_key_directory_untouched(tmp_path, monkeypatch):
    path, key, ring = make_journal(tmp_path, 2)
    d = tmp_path / "keys"
    before = _snapshot(d)

    def disk_full(self, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Journal, "_write_durably", disk_full)
    with pytest.raises(JournalWriteError, match="No space left"):
        rotate_key(path, d)
    monkeypatch.undo()
    assert _snapshot(d) == before
    j = Journal.open(path, load_signing_key(d))  # the old key still writes
    j.close()
    verify_journal(path, ring)


def test_a_recorded_rotation_whose_head_fails_still_installs_the_new_key(tmp_path, monkeypatch):
    """The journal expects the new key from the key.rotate entry on: losing it would strand the journal."""
    path, old, ring = make_journal(tmp_path, 2)
    d = tmp_path / "keys"
    real = store_mod.write_head_file
    calls = {"n": 0}

    def head_fails(p, head):
        calls["n"] += 1
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(store_mod, "write_head_file", head_fails)
    with pytest.raises(JournalWriteError, match="Input/output error"):
        rotate_key(path, d)
    monkeypatch.setattr(store_mod, "write_head_file", real)
    assert calls["n"] >= 1
    new = load_signing_key(d)
    assert new.kid != old.kid
    assert load_signing_key(d / "retired" / f"agp-{old.kid}.key").kid == old.kid
    j = Journal.open(path, new)  # the journal takes the installed key
    j.close()
    verify_journal(path, ring)


def test_a_leftover_staged_key_is_refused_with_what_to_do(tmp_path):
    path, _, _ = make_journal(tmp_path, 1)
    d = tmp_path / "keys"
    (d / "agp.key.next").write_bytes(b"left over")
    os.chmod(d / "agp.key.next", 0o600)
    before = _snapshot(d)
    with pytest.raises(KeyFileError, match="stopped part-way"):
        rotate_key(path, d)
    assert _snapshot(d) == before

"""Every reader of a journal reads numbers as RFC 8785 writes them.

A float such as 1e16 is written ``10000000000000000``; read back as an integer it is outside the range
the canonicalization takes. A call's input is chosen by code in the box, so a journal holding such a
number must verify, reopen, sign a checkpoint and prove its entries like any other."""

from __future__ import annotations

import pytest

from agp.journal import Journal, Keyring, init_keys, verify_journal
from agp.journal.proofs import journal_checkpoint, prove_inclusion, verify_entry
from tests.support.journal import lines

LONG = [1e16, 2.0**53, -(2.0**60), 123456789012345680.0, 9.999999999999999e20]


@pytest.fixture
def journal(tmp_path):
    key = init_keys(tmp_path / "keys")
    path = tmp_path / "j.jsonl"
    with Journal.open(path, key) as j:
        j.append("gate.decision", "s", {"call": {"input": {"command": "ls"}}})
        for f in LONG:
            j.append("gate.decision", "s", {"call": {"input": {"n": f, "l": [f, 0.5, "é"]}}})
    assert b"10000000000000000" in path.read_bytes()
    return path, key


def test_it_verifies_in_one_range_and_in_many(journal, monkeypatch):
    path, key = journal
    ring = Keyring.from_public_key(key.public)
    assert verify_journal(path, ring, workers=1).errors == []
    from agp.journal import verify as verify_mod

    monkeypatch.setattr(verify_mod, "_PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(verify_mod, "_CHUNK_BYTES", 200)
    assert verify_journal(path, ring, workers=2, pool="thread").errors == []


def test_it_reopens_and_takes_more_entries(journal):
    path, key = journal
    with Journal.open(path, key) as j:
        j.append("gate.decision", "s", {"n": 1e16})
    assert verify_journal(path, Keyring.from_public_key(key.public)).errors == []


def test_its_checkpoint_is_signed_after_a_recheck_and_each_entry_proves(journal):
    path, key = journal
    note = journal_checkpoint(path, key)
    for seq, line in enumerate(lines(path)):
        v = verify_entry(line, prove_inclusion(path, seq, checkpoint=note), note, key.public)
        assert v.entry.seq == seq


def test_parse_entry_checks_the_canonical_form_unless_told_the_line_is_plain(tmp_path):
    """parse_entry re-canonicalizes the body by the full rules unless its caller says loads called
    the line plain: a body with floats (1.0 is written 1, 1e16 as sixteen digits) hashes to what
    the writer hashed."""
    import json

    from agp.journal import _crypto
    from agp.journal.canonical import loads
    from agp.journal.chain import parse_entry

    key = init_keys(tmp_path / "keys")
    path = tmp_path / "j.jsonl"
    with Journal.open(path, key) as j:
        j.append("gate.decision", "s", {"a": 1.0, "b": 1e16, "c": 1e-7})
    line = next(ln for ln in lines(path) if b'"kind":"gate.decision"' in ln).rstrip(b"\n")
    obj, plain = loads(line)
    assert plain is False and obj == json.loads(line) | {"body": {"a": 1, "b": 1e16, "c": 1e-7}}
    entry, unsigned, _, _ = parse_entry(obj)
    assert _crypto.sha256(bytes.fromhex(entry.prev) + unsigned).hex() == entry.hash

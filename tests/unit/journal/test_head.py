"""agp.journal.head: the signed head file, read strictly and written atomically."""

from __future__ import annotations

import base64
import json
import os

import pytest

from agp.journal.canonical import canonicalize
from agp.journal.head import (
    HEAD_DOMAIN,
    Head,
    HeadFormatError,
    head_path_for,
    read_head,
    write_head_file,
)
from agp.journal.keys import SigningKey

KEY = SigningKey.generate()
GEN, HASH, TS = "g" * 64, "h" * 64, "2026-01-01T00:00:00Z"


def make(**extra) -> Head:
    return Head.create(KEY, genesis=GEN, seq=5, hash=HASH, ts=TS, extra=extra or None)


def as_dict(head: Head) -> dict:
    return json.loads(head.to_json())


def test_a_created_head_is_signed_over_the_domain_and_the_canonical_unsigned_fields():
    h = make(checkpoint="c1")
    assert (h.genesis, h.seq, h.hash, h.ts, h.kid) == (GEN, 5, HASH, TS, KEY.kid)
    assert h.unsigned() == {"v": 1, "genesis": GEN, "seq": 5, "hash": HASH, "ts": TS, "kid": KEY.kid,
                            "checkpoint": "c1"}
    assert h.signed_bytes() == HEAD_DOMAIN + canonicalize(h.unsigned())
    h.verify(KEY.public)
    KEY.public.verify(base64.b64decode(h.sig), HEAD_DOMAIN + canonicalize(h.unsigned()))


def test_to_json_is_sorted_indented_and_round_trips_with_its_extra_fields():
    h = make(checkpoint="c1", witnesses=["w"])
    text = h.to_json()
    assert text.endswith("}\n")
    assert text == json.dumps(dict(h.unsigned(), sig=h.sig), indent=1, sort_keys=True) + "\n"
    back = Head.from_json(text)
    assert back == h
    back.verify(KEY.public)


@pytest.mark.parametrize("field, value", [("seq", 6), ("hash", "x" * 64), ("genesis", "y" * 64), ("ts", "later"),
                                          ("checkpoint", "c2")])
def test_changing_any_signed_field_breaks_the_signature(field, value):
    d = as_dict(make(checkpoint="c1"))
    d[field] = value
    with pytest.raises(Exception):
        Head.from_json(json.dumps(d)).verify(KEY.public)


def test_another_key_does_not_verify():
    with pytest.raises(Exception):
        make().verify(SigningKey.generate().public)


@pytest.mark.parametrize("text, message", [
    ("not json", "head is not JSON"),
    ("[1]", "head is not a JSON object"),
    ("{}", "head lacks genesis, hash, kid, seq, sig, ts, v"),
])
def test_unparsable_heads_are_refused(text, message):
    with pytest.raises(HeadFormatError) as ei:
        Head.from_json(text)
    assert str(ei.value) == message or str(ei.value).startswith(message + ": ")


@pytest.mark.parametrize("field", ["v", "genesis", "seq", "hash", "ts", "kid", "sig"])
def test_each_missing_field_is_named(field):
    d = as_dict(make())
    del d[field]
    with pytest.raises(HeadFormatError) as ei:
        Head.from_json(json.dumps(d))
    assert str(ei.value) == f"head lacks {field}"


@pytest.mark.parametrize("field, value, message", [
    ("v", 2, "unknown head version 2"),
    ("v", "1", "unknown head version '1'"),
    ("seq", -1, "head seq must be a non-negative integer"),
    ("seq", True, "head seq must be a non-negative integer"),
    ("seq", 5.0, "head seq must be a non-negative integer"),
    ("seq", "5", "head seq must be a non-negative integer"),
    ("genesis", 1, "head genesis must be a string"),
    ("hash", None, "head hash must be a string"),
    ("ts", 0, "head ts must be a string"),
    ("kid", ["k"], "head kid must be a string"),
    ("sig", 7, "head sig must be a string"),
    ("sig", "not base64!", "head sig is not base64"),
    ("sig", base64.b64encode(b"x" * 63).decode(), "head sig must be 64 bytes"),
    ("sig", base64.b64encode(b"x" * 65).decode(), "head sig must be 64 bytes"),
])
def test_wrongly_typed_fields_are_refused(field, value, message):
    d = as_dict(make())
    d[field] = value
    with pytest.raises(HeadFormatError) as ei:
        Head.from_json(json.dumps(d))
    assert str(ei.value) == message


def test_seq_zero_is_a_valid_head():
    h = Head.create(KEY, genesis=GEN, seq=0, hash=HASH, ts=TS)
    assert Head.from_json(h.to_json()).seq == 0


def test_head_path_is_the_journal_path_plus_dot_head(tmp_path):
    assert head_path_for(tmp_path / "j.jsonl") == tmp_path / "j.jsonl.head"
    assert head_path_for("a/b") == type(tmp_path)("a/b.head")


def test_read_head_none_when_absent_and_refuses_unreadable_files(tmp_path):
    assert read_head(tmp_path / "absent.head") is None
    bad = tmp_path / "bad.head"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(HeadFormatError, match=f"cannot read head {bad}"):
        read_head(bad)
    with pytest.raises(HeadFormatError, match="cannot read head"):
        read_head(tmp_path)  # a directory


def test_write_head_file_replaces_the_file_and_leaves_no_temp(tmp_path):
    p = tmp_path / "j.head"
    write_head_file(p, make(checkpoint="c1"))
    first = read_head(p)
    assert first.seq == 5 and first.extra == (("checkpoint", "c1"),)
    h2 = Head.create(KEY, genesis=GEN, seq=9, hash=HASH, ts=TS)
    write_head_file(p, h2)
    assert read_head(p) == h2
    assert p.read_text(encoding="utf-8") == h2.to_json()
    assert sorted(os.listdir(tmp_path)) == ["j.head"]


def test_write_head_file_that_cannot_rename_removes_its_temp_and_raises(tmp_path):
    p = tmp_path / "j.head"
    p.mkdir()
    (p / "occupied").write_text("x")  # a non-empty directory cannot be replaced by a file
    with pytest.raises(OSError):
        write_head_file(p, make())
    assert sorted(os.listdir(tmp_path)) == ["j.head"]


def test_the_head_file_is_written_0644(tmp_path):
    old = os.umask(0o022)
    try:
        write_head_file(tmp_path / "j.head", make())
    finally:
        os.umask(old)
    assert (tmp_path / "j.head").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("step", ["fsync", "replace"])
@pytest.mark.parametrize("temp_gone", [False, True])
def test_a_head_write_that_fails_closes_removes_its_temp_and_raises_the_failure(tmp_path, monkeypatch, step, temp_gone):
    """A sync or rename that fails (EIO here) leaves the old head, no temp file and no open
    descriptor, and the caller sees that failure, also when the temp file is already gone."""
    import errno

    from agp.journal import head as head_mod

    p = tmp_path / "j.head"
    write_head_file(p, make(checkpoint="old"))
    before = p.read_bytes()

    def fail(*args, **kwargs):
        if temp_gone:
            for name in os.listdir(tmp_path):
                if name.startswith("j.head.tmp."):
                    os.unlink(tmp_path / name)
        raise OSError(errno.EIO, "injected")

    fds = sorted(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(head_mod.os, step, fail)
    with pytest.raises(OSError) as info:
        write_head_file(p, make(checkpoint="new"))
    monkeypatch.undo()
    assert info.value.errno == errno.EIO
    assert sorted(os.listdir("/proc/self/fd")) == fds
    assert sorted(os.listdir(tmp_path)) == ["j.head"] and p.read_bytes() == before

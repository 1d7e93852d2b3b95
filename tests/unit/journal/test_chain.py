"""agp.journal.chain: the fast entry serializer agrees with RFC 8785, and parse_entry is strict."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from agp.journal.canonical import CanonicalizationError, canonicalize
from agp.journal.chain import (
    GENESIS_PREV,
    Entry,
    EntryFormatError,
    assemble_unsigned,
    entry_hash,
    format_ts,
    jstr,
    parse_entry,
    seal,
)
from agp.journal.keys import SigningKey

KEY = SigningKey.generate()
PREV = "ab" * 32
STRINGS = ["", "plain", 'quote " and \\ back', "tab\tnl\ncr\r\x00\x1f\x7f", "é ü 日本 😀", "\u2028\u2029", "</script>"]


def sealed(body=None, *, kind="gate.decision", prev=PREV, seq=3, session="s1", ts="2026-01-01T00:00:00.000001Z"):
    body = {"k": "v", "n": [1, 2.5, None, True]} if body is None else body
    return seal(signer=KEY, body=body, body_c=canonicalize(body), kind=kind, prev=prev, seq=seq, session=session, ts=ts)


@pytest.mark.parametrize("s", STRINGS)
def test_jstr_is_rfc8785_for_every_string(s):
    assert jstr(s) == canonicalize(s)


def test_jstr_refuses_a_lone_surrogate():
    with pytest.raises(CanonicalizationError):
        jstr("\ud800")


@pytest.mark.parametrize("s", STRINGS)
def test_a_sealed_line_is_the_canonical_entry_and_its_hash_and_signature_cover_it(s):
    entry, line = sealed({"s": s}, kind=s or "k", session=s or "x", ts=s, seq=12345678901)
    d = json.loads(line)
    assert line == canonicalize(d) + b"\n" == entry.to_line()
    assert d == entry.to_dict() and d["kid"] == KEY.kid
    unsigned = {k: v for k, v in d.items() if k not in ("hash", "sig")}
    assert assemble_unsigned(canonicalize(d["body"]), kid=d["kid"], kind=d["kind"], prev=d["prev"], seq=d["seq"],
                             session=d["session"], ts=d["ts"]) == canonicalize(unsigned)
    assert entry.hash == hashlib.sha256(bytes.fromhex(PREV) + canonicalize(unsigned)).hexdigest()
    assert entry.hash == entry_hash(PREV, canonicalize(unsigned))
    signed = canonicalize({k: v for k, v in d.items() if k != "sig"})
    KEY.public.verify(base64.b64decode(entry.sig), signed)


def test_the_hash_chains_on_prev():
    a, _ = sealed(prev=GENESIS_PREV)
    b, _ = sealed(prev=PREV)
    assert a.hash != b.hash and GENESIS_PREV == "0" * 64


def test_parse_entry_returns_what_seal_hashed_and_signed():
    entry, line = sealed()
    got, unsigned, signed, sig = parse_entry(json.loads(line))
    assert got == entry and isinstance(got, Entry)
    assert entry_hash(got.prev, unsigned) == entry.hash
    KEY.public.verify(sig, signed)
    assert sig == base64.b64decode(entry.sig)


def good() -> dict:
    return json.loads(sealed()[1])


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("kid"), "members missing 'kid'"),
    (lambda d: d.update(x=1), "members unexpected 'x'"),
    (lambda d: (d.pop("kid"), d.pop("body")), "members missing 'body', missing 'kid'"),
    (lambda d: (d.pop("ts"), d.update(a=1, b=2)), "members missing 'ts', unexpected 'a', unexpected 'b'"),
    (lambda d: d.update(seq=-1), "member 'seq' must be a non-negative integer"),
    (lambda d: d.update(seq=True), "member 'seq' must be a non-negative integer"),
    (lambda d: d.update(seq=1.0), "member 'seq' must be a non-negative integer"),
    (lambda d: d.update(ts=1), "member 'ts' must be a string"),
    (lambda d: d.update(kind=None), "member 'kind' must be a string"),
    (lambda d: d.update(session=[]), "member 'session' must be a string"),
    (lambda d: d.update(kid=0), "member 'kid' must be a string"),
    (lambda d: d.update(sig=b""), None),  # not JSON-able as bytes; replaced below
    (lambda d: d.update(body=[]), "member 'body' must be an object"),
    (lambda d: d.update(prev="ab" * 31), "member 'prev' must be 64 hex digits"),
    (lambda d: d.update(prev="zz" * 32), "member 'prev' must be 64 hex digits"),
    (lambda d: d.update(prev=7), "member 'prev' must be 64 hex digits"),
    (lambda d: d.update(hash="AB" * 32), "member 'hash' must be lowercase hex"),
    (lambda d: d.update(hash="ab" * 33), "member 'hash' must be 64 hex digits"),
    (lambda d: d.update(sig="***"), "member 'sig' is not base64"),
    (lambda d: d.update(sig=base64.b64encode(b"x" * 63).decode()), "member 'sig' must decode to 64 bytes, found 63"),
])
def test_parse_entry_names_the_bad_member(change, message):
    d = good()
    change(d)
    if message is None:
        d["sig"] = 5
        message = "member 'sig' must be a string"
    with pytest.raises(EntryFormatError) as ei:
        parse_entry(d)
    assert str(ei.value) == message


def test_parse_entry_refuses_non_objects_and_accepts_seq_zero():
    with pytest.raises(EntryFormatError) as ei:
        parse_entry([good()])
    assert str(ei.value) == "line is not a JSON object"
    entry, line = sealed(seq=0)
    assert parse_entry(json.loads(line))[0].seq == 0


@pytest.mark.parametrize("t, text", [
    (0.0, "1970-01-01T00:00:00.000000Z"),
    (1.5, "1970-01-01T00:00:01.500000Z"),
    (1764000000.0000019, "2025-11-24T16:00:00.000001Z"),
    (1764000000.999999, "2025-11-24T16:00:00.999999Z"),
    (1764000061.25, "2025-11-24T16:01:01.250000Z"),
])
def test_format_ts_is_rfc3339_utc_with_truncated_microseconds(t, text):
    assert format_ts(t) == text


def test_format_ts_does_not_reuse_the_previous_second():
    assert format_ts(100.1).startswith("1970-01-01T00:01:40.")
    assert format_ts(101.1).startswith("1970-01-01T00:01:41.")
    assert format_ts(100.1).startswith("1970-01-01T00:01:40.")

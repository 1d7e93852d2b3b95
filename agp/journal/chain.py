"""Journal entries: pure construction and checking, no I/O.

An entry is one JSON object a line with exactly these members::

    {seq, ts, kind, session, body, prev, kid, hash, sig}

- ``prev``: hex SHA-256 ``hash`` of the previous entry (64 zeros for entry 0)
- ``hash`` = hex SHA-256( raw32(prev) || JCS(entry without hash and sig) )
- ``sig``  = base64 Ed25519( JCS(entry without sig) ) by the key named by ``kid``

JCS is RFC 8785. Lines are written in canonical form (JCS of the whole entry),
but a verifier never relies on that: it re-canonicalizes what it parsed.
Because the member names are fixed ASCII, the canonical text of an entry is
assembled from the canonical text of each value, so the body is serialized
once per append. See adr/0001.
"""

from __future__ import annotations

import base64
import binascii
import json
import json.encoder
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from agp.journal import _crypto
from agp.journal.canonical import canonicalize

__all__ = (
    "ENTRY_FIELDS",
    "GENESIS_PREV",
    "Entry",
    "EntryFormatError",
    "assemble_unsigned",
    "entry_hash",
    "finish",
    "format_ts",
    "jstr",
    "parse_entry",
    "seal",
)

_encode_str = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring
ENTRY_FIELDS = frozenset({"seq", "ts", "kind", "session", "body", "prev", "kid", "hash", "sig"})
GENESIS_PREV = "0" * 64
_J = canonicalize


class EntryFormatError(ValueError):
    """A line is not a well-formed journal entry (the message says which member)."""


_ts_cache: tuple[int, str] = (-1, "")


def format_ts(t: float) -> str:
    """RFC 3339 UTC with microseconds (truncated), e.g. ``2026-11-23T08:55:01.123456Z``."""
    global _ts_cache  # noqa: PLW0603 - a one-slot cache of the last second formatted
    secs = int(t)
    cached_secs, prefix = _ts_cache
    if secs != cached_secs:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
        _ts_cache = (secs, prefix)
    return f"{prefix}.{int((t - secs) * 1_000_000):06d}Z"


def jstr(s: str) -> bytes:
    """JCS of one string (the C string encoder escapes exactly as RFC 8785 does)."""
    try:
        return _encode_str(s).encode("utf-8")
    except UnicodeEncodeError:
        return _J(s)  # lone surrogates: the reference serializer raises a CanonicalizationError


def _parts(body_c: bytes, kid: str, kind: str, prev: str, seq: int, session: str) -> tuple[bytes, bytes]:
    head = b'{"body":' + body_c
    tail = (
        b',"kid":'
        + jstr(kid)
        + b',"kind":'
        + jstr(kind)
        + b',"prev":'
        + jstr(prev)
        + b',"seq":'
        + str(seq).encode("ascii")
        + b',"session":'
        + jstr(session)
    )
    return head, tail


def assemble_unsigned(body_c: bytes, *, kid: str, kind: str, prev: str, seq: int, session: str, ts: str) -> bytes:
    """JCS of the entry without ``hash`` and ``sig`` (``body_c`` is JCS of the body)."""
    head, tail = _parts(body_c, kid, kind, prev, seq, session)
    return head + tail + b',"ts":' + jstr(ts) + b"}"


def entry_hash(prev: str, unsigned: bytes) -> str:
    return _crypto.sha256(bytes.fromhex(prev) + unsigned).hex()


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    ts: str
    kind: str
    session: str
    body: Mapping[str, Any]
    prev: str
    kid: str
    hash: str
    sig: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts,
            "kind": self.kind,
            "session": self.session,
            "body": self.body,
            "prev": self.prev,
            "kid": self.kid,
            "hash": self.hash,
            "sig": self.sig,
        }

    def to_line(self) -> bytes:
        """The canonical line as written to the journal, with its newline."""
        return _J(self.to_dict()) + b"\n"


class Signer(Protocol):
    """What sealing an entry needs of a key (:class:`agp.journal.keys.SigningKey` is one)."""

    @property
    def kid(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...


def seal(
    *, signer: Signer, body: Mapping[str, Any], body_c: bytes, kind: str, prev: str, seq: int, session: str, ts: str
) -> tuple[Entry, bytes]:
    """Hash, sign and serialize one entry. Returns the entry and its line (with newline).

    ``signer`` is an :class:`agp.journal.keys.SigningKey`. This is the whole
    append path that needs no lock except the order of ``prev``; the journal
    splits it so that signing runs outside its chain lock.
    """
    kid = signer.kid
    head, tail = _parts(body_c, kid, kind, prev, seq, session)
    ts_c = b',"ts":' + jstr(ts) + b"}"
    h = _crypto.sha256(bytes.fromhex(prev) + head + tail + ts_c).hex()
    return finish(signer, body, head, tail, ts_c, h, kind=kind, prev=prev, seq=seq, session=session, ts=ts)


def finish(
    signer: Signer,
    body: Mapping[str, Any],
    head: bytes,
    tail: bytes,
    ts_c: bytes,
    h: str,
    *,
    kind: str,
    prev: str,
    seq: int,
    session: str,
    ts: str,
) -> tuple[Entry, bytes]:
    h_c = b',"hash":"' + h.encode("ascii") + b'"'
    sig = base64.b64encode(signer.sign(head + h_c + tail + ts_c)).decode("ascii")
    line = head + h_c + tail + b',"sig":"' + sig.encode("ascii") + b'"' + ts_c + b"\n"
    entry = Entry(seq=seq, ts=ts, kind=kind, session=session, body=body, prev=prev, kid=signer.kid, hash=h, sig=sig)
    return entry, line


def _hex64(v: Any, name: str) -> str:
    if type(v) is not str or len(v) != 64:
        raise EntryFormatError(f"member {name!r} must be 64 hex digits")
    try:
        bytes.fromhex(v)
    except ValueError:
        raise EntryFormatError(f"member {name!r} must be 64 hex digits") from None
    if v != v.lower():
        raise EntryFormatError(f"member {name!r} must be lowercase hex")
    return v


def parse_entry(obj: Any, *, plain: bool = False) -> tuple[Entry, bytes, bytes, bytes]:
    """Check the shape of a parsed line; return (entry, unsigned_bytes, signed_bytes, signature).

    ``plain``: :func:`agp.journal.canonical.loads` parsed the line and called it plain.

    Raises :class:`EntryFormatError` naming the member. The caller still has to
    compare ``entry.hash`` with :func:`entry_hash` of ``entry.prev`` and the
    unsigned bytes, and check the signature.
    """
    if type(obj) is not dict:
        raise EntryFormatError("line is not a JSON object")
    keys = obj.keys()
    if keys != ENTRY_FIELDS:
        missing = sorted(ENTRY_FIELDS - keys)
        extra = sorted(keys - ENTRY_FIELDS)
        raise EntryFormatError(
            "members "
            + ", ".join(f"missing {m!r}" for m in missing)
            + (", " if missing and extra else "")
            + ", ".join(f"unexpected {x!r}" for x in extra)
        )
    seq = obj["seq"]
    if type(seq) is not int or seq < 0:
        raise EntryFormatError("member 'seq' must be a non-negative integer")
    for name in ("ts", "kind", "session", "kid", "sig"):
        if type(obj[name]) is not str:
            raise EntryFormatError(f"member {name!r} must be a string")
    if type(obj["body"]) is not dict:
        raise EntryFormatError("member 'body' must be an object")
    prev = _hex64(obj["prev"], "prev")
    h = _hex64(obj["hash"], "hash")
    try:
        sig = base64.b64decode(obj["sig"], validate=True)
    except (binascii.Error, ValueError):
        raise EntryFormatError("member 'sig' is not base64") from None
    if len(sig) != 64:
        raise EntryFormatError(f"member 'sig' must decode to 64 bytes, found {len(sig)}")
    body_c = _J(obj["body"], plain=plain)
    head, tail = _parts(body_c, obj["kid"], obj["kind"], prev, seq, obj["session"])
    ts_c = b',"ts":' + jstr(obj["ts"]) + b"}"
    entry = Entry(
        seq=seq,
        ts=obj["ts"],
        kind=obj["kind"],
        session=obj["session"],
        body=obj["body"],
        prev=prev,
        kid=obj["kid"],
        hash=h,
        sig=obj["sig"],
    )
    unsigned = head + tail + ts_c
    signed = head + b',"hash":"' + h.encode("ascii") + b'"' + tail + ts_c
    return entry, unsigned, signed, sig

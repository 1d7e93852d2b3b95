"""The signed head: ``<journal>.head`` pins the journal's length and last hash.

::

    {"v": 1, "genesis": <hash of entry 0>, "seq": N, "hash": <hash of entry N>,
     "ts": ..., "kid": ..., "sig": <base64 Ed25519>}

``sig`` covers ``b"agp-journal-head/v1\\n" + JCS(head without sig)``; the prefix
keeps a head signature from ever being mistaken for an entry signature.
``genesis`` ties the head to one journal. The file is replaced atomically
(temp file, fsync, rename, fsync of the directory).

Before each head write the journal appends a ``journal.head`` entry and the
head then covers that entry. So a head file older than the last announced
head is a rollback, and the verifier can say so (see verify.py).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agp.journal.canonical import canonicalize
from agp.journal.chain import Signer


class Verifier(Protocol):
    """What checking a head needs of a public key (:class:`agp.journal.keys.PublicKey` is one)."""

    def verify(self, signature: bytes, data: bytes) -> None: ...


__all__ = ("HEAD_DOMAIN", "HEAD_SUFFIX", "Head", "HeadFormatError", "head_path_for", "read_head", "write_head_file")

HEAD_DOMAIN = b"agp-journal-head/v1\n"
HEAD_SUFFIX = ".head"
_FIELDS = frozenset({"v", "genesis", "seq", "hash", "ts", "kid", "sig"})


class HeadFormatError(ValueError):
    pass


def head_path_for(journal: str | os.PathLike[str]) -> Path:
    return Path(str(journal) + HEAD_SUFFIX)


@dataclass(frozen=True, slots=True)
class Head:
    genesis: str
    seq: int
    hash: str
    ts: str
    kid: str
    sig: str
    extra: tuple[tuple[str, Any], ...] = ()

    def unsigned(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "v": 1,
            "genesis": self.genesis,
            "seq": self.seq,
            "hash": self.hash,
            "ts": self.ts,
            "kid": self.kid,
        }
        d.update(self.extra)
        return d

    def signed_bytes(self) -> bytes:
        return HEAD_DOMAIN + canonicalize(self.unsigned())

    def to_json(self) -> str:
        d = self.unsigned()
        d["sig"] = self.sig
        return json.dumps(d, indent=1, sort_keys=True) + "\n"

    @classmethod
    def create(
        cls, signer: Signer, *, genesis: str, seq: int, hash: str, ts: str, extra: dict[str, Any] | None = None
    ) -> Head:
        draft = cls(
            genesis=genesis,
            seq=seq,
            hash=hash,
            ts=ts,
            kid=signer.kid,
            sig="",
            extra=tuple(sorted((extra or {}).items())),
        )
        sig = base64.b64encode(signer.sign(draft.signed_bytes())).decode("ascii")
        return cls(genesis=genesis, seq=seq, hash=hash, ts=ts, kid=signer.kid, sig=sig, extra=draft.extra)

    def verify(self, public_key: Verifier) -> None:
        """Raise ``InvalidSignature`` unless ``public_key`` signed this head."""
        public_key.verify(base64.b64decode(self.sig), self.signed_bytes())

    @classmethod
    def from_json(cls, text: str) -> Head:
        try:
            d = json.loads(text)
        except ValueError as exc:
            raise HeadFormatError(f"head is not JSON: {exc}") from exc
        if type(d) is not dict:
            raise HeadFormatError("head is not a JSON object")
        missing = sorted(_FIELDS - d.keys())
        if missing:
            raise HeadFormatError(f"head lacks {', '.join(missing)}")
        if d["v"] != 1:
            raise HeadFormatError(f"unknown head version {d['v']!r}")
        if type(d["seq"]) is not int or d["seq"] < 0:
            raise HeadFormatError("head seq must be a non-negative integer")
        for name in ("genesis", "hash", "ts", "kid", "sig"):
            if type(d[name]) is not str:
                raise HeadFormatError(f"head {name} must be a string")
        try:
            if len(base64.b64decode(d["sig"], validate=True)) != 64:
                raise HeadFormatError("head sig must be 64 bytes")
        except binascii.Error as exc:
            raise HeadFormatError("head sig is not base64") from exc
        extra = tuple(sorted((k, v) for k, v in d.items() if k not in _FIELDS))
        return cls(
            genesis=d["genesis"], seq=d["seq"], hash=d["hash"], ts=d["ts"], kid=d["kid"], sig=d["sig"], extra=extra
        )


def read_head(path: str | os.PathLike[str]) -> Head | None:
    """The head at ``path``, or None if there is no such file. Raises HeadFormatError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise HeadFormatError(f"cannot read head {path}: {exc}") from exc
    return Head.from_json(text)


def write_head_file(path: str | os.PathLike[str], head: Head) -> None:
    """Atomically replace ``path`` with ``head``: temp file, fsync, rename, fsync dir. Raises OSError."""
    p = Path(path)
    tmp = p.with_name(p.name + f".tmp.{os.getpid()}")
    data = head.to_json().encode("utf-8")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dfd = os.open(p.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)

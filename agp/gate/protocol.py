"""The gate wire protocol: length-prefixed JSON frames and their pydantic models.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON;
the length is at most :data:`MAX_FRAME` (1 MiB) and at least 1. Bridges send one
``check`` request; the gate answers with one ``verdict``::

    {"v":1,"type":"check","id":str,"session":str,"harness":str,"tool":str,
     "input":{...},"cwd":str,"tool_use_id":str|null}
    {"v":1,"type":"verdict","id":str,"decision":"allow"|"deny","reason":str,
     "rule":str|null,"seq":int|null}

Untrusted bytes enter through exactly one door, :func:`parse_request`, which
returns a frozen :class:`CheckRequest` or raises :class:`FrameRejected` (a
:class:`agp.errors.ProtocolError`) carrying a typed ``code`` and whatever
request id could be recovered, so the server can still answer with a deny.
The checks: well-formed UTF-8 JSON without duplicate keys or non-finite
numbers, an object, ``v == 1``, a known ``type``, every field present with its
exact type and no extra field (``extra="forbid"``, strict mode), and an
``input`` that RFC 8785 can canonicalize (so it can be hashed and journaled).

:class:`FrameDecoder` is the sans-I/O framing layer (feed bytes, take frames),
shared by the server, the in-process client and the tests.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agp._unix import connect_unix
from agp.errors import ProtocolError
from agp.journal.canonical import canonicalize

__all__ = (
    "MAX_FRAME",
    "PROTOCOL_VERSION",
    "CheckRequest",
    "FrameCode",
    "FrameDecoder",
    "FrameRejected",
    "Verdict",
    "call_digest",
    "encode_frame",
    "parse_request",
    "request_verdict",
)

PROTOCOL_VERSION = 1
#: largest frame body (bytes) either side accepts
MAX_FRAME = 1 << 20
_HEADER = struct.Struct(">I")
#: longest id / session / harness / tool string accepted (bytes of text)
_MAX_NAME = 256
_MAX_DEPTH = 64


class FrameCode(str, Enum):
    """Why a frame was rejected (journaled as ``gate.frame_rejected`` body.code)."""

    OVERSIZED = "oversized"  # length prefix above MAX_FRAME
    EMPTY = "empty"  # length prefix 0
    TRUNCATED = "truncated"  # the peer closed mid-frame, or the frame missed its deadline
    OVERLOADED = "overloaded"  # the gate's memory for frames in transit is used up
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    BAD_VERSION = "bad_version"
    UNKNOWN_TYPE = "unknown_type"
    INVALID = "invalid"  # fields missing, extra or of the wrong type
    NOT_CANONICAL = "not_canonicalizable"  # input has values RFC 8785 cannot represent


class FrameRejected(ProtocolError):
    """A frame that breaks the protocol. ``request_id`` is set when one could be recovered."""

    def __init__(
        self, code: FrameCode, detail: str, *, request_id: str | None = None, session: str | None = None
    ) -> None:
        self.code = code
        self.detail = detail
        self.request_id = request_id
        self.session = session
        super().__init__(f"{code.value}: {detail}")


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class CheckRequest(_Wire):
    """A bridge asks whether one tool call may run. Build only through :func:`parse_request`."""

    v: Literal[1]
    type: Literal["check"]
    id: str = Field(min_length=1, max_length=_MAX_NAME)
    session: str = Field(min_length=1, max_length=_MAX_NAME)
    harness: str = Field(min_length=1, max_length=_MAX_NAME)
    tool: str = Field(min_length=1, max_length=_MAX_NAME)
    input: dict[str, Any]
    cwd: str = Field(max_length=4096)
    tool_use_id: str | None = Field(default=None, max_length=_MAX_NAME)

    def call_dict(self) -> dict[str, Any]:
        """The call as journaled in ``gate.decision`` body.call (and hashed for approvals)."""
        d: dict[str, Any] = {
            "id": self.id,
            "harness": self.harness,
            "tool": self.tool,
            "input": self.input,
            "cwd": self.cwd,
        }
        if self.tool_use_id is not None:
            d["tool_use_id"] = self.tool_use_id
        return d


class Verdict(_Wire):
    """The gate's answer. ``seq`` is the journal seq of the entry that records it."""

    v: Literal[1] = 1
    type: Literal["verdict"] = "verdict"
    id: str
    decision: Literal["allow", "deny"]
    reason: str
    rule: str | None = None
    seq: int | None = None

    def to_frame(self) -> bytes:
        return encode_frame(self.model_dump(mode="json"))


# --------------------------------------------------------------------------- framing


def encode_frame(obj: Any) -> bytes:
    """Length prefix + compact UTF-8 JSON. Raises ProtocolError if the body exceeds MAX_FRAME."""
    body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    if not body or len(body) > MAX_FRAME:
        raise ProtocolError(f"frame body of {len(body)} bytes is outside 1..{MAX_FRAME}")
    return _HEADER.pack(len(body)) + body


@dataclass
class FrameDecoder:
    """Sans-I/O frame splitter: ``feed(data)`` then ``frames()``.

    An oversized or empty length prefix raises :class:`FrameRejected` at once (the
    stream cannot be resynchronized after it; the caller answers and closes).
    """

    max_frame: int = MAX_FRAME

    def __post_init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while len(self._buf) >= 4:
            (n,) = _HEADER.unpack_from(self._buf)
            if n == 0:
                raise FrameRejected(FrameCode.EMPTY, "length prefix 0")
            if n > self.max_frame:
                raise FrameRejected(FrameCode.OVERSIZED, f"length prefix {n} exceeds {self.max_frame} bytes")
            if len(self._buf) < 4 + n:
                break
            out.append(bytes(self._buf[4 : 4 + n]))
            del self._buf[: 4 + n]
        return out

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a frame (non-zero at EOF means truncated)."""
        return len(self._buf)


# --------------------------------------------------------------------------- parsing


def _no_dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"duplicate key {k[:40]!r}")
        d[k] = v
    return d


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name}")


def _finite_float(text: str) -> float:
    f = float(text)
    if not math.isfinite(f):
        raise ValueError("number out of range")
    return f


_decoder = json.JSONDecoder(object_pairs_hook=_no_dupes, parse_constant=_no_constant, parse_float=_finite_float)


def _depth_ok(obj: Any, limit: int = _MAX_DEPTH) -> bool:
    stack = [(obj, 0)]
    while stack:
        o, d = stack.pop()
        if d > limit:
            return False
        if isinstance(o, dict):
            stack.extend((v, d + 1) for v in o.values())
        elif isinstance(o, list):
            stack.extend((v, d + 1) for v in o)
    return True


def _recover(obj: Any, key: str) -> str | None:
    v = obj.get(key) if isinstance(obj, dict) else None
    return v if isinstance(v, str) and 0 < len(v) <= _MAX_NAME else None


def parse_request(unverified_body: bytes) -> CheckRequest:
    """The one way a frame body becomes a request. Raises :class:`FrameRejected`."""
    if not unverified_body:
        raise FrameRejected(FrameCode.EMPTY, "empty frame")
    if len(unverified_body) > MAX_FRAME:
        raise FrameRejected(FrameCode.OVERSIZED, f"{len(unverified_body)} bytes exceeds {MAX_FRAME}")
    try:
        text = unverified_body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FrameRejected(FrameCode.NOT_UTF8, f"not UTF-8 at byte {exc.start}") from None
    try:
        obj = _decoder.decode(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError; so are our hooks'
        raise FrameRejected(FrameCode.NOT_JSON, str(exc)[:200]) from None
    if not isinstance(obj, dict):
        raise FrameRejected(FrameCode.NOT_OBJECT, f"a JSON {type(obj).__name__}, not an object")
    rid, session = _recover(obj, "id"), _recover(obj, "session")
    if obj.get("v") != PROTOCOL_VERSION or type(obj.get("v")) is not int:
        raise FrameRejected(FrameCode.BAD_VERSION, f"v must be {PROTOCOL_VERSION}", request_id=rid, session=session)
    if obj.get("type") != "check":
        t = obj.get("type")
        shown = t[:40] if isinstance(t, str) else type(t).__name__
        raise FrameRejected(FrameCode.UNKNOWN_TYPE, f"unknown message type {shown!r}", request_id=rid, session=session)
    if not _depth_ok(obj):
        raise FrameRejected(
            FrameCode.INVALID, f"nested deeper than {_MAX_DEPTH} levels", request_id=rid, session=session
        )
    try:
        req = CheckRequest.model_validate(obj)
    except ValidationError as exc:
        errs = exc.errors(include_url=False, include_input=False)
        detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in errs[:5])
        raise FrameRejected(FrameCode.INVALID, detail[:400], request_id=rid, session=session) from None
    try:
        canonicalize(req.call_dict())
    except Exception as exc:  # noqa: BLE001 - CanonicalizationError, lone surrogates, huge ints ...
        raise FrameRejected(
            FrameCode.NOT_CANONICAL, f"input cannot be canonicalized: {str(exc)[:120]}", request_id=rid, session=session
        ) from None
    return req


def call_digest(call: dict[str, Any]) -> str:
    """sha256 (hex) of the RFC 8785 canonical call (:meth:`CheckRequest.call_dict`); approvals bind to it."""
    return hashlib.sha256(canonicalize(call)).hexdigest()


# --------------------------------------------------------------------------- client


def request_verdict(socket_path: str, request: dict[str, Any], *, timeout: float = 10.0) -> Verdict:
    """A blocking host-side client (tests, benches, ``agp doctor``): one request, one verdict.

    Never raises for a gate that is down, missing or misbehaving: every such case is a
    deny verdict whose reason says what happened (fail closed).
    """
    unverified_id = request.get("id")
    rid = unverified_id if isinstance(unverified_id, str) else ""

    def deny(reason: str) -> Verdict:
        return Verdict(id=rid, decision="deny", reason=reason)

    try:
        frame = encode_frame(request)
    except (ProtocolError, TypeError, ValueError) as exc:
        return deny(f"the request cannot be sent: {exc}")
    try:
        s = connect_unix(socket_path, timeout=timeout)
    except OSError as exc:
        return deny(f"the gate is not reachable at {socket_path}: {exc.strerror or exc}")
    try:
        dec = FrameDecoder()
        try:
            s.sendall(frame)
            frames: list[bytes] = []
            while not frames:
                chunk = s.recv(65536)
                if not chunk:
                    return deny("the gate closed the connection before answering")
                frames = dec.feed(chunk)
        except FrameRejected as exc:
            return deny(f"the gate sent a malformed reply ({exc.code.value})")
        except TimeoutError:
            return deny("the gate did not answer in time")
        except OSError as exc:
            return deny(f"the connection to the gate failed: {exc.strerror or exc}")
    finally:
        s.close()
    try:
        v = Verdict.model_validate_json(frames[0])
    except ValidationError:
        return deny("the gate sent a malformed reply")
    if v.id != rid:
        return deny("the gate answered a different request")
    return v

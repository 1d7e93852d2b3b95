"""The model relay: the sandbox's one way out, to exactly one upstream's model endpoints, with the key added on the host.

The container has no network. The harness's base URL points at a loopback
forwarder inside it (``images/common/agp-forward.py``) that copies bytes to
``<run socket dir>/relay.sock``; :class:`ModelRelay` serves that socket on the
host and forwards each HTTP/1.1 request to the single configured
:class:`Upstream` (the Anthropic or OpenAI API, or a scripted server on
127.0.0.1 in tests). The relay is a door: everything the sandbox could do with
the key is decided here, on the host, because code in the box can subvert the
harness and the forwarder.

- only the provider's model endpoints pass (:class:`RelayRules`, measured from
  the real harnesses: see ``ENDPOINTS``): method and path match exactly, the
  query string is limited to a safe alphabet; anything else (``/v1/files``,
  ``/v1/models`` for Anthropic, organization or key management) is refused
  with 403 and never sent;
- a request body is read whole (bounded by :class:`RelayLimits`), parsed as JSON
  on the host and refused (403) when it asks the provider to reach out or run
  something server-side: Anthropic ``mcp_servers`` and ``container``, any tool
  whose ``type`` is not a custom tool (``web_search_*``, ``web_fetch_*``,
  ``code_execution_*``, ``mcp_toolset``, ...), content whose ``source`` is a URL
  or an uploaded file; the OpenAI Responses equivalents (hosted tools such as
  ``web_search``, ``file_search``, ``code_interpreter``, ``mcp``,
  ``image_generation``, ``computer_use*``; ``file_url``, ``file_id``, non-``data:``
  ``image_url``; ``conversation`` and ``prompt`` that name state stored at the
  provider). ``RelayRules.allow_server_tools`` lets a policy allow some by name.
  Duplicate keys, NaN and bodies the relay cannot decode (a ``Content-Encoding``)
  are refused: what the relay cannot read, it does not forward;
- only origin-form targets (``/v1/messages``) or an absolute URL naming the
  upstream itself are accepted; any other host (absolute URL, ``Host`` header
  other than loopback or the upstream) is refused with 421; ``CONNECT`` and
  protocol upgrades are refused;
- HTTP framing is parsed strictly (request smuggling): chunk sizes are 1 to 16
  hex digits and nothing else, CRLF everywhere, bounded trailers (dropped);
  Transfer-Encoding with Content-Length, duplicate Content-Length, obs-fold,
  control characters and HTTP/1.0 with Transfer-Encoding are refused. The body
  is forwarded re-framed with a Content-Length, so the upstream never sees the
  sandbox's framing;
- limits (:class:`RelayLimits`): the request head must arrive within
  ``head_timeout`` (408), the body within ``body_timeout``; at most
  ``max_body`` bytes per body (413) and ``max_buffered`` across all bodies
  in flight (503); at most ``max_connections`` concurrent connections, and never
  more than a share of RLIMIT_NOFILE, so that a flood of connections cannot take
  the descriptors the gate (same process) needs: the excess gets 503 at once;
  running out of descriptors in ``accept`` backs off instead of ending the relay;
- every credential the container sends (Authorization, Proxy-Authorization,
  Cookie, x-api-key, api-key, any ``*api-key*``/``*token*``/``*secret*`` header)
  is stripped, and the host's credential is injected;
- response bodies are streamed chunk by chunk, never buffered, so server-sent
  events reach the harness as the model produces them;
- each request's metadata (method, path without query, status, bytes in/out,
  duration, ``refused`` reason) goes to ``on_request`` (the orchestrator
  journals it as ``relay.request``); bodies and keys never do. Refusals are
  rate-limited there (``suppressed`` counts those left out), so a flood of bad
  requests cannot flood the journal.

A refusal is an HTTP error with a JSON body both SDKs understand
(``{"type": "error", "error": {"type": ..., "message": "agp relay: ..."}}``) and
the header ``X-Agp-Relay: refused``.

HTTP handling is a deliberately small hand-written HTTP/1.1 proxy over anyio
streams (h11 is not among agp's dependencies, and h11 unfolds obs-fold lines, merges equal duplicate
Content-Lengths and lets Transfer-Encoding win over Content-Length, where a door must refuse): one
upstream connection per request, ``Connection: close`` both ways.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import resource
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.abc
from anyio.abc import ByteStream, SocketAttribute
from anyio.streams.buffered import BufferedByteReceiveStream

from agp._unix import bind_unix
from agp.errors import SandboxError

__all__ = (
    "CREDENTIAL_HEADER_RE",
    "ENDPOINTS",
    "PROVIDERS",
    "Credential",
    "ModelRelay",
    "RelayLimits",
    "RelayRules",
    "RelayThread",
    "Upstream",
)

MAX_HEAD = 64 * 1024
MAX_HEADERS = 128
MAX_CHUNK_LINE = 1024
MAX_TRAILERS = 8 * 1024
#: any header the container sends whose name matches is dropped before forwarding
CREDENTIAL_HEADER_RE = re.compile(
    r"^(authorization|proxy-authorization|cookie|x-api-key|api-key|openai-organization|openai-project"
    r"|.*api[-_]?key.*|.*token.*|.*secret.*|.*credential.*|.*password.*)$",
    re.IGNORECASE,
)
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "expect",
    "content-length",
}
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"  # noqa: S105 - the HTTP token grammar, not a credential
_TOKEN_RE = re.compile(rf"^{_TOKEN}$")
_REQUEST_LINE_RE = re.compile(rf"({_TOKEN}) ([\x21-\x7e]+) (HTTP/1\.[01])")
#: header values: visible ASCII, obs-text, SP and HTAB; no other control character
_FIELD_VALUE_RE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
#: chunk-size (1*HEXDIG, bounded) and optional extensions without whitespace (RFC 9112 7.1.1, minus BWS)
_CHUNK_LINE_RE = re.compile(
    rb"([0-9A-Fa-f]{1,16})((?:;"
    + _TOKEN.encode()
    + rb"(?:=(?:"
    + _TOKEN.encode()
    + rb"|\"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e]|\\[\t\x20-\x7e])*\"))?)*)"
)
_QUERY_RE = re.compile(r"[A-Za-z0-9._~=&%+-]*")
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}

OnRequest = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Upstream:
    """The one place the relay forwards to."""

    scheme: str
    host: str
    port: int
    base_path: str = ""

    @classmethod
    def parse(cls, url: str) -> Upstream:
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise SandboxError(f"relay upstream must be an http(s) URL, not {url!r}")
        if u.username or u.password or u.query or u.fragment:
            raise SandboxError("relay upstream URL may not carry credentials, a query or a fragment")
        return cls(u.scheme, u.hostname, u.port or (443 if u.scheme == "https" else 80), u.path.rstrip("/"))

    @property
    def authority(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


#: known model APIs: (upstream URL, credential header, host environment variable, value prefix)
PROVIDERS: dict[str, tuple[str, str, str, str]] = {
    "anthropic": ("https://api.anthropic.com", "x-api-key", "ANTHROPIC_API_KEY", ""),
    "openai": ("https://api.openai.com", "authorization", "OPENAI_API_KEY", "Bearer "),
}


@dataclass(frozen=True)
class Credential:
    """The header the host adds (e.g. ``x-api-key: …`` or ``authorization: Bearer …``). Never printed."""

    header: str
    value: str = field(repr=False)

    @classmethod
    def for_provider(cls, provider: str) -> Credential:
        """The host's key for a known provider (see PROVIDERS), read from its usual variable."""
        if provider not in PROVIDERS:
            raise SandboxError(f"unknown model provider {provider!r} (one of {', '.join(PROVIDERS)})")
        _, header, env_var, prefix = PROVIDERS[provider]
        return cls.from_env(header, env_var, prefix=prefix)

    @classmethod
    def from_env(cls, header: str, env_var: str, *, prefix: str = "") -> Credential:
        value = os.environ.get(env_var)
        if not value:
            raise SandboxError(f"the relay needs the model key in ${env_var} on the host")
        return cls(header, prefix + value)


#: the model endpoints each provider's harness uses, measured from the real harnesses (adr/0005, "Model
#: relay"): Claude Code 2.1.328 sends only ``POST /v1/messages?beta=true``; count_tokens is its token
#: counting endpoint. Codex 0.169.0 (custom ``agp`` provider, Responses wire API) sends only
#: ``POST /v1/responses``. Everything else (files, batches, models, organization and key management) is refused.
ENDPOINTS: dict[str, frozenset[tuple[str, str]]] = {
    "anthropic": frozenset({("POST", "/v1/messages"), ("POST", "/v1/messages/count_tokens")}),
    "openai": frozenset({("POST", "/v1/responses")}),
}

#: tool ``type`` values that are client tools (the harness runs them, behind its hooks and the gate)
_CLIENT_TOOL_TYPES = {
    "anthropic": frozenset({"custom"}),  # a tool without a type is custom too
    "openai": frozenset({"function", "custom", "namespace"}),  # namespace: a group of functions (MCP servers)
}


@dataclass(frozen=True)
class RelayRules:
    """What may pass the relay: the provider's body dialect, its endpoints, the server-side features allowed.

    ``allow_server_tools`` names what a policy allows that the provider runs or fetches itself: a tool
    type or its prefix (``web_search`` allows ``web_search_20250305``), ``mcp_servers``, ``container``
    (Anthropic), ``url_source`` (content the provider fetches from a URL), ``file_source`` (a file
    uploaded to the provider), ``stored_state`` (OpenAI ``conversation`` and ``prompt``). Default: none.
    """

    dialect: str
    endpoints: frozenset[tuple[str, str]]
    allow_server_tools: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.dialect not in ENDPOINTS:
            raise SandboxError(f"unknown relay dialect {self.dialect!r} (one of {', '.join(ENDPOINTS)})")

    @classmethod
    def for_provider(cls, provider: str, *, allow_server_tools: frozenset[str] = frozenset()) -> RelayRules:
        if provider not in ENDPOINTS:
            raise SandboxError(f"unknown model provider {provider!r} (one of {', '.join(ENDPOINTS)})")
        return cls(provider, ENDPOINTS[provider], frozenset(allow_server_tools))

    def allows(self, name: str) -> bool:
        return any(name == a or name.startswith(a + "_") for a in self.allow_server_tools)


@dataclass(frozen=True)
class RelayLimits:
    """Bounds that keep a hostile sandbox from exhausting the relay (and the gate in the same process)."""

    max_body: int = 32 * 1024 * 1024  # Anthropic's documented request size limit for the Messages API
    max_buffered: int = 256 * 1024 * 1024  # all request bodies held at once
    max_connections: int = 64
    fd_share: float = 0.25  # and at most 2 descriptors per connection within this share of RLIMIT_NOFILE
    head_timeout: float = 10.0  # from accept to the end of the request head
    body_timeout: float = 120.0  # from the end of the head to the end of the body
    connect_timeout: float = 10.0
    refusal_records_per_s: float = 5.0  # refusals passed to on_request (burst: 10 s worth)

    def connection_cap(self) -> int:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(1, min(self.max_connections, int(soft * self.fd_share) // 2))


class _Refuse(Exception):
    def __init__(self, status: int, reason: str) -> None:
        self.status, self.reason = status, reason
        super().__init__(reason)


_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    421: "Misdirected Request",
    431: "Headers Too Large",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_ERROR_TYPES = {
    400: "invalid_request_error",
    403: "permission_error",
    405: "invalid_request_error",
    408: "timeout_error",
    413: "request_too_large",
    415: "invalid_request_error",
    421: "permission_error",
    431: "request_too_large",
    502: "api_error",
    503: "overloaded_error",
}


def _refusal(status: int, reason: str, *, extra: str = "") -> bytes:
    """A complete refusal response: JSON both SDKs read (error.type, error.message), marked as the relay's."""
    body = (
        json.dumps(
            {
                "type": "error",
                "error": {
                    "type": _ERROR_TYPES.get(status, "api_error"),
                    "code": "agp_relay_refused",
                    "message": f"agp relay: {reason}",
                },
            },
            ensure_ascii=True,
        ).encode()
        + b"\n"
    )
    return (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\nX-Agp-Relay: refused\r\n{extra}\r\n"
    ).encode() + body


# ---------------------------------------------------------------- request bodies


def _strict_json(raw: bytes) -> Any:
    """Parse a body exactly once, the way the provider would have to: UTF-8, no duplicate keys, no NaN."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for k, v in items:
            if k in d:
                raise _Refuse(400, f"duplicate key {k[:40]!r} in the request body")
            d[k] = v
        return d

    def no_constant(name: str) -> Any:
        raise _Refuse(400, f"{name} in the request body")

    try:
        text = raw.decode("utf-8")
        return json.loads(text, object_pairs_hook=pairs, parse_constant=no_constant)
    except _Refuse:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _Refuse(400, "the request body is not JSON the relay can inspect") from exc


def _walk(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    """Every dict inside value (iteratively: depth is bounded by the parser, not by this walk)."""
    stack = [(where, value)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, dict):
            yield path, v
            stack.extend((f"{path}.{k}", x) for k, x in v.items() if isinstance(x, (dict, list)))
        elif isinstance(v, list):
            stack.extend((f"{path}[{i}]", x) for i, x in enumerate(v) if isinstance(x, (dict, list)))


def _check_tools(tools: Any, where: str, rules: RelayRules) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _Refuse(400, f"{where} is not a list")
    client = _CLIENT_TOOL_TYPES[rules.dialect]
    for i, t in enumerate(tools):
        if not isinstance(t, dict):
            raise _Refuse(400, f"{where}[{i}] is not an object")
        kind = t.get("type")
        if kind is None and rules.dialect == "anthropic":
            continue
        if not isinstance(kind, str):
            raise _Refuse(400, f"{where}[{i}].type is not a string")
        if kind not in client and not rules.allows(kind):
            raise _Refuse(
                403, f"{where}[{i}] is a server-side tool of type {kind[:60]!r}, which the policy does not allow"
            )
        if kind == "namespace":
            _check_tools(t.get("tools"), f"{where}[{i}].tools", rules)


def _check_anthropic(body: dict[str, Any], rules: RelayRules) -> None:
    for key in ("mcp_servers", "container"):
        if body.get(key) not in (None, [], {}, "") and not rules.allows(key):
            raise _Refuse(403, f"{key} asks the provider to act server-side, which the policy does not allow")
    _check_tools(body.get("tools"), "tools", rules)
    for part in ("system", "messages"):
        for path, d in _walk(body.get(part), part):
            src = d.get("source")
            if isinstance(src, dict) and src.get("type") in ("url", "file"):
                name = f"{src['type']}_source"
                if not rules.allows(name):
                    raise _Refuse(
                        403,
                        f"{path}.source is a {src['type']} the provider would fetch, which the policy does not allow",
                    )
            if d.get("type") == "container_upload" and not rules.allows("file_source"):
                raise _Refuse(403, f"{path} names a file uploaded to the provider, which the policy does not allow")


def _check_openai(body: dict[str, Any], rules: RelayRules) -> None:
    for key in ("conversation", "prompt"):
        if body.get(key) not in (None, "", {}) and not rules.allows("stored_state"):
            raise _Refuse(403, f"{key} names state stored at the provider, which the policy does not allow")
    _check_tools(body.get("tools"), "tools", rules)
    for path, d in _walk(body.get("input"), "input"):
        if d.get("file_url") is not None and not rules.allows("url_source"):
            raise _Refuse(403, f"{path}.file_url asks the provider to fetch a URL, which the policy does not allow")
        url = d.get("image_url")
        if isinstance(url, dict):
            url = url.get("url")
        if (
            url is not None
            and not (isinstance(url, str) and url.startswith("data:"))
            and not rules.allows("url_source")
        ):
            raise _Refuse(403, f"{path}.image_url asks the provider to fetch a URL, which the policy does not allow")
        if d.get("file_id") is not None and not rules.allows("file_source"):
            raise _Refuse(403, f"{path}.file_id names a file uploaded to the provider, which the policy does not allow")


def inspect_body(raw: bytes, rules: RelayRules) -> None:
    """Refuse (raise _Refuse) a request body that asks the provider to fetch or run something server-side."""
    body = _strict_json(raw)
    if not isinstance(body, dict):
        raise _Refuse(400, "the request body is not a JSON object")
    (_check_anthropic if rules.dialect == "anthropic" else _check_openai)(body, rules)


# ---------------------------------------------------------------- HTTP/1.1 framing


def _parse_head(head: bytes, *, request: bool) -> tuple[list[str], list[tuple[str, str]]]:
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    if any(c in line for line in lines for c in ("\n", "\r", "\x00")):
        raise _Refuse(400, "bare CR, LF or NUL in the head")
    if request:
        m = _REQUEST_LINE_RE.fullmatch(lines[0])
        if m is None:
            raise _Refuse(400, "malformed request line")
        start = [m.group(1), m.group(2), m.group(3)]
    else:
        start = lines[0].split(" ", 2)
        if len(start) < 2:
            raise _Refuse(502, "malformed status line from upstream")
    if len(lines) - 1 > MAX_HEADERS:
        raise _Refuse(431, "too many header fields")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t" or ":" not in line:
            raise _Refuse(400, "malformed or folded header")
        name, value = line.split(":", 1)
        if not _TOKEN_RE.match(name):
            raise _Refuse(400, "bad header name")
        if not _FIELD_VALUE_RE.fullmatch(value):
            raise _Refuse(400, "control character in a header value")
        headers.append((name, value.strip(" \t")))
    return start, headers


def _framing(headers: list[tuple[str, str]], *, http10: bool = False) -> tuple[str, int]:
    """('chunked', 0) | ('length', n) | ('none', 0); conflicting or odd framing is refused."""
    te = [v for k, v in headers if k.lower() == "transfer-encoding"]
    cl = [v for k, v in headers if k.lower() == "content-length"]
    if te and cl:
        raise _Refuse(400, "both Transfer-Encoding and Content-Length")
    if te:
        if http10:
            raise _Refuse(400, "Transfer-Encoding in an HTTP/1.0 request")
        if len(te) != 1 or te[0].lower() != "chunked":
            raise _Refuse(400, "unsupported Transfer-Encoding (only a single 'chunked')")
        return "chunked", 0
    if cl:
        if len(cl) != 1:
            raise _Refuse(400, "several Content-Length headers")
        if not re.fullmatch(r"[0-9]{1,18}", cl[0]):
            raise _Refuse(400, "bad Content-Length")
        return "length", int(cl[0])
    return "none", 0


async def _chunk_size(src: BufferedByteReceiveStream) -> tuple[int, bytes]:
    """One chunk-size line, strictly: 1*HEXDIG, optional extensions, CRLF. Returns (size, the line)."""
    try:
        line = await src.receive_until(b"\r\n", MAX_CHUNK_LINE)
    except anyio.DelimiterNotFound as exc:
        raise _Refuse(400, "chunk-size line too long or not ended by CRLF") from exc
    m = _CHUNK_LINE_RE.fullmatch(line)
    if m is None:
        raise _Refuse(400, "bad chunk size (1*HEXDIG only)")
    return int(m.group(1), 16), line


async def _chunk_end(src: BufferedByteReceiveStream) -> None:
    if await src.receive_exactly(2) != b"\r\n":
        raise _Refuse(400, "chunk data not followed by CRLF")


async def _trailers(src: BufferedByteReceiveStream) -> list[bytes]:
    """The trailer section after the last chunk, up to and excluding the empty line; bounded and well-formed."""
    lines: list[bytes] = []
    total = 0
    while True:
        try:
            t = await src.receive_until(b"\r\n", MAX_TRAILERS)
        except anyio.DelimiterNotFound as exc:
            raise _Refuse(400, "trailer section too large") from exc
        if not t:
            return lines
        total += len(t) + 2
        if total > MAX_TRAILERS:
            raise _Refuse(400, "trailer section too large")
        text = t.decode("latin-1")
        name, sep, value = text.partition(":")
        if not sep or not _TOKEN_RE.match(name) or not _FIELD_VALUE_RE.fullmatch(value):
            raise _Refuse(400, "malformed or folded trailer")
        lines.append(t)


async def _copy_response(src: BufferedByteReceiveStream, dst: ByteStream, mode: str, length: int) -> int:
    """Forward the upstream's response body as received (framing included), flushing every chunk."""
    total = 0
    if mode == "length":
        left = length
        while left > 0:
            data = await src.receive(min(left, 65536))
            left -= len(data)
            total += len(data)
            await dst.send(data)
        return total
    if mode == "chunked":
        while True:
            size, line = await _chunk_size(src)
            await dst.send(line + b"\r\n")
            if size == 0:
                trailers = await _trailers(src)
                await dst.send(b"".join(t + b"\r\n" for t in trailers) + b"\r\n")
                return total
            left = size
            while left > 0:
                data = await src.receive(min(left, 65536))
                left -= len(data)
                total += len(data)
                await dst.send(data)
            await _chunk_end(src)
            await dst.send(b"\r\n")
    while True:  # no framing: until the upstream closes
        try:
            data = await src.receive(65536)
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return total
        total += len(data)
        await dst.send(data)


class _RefusalBudget:
    """A token bucket for refusal records: beyond it, refusals are counted, not recorded one by one."""

    def __init__(self, rate: float) -> None:
        self.rate, self.burst = rate, max(1.0, rate * 10)
        self.tokens, self.at, self.suppressed = self.burst, time.monotonic(), 0

    def take(self) -> int | None:
        """None: leave this refusal out; else the number left out before it (to record with it)."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            self.suppressed += 1
            return None
        self.tokens -= 1
        n, self.suppressed = self.suppressed, 0
        return n


_FD_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


class _Waiting:
    """A connection still sending its request head (eviction candidate)."""

    __slots__ = ("evicted", "raw")

    def __init__(self, raw: Any) -> None:
        self.raw, self.evicted = raw, False


class ModelRelay:
    """Serve ``socket_path`` and forward to ``upstream`` with ``credential`` (see the module docstring)."""

    def __init__(
        self,
        socket_path: Path,
        upstream: Upstream,
        credential: Credential | None,
        *,
        rules: RelayRules,
        limits: RelayLimits = RelayLimits(),
        on_request: OnRequest | None = None,
        socket_mode: int = 0o666,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.ssl_context = ssl_context  # https upstreams: default = system trust store, hostname checked
        self.socket_path = Path(socket_path)
        self.upstream = upstream
        self.credential = credential
        self.rules = rules
        self.limits = limits
        self.on_request = on_request
        self.socket_mode = socket_mode
        self.connection_cap = limits.connection_cap()
        self.stats = {
            "requests": 0,
            "bytes_in": 0,
            "bytes_out": 0,
            "refused": 0,
            "over_capacity": 0,
            "accept_backoffs": 0,
            "evicted": 0,
        }
        self.active = 0  # connections being served
        self._waiting_head: dict[_Waiting, None] = {}  # connections still sending their head, oldest first
        self._evicting = 0
        self._buffered = 0  # request-body bytes held, all connections
        self._budget = _RefusalBudget(limits.refusal_records_per_s)

    # -- checks
    def _target_path(self, target: str) -> str:
        if target.startswith("/"):
            return target
        if target == "*":
            raise _Refuse(400, "asterisk-form target")
        u = urlsplit(target)
        if u.scheme in ("http", "https") and u.hostname:
            port = u.port or (443 if u.scheme == "https" else 80)
            if (u.hostname.lower(), port) == (self.upstream.host.lower(), self.upstream.port) and not u.username:
                return (u.path or "/") + (f"?{u.query}" if u.query else "")
            raise _Refuse(421, f"refusing upstream {u.hostname}:{port}: only {self.upstream.authority} is allowed")
        raise _Refuse(400, "unsupported request target")

    def _check_host(self, headers: list[tuple[str, str]]) -> None:
        hosts = [v for k, v in headers if k.lower() == "host"]
        if len(hosts) > 1:
            raise _Refuse(400, "several Host headers")
        if not hosts:
            return
        h = hosts[0].strip().lower()
        name = h.rsplit(":", 1)[0] if not h.endswith("]") and h.count(":") == 1 else h
        if name in _LOOPBACK or name == self.upstream.host.lower() or h == self.upstream.authority.lower():
            return
        raise _Refuse(421, f"refusing Host {hosts[0][:100]!r}: only {self.upstream.authority} is allowed")

    def _check_endpoint(self, method: str, path: str) -> None:
        p, _, query = path.partition("?")
        if (method, p) not in self.rules.endpoints:
            allowed = ", ".join(f"{m} {e}" for m, e in sorted(self.rules.endpoints)) or "none"
            raise _Refuse(403, f"{method} {p[:120]} is not a model endpoint this relay forwards (allowed: {allowed})")
        if not _QUERY_RE.fullmatch(query):
            raise _Refuse(403, "the query string has characters the relay does not forward")

    def _upstream_head(self, method: str, path: str, headers: list[tuple[str, str]], length: int | None) -> bytes:
        conn_named = {t.strip().lower() for k, v in headers if k.lower() == "connection" for t in v.split(",")}
        out = [f"{method} {self.upstream.base_path}{path} HTTP/1.1", f"Host: {self.upstream.authority}"]
        for k, v in headers:
            lk = k.lower()
            if lk in HOP_BY_HOP or lk in conn_named or CREDENTIAL_HEADER_RE.match(lk):
                continue
            if self.credential is not None and lk == self.credential.header.lower():
                continue
            out.append(f"{k}: {v}")
        if self.credential is not None:
            out.append(f"{self.credential.header}: {self.credential.value}")
        if length is not None:
            out.append(f"Content-Length: {length}")
        out.append("Connection: close")
        return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")

    def _hold(self, held: list[int], n: int) -> None:
        if held[0] + n > self.limits.max_body:
            raise _Refuse(413, f"the request body is larger than {self.limits.max_body} bytes")
        if self._buffered + n > self.limits.max_buffered:
            raise _Refuse(503, "the relay holds too many request bodies at once; retry")
        held[0] += n
        self._buffered += n

    async def _read_body(self, src: BufferedByteReceiveStream, mode: str, length: int, held: list[int]) -> bytes:
        """The whole request body (de-chunked), within max_body and max_buffered."""
        parts: list[bytes] = []
        if mode == "length":
            self._hold(held, length)
            left = length
            while left > 0:
                data = await src.receive(min(left, 65536))
                left -= len(data)
                parts.append(data)
        elif mode == "chunked":
            while True:
                size, _ = await _chunk_size(src)
                if size == 0:
                    await _trailers(src)  # checked, not forwarded: the upstream gets a Content-Length body
                    break
                self._hold(held, size)
                left = size
                while left > 0:
                    data = await src.receive(min(left, 65536))
                    left -= len(data)
                    parts.append(data)
                await _chunk_end(src)
        return b"".join(parts)

    # -- serving
    async def serve(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        try:
            # the kernel's largest queue (somaxconn), as anyio's own listener asked: a flood waits to be
            # accepted and counted against the connection cap rather than refused by the kernel unseen
            raw = bind_unix(self.socket_path, mode=self.socket_mode, backlog=65536)
        except OSError as exc:
            raise SandboxError(f"cannot listen on {self.socket_path}: {exc.strerror or exc}") from exc
        listener = await anyio.abc.SocketListener.from_socket(raw)
        self.connection_cap = self.limits.connection_cap()
        try:
            async with anyio.create_task_group() as tg:
                task_status.started()
                await self._accept_loop(listener, tg)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.socket_path)
            with anyio.CancelScope(shield=True):
                await listener.aclose()
                if self._budget.suppressed:
                    n, self._budget.suppressed = self._budget.suppressed, 0
                    await self._record(
                        {
                            "method": None,
                            "path": None,
                            "status": None,
                            "bytes_in": 0,
                            "bytes_out": 0,
                            "refused": "refusals not recorded one by one",
                            "suppressed": n,
                        }
                    )

    async def _accept_loop(self, listener: Any, tg: anyio.abc.TaskGroup) -> None:
        while True:
            try:
                stream = await listener.accept()
            except anyio.ClosedResourceError:
                return
            except (anyio.BrokenResourceError, OSError) as exc:
                cause = exc if isinstance(exc, OSError) else exc.__cause__
                if isinstance(cause, OSError) and cause.errno in _FD_ERRNOS:
                    # out of descriptors: the pending connection stays queued; back off rather than spin
                    self.stats["accept_backoffs"] += 1
                    await anyio.sleep(0.1)
                else:
                    await anyio.sleep(0)  # an aborted connection: the next one
                continue
            if self.active >= self.connection_cap and not self._evict_oldest_waiting():
                self._over_capacity(stream, tg)
                continue
            self.active += 1
            tg.start_soon(self._serve_one, stream)

    def _evict_oldest_waiting(self) -> bool:
        """At capacity, a connection that has not sent its request head yet gives its place to a new one
        (slow-head connections cannot keep a well-behaved request out). False when there is none."""
        if not self._waiting_head or self._evicting >= 16:
            return False
        entry = next(iter(self._waiting_head))
        del self._waiting_head[entry]
        entry.evicted = True
        # end its read instead of cancelling it: a cancelled read on an anyio Unix stream can race with the
        # socket turning readable ("Future.set_result: invalid state" logged by asyncio)
        with contextlib.suppress(OSError):
            entry.raw.shutdown(socket.SHUT_RD)
        self._evicting += 1
        self.stats["evicted"] += 1
        return True

    def _over_capacity(self, stream: Any, tg: anyio.abc.TaskGroup) -> None:
        """Refuse at once, without a task or a read: a 503 into the empty socket buffer, then close."""
        self.stats["over_capacity"] += 1
        self.stats["refused"] += 1
        reason = f"too many connections to the relay (at most {self.connection_cap}); retry"
        with contextlib.suppress(Exception):
            stream.extra(SocketAttribute.raw_socket).send(_refusal(503, reason, extra="Retry-After: 1\r\n"))
        raw = stream.extra(SocketAttribute.raw_socket, None)
        with contextlib.suppress(Exception):
            if raw is not None:
                raw.close()  # closes the descriptor now; the stream object holds nothing else
        n = self._budget.take()
        if n is not None:
            meta = {
                "method": None,
                "path": None,
                "status": 503,
                "bytes_in": 0,
                "bytes_out": 0,
                "refused": reason,
                "duration_ms": 0.0,
                "upstream": self.upstream.authority,
            }
            if n:
                meta["suppressed"] = n
            tg.start_soon(self._record, meta)

    async def _serve_one(self, client: ByteStream) -> None:
        try:
            await self._handle(client)
        finally:
            self.active -= 1

    async def _record(self, meta: dict[str, Any]) -> None:
        if self.on_request is not None:
            with contextlib.suppress(Exception):
                await anyio.to_thread.run_sync(self.on_request, dict(meta))

    async def _handle(self, client: ByteStream) -> None:
        t0 = time.monotonic()
        meta: dict[str, Any] = {"method": None, "path": None, "status": None, "bytes_in": 0, "bytes_out": 0}
        reader = BufferedByteReceiveStream(client)
        held = [0]
        evicted, linger = False, True
        try:
            try:
                waiting = _Waiting(client.extra(SocketAttribute.raw_socket, None))
                self._waiting_head[waiting] = None
                try:
                    with anyio.fail_after(self.limits.head_timeout):
                        head = await reader.receive_until(b"\r\n\r\n", MAX_HEAD)
                finally:
                    self._waiting_head.pop(waiting, None)
                    evicted = waiting.evicted
            except TimeoutError:
                meta["method"] = "?"
                linger = False
                raise _Refuse(408, f"the request head did not arrive within {self.limits.head_timeout:g} s") from None
            except anyio.DelimiterNotFound:
                meta["method"] = "?"
                raise _Refuse(431, "request head too large") from None
            except (anyio.IncompleteRead, anyio.EndOfStream):
                if not evicted:
                    return  # the client went away before a request: nothing to journal
                meta["method"] = "?"
                linger = False
                raise _Refuse(
                    503, "evicted: the relay is full and this connection had not sent its request head"
                ) from None
            first = head.split(b"\r\n", 1)[0].split(b" ", 1)[0].decode("latin-1")
            meta["method"] = first[:32] if _TOKEN_RE.match(first) else "?"
            start, headers = _parse_head(head, request=True)
            method, target, version = start
            if method == "CONNECT":
                raise _Refuse(405, "CONNECT is not relayed")
            if any(k.lower() == "upgrade" for k, _ in headers):
                raise _Refuse(400, "protocol upgrades are not relayed")
            path = self._target_path(target)
            meta["path"] = path.split("?", 1)[0][:256]
            self._check_host(headers)
            self._check_endpoint(method, path)
            mode, length = _framing(headers, http10=version == "HTTP/1.0")
            if any(v.lower() not in ("", "identity") for k, v in headers if k.lower() == "content-encoding"):
                raise _Refuse(415, "an encoded request body cannot be inspected; send it uncompressed")
            try:
                with anyio.fail_after(self.limits.body_timeout):
                    body = await self._read_body(reader, mode, length, held)
            except TimeoutError:
                raise _Refuse(408, f"the request body did not arrive within {self.limits.body_timeout:g} s") from None
            if method in ("GET", "HEAD"):
                if body:
                    raise _Refuse(400, f"a {method} request with a body")
            elif body:
                inspect_body(body, self.rules)
            up_head = self._upstream_head(method, path, headers, None if method in ("GET", "HEAD") else len(body))
            try:
                with anyio.fail_after(self.limits.connect_timeout):
                    upstream: ByteStream
                    if self.upstream.scheme == "https":
                        upstream = await anyio.connect_tcp(
                            self.upstream.host,
                            self.upstream.port,
                            tls=True,
                            ssl_context=self.ssl_context or ssl.create_default_context(),
                            tls_hostname=self.upstream.host,
                            tls_standard_compatible=False,
                        )
                    else:
                        upstream = await anyio.connect_tcp(self.upstream.host, self.upstream.port)
            except (OSError, TimeoutError, ssl.SSLError) as exc:
                raise _Refuse(502, f"upstream {self.upstream.authority} unreachable: {type(exc).__name__}") from exc
            async with upstream:
                await upstream.send(up_head + body)
                meta["bytes_in"] = len(body)
                self._buffered -= held[0]
                held[0] = 0
                del body
                up_reader = BufferedByteReceiveStream(upstream)
                while True:
                    try:
                        rhead = await up_reader.receive_until(b"\r\n\r\n", MAX_HEAD)
                    except (anyio.DelimiterNotFound, anyio.IncompleteRead, anyio.EndOfStream) as exc:
                        raise _Refuse(502, "upstream sent no valid response head") from exc
                    rstart, rheaders = _parse_head(rhead, request=False)
                    status = int(rstart[1]) if rstart[1].isdigit() else 502
                    meta["status"] = status
                    if 100 <= status < 200 and status != 101:
                        continue  # interim responses are not forwarded: the relay sent the whole body already
                    break
                if status == 101:
                    raise _Refuse(502, "upstream tried to switch protocols")
                keep = [
                    (k, v) for k, v in rheaders if k.lower() not in ("connection", "keep-alive", "proxy-connection")
                ]
                out_head = (
                    "\r\n".join(
                        [rhead.split(b"\r\n", 1)[0].decode("latin-1")]
                        + [f"{k}: {v}" for k, v in keep]
                        + ["Connection: close"]
                    )
                    + "\r\n\r\n"
                )
                await client.send(out_head.encode("latin-1"))
                if method == "HEAD" or status in (204, 304):
                    rmode, rlen = "length", 0
                else:
                    try:
                        rmode, rlen = _framing(rheaders)
                    except _Refuse as exc:
                        raise _Refuse(502, f"upstream response: {exc.reason}") from None
                meta["bytes_out"] = await _copy_response(up_reader, client, rmode, rlen)
        except _Refuse as r:
            meta["status"] = r.status
            meta["refused"] = r.reason
            self.stats["refused"] += 1
            with contextlib.suppress(Exception):
                await client.send(_refusal(r.status, r.reason))
        except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, OSError) as exc:
            meta["error"] = type(exc).__name__
        finally:
            self._buffered -= held[0]
            # journal first, then close: when the client sees the end, the record exists
            if meta["method"] is not None:
                meta["duration_ms"] = round((time.monotonic() - t0) * 1000, 2)
                meta["upstream"] = self.upstream.authority
                self.stats["requests"] += 1
                self.stats["bytes_in"] += meta["bytes_in"]
                self.stats["bytes_out"] += meta["bytes_out"]
                n = self._budget.take() if "refused" in meta else 0
                if n is not None:
                    if n:
                        meta["suppressed"] = n
                    with anyio.CancelScope(shield=True):
                        await self._record(meta)
            if "refused" in meta and linger:
                # lingering close: drain what the client is still sending, so closing does not reset
                # the connection before it has read the refusal
                with contextlib.suppress(Exception):
                    await client.send_eof()
                    with anyio.move_on_after(1.0):
                        drained = 0
                        while drained < (1 << 20):
                            drained += len(await client.receive(65536))
            with contextlib.suppress(Exception):
                await client.aclose()
            if evicted:
                self._evicting -= 1  # its place is free only now


class RelayThread:
    """Run a :class:`ModelRelay` on its own event loop in a thread (for sync callers and tests)."""

    def __init__(self, relay: ModelRelay) -> None:
        self.relay = relay
        self._cm: Any = None
        self._future: Any = None

    def start(self) -> RelayThread:
        from anyio.from_thread import start_blocking_portal

        self._cm = start_blocking_portal()
        portal = self._cm.__enter__()
        try:
            self._future, _ = portal.start_task(self.relay.serve, name="agp-relay")
        except BaseException as exc:
            self._cm.__exit__(None, None, None)
            self._cm = None
            raise SandboxError(f"the model relay did not start: {exc}") from exc
        return self

    def stop(self) -> None:
        if self._cm is None:
            return
        self._future.cancel()
        with contextlib.suppress(BaseException):
            self._cm.__exit__(None, None, None)
        self._cm = None

    def __enter__(self) -> RelayThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""The model relay: the sandbox's one way out, to exactly one upstream, with the key added on the host.

The container has no network. The harness's base URL points at a loopback
forwarder inside it (``images/common/agp-forward.py``) that copies bytes to
``<run socket dir>/relay.sock``; :class:`ModelRelay` serves that socket on the
host and forwards each HTTP/1.1 request to the single configured
:class:`Upstream` (the Anthropic or OpenAI API, or a scripted server on
127.0.0.1 in tests):

- only origin-form targets (``/v1/messages``) or an absolute URL naming the
  upstream itself are accepted; any other host (absolute URL, ``Host`` header
  other than loopback or the upstream) is refused with 421 and nothing is sent;
  ``CONNECT`` and protocol upgrades are refused;
- every credential the container sends (Authorization, Proxy-Authorization,
  Cookie, x-api-key, api-key, any ``*api-key*``/``*token*``/``*secret*`` header)
  is stripped, and the host's credential is injected;
- request and response bodies are streamed chunk by chunk, never buffered, so
  server-sent events reach the harness as the model produces them;
- each request's metadata (method, path without query, status, bytes in/out,
  duration) goes to ``on_request`` (the orchestrator journals it as
  ``relay.request``); bodies and keys never do.

HTTP handling is a deliberately small hand-written HTTP/1.1 proxy over anyio
streams (h11 is not among agp's dependencies): one upstream connection per
request, ``Connection: close`` both ways, Content-Length and chunked framing
forwarded as received, conflicting framing refused (400).
"""

from __future__ import annotations

import contextlib
import os
import re
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import anyio
from anyio.abc import ByteStream
from anyio.streams.buffered import BufferedByteReceiveStream

from agp.errors import SandboxError

__all__ = ("CREDENTIAL_HEADER_RE", "PROVIDERS", "Credential", "ModelRelay", "RelayThread", "Upstream")

MAX_HEAD = 64 * 1024
#: any header the container sends whose name matches is dropped before forwarding
CREDENTIAL_HEADER_RE = re.compile(
    r"^(authorization|proxy-authorization|cookie|x-api-key|api-key|openai-organization|openai-project"
    r"|.*api[-_]?key.*|.*token.*|.*secret.*|.*credential.*|.*password.*)$", re.IGNORECASE)
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
              "host", "expect", "content-length"}
_TOKEN_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
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
    def parse(cls, url: str) -> "Upstream":
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
    def for_provider(cls, provider: str) -> "Credential":
        """The host's key for a known provider (see PROVIDERS), read from its usual variable."""
        if provider not in PROVIDERS:
            raise SandboxError(f"unknown model provider {provider!r} (one of {', '.join(PROVIDERS)})")
        _, header, env_var, prefix = PROVIDERS[provider]
        return cls.from_env(header, env_var, prefix=prefix)

    @classmethod
    def from_env(cls, header: str, env_var: str, *, prefix: str = "") -> "Credential":
        value = os.environ.get(env_var)
        if not value:
            raise SandboxError(f"the relay needs the model key in ${env_var} on the host")
        return cls(header, prefix + value)


class _Refuse(Exception):
    def __init__(self, status: int, reason: str) -> None:
        self.status, self.reason = status, reason
        super().__init__(reason)


_REASONS = {400: "Bad Request", 405: "Method Not Allowed", 421: "Misdirected Request", 431: "Headers Too Large",
            502: "Bad Gateway"}


def _parse_head(head: bytes, *, request: bool) -> tuple[list[str], list[tuple[str, str]]]:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes everything
        raise _Refuse(400, "undecodable head") from exc
    lines = text.split("\r\n")
    if any(c in line for line in lines for c in ("\n", "\r", "\x00")):
        raise _Refuse(400, "bare CR, LF or NUL in the head")
    start = lines[0].split(" ", 2)
    if len(start) < (3 if request else 2):
        raise _Refuse(400, "malformed start line")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t" or ":" not in line:
            raise _Refuse(400, "malformed or folded header")
        name, value = line.split(":", 1)
        if not _TOKEN_RE.match(name):
            raise _Refuse(400, "bad header name")
        headers.append((name, value.strip()))
    return start, headers


def _framing(headers: list[tuple[str, str]]) -> tuple[str, int]:
    """('chunked', 0) | ('length', n) | ('none', 0); conflicting or odd framing is refused."""
    te = [v.lower() for k, v in headers if k.lower() == "transfer-encoding"]
    cl = {v.strip() for k, v in headers if k.lower() == "content-length"}
    if te and cl:
        raise _Refuse(400, "both Transfer-Encoding and Content-Length")
    if te:
        if ",".join(te).replace(" ", "") != "chunked":
            raise _Refuse(400, "unsupported Transfer-Encoding")
        return "chunked", 0
    if cl:
        if len(cl) != 1 or not next(iter(cl)).isdigit():
            raise _Refuse(400, "bad Content-Length")
        return "length", int(next(iter(cl)))
    return "none", 0


async def _copy_body(src: BufferedByteReceiveStream, dst: ByteStream, mode: str, length: int,
                     until_eof: bool) -> int:
    """Forward one body as received (framing bytes included), flushing every chunk. Returns payload bytes."""
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
            line = await src.receive_until(b"\r\n", 4096)
            await dst.send(line + b"\r\n")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise _Refuse(400, "bad chunk size") from exc
            if size == 0:
                while True:  # trailers until the empty line
                    t = await src.receive_until(b"\r\n", 8192)
                    await dst.send(t + b"\r\n")
                    if not t:
                        return total
            left = size
            while left > 0:
                data = await src.receive(min(left, 65536))
                left -= len(data)
                total += len(data)
                await dst.send(data)
            crlf = await src.receive_exactly(2)
            await dst.send(crlf)
    if until_eof:
        while True:
            try:
                data = await src.receive(65536)
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return total
            total += len(data)
            await dst.send(data)
    return total


class ModelRelay:
    """Serve ``socket_path`` and forward to ``upstream`` with ``credential`` (see the module docstring)."""

    def __init__(self, socket_path: Path, upstream: Upstream, credential: Credential | None, *,
                 on_request: OnRequest | None = None, socket_mode: int = 0o666,
                 connect_timeout: float = 10.0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context  # https upstreams: default = system trust store, hostname checked
        self.socket_path = Path(socket_path)
        self.upstream = upstream
        self.credential = credential
        self.on_request = on_request
        self.socket_mode = socket_mode
        self.connect_timeout = connect_timeout
        self.stats = {"requests": 0, "bytes_in": 0, "bytes_out": 0}

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
        raise _Refuse(421, f"refusing Host {hosts[0]!r}: only {self.upstream.authority} is allowed")

    def _upstream_head(self, method: str, path: str, headers: list[tuple[str, str]], mode: str,
                       length: int) -> bytes:
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
        if mode == "chunked":
            out.append("Transfer-Encoding: chunked")
        elif mode == "length":
            out.append(f"Content-Length: {length}")
        out.append("Connection: close")
        return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")

    # -- serving
    async def serve(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        listener = await anyio.create_unix_listener(self.socket_path)
        os.chmod(self.socket_path, self.socket_mode)
        try:
            task_status.started()
            await listener.serve(self._handle)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.socket_path)
            with anyio.CancelScope(shield=True):
                await listener.aclose()

    async def _refuse(self, client: ByteStream, status: int, reason: str) -> None:
        body = (reason + "\n").encode()
        head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\nX-Agp-Relay: refused\r\n\r\n").encode()
        with contextlib.suppress(Exception):
            await client.send(head + body)

    async def _handle(self, client: ByteStream) -> None:
        t0 = time.monotonic()
        meta: dict[str, Any] = {"method": None, "path": None, "status": None, "bytes_in": 0, "bytes_out": 0}
        reader = BufferedByteReceiveStream(client)
        try:
            try:
                head = await reader.receive_until(b"\r\n\r\n", MAX_HEAD)
            except anyio.DelimiterNotFound:
                meta["method"] = "?"
                raise _Refuse(431, "request head too large") from None
            except (anyio.IncompleteRead, anyio.EndOfStream):
                return  # the client went away before a request: nothing to journal
            first = head.split(b"\r\n", 1)[0].split(b" ", 1)[0].decode("latin-1")
            meta["method"] = first if _TOKEN_RE.match(first) else "?"
            start, headers = _parse_head(head, request=True)
            method, target, version = start[0], start[1], start[2]
            if not _TOKEN_RE.match(method) or version not in ("HTTP/1.1", "HTTP/1.0"):
                raise _Refuse(400, "malformed request line")
            if method == "CONNECT":
                raise _Refuse(405, "CONNECT is not relayed")
            if any(k.lower() == "upgrade" for k, _ in headers):
                raise _Refuse(400, "protocol upgrades are not relayed")
            path = self._target_path(target)
            meta["path"] = path.split("?", 1)[0]
            self._check_host(headers)
            mode, length = _framing(headers)
            up_head = self._upstream_head(method, path, headers, mode, length)
            try:
                with anyio.fail_after(self.connect_timeout):
                    tls = self.upstream.scheme == "https"
                    upstream = await anyio.connect_tcp(
                        self.upstream.host, self.upstream.port, tls=tls,
                        ssl_context=(self.ssl_context or ssl.create_default_context()) if tls else None,
                        tls_hostname=self.upstream.host if tls else None, tls_standard_compatible=False)
            except (OSError, TimeoutError, ssl.SSLError) as exc:
                raise _Refuse(502, f"upstream {self.upstream.authority} unreachable: {type(exc).__name__}") from exc
            async with upstream:
                await upstream.send(up_head)
                meta["bytes_in"] = await _copy_body(reader, upstream, mode, length, until_eof=False)
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
                        await client.send(rhead + b"\r\n\r\n")
                        continue
                    break
                if status == 101:
                    raise _Refuse(502, "upstream tried to switch protocols")
                keep = [(k, v) for k, v in rheaders
                        if k.lower() not in ("connection", "keep-alive", "proxy-connection")]
                out_head = "\r\n".join([rhead.split(b"\r\n", 1)[0].decode("latin-1")]
                                       + [f"{k}: {v}" for k, v in keep] + ["Connection: close"]) + "\r\n\r\n"
                await client.send(out_head.encode("latin-1"))
                if method == "HEAD" or status in (204, 304):
                    rmode, rlen = "length", 0
                else:
                    rmode, rlen = _framing(rheaders)
                meta["bytes_out"] = await _copy_body(up_reader, client, rmode, rlen, until_eof=True)
        except _Refuse as r:
            meta["status"] = r.status
            meta["refused"] = r.reason
            await self._refuse(client, r.status, r.reason)
        except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, OSError) as exc:
            meta["error"] = type(exc).__name__
        finally:
            # journal first, then close: when the client sees the end, the record exists
            if meta["method"] is not None:
                meta["duration_ms"] = round((time.monotonic() - t0) * 1000, 2)
                meta["upstream"] = self.upstream.authority
                self.stats["requests"] += 1
                self.stats["bytes_in"] += meta["bytes_in"]
                self.stats["bytes_out"] += meta["bytes_out"]
                if self.on_request is not None:
                    with contextlib.suppress(Exception):
                        await anyio.to_thread.run_sync(self.on_request, dict(meta))
            if "refused" in meta:
                # lingering close: drain what the client is still sending, so closing does not reset
                # the connection before it has read the refusal
                with contextlib.suppress(Exception):
                    await client.send_eof()  # type: ignore[attr-defined]
                    with anyio.move_on_after(1.0):
                        drained = 0
                        while drained < (1 << 20):
                            drained += len(await client.receive(65536))
            with contextlib.suppress(Exception):
                await client.aclose()


class RelayThread:
    """Run a :class:`ModelRelay` on its own event loop in a thread (for sync callers and tests)."""

    def __init__(self, relay: ModelRelay) -> None:
        self.relay = relay
        self._cm: Any = None
        self._future: Any = None

    def start(self) -> "RelayThread":
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

    def __enter__(self) -> "RelayThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""The egress door: package registries and git remotes for a box that has no network.

The box stays ``--network none``. Its proxy variables (``HTTPS_PROXY``...) point at the in-box
loopback forwarder (``images/common/agp-forward.py --socket /run/agp/egress.sock``), which copies
bytes to ``<run socket dir>/egress.sock``; :class:`EgressDoor` serves that socket on the host. It
speaks the two forms of an HTTP proxy:

- ``CONNECT host:port`` (HTTPS, git over HTTPS): the tunnel carries TLS only. The first bytes the
  client sends must be a TLS ClientHello whose SNI names the CONNECT host (a name with no SNI, or
  another name, is refused with a TLS ``unrecognized_name`` alert): the host the policy decided on
  is the host the client talks to;
- ``GET http://host/path`` (plain HTTP): one request per connection, re-framed to origin form with
  ``Connection: close``; the method and path are part of the decision.

Each is a gate decision on an ``egress`` statement {host, port, scheme, method, path}
(:meth:`agp.gate.GateServer.decide_egress`: the gate's policy and approvers, journaled as
``egress.decision``), and each connection's end is journaled as ``egress.close`` with bytes each
way and the duration. In this order, so that a name no rule admits never reaches a resolver:

1. the request head is read within ``head_timeout`` and parsed strictly (the relay's parser);
2. the policy is asked without the address (``precheck_egress``): a deny is journaled and
   refused before any name is resolved;
3. the host resolves the name itself (or takes the address ``--resolve HOST:PORT:ADDR`` pins) and
   connects to that address only (no second resolution, so no DNS rebinding). If any address is
   not globally routable (loopback, private, link-local with the cloud metadata address,
   multicast, reserved, shared), the statement carries the fact ``private`` and only a rule that
   says ``private = true`` admits it;
4. the decision (``require`` asks the approver) is journaled, then the connection is made.

Limits (:class:`EgressLimits`): bytes the box uploads, per connection and per run (an
exfiltration budget: past it the connection is cut and the cut journaled); concurrent
connections; head, connect and idle timeouts. Refusals answer ``403``/``502``/``503`` whose
reason phrase carries the reason (``Tunnel connection failed: 403 agp egress: denied ...`` is
what Python, pip and git print), with the header ``X-Agp-Egress: refused``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.abc
from anyio.abc import ByteStream
from anyio.streams.buffered import BufferedByteReceiveStream

from agp._unix import bind_unix
from agp.errors import SandboxError
from agp.policy.call import ClassifiedStatement
from agp.sandbox.relay import (
    HOP_BY_HOP,
    MAX_HEAD,
    _chunk_end,
    _chunk_size,
    _framing,
    _parse_head,
    _RefusalBudget,
    _Refuse,
    _trailers,
)

__all__ = (
    "EGRESS_SOCKET",
    "EgressCA",
    "EgressDoor",
    "EgressLimits",
    "git_push_refs",
    "is_private_address",
    "parse_resolve",
    "sni_of",
)

EGRESS_SOCKET = "egress.sock"

log = logging.getLogger(__name__)

_HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
_PATH_RE = re.compile(r"^/[\x21-\x7e]*$")
#: not globally routable, though ``ipaddress`` calls them global
_EXTRA_PRIVATE = (ipaddress.ip_network("100.64.0.0/10"), ipaddress.ip_network("fd00:ec2::/32"))
_TLS_ALERT_UNRECOGNIZED_NAME = b"\x15\x03\x03\x00\x02\x02\x70"
#: bytes read per receive when pumping a download
_PUMP = 256 * 1024


@dataclass(frozen=True)
class EgressLimits:
    """Bounds on what the box can do through the door."""

    max_connections: int = 64
    upload_per_connection: int = 64 * 1024**2  # bytes the box sends on one connection
    upload_per_run: int = 512 * 1024**2  # bytes the box sends over all connections of the run
    head_timeout: float = 10.0  # accept to the end of the request head
    hello_timeout: float = 10.0  # the tunnel's 200 to the end of the ClientHello
    connect_timeout: float = 10.0
    idle_timeout: float = 120.0  # no byte either way for this long: the connection is closed
    max_hello: int = 64 * 1024
    refusal_records_per_s: float = 5.0


def is_private_address(addr: str) -> bool:
    """True for every address that is not globally routable (loopback, RFC 1918, link-local and the
    cloud metadata address, multicast, reserved, shared, unique-local, IPv4-mapped forms of these)."""
    ip = ipaddress.ip_address(addr.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_multicast or not ip.is_global:
        return True
    return any(ip in net for net in _EXTRA_PRIVATE if net.version == ip.version)


def parse_resolve(specs: list[str] | tuple[str, ...]) -> dict[tuple[str, int], str]:
    """curl's ``HOST:PORT:ADDR`` (ADDR may be ``[v6]``) into {(host, port): addr}; SandboxError when malformed."""
    out: dict[tuple[str, int], str] = {}
    for spec in specs:
        parts = spec.split(":", 2)
        if len(parts) != 3:
            raise SandboxError(f"--resolve {spec!r}: expected HOST:PORT:ADDRESS")
        host, port_s, addr = parts
        addr = addr[1:-1] if addr.startswith("[") and addr.endswith("]") else addr
        if not _HOSTNAME_RE.match(host) or not port_s.isdigit() or not 1 <= int(port_s) <= 65535:
            raise SandboxError(f"--resolve {spec!r}: bad host or port")
        try:
            ipaddress.ip_address(addr)
        except ValueError:
            raise SandboxError(f"--resolve {spec!r}: {addr!r} is not an IP address") from None
        out[(host.lower().rstrip("."), int(port_s))] = addr
    return out


# ---------------------------------------------------------------- TLS ClientHello


class _NoHello(Exception):
    pass


async def _read_client_hello(src: BufferedByteReceiveStream, limit: int) -> tuple[bytes, bytes]:
    """Read TLS records until the whole ClientHello handshake message is in; (raw bytes, handshake body)."""
    raw = b""
    hs = b""
    need: int | None = None
    while need is None or len(hs) < need:
        header = await src.receive_exactly(5)
        raw += header
        if header[0] != 0x16 or header[1] != 0x03:
            raise _NoHello("the tunnel carries TLS only, and this is not a TLS handshake")
        n = int.from_bytes(header[3:5], "big")
        if n == 0 or n > 16384 + 2048:
            raise _NoHello("bad TLS record length")
        frag = await src.receive_exactly(n)
        raw += frag
        hs += frag
        if len(raw) > limit:
            raise _NoHello("ClientHello too large")
        if need is None and len(hs) >= 4:
            if hs[0] != 0x01:
                raise _NoHello("the first handshake message is not a ClientHello")
            need = 4 + int.from_bytes(hs[1:4], "big")
            if need > limit:
                raise _NoHello("ClientHello too large")
    return raw, hs[4:need]


def sni_of(hello: bytes) -> str | None:
    """The server_name (host_name) of a ClientHello body; None when it has none. ValueError when malformed."""
    i = 2 + 32  # version, random
    if len(hello) < i + 1:
        raise ValueError("short ClientHello")
    i += 1 + hello[i]  # session id
    cs = int.from_bytes(hello[i : i + 2], "big")
    i += 2 + cs
    if i >= len(hello):
        raise ValueError("short ClientHello")
    i += 1 + hello[i]  # compression methods
    if i == len(hello):
        return None
    ext_len = int.from_bytes(hello[i : i + 2], "big")
    i += 2
    end = i + ext_len
    if end != len(hello):
        raise ValueError("bad extensions length")
    names: list[bytes] = []
    while i < end:
        if i + 4 > end:
            raise ValueError("truncated extension")
        typ = int.from_bytes(hello[i : i + 2], "big")
        ln = int.from_bytes(hello[i + 2 : i + 4], "big")
        body = hello[i + 4 : i + 4 + ln]
        if len(body) != ln:
            raise ValueError("truncated extension")
        i += 4 + ln
        if typ != 0:
            continue
        if names:
            raise ValueError("two server_name extensions")
        lst = int.from_bytes(body[0:2], "big")
        if lst + 2 != len(body):
            raise ValueError("bad server_name list")
        j = 2
        while j < len(body):
            kind, n = body[j], int.from_bytes(body[j + 1 : j + 3], "big")
            name = body[j + 3 : j + 3 + n]
            if len(name) != n:
                raise ValueError("truncated server_name")
            if kind == 0:
                names.append(name)
            j += 3 + n
        if len(names) != 1:
            raise ValueError("server_name must carry exactly one host_name")
    if not names:
        return None
    try:
        return names[0].decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("server_name is not ASCII") from None


# ---------------------------------------------------------------- the door


def _refusal(status: int, reason: str) -> bytes:
    phrase = re.sub(r"[^\x20-\x7e]", "?", f"agp egress: {reason}")[:300]
    body = (phrase + "\n").encode()
    return (
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\nX-Agp-Egress: refused\r\n\r\n"
    ).encode() + body


def _split_authority(auth: str) -> tuple[str, int]:
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:([0-9]{1,5})|([^:\[\]]+):([0-9]{1,5})", auth)
    if m is None:
        raise _Refuse(400, f"CONNECT target must be host:port, not {auth[:80]!r}")
    host, port = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    return _check_host(host), _check_port(port)


def _check_port(port: str | int) -> int:
    p = int(port)
    if not 1 <= p <= 65535:
        raise _Refuse(400, "bad port")
    return p


def _check_host(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not _HOSTNAME_RE.match(host):
        raise _Refuse(400, f"not a host name: {host[:80]!r}")
    return host.lower().rstrip(".")


@dataclass
class _Conn:
    host: str = ""
    port: int = 0
    scheme: str = ""
    method: str = ""
    path: str | None = None
    address: str | None = None
    seq: int | None = None
    credential: str | None = None  # the name of the secret the door added (inspecting mode), never its value
    up: int = 0
    down: int = 0
    last: float = field(default_factory=time.monotonic)


class EgressDoor:
    """Serve ``socket_path``: each connection a decision of ``gate`` (see the module docstring).

    ``gate`` provides ``precheck_egress(session, harness, statement) -> effect``,
    ``async decide_egress(session, harness, statement, detail) -> (allowed, reason, rule, seq)`` and
    ``async record_egress(kind, session, body)``: :class:`agp.gate.GateServer` does.
    """

    def __init__(
        self,
        socket_path: Path,
        gate: Any,
        *,
        session: str,
        harness: str,
        resolve: Mapping[tuple[str, int], str] | None = None,
        limits: EgressLimits = EgressLimits(),
        socket_mode: int = 0o666,
        ca: EgressCA | None = None,
        upstream_ssl: ssl.SSLContext | None = None,
        secrets: Any = None,
    ) -> None:
        #: resolves ``{{secret:NAME}}`` in a rule's credential_header on the host (agp.sandbox.secrets.SecretResolver)
        self.secrets = secrets
        #: the run's CA: the door terminates TLS for hosts an ``inspect = true`` rule names (None: it never does)
        self.ca = ca
        #: how the door checks an inspected host's certificate (default: the host's trust store, name checked)
        self.upstream_ssl = upstream_ssl
        self.socket_path = Path(socket_path)
        self.gate = gate
        self.session = session
        self.harness = harness
        self.resolve = dict(resolve or {})
        self.limits = limits
        self.socket_mode = socket_mode
        self.active = 0
        self.uploaded = 0  # this run, all connections
        self.stats = {"connections": 0, "allowed": 0, "refused": 0, "bytes_up": 0, "bytes_down": 0}
        self._budget = _RefusalBudget(limits.refusal_records_per_s)

    async def serve(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        listener = await anyio.abc.SocketListener.from_socket(self._bind())
        try:
            async with anyio.create_task_group() as tg:
                task_status.started()
                while True:
                    try:
                        stream = await listener.accept()
                    except anyio.ClosedResourceError:
                        return
                    except (anyio.BrokenResourceError, OSError):
                        await anyio.sleep(0.05)
                        continue
                    if self.active >= self.limits.max_connections:
                        tg.start_soon(self._over_capacity, stream)
                        continue
                    self.active += 1
                    tg.start_soon(self._serve_one, stream)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.socket_path)
            with anyio.CancelScope(shield=True):
                await listener.aclose()

    def _bind(self) -> socket.socket:
        try:
            return bind_unix(self.socket_path, mode=self.socket_mode)
        except OSError as exc:
            raise SandboxError(f"cannot listen on {self.socket_path}: {exc.strerror or exc}") from exc

    async def _over_capacity(self, stream: ByteStream) -> None:
        self.stats["refused"] += 1
        reason = f"too many connections through the egress door (at most {self.limits.max_connections})"
        with contextlib.suppress(Exception):
            await stream.send(_refusal(503, reason))
        with contextlib.suppress(Exception):
            await stream.aclose()
        await self._refused({"refused": reason, "status": 503})

    async def _refused(self, body: dict[str, Any]) -> None:
        n = self._budget.take()
        if n is None:
            return
        if n:
            body["suppressed"] = n
        await self.gate.record_egress("egress.refused", self.session, body)

    async def _serve_one(self, client: ByteStream) -> None:
        self.stats["connections"] += 1
        try:
            await self._handle(client)
        except Exception:  # one connection's failure never ends the door
            log.exception("egress connection failed")
        finally:
            self.active -= 1
            with contextlib.suppress(Exception):
                await client.aclose()

    async def _handle(self, client: ByteStream) -> None:
        t0 = time.monotonic()
        c = _Conn()
        reader = BufferedByteReceiveStream(client)
        try:
            try:
                with anyio.fail_after(self.limits.head_timeout):
                    head = await reader.receive_until(b"\r\n\r\n", MAX_HEAD)
            except TimeoutError:
                raise _Refuse(408, f"the request head did not arrive within {self.limits.head_timeout:g} s") from None
            except anyio.DelimiterNotFound:
                raise _Refuse(431, "request head too large") from None
            except (anyio.IncompleteRead, anyio.EndOfStream):
                return
            start, headers = _parse_head(head, request=True)
            method, target, version = start
            if method == "CONNECT":
                c.host, c.port = _split_authority(target)
                c.scheme, c.method = "https", "CONNECT"
            else:
                u = urlsplit(target)
                if u.scheme != "http" or not u.hostname:
                    raise _Refuse(400, "a proxy request needs an absolute http:// URL (or CONNECT for https)")
                if u.username or u.password:
                    raise _Refuse(400, "credentials in the request URL are refused")
                try:
                    port = u.port or 80
                except ValueError:
                    raise _Refuse(400, "bad port") from None
                c.host, c.port, c.scheme, c.method = _check_host(u.hostname), _check_port(port), "http", method
                c.path = (u.path or "/") + (f"?{u.query}" if u.query else "")
                if not _PATH_RE.match(c.path):
                    raise _Refuse(400, "bad request path")
                if any(k.lower() == "upgrade" for k, _ in headers):
                    raise _Refuse(400, "protocol upgrades are not proxied")
                hosts = [v for k, v in headers if k.lower() == "host"]
                if len(hosts) > 1 or (
                    hosts and hosts[0].lower() not in (u.netloc.lower(), c.host, f"{c.host}:{c.port}")
                ):
                    raise _Refuse(421, "the Host header does not name the request's host")
            if c.method == "CONNECT" and self._inspected(c.host, c.port):
                await self._inspect(client, reader, c, t0)
                return
            upstream = await self._decide_and_connect(c)
        except _Refuse as r:
            self.stats["refused"] += 1
            with contextlib.suppress(Exception):
                await client.send(_refusal(r.status, r.reason))
            if c.seq is None:  # not journaled as a decision: a malformed or over-limit request
                await self._refused(
                    {"refused": r.reason, "status": r.status, "host": c.host or None, "port": c.port or None}
                )
            return
        self.stats["allowed"] += 1
        end = "closed"
        try:
            if c.method == "CONNECT":
                end = await self._tunnel(client, reader, upstream, c)
            else:
                end = await self._plain(client, reader, upstream, c, method, headers, version)
        except _Refuse as r:
            end = r.reason
        except (
            anyio.EndOfStream,
            anyio.IncompleteRead,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
            OSError,
        ) as exc:
            end = f"broken: {type(exc).__name__}"
        finally:
            with contextlib.suppress(Exception):
                await upstream.aclose()
            self.stats["bytes_up"] += c.up
            self.stats["bytes_down"] += c.down
            with anyio.CancelScope(shield=True):
                await self._close_record(c, t0, end)

    async def _close_record(self, c: _Conn, t0: float, end: str) -> None:
        await self.gate.record_egress(
            "egress.close",
            self.session,
            {
                "decision_seq": c.seq,
                "host": c.host,
                "port": c.port,
                "address": c.address,
                "bytes_up": c.up,
                "bytes_down": c.down,
                "duration_ms": round((time.monotonic() - t0) * 1000, 1),
                "end": end,
                **({"credential": c.credential} if c.credential else {}),
            },
        )

    def _statement(self, c: _Conn, private: bool) -> ClassifiedStatement:
        text = f"CONNECT {c.host}:{c.port}" if c.method == "CONNECT" else f"{c.method} http://{c.host}:{c.port}{c.path}"
        tunnel = c.method == "CONNECT"
        return ClassifiedStatement(
            kind="egress",
            text=text[:400],
            host=c.host,
            port=c.port,
            method=None if tunnel else c.method,
            url_path=None if tunnel else (c.path or "/").split("?", 1)[0],
            facts=("private",) if private else (),
        )

    async def _resolve(self, c: _Conn) -> list[str]:
        pinned = self.resolve.get((c.host, c.port))
        if pinned is not None:
            return [pinned]
        try:
            return [str(ipaddress.ip_address(c.host))]
        except ValueError:
            pass
        try:
            with anyio.fail_after(self.limits.connect_timeout):
                infos = await anyio.getaddrinfo(c.host, c.port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError) as exc:
            raise _Refuse(502, f"cannot resolve {c.host}: {exc}") from None
        return list(dict.fromkeys(str(info[4][0]) for info in infos))

    async def _decide_and_connect(self, c: _Conn) -> ByteStream:
        detail = {"host": c.host, "port": c.port, "scheme": c.scheme, "method": c.method, "path": c.path}
        addrs: list[str] = []
        private = False
        if self.gate.precheck_egress(self.session, self.harness, self._statement(c, False)) == "deny":
            stmt = self._statement(c, False)  # refused before any name is resolved
        else:
            addrs = await self._resolve(c)
            private = any(is_private_address(a) for a in addrs)
            stmt = self._statement(c, private)
            detail.update(addresses=addrs, private=private)
        allowed, reason, _rule, seq = await self.gate.decide_egress(self.session, self.harness, stmt, detail)
        c.seq = seq
        if not allowed:
            raise _Refuse(403, reason)
        last: Exception | None = None
        for addr in addrs:  # the addresses resolved above, nothing else: no second lookup
            try:
                with anyio.fail_after(self.limits.connect_timeout):
                    stream = await anyio.connect_tcp(addr, c.port)
            except (OSError, TimeoutError) as exc:
                last = exc
                continue
            c.address = addr
            return stream
        raise _Refuse(502, f"cannot connect to {c.host}:{c.port}: {last or 'no address'}")

    # -- moving bytes
    def _count_up(self, c: _Conn, n: int) -> None:
        c.up += n
        self.uploaded += n
        c.last = time.monotonic()
        if c.up > self.limits.upload_per_connection:
            raise _Refuse(
                413,
                f"upload budget exceeded: more than {self.limits.upload_per_connection} bytes sent on one connection",
            )
        if self.uploaded > self.limits.upload_per_run:
            raise _Refuse(
                413,
                f"upload budget exceeded: more than {self.limits.upload_per_run} bytes sent "
                "through the egress door in this run",
            )

    async def _pump_up(self, src: BufferedByteReceiveStream, dst: ByteStream, c: _Conn) -> None:
        while True:
            try:
                data = await src.receive(65536)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                break
            self._count_up(c, len(data))
            await dst.send(data)
        with contextlib.suppress(Exception):
            await dst.send_eof()

    async def _pump_down(self, src: Any, dst: ByteStream, c: _Conn) -> None:
        while True:
            try:
                data = await src.receive(_PUMP)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                break
            c.down += len(data)
            c.last = time.monotonic()
            await dst.send(data)
        with contextlib.suppress(Exception):
            await dst.send_eof()

    async def _both_ways(self, c: _Conn, box: Any, upstream: ByteStream, client: ByteStream) -> str:
        """Pump both ways until the upstream's side ends (the box's end only half-closes the upstream), a
        budget is exceeded or nothing moves for ``idle_timeout``. Returns how the connection ended."""
        end = ["closed"]

        async with anyio.create_task_group() as tg:

            async def up() -> None:
                try:
                    await self._pump_up(box, upstream, c)
                except _Refuse as r:
                    end[0] = r.reason
                    tg.cancel_scope.cancel()
                except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    tg.cancel_scope.cancel()

            async def down() -> None:
                with contextlib.suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await self._pump_down(upstream, client, c)
                tg.cancel_scope.cancel()

            async def idle() -> None:
                while True:
                    left = c.last + self.limits.idle_timeout - time.monotonic()
                    if left <= 0:
                        end[0] = f"idle for {self.limits.idle_timeout:g} s"
                        tg.cancel_scope.cancel()
                        return
                    await anyio.sleep(left)

            tg.start_soon(up)
            tg.start_soon(down)
            tg.start_soon(idle)
        return end[0]

    async def _tunnel(
        self, client: ByteStream, reader: BufferedByteReceiveStream, upstream: ByteStream, c: _Conn
    ) -> str:
        await client.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
        try:
            with anyio.fail_after(self.limits.hello_timeout):
                raw, hello = await _read_client_hello(reader, self.limits.max_hello)
            sni = sni_of(hello)
        except (_NoHello, ValueError) as exc:
            return await self._refuse_tls(client, c, f"not a TLS ClientHello: {exc}")
        except TimeoutError:
            return await self._refuse_tls(client, c, "no TLS ClientHello within the time allowed")
        except (anyio.IncompleteRead, anyio.EndOfStream):
            return "the client closed before its ClientHello"
        try:
            literal = ipaddress.ip_address(c.host)
        except ValueError:
            literal = None
        if literal is None and (sni is None or sni.lower().rstrip(".") != c.host):
            got = "no SNI" if sni is None else f"SNI {sni[:100]!r}"
            return await self._refuse_tls(
                client, c, f"the ClientHello's {got} does not match the CONNECT host {c.host!r}"
            )
        if literal is not None and sni is not None:
            return await self._refuse_tls(client, c, f"SNI {sni[:100]!r} on a tunnel to the address {c.host}")
        self._count_up(c, len(raw))
        await upstream.send(raw)
        return await self._both_ways(c, reader, upstream, client)

    async def _refuse_tls(self, client: ByteStream, c: _Conn, reason: str) -> str:
        self.stats["refused"] += 1
        with contextlib.suppress(Exception):
            await client.send(_TLS_ALERT_UNRECOGNIZED_NAME)
        await self.gate.record_egress(
            "egress.refused", self.session, {"decision_seq": c.seq, "host": c.host, "port": c.port, "refused": reason}
        )
        return f"refused: {reason}"

    async def _read_body(
        self, reader: BufferedByteReceiveStream, headers: list[tuple[str, str]], version: str, c: _Conn
    ) -> bytes:
        """A request body read whole (for a decision that depends on it), counted against the upload budget."""
        mode, length = _framing(headers, http10=version == "HTTP/1.0")
        if any(k.lower() == "content-encoding" and v.lower() not in ("", "identity") for k, v in headers):
            raise _Refuse(415, "a compressed git push body cannot be read by the door")
        parts: list[bytes] = []
        if mode == "length":
            self._count_up(c, length)
            with anyio.fail_after(self.limits.idle_timeout):
                parts.append(await reader.receive_exactly(length) if length else b"")
        elif mode == "chunked":
            with anyio.fail_after(self.limits.idle_timeout):
                while True:
                    size, _ext = await _chunk_size(reader)
                    if size == 0:
                        await _trailers(reader)
                        break
                    self._count_up(c, size)
                    parts.append(await reader.receive_exactly(size))
                    await _chunk_end(reader)
        return b"".join(parts)

    async def _send_request(
        self,
        reader: Any,
        upstream: ByteStream,
        c: _Conn,
        method: str,
        headers: list[tuple[str, str]],
        version: str,
        default_port: int,
        extra: Sequence[str] = (),
        counted: int = 0,
    ) -> None:
        """One request to the upstream, re-framed: origin form, our Host, ``Connection: close``, the body
        copied exactly as its framing says (chunks re-emitted), hop-by-hop and proxy headers dropped."""
        mode, length = _framing(headers, http10=version == "HTTP/1.0")
        drop = HOP_BY_HOP | {"proxy-authorization", "proxy-authenticate"}
        lines = [f"{method} {c.path} HTTP/1.1", f"Host: {c.host}" + (f":{c.port}" if c.port != default_port else "")]
        lines += [f"{k}: {v}" for k, v in headers if k.lower() not in drop]
        lines += list(extra)
        if mode == "length":
            lines.append(f"Content-Length: {length}")
        elif mode == "chunked":
            lines.append("Transfer-Encoding: chunked")
        lines.append("Connection: close")
        out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self._count_up(c, len(out))
        await upstream.send(out)
        if mode == "length":
            left = length
            while left:
                data = await reader.receive(min(left, 65536))
                left -= len(data)
                if counted:  # already counted when it was read for the decision
                    counted -= len(data)
                else:
                    self._count_up(c, len(data))
                await upstream.send(data)
        elif mode == "chunked":
            while True:
                size, _ext = await _chunk_size(reader)  # re-framed: the size alone, extensions dropped
                line = f"{size:x}\r\n".encode()
                self._count_up(c, len(line) + size + 2)
                await upstream.send(line)
                if size == 0:
                    await _trailers(reader)
                    await upstream.send(b"\r\n")
                    break
                left = size
                while left:
                    data = await reader.receive(min(left, 65536))
                    left -= len(data)
                    await upstream.send(data)
                await _chunk_end(reader)
                await upstream.send(b"\r\n")

    async def _plain(
        self,
        client: ByteStream,
        reader: BufferedByteReceiveStream,
        upstream: ByteStream,
        c: _Conn,
        method: str,
        headers: list[tuple[str, str]],
        version: str,
    ) -> str:
        await self._send_request(reader, upstream, c, method, headers, version, 80)
        # one request per connection: the response runs until the upstream closes
        return await self._both_ways(c, _Nothing(), upstream, client)

    # -- inspecting mode
    def _credential(self, rule_id: str | None) -> tuple[list[str], str | None]:
        """The header line to add for the rule that allowed the request, and the secret's name (or none)."""
        return _credential_of(self, rule_id)

    def _inspected(self, host: str, port: int) -> bool:
        """Does an ``inspect = true`` rule name this host (and port)? Only with a CA."""
        if self.ca is None:
            return False
        from agp.policy._glob import compile_name

        for r in getattr(self.gate.policy, "rules", ()):
            if (
                getattr(r, "inspect", False)
                and (r.port is None or port in r.port)
                and any(compile_name(h.lower()).match(host) for h in r.host or ())
            ):
                return True
        return False

    async def _inspect(self, client: ByteStream, reader: BufferedByteReceiveStream, c: _Conn, t0: float) -> None:
        """CONNECT to an inspected host: the door is the TLS server (a leaf for the host from the run's CA),
        then reads the one request inside, decides it with its method and path, and forwards it over its
        own TLS connection to the upstream, whose certificate it checks."""
        from anyio.streams.tls import TLSStream

        if self.ca is None:
            raise RuntimeError("internal error: self.ca is not set")
        end = "closed"
        tls: Any = None
        upstream: Any = None
        addrs = await self._resolve(c)  # a _Refuse here is answered before the tunnel opens
        private = any(is_private_address(a) for a in addrs)
        try:
            await client.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
            try:
                with anyio.fail_after(self.limits.hello_timeout):
                    raw, hello = await _read_client_hello(reader, self.limits.max_hello)
                sni = sni_of(hello)
            except (_NoHello, ValueError, TimeoutError) as exc:
                end = await self._refuse_tls(client, c, f"not a TLS ClientHello: {exc or 'timeout'}")
                return
            if sni is None or sni.lower().rstrip(".") != c.host:
                got = "no SNI" if sni is None else f"SNI {sni[:100]!r}"
                end = await self._refuse_tls(
                    client, c, f"the ClientHello's {got} does not match the CONNECT host {c.host!r}"
                )
                return
            box_side = _Prefixed(raw + reader.buffer, client)
            with anyio.fail_after(self.limits.hello_timeout):
                tls = await TLSStream.wrap(
                    box_side, server_side=True, ssl_context=self.ca.server_context(c.host), standard_compatible=False
                )
            inner = BufferedByteReceiveStream(tls)
            try:
                with anyio.fail_after(self.limits.idle_timeout):
                    head = await inner.receive_until(b"\r\n\r\n", MAX_HEAD)
            except (anyio.IncompleteRead, anyio.EndOfStream, TimeoutError, anyio.DelimiterNotFound):
                end = "no request inside the tunnel"
                return
            try:
                start, headers = _parse_head(head, request=True)
                method, target, version = start
                if method == "CONNECT" or not target.startswith("/") or not _PATH_RE.match(target):
                    raise _Refuse(400, "inside an inspected tunnel: an origin-form request only")
                if any(k.lower() == "upgrade" for k, _ in headers):
                    raise _Refuse(400, "protocol upgrades are not proxied")
                hosts = [v.lower() for k, v in headers if k.lower() == "host"]
                if len(hosts) > 1 or (hosts and hosts[0] not in (c.host, f"{c.host}:{c.port}")):
                    raise _Refuse(421, "the Host header does not name the tunnel's host")
                c.method, c.path, c.scheme = method, target, "https"
                detail: dict[str, Any] = {
                    "host": c.host,
                    "port": c.port,
                    "scheme": "https",
                    "method": method,
                    "path": target.split("?", 1)[0][:1024],
                    "inspected": True,
                    "addresses": addrs,
                    "private": private,
                }
                facts: tuple[str, ...] = ()
                body: bytes | None = None
                if method == "POST" and target.split("?", 1)[0].endswith("/git-receive-pack"):
                    # git push: its own decision, naming the repository and the refs it updates
                    body = await self._read_body(inner, headers, version, c)
                    detail["git_push"] = {
                        "repository": target.split("?", 1)[0][: -len("/git-receive-pack")],
                        "refs": git_push_refs(body),
                    }
                    facts = ("git_push",)
                stmt = self._statement(c, private)
                if facts:
                    from dataclasses import replace as _replace

                    stmt = _replace(
                        stmt,
                        facts=stmt.facts + facts,
                        text=f"git push {c.host}{detail['git_push']['repository']} "
                        f"{' '.join(r['ref'] for r in detail['git_push']['refs'])}"[:400],
                    )
                allowed, reason, rule_id, c.seq = await self.gate.decide_egress(
                    self.session, self.harness, stmt, detail
                )
                if not allowed:
                    raise _Refuse(403, reason)
                extra, c.credential = self._credential(rule_id)
                for addr in addrs:
                    try:
                        with anyio.fail_after(self.limits.connect_timeout):
                            tcp = await anyio.connect_tcp(addr, c.port)
                    except (OSError, TimeoutError):
                        continue
                    c.address = addr
                    break
                else:
                    raise _Refuse(502, f"cannot connect to {c.host}:{c.port}")
                try:
                    with anyio.fail_after(self.limits.connect_timeout):
                        upstream = await TLSStream.wrap(
                            tcp,
                            hostname=c.host,
                            ssl_context=self.upstream_ssl or ssl.create_default_context(),
                            standard_compatible=False,
                        )
                except (OSError, ssl.SSLError, TimeoutError, anyio.BrokenResourceError) as exc:
                    await tcp.aclose()
                    raise _Refuse(502, f"the upstream {c.host}'s TLS could not be verified: {exc}") from None
            except _Refuse as r:
                self.stats["refused"] += 1
                end = f"refused: {r.reason}"
                with contextlib.suppress(Exception):
                    await tls.send(_refusal(r.status, r.reason))
                if c.seq is None:
                    await self._refused(
                        {"refused": r.reason, "status": r.status, "host": c.host, "port": c.port, "inspected": True}
                    )
                return
            self.stats["allowed"] += 1
            if extra:  # the injected header replaces whatever the box sent under that name
                headers = [(k, v) for k, v in headers if k.lower() != extra[0].split(":", 1)[0].lower()]
            if body is not None:  # read whole for the decision: sent with a Content-Length
                headers = [(k, v) for k, v in headers if k.lower() not in ("content-length", "transfer-encoding")]
                headers.append(("Content-Length", str(len(body))))
                await self._send_request(
                    _Bytes(body), upstream, c, method, headers, "HTTP/1.1", 443, extra, counted=len(body)
                )
            else:
                await self._send_request(inner, upstream, c, method, headers, version, 443, extra)
            end = await self._both_ways(c, _Nothing(), upstream, tls)
        except _Refuse as r:
            end = r.reason
        except (
            anyio.EndOfStream,
            anyio.IncompleteRead,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
            OSError,
            ssl.SSLError,
            TimeoutError,
        ) as exc:
            end = f"broken: {type(exc).__name__}"
        finally:
            for st in (upstream, tls):
                if st is not None:
                    with contextlib.suppress(Exception):
                        await st.aclose()
            with anyio.CancelScope(shield=True):
                if c.seq is not None or end != "closed":
                    await self._close_record(c, t0, end)


def _credential_of(door: EgressDoor, rule_id: str | None) -> tuple[list[str], str | None]:
    rule = door.gate.policy.rule(rule_id) if rule_id else None
    template = rule.credential_header if rule is not None else None
    if not template:
        return [], None
    m = re.search(r"\{\{secret:([A-Za-z_][A-Za-z0-9_]*)\}\}", template)
    if m is None:
        raise _Refuse(502, f"rule {rule_id}: its credential header names no secret")
    name = m.group(1)
    if door.secrets is None:
        raise _Refuse(502, f"rule {rule_id} injects the secret {name}, and this door has no secret resolver")
    try:
        value = door.secrets.resolve_text(template)
    except Exception as exc:  # noqa: BLE001 - SecretError (unset, unsafe file, too short to redact) or a resolver bug: refused, never sent
        raise _Refuse(502, f"rule {rule_id}: {exc}") from None
    if re.search(r"[\r\n\x00]", value):
        raise _Refuse(502, f"rule {rule_id}: the secret {name} has a line break; not sent")
    return [value], name


def git_push_refs(body: bytes, limit: int = 1000) -> list[dict[str, str]]:
    """The ref updates at the start of a git-receive-pack request (pkt-lines ``old new ref`` up to the
    flush packet). ValueError-free: malformed input gives what could be read, ending at the first bad line."""
    out: list[dict[str, str]] = []
    i = 0
    while i + 4 <= len(body) and len(out) < limit:
        try:
            n = int(body[i : i + 4], 16)
        except ValueError:
            break
        if n == 0:
            break
        if n < 4 or i + n > len(body):
            break
        line = body[i + 4 : i + n].split(b"\0", 1)[0].rstrip(b"\n").decode("utf-8", "replace")
        parts = line.split(" ", 2)
        if len(parts) != 3:
            break
        old, new, ref = parts
        action = "delete" if set(new) == {"0"} else ("create" if set(old) == {"0"} else "update")
        out.append({"ref": ref[:256], "old": old[:64], "new": new[:64], "action": action})
        i += n
    return out


class _Bytes:
    """A body already read, given back to :meth:`EgressDoor._send_request` as a reader."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if not self.data:
            raise anyio.EndOfStream
        out, self.data = self.data[:max_bytes], self.data[max_bytes:]
        return out


class _Prefixed(ByteStream):
    """The box's side of a tunnel with the bytes the door already read (the ClientHello) put back in front."""

    def __init__(self, prefix: bytes, stream: ByteStream) -> None:
        self.prefix, self.stream = prefix, stream

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if self.prefix:
            out, self.prefix = self.prefix[:max_bytes], self.prefix[max_bytes:]
            return out
        return await self.stream.receive(max_bytes)

    async def send(self, item: bytes) -> None:
        await self.stream.send(item)

    async def send_eof(self) -> None:
        await self.stream.send_eof()

    async def aclose(self) -> None:
        await self.stream.aclose()


class EgressCA:
    """The run's own CA for inspecting mode: created on the host, its key never leaves the door's process
    (held in memory; leaf keys too, written only to a private 0700 directory for ``ssl`` to load); only
    ``cert_pem`` goes into the box's trust store."""

    def __init__(self, workdir: Path) -> None:
        import datetime as dt

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self._x509, self._hashes, self._ser, self._ec, self._oid = x509, hashes, serialization, ec, NameOID
        self.workdir = Path(workdir)
        self.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o700)
        now = dt.datetime.now(dt.UTC)
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "agp egress door (this run only)")])
        self._now = now
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self._name)
            .issuer_name(self._name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_pem = self.cert.public_bytes(serialization.Encoding.PEM)
        self._contexts: dict[str, ssl.SSLContext] = {}

    def server_context(self, host: str) -> ssl.SSLContext:
        ctx = self._contexts.get(host)
        if ctx is not None:
            return ctx
        import datetime as dt

        x509 = self._x509
        key = self._ec.generate_private_key(self._ec.SECP256R1())
        try:
            san: Any = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            san = x509.DNSName(host)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(self._oid.COMMON_NAME, host[:64])]))
            .issuer_name(self._name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._now - dt.timedelta(minutes=5))
            .not_valid_after(self._now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
            .sign(self._key, self._hashes.SHA256())
        )
        stem = self.workdir / f"leaf-{len(self._contexts)}"
        fd = os.open(f"{stem}.pem", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(cert.public_bytes(self._ser.Encoding.PEM))
            f.write(key.private_bytes(self._ser.Encoding.PEM, self._ser.PrivateFormat.PKCS8, self._ser.NoEncryption()))
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(f"{stem}.pem")
        os.unlink(f"{stem}.pem")  # loaded: nothing of it stays on disk
        self._contexts[host] = ctx
        return ctx


class _Nothing:
    """The box's side after its one request: nothing more is forwarded upstream."""

    async def receive(self, n: int = 65536) -> bytes:
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover

"""A fake Slack on 127.0.0.1: the Web API methods agp calls, and an interaction sender.

Slack cannot be reached from the test machines, so this speaks the real shapes:

- Web API (``POST /api/<method>``, JSON or form body, ``Authorization: Bearer``;
  ``GET`` with query parameters for ``users.info``), answering ``{"ok": true, ...}``
  or ``{"ok": false, "error": "..."}`` as Slack does: ``chat.postMessage``
  (returns ``channel``, ``ts``, ``message``), ``chat.update``, ``users.info``
  (a user object with ``id``, ``team_id``, ``name``, ``deleted``, ``is_bot``,
  ``is_app_user``, ``profile``). Point slack-sdk at it with
  ``WebClient(token=..., base_url=fake.base_url)``.
- Interactions: :meth:`FakeSlack.click` builds a ``block_actions`` payload for a
  button of a posted message (``type``, ``user{id,username,name,team_id}``,
  ``api_app_id``, ``token``, ``container{type,message_ts,channel_id,is_ephemeral}``,
  ``trigger_id``, ``team{id,domain}``, ``channel{id,name}``, ``message``, ``state``,
  ``response_url``, ``actions[{action_id,block_id,text,value,style,type,action_ts}]``),
  form-encodes it as ``payload=<json>``, signs it like Slack (``X-Slack-Request-Timestamp``,
  ``X-Slack-Signature: v0=HMAC-SHA256(secret, "v0:{ts}:{body}")``, computed here with
  ``hmac`` independently of slack-sdk) and POSTs it to the app's endpoint.
- ``auth.test`` (bot token): the workspace (``team_id``) and the bot's own ids.
- Socket Mode: ``apps.connections.open`` (authenticated with the app-level token,
  ``xapp-...``) answers ``{"ok": true, "url": "ws://127.0.0.1:<port>/link/?ticket=..."}``;
  a WebSocket server on that port (a small RFC 6455 server written here: no WebSocket
  library is installed, and slack-sdk's builtin client needs none either) checks the
  ticket, sends ``hello`` (``num_connections``, ``connection_info.app_id``,
  ``debug_info``), answers pings, and delivers ``interactive`` / ``events_api``
  envelopes (``envelope_id``, ``type``, ``payload``, ``accepts_response_payload``).
  Every text frame the app sends back is recorded as an acknowledgement; tests wait
  for the ack of an envelope (:meth:`FakeSlack.wait_ack`), drop the connections
  mid-approval (:meth:`FakeSlack.drop_sockets`), refuse new ones, or send
  ``disconnect``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import socket
import struct
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ("FakeSlack", "SlackUser")

TEAM = "T0AGPTEST"


@dataclass
class SlackUser:
    id: str
    name: str
    is_bot: bool = False
    deleted: bool = False
    team_id: str = TEAM
    is_app_user: bool = False

    def to_api(self) -> dict[str, Any]:
        return {"id": self.id, "team_id": self.team_id, "name": self.name, "deleted": self.deleted,
                "real_name": self.name.title(), "is_admin": False, "is_owner": False, "is_bot": self.is_bot,
                "is_app_user": self.is_app_user, "updated": 1700000000,
                "profile": {"real_name": self.name.title(), "display_name": self.name,
                            **({"bot_id": "B" + self.id[1:]} if self.is_bot else {})}}


@dataclass
class _Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    updates: list[dict[str, Any]] = field(default_factory=list)


class FakeSlack:
    def __init__(self, *, signing_secret: str = "8f742231b10e8888abcd99yyyzzz85a5", token: str = "xoxb-fake-token",
                 channel_id: str = "C0APPROVALS", app_token: str = "xapp-1-A0AGPAPP-1-fake") -> None:
        self.signing_secret = signing_secret
        self.token = token
        self.app_token = app_token
        self.sockets = _SocketModeServer(self)
        self.channel_id = channel_id
        self.users: dict[str, SlackUser] = {
            "U0ALICE": SlackUser("U0ALICE", "alice"),
            "U0BOB": SlackUser("U0BOB", "bob"),
            "U0CIBOT": SlackUser("U0CIBOT", "ci-bot", is_bot=True),
            "USLACKBOT": SlackUser("USLACKBOT", "slackbot"),
            "U0GONE": SlackUser("U0GONE", "gone", deleted=True),
        }
        self.messages: dict[str, _Message] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_methods: dict[str, str] = {}  # method -> error code to answer with
        self._lock = threading.Lock()
        self._seq = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> "FakeSlack":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _params(self) -> dict[str, Any]:
                parsed = urllib.parse.urlsplit(self.path)
                params: dict[str, Any] = {k: v[0] for k, v in urllib.parse.parse_qs(parsed.query).items()}
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                ctype = self.headers.get("Content-Type", "")
                if raw and "json" in ctype:
                    params.update(json.loads(raw))
                elif raw:
                    params.update({k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()})
                return params

            def _handle(self) -> None:
                path = urllib.parse.urlsplit(self.path).path
                if not path.startswith("/api/"):
                    self.send_error(404)
                    return
                method = path[len("/api/"):]
                params = self._params()
                auth = self.headers.get("Authorization", "")
                # apps.connections.open takes the app-level token; every other method the bot token
                want = fake.app_token if method == "apps.connections.open" else fake.token
                if auth != f"Bearer {want}" and params.get("token") != want:
                    out = {"ok": False, "error": "invalid_auth"}
                else:
                    out = fake._api(method, params)
                data = json.dumps(out).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _handle
            do_POST = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self.sockets.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeSlack":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    # ----------------------------------------------------------------- Web API
    def _api(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls.append((method, dict(p)))
            if method in self.fail_methods:
                return {"ok": False, "error": self.fail_methods[method]}
            if method == "chat.postMessage":
                if not p.get("channel"):
                    return {"ok": False, "error": "channel_not_found"}
                blocks = p.get("blocks") or []
                if isinstance(blocks, str):
                    blocks = json.loads(blocks)
                self._seq += 1
                ts = f"{int(time.time())}.{self._seq:06d}"
                msg = _Message(self.channel_id, ts, p.get("text", ""), blocks)
                self.messages[ts] = msg
                return {"ok": True, "channel": self.channel_id, "ts": ts,
                        "message": {"type": "message", "subtype": "bot_message", "text": msg.text, "ts": ts,
                                    "bot_id": "B0AGPAPP", "blocks": blocks}}
            if method == "chat.update":
                msg = self.messages.get(p.get("ts", ""))
                if msg is None or p.get("channel") != msg.channel:
                    return {"ok": False, "error": "message_not_found"}
                blocks = p.get("blocks") or []
                if isinstance(blocks, str):
                    blocks = json.loads(blocks)
                msg.updates.append({"text": p.get("text", ""), "blocks": blocks})
                msg.text, msg.blocks = p.get("text", msg.text), blocks
                return {"ok": True, "channel": msg.channel, "ts": msg.ts, "text": msg.text,
                        "message": {"text": msg.text, "blocks": blocks}}
            if method == "auth.test":
                return {"ok": True, "url": "https://agp-test.slack.com/", "team": "agp-test", "user": "agp",
                        "team_id": TEAM, "user_id": "U0AGPBOT", "bot_id": "B0AGPAPP", "is_enterprise_install": False}
            if method == "apps.connections.open":
                if self.sockets.refuse_open:
                    return {"ok": False, "error": self.sockets.refuse_open}
                return {"ok": True, "url": self.sockets.issue_url()}
            if method == "users.info":
                u = self.users.get(p.get("user", ""))
                if u is None:
                    return {"ok": False, "error": "user_not_found"}
                return {"ok": True, "user": u.to_api()}
            return {"ok": False, "error": "unknown_method"}

    # ------------------------------------------------------------ interactions
    def wait_message(self, n: int = 1, timeout: float = 10.0) -> _Message:
        """The n-th posted message (1-based), waiting for it."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                msgs = list(self.messages.values())
            if len(msgs) >= n:
                return msgs[n - 1]
            time.sleep(0.01)
        raise AssertionError(f"no message #{n} was posted")

    def payload(self, msg: _Message, action_id: str, user_id: str, *, value: str | None = None) -> dict[str, Any]:
        button, block_id = None, None
        for b in msg.blocks:
            if b.get("type") == "actions":
                for el in b.get("elements", []):
                    if el.get("action_id") == action_id:
                        button, block_id = el, b.get("block_id")
        if button is None:
            raise AssertionError(f"the message has no {action_id} button (was it updated?)")
        u = self.users.get(user_id) or SlackUser(user_id, user_id.lower())
        now = time.time()
        return {
            "type": "block_actions",
            "user": {"id": u.id, "username": u.name, "name": u.name, "team_id": u.team_id},
            "api_app_id": "A0AGPAPP",
            "token": "Shh_its_a_seekrit",
            "container": {"type": "message", "message_ts": msg.ts, "channel_id": msg.channel, "is_ephemeral": False},
            "trigger_id": f"{int(now)}.98765.abcdef",
            "team": {"id": TEAM, "domain": "agp-test"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": msg.channel, "name": "approvals"},
            "message": {"type": "message", "subtype": "bot_message", "text": msg.text, "ts": msg.ts,
                        "bot_id": "B0AGPAPP", "blocks": msg.blocks},
            "state": {"values": {}},
            "response_url": "https://hooks.slack.com/actions/T0AGPTEST/1/fake",
            "actions": [{"action_id": action_id, "block_id": block_id, "text": button.get("text"),
                         "value": value if value is not None else button.get("value"),
                         "style": button.get("style"), "type": "button", "action_ts": f"{now:.6f}"}],
        }

    def sign(self, body: bytes, ts: str, secret: str | None = None) -> str:
        base = b"v0:" + ts.encode() + b":" + body
        return "v0=" + hmac.new((secret or self.signing_secret).encode(), base, hashlib.sha256).hexdigest()

    def send(self, url: str, payload: dict[str, Any] | bytes, *, sign: bool = True, ts: float | None = None,
             secret: str | None = None, tamper: bool = False) -> int:
        """POST an interaction like Slack does; returns the HTTP status."""
        body = payload if isinstance(payload, bytes) else urllib.parse.urlencode(
            {"payload": json.dumps(payload)}).encode()
        ts_s = str(int(ts if ts is not None else time.time()))
        headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}
        if sign:
            headers["X-Slack-Request-Timestamp"] = ts_s
            headers["X-Slack-Signature"] = self.sign(body, ts_s, secret)
        if tamper:
            body = body.replace(b"U0CIBOT", b"U0ALICE").replace(b"agp_deny", b"agp_approve")
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def click(self, url: str, msg: _Message, action: str, user_id: str, **kw: Any) -> int:
        action_id = {"approve": "agp_approve", "deny": "agp_deny"}.get(action, action)
        value = kw.pop("value", None)
        return self.send(url, self.payload(msg, action_id, user_id, value=value), **kw)

    # ------------------------------------------------------------- Socket Mode
    def envelope(self, payload: dict[str, Any], *, type: str = "interactive", envelope_id: str | None = None) -> dict[str, Any]:
        """A Socket Mode envelope as Slack sends it (an interactive payload by default)."""
        return {"envelope_id": envelope_id or f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(6)}",
                "type": type, "payload": payload, "accepts_response_payload": type == "interactive",
                **({"retry_attempt": 0, "retry_reason": ""} if type == "events_api" else {})}

    def deliver(self, envelope: dict[str, Any]) -> str:
        """Send one envelope over the newest open connection; returns its envelope_id."""
        self.sockets.send_json(envelope)
        return envelope["envelope_id"]

    def click_socket(self, msg: _Message, action: str, user_id: str, *, value: str | None = None,
                     wait_ack: bool = True) -> dict[str, Any]:
        """Click a button over Socket Mode; waits for the app's acknowledgement; returns the envelope."""
        action_id = {"approve": "agp_approve", "deny": "agp_deny"}.get(action, action)
        env = self.envelope(self.payload(msg, action_id, user_id, value=value))
        self.deliver(env)
        if wait_ack:
            self.wait_ack(env["envelope_id"])
        return env

    def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        return self.sockets.wait_ack(envelope_id, timeout)

    def drop_sockets(self, *, close_frame: bool = False) -> int:
        """Cut every open Socket Mode connection (TCP reset, or a close frame first); returns how many."""
        return self.sockets.drop(close_frame=close_frame)

    def wait_connections(self, n: int, timeout: float = 10.0) -> None:
        """Wait until ``n`` connections in all have been accepted (and greeted with hello)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.sockets.accepted >= n and self.sockets.open_count() > 0:
                return
            time.sleep(0.01)
        raise AssertionError(f"expected {n} Socket Mode connection(s), saw {self.sockets.accepted}")


_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _ws_frame(opcode: int, payload: bytes) -> bytes:
    """A server-to-client frame: FIN, unmasked (RFC 6455 section 5.2)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def _ws_read(sock: socket.socket) -> tuple[int, bytes]:
    """One client frame (clients must mask; an unmasked frame is a protocol error)."""
    b1, b2 = _recv_exact(sock, 2)
    opcode, masked, n = b1 & 0x0F, b2 & 0x80, b2 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", _recv_exact(sock, 2))
    elif n == 127:
        (n,) = struct.unpack("!Q", _recv_exact(sock, 8))
    if not masked:
        raise ConnectionError("unmasked client frame")
    mask = _recv_exact(sock, 4)
    data = _recv_exact(sock, n)
    return opcode, bytes(c ^ mask[i % 4] for i, c in enumerate(data))


class _SocketModeServer:
    """The WebSocket side of the fake: one thread per connection, text frames are acks."""

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        self.acks: list[dict[str, Any]] = []
        self.accepted = 0
        self.refuse_open: str | None = None  # apps.connections.open answers this error when set
        self.rejected_tickets = 0
        self._tickets: set[str] = set()
        self._conns: list[tuple[socket.socket, threading.Lock]] = []
        self._lock = threading.Condition()
        self._listener: socket.socket | None = None
        self._closed = False

    def _ensure_listening(self) -> int:
        with self._lock:
            if self._listener is None:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", 0))
                s.listen(16)
                self._listener = s
                threading.Thread(target=self._accept_loop, args=(s,), daemon=True).start()
            return self._listener.getsockname()[1]

    def issue_url(self) -> str:
        port = self._ensure_listening()
        ticket = secrets.token_hex(8)
        with self._lock:
            self._tickets.add(ticket)
        return f"ws://127.0.0.1:{port}/link/?ticket={ticket}&app_id=A0AGPAPP"

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._closed:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _handshake(self, conn: socket.socket) -> bool:
        conn.settimeout(10)
        raw = b""
        while b"\r\n\r\n" not in raw:
            chunk = conn.recv(4096)
            if not chunk:
                return False
            raw += chunk
        head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        target = head[0].split(" ")[1] if len(head[0].split(" ")) > 1 else ""
        headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in head[1:] if ":" in h)}
        ticket = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query).get("ticket", [""])[0]
        with self._lock:
            ok = ticket in self._tickets
            self._tickets.discard(ticket)  # a ticket opens one connection
        key = headers.get("sec-websocket-key", "")
        if not ok or headers.get("upgrade", "").lower() != "websocket" or not key:
            self.rejected_tickets += 1
            conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return False
        accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        return True

    def _serve(self, conn: socket.socket) -> None:
        lock = threading.Lock()
        try:
            if not self._handshake(conn):
                conn.close()
                return
            conn.settimeout(None)
            with self._lock:
                self._conns.append((conn, lock))
                self.accepted += 1
                n = len(self._conns)
                self._lock.notify_all()
            hello = {"type": "hello", "num_connections": n, "connection_info": {"app_id": "A0AGPAPP"},
                     "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060}}
            with lock:
                conn.sendall(_ws_frame(0x1, json.dumps(hello).encode()))
            while True:
                opcode, data = _ws_read(conn)
                if opcode == 0x9:  # ping -> pong with the same payload
                    with lock:
                        conn.sendall(_ws_frame(0xA, data))
                elif opcode == 0x8:
                    with lock:
                        conn.sendall(_ws_frame(0x8, data[:2]))
                    break
                elif opcode == 0x1:
                    try:
                        msg = json.loads(data.decode())
                    except ValueError:
                        continue
                    with self._lock:
                        self.acks.append(msg)
                        self._lock.notify_all()
        except (OSError, ConnectionError, ValueError):
            pass
        finally:
            with self._lock:
                self._conns = [c for c in self._conns if c[0] is not conn]
            try:
                conn.close()
            except OSError:
                pass

    def open_count(self) -> int:
        with self._lock:
            return len(self._conns)

    def send_json(self, obj: dict[str, Any]) -> None:
        with self._lock:
            if not self._conns:
                raise AssertionError("no Socket Mode connection is open")
            conn, lock = self._conns[-1]
        with lock:
            conn.sendall(_ws_frame(0x1, json.dumps(obj).encode()))

    def wait_ack(self, envelope_id: str, timeout: float) -> dict[str, Any]:
        end = time.monotonic() + timeout
        with self._lock:
            while True:
                for a in self.acks:
                    if a.get("envelope_id") == envelope_id:
                        return a
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"envelope {envelope_id} was never acknowledged")
                self._lock.wait(left)

    def drop(self, *, close_frame: bool = False) -> int:
        with self._lock:
            conns, self._conns = list(self._conns), []
        for conn, lock in conns:
            try:
                if close_frame:
                    with lock:
                        conn.sendall(_ws_frame(0x8, struct.pack("!H", 1001) + b"going away"))
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        return len(conns)

    def close(self) -> None:
        self._closed = True
        self.drop()
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

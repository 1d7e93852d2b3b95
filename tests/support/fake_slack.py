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
"""

from __future__ import annotations

import hashlib
import hmac
import json
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
                 channel_id: str = "C0APPROVALS") -> None:
        self.signing_secret = signing_secret
        self.token = token
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
                if auth != f"Bearer {fake.token}" and params.get("token") != fake.token:
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

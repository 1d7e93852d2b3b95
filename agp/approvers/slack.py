"""The Slack approver: Block Kit Approve/Deny buttons, answered through signed interaction callbacks.

For each pending approval it posts one message with ``chat.postMessage``
(slack-sdk ``WebClient``): the harness, session, tool, statements, matching
rules and call digest, and two buttons whose ``value`` carries the approval's
nonce, session and call digest. Slack sends each click to the app's
Interactivity Request URL; agp serves that endpoint on 127.0.0.1 (put a tunnel
or reverse proxy in front of it) and, for every request:

1. refuses it (401) unless ``X-Slack-Signature`` is the v0 HMAC-SHA256 of
   ``v0:{X-Slack-Request-Timestamp}:{raw body}`` under the signing secret and
   the timestamp is within 5 minutes (slack-sdk ``SignatureVerifier``);
2. parses the form-encoded ``payload=`` (a ``block_actions`` payload) and takes
   the clicking user's id; asks ``users.info`` whether that user is a bot (or
   Slackbot, or deleted, or from another workspace); if the lookup fails the
   user counts as a bot: bots never approve, and their clicks do not consume
   the nonce;
3. hands the answer to the broker (which checks nonce, session and call digest,
   and journals the answer or its refusal);
4. when the approval is decided, rewrites the message with ``chat.update``: the
   outcome replaces the buttons.

A Slack user answers as ``slack:<user id>``; a quorum counts distinct ids.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import anyio.to_thread
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.signature import SignatureVerifier

from agp.errors import ApprovalError
from agp.gate.approvals import Answer, ApprovalBroker, ApprovalRequest, ApprovalResult

__all__ = ("ACTION_APPROVE", "ACTION_DENY", "SlackApprover", "build_blocks", "button_value")

log = logging.getLogger(__name__)

ACTION_APPROVE = "agp_approve"
ACTION_DENY = "agp_deny"
_MAX_BODY = 64 * 1024
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def button_value(req: ApprovalRequest) -> str:
    """What a button carries back: nonce, session and call digest (JSON; under Slack's 2000-char cap)."""
    return json.dumps({"n": req.nonce, "s": req.session, "d": req.call_digest}, separators=(",", ":"))


def _mrkdwn_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _summary_fields(req: ApprovalRequest) -> list[dict[str, Any]]:
    return [
        {"type": "mrkdwn", "text": f"*Harness*\n{_mrkdwn_escape(req.harness)}"},
        {"type": "mrkdwn", "text": f"*Session*\n`{_mrkdwn_escape(req.session)}`"},
        {"type": "mrkdwn", "text": f"*Tool*\n{_mrkdwn_escape(req.tool)}"},
        {"type": "mrkdwn", "text": f"*Rule*\n`{_mrkdwn_escape(req.rule or '-')}` (quorum {req.quorum})"},
    ]


def _statements_text(req: ApprovalRequest) -> str:
    lines = []
    for i, s in enumerate(req.statements[:10], 1):
        text = _mrkdwn_escape(str(s.get("text", "")))[:300].replace("```", "'''")
        lines.append(f"{i}. [{s.get('kind', '?')}] `{text}` → {s.get('effect', '?')} ({s.get('rule') or '-'})")
    if len(req.statements) > 10:
        lines.append(f"… and {len(req.statements) - 10} more")
    return "\n".join(lines) or "(no statements)"


def build_blocks(req: ApprovalRequest, *, outcome: ApprovalResult | None = None) -> list[dict[str, Any]]:
    """The Block Kit message: details, then the buttons (or, once decided, the outcome)."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "agp: approval needed", "emoji": False}},
        {"type": "section", "fields": _summary_fields(req)},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Statements*\n" + _statements_text(req)[:2900]}},
        {"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"matched: {_mrkdwn_escape(', '.join(req.matched) or '-')}"},
            {"type": "mrkdwn", "text": f"call sha256 `{req.call_digest}` · approval {req.key} · "
                                       f"expires <!date^{int(req.expires)}^{{time_secs}}|in {int(req.timeout)}s>"},
        ]},
    ]
    if outcome is None:
        value = button_value(req)
        blocks.append({"type": "actions", "block_id": f"agp-{req.key}", "elements": [
            {"type": "button", "action_id": ACTION_APPROVE, "style": "primary", "value": value,
             "text": {"type": "plain_text", "text": "Approve"}},
            {"type": "button", "action_id": ACTION_DENY, "style": "danger", "value": value,
             "text": {"type": "plain_text", "text": "Deny"},
             "confirm": {"title": {"type": "plain_text", "text": "Deny this call?"},
                         "text": {"type": "plain_text", "text": "The agent's call will be refused."},
                         "confirm": {"type": "plain_text", "text": "Deny"},
                         "deny": {"type": "plain_text", "text": "Back"}}},
        ]})
    else:
        def mention(a: str) -> str:
            return f"<@{a.split(':', 1)[1]}>" if a.startswith("slack:") else _mrkdwn_escape(a)

        who = ", ".join(mention(a) for a in outcome.approvers)
        detail = _mrkdwn_escape(outcome.detail)
        by = mention(outcome.denied_by) if outcome.denied_by else "a human"
        text = {"approved": f":white_check_mark: *Approved* by {who}",
                "approved_automatically": ":robot_face: *Approved automatically* (demo)",
                "denied": f":no_entry: *Denied* by {by}",
                "timed_out": f":hourglass: *Timed out*: denied ({detail})"}.get(
            outcome.outcome.value, f":no_entry: *{outcome.outcome.value}*: denied ({detail})")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    return blocks


class SlackApprover:
    """Ask in a Slack channel; receive clicks on ``http://127.0.0.1:<port><path>``."""

    name = "slack"

    def __init__(
        self,
        *,
        client: WebClient,
        channel: str,
        signing_secret: str,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/slack/interactions",
        team_id: str | None = None,
        allowed_users: set[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if host not in _LOOPBACK:
            raise ApprovalError(f"the Slack endpoint listens on loopback only (got {host!r}); use a tunnel")
        if not signing_secret or not signing_secret.strip():
            raise ApprovalError("a Slack signing secret is required (SLACK_SIGNING_SECRET)")
        self.client = client
        self.channel = channel
        self.path = path
        self.team_id = team_id
        self.allowed_users = set(allowed_users) if allowed_users else None
        self._verifier = SignatureVerifier(signing_secret, clock=_Clock(clock))
        self._host, self._port = host, port
        self._broker: ApprovalBroker | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._messages: dict[str, tuple[str, str]] = {}  # nonce -> (channel id, ts)
        self._lock = threading.Lock()
        self._users: dict[str, tuple[bool, str]] = {}  # user id -> (counts as bot, name)
        self.stats = {"accepted": 0, "bad_signature": 0, "bad_payload": 0, "bot": 0}

    @classmethod
    def from_env(cls, *, channel: str | None = None, port: int | None = None, api_url: str | None = None,
                 environ: Any = None) -> "SlackApprover":
        """Build from SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, AGP_SLACK_CHANNEL, AGP_SLACK_PORT (default 3000)
        and AGP_SLACK_API_URL (tests); explicit arguments win. Raises ApprovalError naming what is missing."""
        env = os.environ if environ is None else environ
        token, secret = env.get("SLACK_BOT_TOKEN"), env.get("SLACK_SIGNING_SECRET")
        channel = channel or env.get("AGP_SLACK_CHANNEL")
        missing = [n for n, v in (("SLACK_BOT_TOKEN", token), ("SLACK_SIGNING_SECRET", secret),
                                  ("a channel (AGP_SLACK_CHANNEL or --slack-channel)", channel)) if not v]
        if missing:
            raise ApprovalError("the Slack approver needs " + ", ".join(missing) + " (see docs/slack.md)")
        kw: dict[str, Any] = {"token": token, "timeout": 10}
        api_url = api_url or env.get("AGP_SLACK_API_URL")
        if api_url:
            kw["base_url"] = api_url.rstrip("/") + "/"
        return cls(client=WebClient(**kw), channel=str(channel), signing_secret=str(secret),
                   port=int(port if port is not None else env.get("AGP_SLACK_PORT", "3000")))

    # ------------------------------------------------------------ lifecycle
    def bind(self, broker: ApprovalBroker) -> None:
        self._broker = broker

    def start(self) -> None:
        if self._server is not None:
            return
        handler = _make_handler(self)
        try:
            self._server = ThreadingHTTPServer((self._host, self._port), handler)
        except OSError as exc:
            raise ApprovalError(f"cannot listen for Slack interactions on {self._host}:{self._port}: {exc.strerror}") from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="agp-slack-endpoint", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise ApprovalError("the Slack endpoint is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.path}"

    # ------------------------------------------------------------- approver
    async def ask(self, request: ApprovalRequest) -> None:
        if self._server is None:
            self.start()
        text = f"agp: approval needed for {request.tool} in session {request.session} (rule {request.rule})"
        try:
            resp = await anyio.to_thread.run_sync(lambda: self.client.chat_postMessage(
                channel=self.channel, text=text, blocks=build_blocks(request), unfurl_links=False))
        except SlackApiError as exc:
            raise ApprovalError(f"Slack refused the message: {exc.response.get('error', exc)}") from exc
        except (SlackClientError, OSError, ValueError) as exc:
            raise ApprovalError(f"Slack is unreachable: {exc}") from exc
        if not resp.get("ok") or not resp.get("ts"):
            raise ApprovalError(f"Slack did not post the message: {resp.get('error', 'no ts')}")
        with self._lock:
            self._messages[request.nonce] = (str(resp.get("channel") or self.channel), str(resp["ts"]))

    async def resolved(self, result: ApprovalResult) -> None:
        req = result.request
        if req is None:
            return
        with self._lock:
            where = self._messages.pop(req.nonce, None)
        if where is None:
            return
        channel, ts = where
        text = f"agp: {req.tool} in session {req.session}: {result.outcome.value}"
        try:
            await anyio.to_thread.run_sync(lambda: self.client.chat_update(
                channel=channel, ts=ts, text=text, blocks=build_blocks(req, outcome=result)))
        except (SlackClientError, OSError, ValueError) as exc:
            log.warning("could not update the Slack message with the outcome: %s", exc)

    # -------------------------------------------------------- interactions
    def _user(self, user_id: str) -> tuple[bool, str]:
        """(counts as a bot, display name). A failed lookup counts as a bot (fail closed)."""
        with self._lock:
            hit = self._users.get(user_id)
        if hit is not None:
            return hit
        try:
            resp = self.client.users_info(user=user_id)
            u = resp.get("user") or {}
        except (SlackClientError, OSError, ValueError) as exc:
            log.warning("users.info failed for %s; treating the click as a bot's: %s", user_id, exc)
            return True, user_id
        bot = bool(u.get("is_bot")) or bool(u.get("is_app_user")) or bool(u.get("deleted")) or user_id == "USLACKBOT"
        if self.team_id and u.get("team_id") not in (self.team_id, None):
            bot = True
        name = str(u.get("name") or user_id)
        with self._lock:
            self._users[user_id] = (bot, name)
        return bot, name

    def handle_interaction(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """Verify and apply one interaction request. Returns (HTTP status, text)."""
        ts = headers.get("x-slack-request-timestamp")
        sig = headers.get("x-slack-signature")
        try:
            ok = ts is not None and sig is not None and self._verifier.is_valid(body, ts, sig)
        except (ValueError, TypeError):
            ok = False
        if not ok:
            self.stats["bad_signature"] += 1
            return 401, "invalid or stale signature"
        try:
            form = urllib.parse.parse_qs(body.decode("utf-8"), strict_parsing=True)
            payload = json.loads(form["payload"][0])
            if payload.get("type") != "block_actions":
                return 200, "ignored"
            user = payload["user"]
            user_id = str(user["id"])
            actions = payload["actions"]
            if not isinstance(actions, list):
                raise TypeError("actions is not a list")
        except (KeyError, IndexError, TypeError, ValueError, UnicodeDecodeError, AttributeError):
            self.stats["bad_payload"] += 1
            return 400, "malformed payload"
        if self.team_id and (payload.get("team") or {}).get("id") not in (self.team_id, None):
            return 403, "wrong workspace"
        broker = self._broker
        if broker is None:
            return 503, "not ready"
        for action in actions:
            if not isinstance(action, dict) or action.get("action_id") not in (ACTION_APPROVE, ACTION_DENY):
                continue
            try:
                v = json.loads(action.get("value") or "")
                nonce, session, digest = str(v["n"]), str(v["s"]), str(v["d"])
            except (ValueError, KeyError, TypeError):
                self.stats["bad_payload"] += 1
                continue
            is_bot, name = self._user(user_id)
            if self.allowed_users is not None and user_id not in self.allowed_users:
                is_bot = True  # not an approver: treated like a bot (never counts, never consumes)
            if is_bot:
                self.stats["bot"] += 1
            res = broker.answer(Answer(
                nonce=nonce, session=session, approve=action["action_id"] == ACTION_APPROVE,
                user_id=f"slack:{user_id}", via="slack", user_name=name, is_bot=is_bot, call_digest=digest,
            ))
            if res.accepted:
                self.stats["accepted"] += 1
        return 200, ""


class _Clock:
    def __init__(self, f: Callable[[], float]) -> None:
        self._f = f

    def now(self) -> float:
        return self._f()


def _make_handler(approver: SlackApprover) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "agp-slack"
        sys_version = ""

        def log_message(self, fmt: str, *args: Any) -> None:  # quiet; outcomes are journaled
            log.debug("slack endpoint: " + fmt, *args)

        def _reply(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            self._reply(405, "POST only")

        def do_POST(self) -> None:  # noqa: N802
            if self.path.split("?", 1)[0] != approver.path:
                self._reply(404, "not found")
                return
            try:
                n = int(self.headers.get("Content-Length", ""))
            except ValueError:
                self._reply(411, "length required")
                return
            if n < 0 or n > _MAX_BODY:
                self._reply(413, "too large")
                return
            body = self.rfile.read(n)
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                status, text = approver.handle_interaction(body, headers)
            except Exception:  # noqa: BLE001 - a bad click never takes the endpoint down
                log.exception("slack interaction failed")
                status, text = 500, "error"
            self._reply(status, text)

    return Handler

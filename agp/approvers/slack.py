"""The Slack approvers: Block Kit Approve/Deny buttons, answered over Socket Mode or signed callbacks.

For each pending approval agp posts one message with ``chat.postMessage``
(slack-sdk ``WebClient``, the bot token): the harness, session, tool,
statements, matching rules and call digest, and two buttons whose ``value``
carries the approval's nonce, session and call digest. A click comes back one
of two ways:

- Socket Mode (:class:`agp.approvers.slack_socket.SlackSocketApprover`, the
  default): agp opens an outbound WebSocket to Slack with an app-level token
  (``xapp-...``); clicks arrive as ``interactive`` envelopes on it and are
  acknowledged by ``envelope_id``. No public URL, no tunnel.
- HTTP (:class:`SlackApprover`): Slack POSTs each click to the app's
  Interactivity Request URL; agp serves it on 127.0.0.1 (behind a tunnel or
  reverse proxy) and refuses (401) any request whose ``X-Slack-Signature`` is
  not the v0 HMAC-SHA256 of ``v0:{timestamp}:{raw body}`` under the signing
  secret, or whose timestamp is more than 5 minutes off (slack-sdk
  ``SignatureVerifier``).

Either way the ``block_actions`` payload then goes through the same checks
(:meth:`_SlackChannel.apply_block_actions`):

1. the clicking user's id is looked up with ``users.info``; a bot, an app user,
   Slackbot, a deleted user or a user of another workspace counts as a bot, and
   so does a user the lookup fails for: bots never approve, and their clicks do
   not consume the nonce;
2. when approvers are configured (all calls, or the policy rule's
   ``approver_group``), a person outside them is refused (``not_approver``);
   a rule naming a group with no members configured is not posted at all: the
   approval is denied at once as unreachable;
3. the answer goes to the broker, which checks nonce, session and call digest
   and journals the answer (who, by Slack user id and name) or its refusal;
4. once the approval is decided, the message is rewritten with ``chat.update``
   (in the background: it never delays the verdict): the outcome replaces the
   buttons.

A Slack user answers as ``slack:<user id>``; a quorum counts distinct ids.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio.to_thread
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.signature import Clock, SignatureVerifier

from agp.errors import ApprovalError
from agp.gate.approvals import Answer, AnswerResult, ApprovalBroker, ApprovalRequest, ApprovalResult

__all__ = (
    "ACTION_APPROVE",
    "ACTION_DENY",
    "SlackApprover",
    "SlackSettings",
    "build_blocks",
    "button_value",
    "group_env_name",
)

log = logging.getLogger(__name__)

ACTION_APPROVE = "agp_approve"
ACTION_DENY = "agp_deny"
_MAX_BODY = 64 * 1024
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def group_env_name(group: str) -> str:
    """The variable listing a policy approver group's Slack user ids: ``maintainers`` -> ``AGP_SLACK_APPROVERS_MAINTAINERS``."""
    return "AGP_SLACK_APPROVERS_" + re.sub(r"[^A-Za-z0-9]", "_", group).upper()


def _user_ids(text: str | None) -> frozenset[str]:
    return frozenset(u for u in re.split(r"[\s,]+", text or "") if u)


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
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"matched: {_mrkdwn_escape(', '.join(req.matched) or '-')}"},
                {
                    "type": "mrkdwn",
                    "text": f"call sha256 `{req.call_digest}` · approval {req.key} · "
                    f"expires <!date^{int(req.expires)}^{{time_secs}}|in {int(req.timeout)}s>",
                },
            ],
        },
    ]
    if outcome is None:
        value = button_value(req)
        blocks.append(
            {
                "type": "actions",
                "block_id": f"agp-{req.key}",
                "elements": [
                    {
                        "type": "button",
                        "action_id": ACTION_APPROVE,
                        "style": "primary",
                        "value": value,
                        "text": {"type": "plain_text", "text": "Approve"},
                    },
                    {
                        "type": "button",
                        "action_id": ACTION_DENY,
                        "style": "danger",
                        "value": value,
                        "text": {"type": "plain_text", "text": "Deny"},
                        "confirm": {
                            "title": {"type": "plain_text", "text": "Deny this call?"},
                            "text": {"type": "plain_text", "text": "The agent's call will be refused."},
                            "confirm": {"type": "plain_text", "text": "Deny"},
                            "deny": {"type": "plain_text", "text": "Back"},
                        },
                    },
                ],
            }
        )
    else:

        def mention(a: str) -> str:
            return f"<@{a.split(':', 1)[1]}>" if a.startswith("slack:") else _mrkdwn_escape(a)

        who = ", ".join(mention(a) for a in outcome.approvers)
        detail = _mrkdwn_escape(outcome.detail)
        by = mention(outcome.denied_by) if outcome.denied_by else "a human"
        text = {
            "approved": f":white_check_mark: *Approved* by {who}",
            "approved_automatically": ":robot_face: *Approved automatically* (demo)",
            "denied": f":no_entry: *Denied* by {by}",
            "timed_out": f":hourglass: *Timed out*: denied ({detail})",
        }.get(outcome.outcome.value, f":no_entry: *{outcome.outcome.value}*: denied ({detail})")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    return blocks


class SlackSettings:
    """Who may answer, from the environment: ``AGP_SLACK_APPROVERS`` (Slack user ids, comma or space
    separated; unset: any human of the workspace) for calls whose rule names no group, and
    ``AGP_SLACK_APPROVERS_<GROUP>`` for a rule's ``approver_group``."""

    def __init__(
        self,
        approvers: frozenset[str] | set[str] | None = None,
        groups: dict[str, frozenset[str] | set[str]] | None = None,
        environ: Any = None,
    ) -> None:
        self.approvers = frozenset(approvers) if approvers else None
        self._groups = {group_env_name(k): frozenset(v) for k, v in (groups or {}).items()}
        self._environ = environ

    @classmethod
    def from_env(cls, environ: Any = None) -> SlackSettings:
        env = os.environ if environ is None else environ
        return cls(_user_ids(env.get("AGP_SLACK_APPROVERS")), environ=dict(env))

    def members(self, group: str | None) -> frozenset[str] | None:
        """The ids allowed to answer a call of ``group``; None = any human; empty = nobody."""
        if not group:
            return self.approvers
        name = group_env_name(group)
        if name in self._groups:
            return self._groups[name]
        return _user_ids((self._environ or {}).get(name))


class _SlackChannel:
    """What both Slack transports share: the message, the outcome, and the checks on a click."""

    name = "slack"

    def __init__(
        self,
        *,
        client: WebClient,
        channel: str,
        team_id: str | None = None,
        allowed_users: set[str] | None = None,
        settings: SlackSettings | None = None,
    ) -> None:
        self.client = client
        self.channel = channel
        self.team_id = team_id
        self.settings = settings or SlackSettings(allowed_users)
        self._broker: ApprovalBroker | None = None
        self._messages: dict[str, tuple[str, str]] = {}  # nonce -> (channel id, ts)
        self._groups: dict[str, str | None] = {}  # nonce -> the rule's approver group
        self._lock = threading.Lock()
        self._users: dict[str, tuple[bool, str, str | None]] = {}  # user id -> (counts as bot, name, team)
        self._updaters: list[threading.Thread] = []
        self.stats = {"accepted": 0, "bad_signature": 0, "bad_payload": 0, "bot": 0, "not_approver": 0}

    @property
    def allowed_users(self) -> frozenset[str] | None:
        return self.settings.approvers

    @property
    def transport(self) -> str:
        """How Slack's answers reach agp, for the operator ("Socket Mode", "HTTP endpoint <url>")."""
        raise NotImplementedError

    def bind(self, broker: ApprovalBroker) -> None:
        self._broker = broker

    def _join_updaters(self, timeout: float = 5.0) -> None:
        end = time.monotonic() + timeout
        with self._lock:
            threads, self._updaters = list(self._updaters), []
        for t in threads:
            t.join(timeout=max(0.0, end - time.monotonic()))

    # ------------------------------------------------------------- approver
    async def ask(self, request: ApprovalRequest) -> None:
        members = self.settings.members(request.approver_group)
        if members is not None and not members:
            raise ApprovalError(
                f"nobody may approve rule {request.rule!r} in Slack: its approver group "
                f"{request.approver_group!r} has no members ({group_env_name(request.approver_group or '')} "
                "is unset or empty)"
                if request.approver_group
                else "AGP_SLACK_APPROVERS is set but names nobody"
            )
        text = f"agp: approval needed for {request.tool} in session {request.session} (rule {request.rule})"
        try:
            resp = await anyio.to_thread.run_sync(
                lambda: self.client.chat_postMessage(
                    channel=self.channel, text=text, blocks=build_blocks(request), unfurl_links=False
                )
            )
        except SlackApiError as exc:
            raise ApprovalError(f"Slack refused the message: {exc.response.get('error', exc)}") from exc
        except (SlackClientError, OSError, ValueError) as exc:
            raise ApprovalError(f"Slack is unreachable: {exc}") from exc
        if not resp.get("ok") or not resp.get("ts"):
            raise ApprovalError(f"Slack did not post the message: {resp.get('error', 'no ts')}")
        with self._lock:
            self._messages[request.nonce] = (str(resp.get("channel") or self.channel), str(resp["ts"]))
            self._groups[request.nonce] = request.approver_group

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

        def update() -> None:
            try:
                self.client.chat_update(channel=channel, ts=ts, text=text, blocks=build_blocks(req, outcome=result))
            except (SlackClientError, OSError, ValueError) as exc:
                log.warning("could not update the Slack message with the outcome: %s", exc)

        # the verdict does not wait for Slack to show the outcome
        t = threading.Thread(target=update, name="agp-slack-update", daemon=True)
        with self._lock:
            self._updaters = [u for u in self._updaters if u.is_alive()] + [t]
        t.start()

    # -------------------------------------------------------- interactions
    def _user(self, user_id: str) -> tuple[bool, str]:
        """(counts as a bot, display name). A failed lookup counts as a bot (fail closed)."""
        with self._lock:
            hit = self._users.get(user_id)
        if hit is None:
            try:
                resp = self.client.users_info(user=user_id)
                u = resp.get("user") or {}
            except (SlackClientError, OSError, ValueError) as exc:
                log.warning("users.info failed for %s; treating the click as a bot's: %s", user_id, exc)
                return True, user_id
            bot = (
                bool(u.get("is_bot"))
                or bool(u.get("is_app_user"))
                or bool(u.get("deleted"))
                or user_id == "USLACKBOT"
                or not u.get("id")
            )
            hit = (bot, str(u.get("name") or user_id), u.get("team_id"))
            with self._lock:
                self._users[user_id] = hit
        bot, name, team = hit
        if self.team_id and team not in (self.team_id, None):
            bot = True  # a user of another workspace (a shared channel) never answers
        return bot, name

    def apply_block_actions(self, payload: dict[str, Any]) -> tuple[int, str]:
        """Apply the buttons of one ``block_actions`` payload (already authenticated by its transport).
        Returns (HTTP-like status, text): 400 malformed, 403 other workspace, 503 not ready."""
        try:
            user_id = str(payload["user"]["id"])
            actions = payload["actions"]
            if not isinstance(actions, list):
                raise TypeError("actions is not a list")
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
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
            with self._lock:
                group = self._groups.get(nonce)
            members = self.settings.members(group)
            is_approver = members is None or user_id in members
            if is_bot:
                self.stats["bot"] += 1
            elif not is_approver:
                self.stats["not_approver"] += 1
            res: AnswerResult = broker.answer(
                Answer(
                    nonce=nonce,
                    session=session,
                    approve=action["action_id"] == ACTION_APPROVE,
                    user_id=f"slack:{user_id}",
                    via="slack",
                    user_name=name,
                    is_bot=is_bot,
                    call_digest=digest,
                    is_approver=is_approver,
                )
            )
            if res.accepted:
                self.stats["accepted"] += 1
            if res.outcome is not None:
                with self._lock:
                    self._groups.pop(nonce, None)
        return 200, ""


class SlackApprover(_SlackChannel):
    """Ask in a Slack channel; receive signed clicks on ``http://127.0.0.1:<port><path>``."""

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
        settings: SlackSettings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if host not in _LOOPBACK:
            raise ApprovalError(f"the Slack endpoint listens on loopback only (got {host!r}); use a tunnel")
        if not signing_secret or not signing_secret.strip():
            raise ApprovalError("a Slack signing secret is required (SLACK_SIGNING_SECRET)")
        super().__init__(
            client=client, channel=channel, team_id=team_id, allowed_users=allowed_users, settings=settings
        )
        self.path = path
        self._verifier = SignatureVerifier(signing_secret, clock=_Clock(clock))
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_env(
        cls, *, channel: str | None = None, port: int | None = None, api_url: str | None = None, environ: Any = None
    ) -> SlackApprover:
        """Build from SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, AGP_SLACK_CHANNEL, AGP_SLACK_PORT (default 3000),
        AGP_SLACK_APPROVERS[_<GROUP>] and AGP_SLACK_API_URL (tests); explicit arguments win. Raises
        ApprovalError naming what is missing."""
        env = os.environ if environ is None else environ
        token, secret = env.get("SLACK_BOT_TOKEN"), env.get("SLACK_SIGNING_SECRET")
        channel = channel or env.get("AGP_SLACK_CHANNEL")
        missing = [
            n
            for n, v in (
                ("SLACK_BOT_TOKEN", token),
                ("SLACK_SIGNING_SECRET", secret),
                ("a channel (AGP_SLACK_CHANNEL or --slack-channel)", channel),
            )
            if not v
        ]
        if missing:
            raise ApprovalError("the Slack approver needs " + ", ".join(missing) + " (see docs/slack.md)")
        return cls(
            client=web_client(str(token), api_url or env.get("AGP_SLACK_API_URL")),
            channel=str(channel),
            signing_secret=str(secret),
            settings=SlackSettings.from_env(env),
            port=int(port if port is not None else env.get("AGP_SLACK_PORT", "3000")),
        )

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._server is not None:
            return
        handler = _make_handler(self)
        try:
            self._server = ThreadingHTTPServer((self._host, self._port), handler)
        except OSError as exc:
            raise ApprovalError(
                f"cannot listen for Slack interactions on {self._host}:{self._port}: {exc.strerror}"
            ) from exc
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
        self._join_updaters()

    @property
    def url(self) -> str:
        if self._server is None:
            raise ApprovalError("the Slack endpoint is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.path}"

    @property
    def transport(self) -> str:
        """How Slack's answers reach agp, for the operator (started: the endpoint's URL)."""
        return f"HTTP endpoint {self.url}"

    async def ask(self, request: ApprovalRequest) -> None:
        if self._server is None:
            self.start()
        await super().ask(request)

    # -------------------------------------------------------- interactions
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
            if not isinstance(payload, dict):
                raise TypeError("payload is not an object")
        except (KeyError, IndexError, TypeError, ValueError, UnicodeDecodeError, AttributeError):
            self.stats["bad_payload"] += 1
            return 400, "malformed payload"
        if payload.get("type") != "block_actions":
            return 200, "ignored"
        return self.apply_block_actions(payload)


def web_client(token: str, api_url: str | None = None) -> WebClient:
    """The Web API client (``api_url``: tests point it at a local fake)."""
    kw: dict[str, Any] = {"token": token, "timeout": 10}
    if api_url:
        kw["base_url"] = api_url.rstrip("/") + "/"
    return WebClient(**kw)


class _Clock(Clock):
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

        def do_GET(self) -> None:
            self._reply(405, "POST only")

        def do_POST(self) -> None:
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
            except Exception:  # a bad click never takes the endpoint down
                log.exception("slack interaction failed")
                status, text = 500, "error"
            self._reply(status, text)

    return Handler

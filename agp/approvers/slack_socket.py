"""Slack approvals over Socket Mode: an outbound WebSocket, so no public URL and no tunnel.

agp calls ``apps.connections.open`` with the app-level token (``xapp-...``,
scope ``connections:write``), connects to the WebSocket URL it returns and waits
for Slack's ``hello``. A click on an approval's button arrives as an
``interactive`` envelope; agp acknowledges it at once by sending back its
``envelope_id`` (Slack shows the clicker an error without that), then applies
the ``block_actions`` payload through the same checks as the HTTP endpoint
(:meth:`agp.approvers.slack._SlackChannel.apply_block_actions`): bots and
people outside the approvers are refused, and the broker refuses a replayed,
stale or wrong-session nonce. Envelopes of other types are acknowledged and
ignored.

The connection is authenticated by the app token over TLS (there is no
per-request signature in Socket Mode), so agp only connects to a ``wss://`` URL
on port 443 (a ``ws://`` URL is accepted on loopback only, for the test fake).

The transport is slack-sdk's builtin client (``slack_sdk.socket_mode.builtin``,
standard library only). When the connection drops it reconnects on its own;
while it is down, an approval is not posted (the approver is unreachable: the
call is denied), and a pending approval whose click cannot arrive simply times
out: a deny. Nothing here can turn a lost connection into an allow.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import urllib.parse
from typing import Any

import anyio.to_thread
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from agp.approvers.slack import SlackSettings, _SlackChannel, web_client
from agp.errors import ApprovalError
from agp.gate.approvals import ApprovalRequest

__all__ = ("SlackSocketApprover", "check_socket_url")

log = logging.getLogger(__name__)

_LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
# the SDK's client logs every failed reconnection attempt at ERROR, every ping interval: that would
# flood the live view while Slack is away. agp says what matters itself (start, an approval not posted).
_SDK_LOG = logging.getLogger("agp.approvers.slack_socket.sdk")
_SDK_LOG.setLevel(logging.CRITICAL)


def check_socket_url(url: str) -> str:
    """Refuse a Socket Mode URL that would not be TLS to Slack's port (ws:// is for a loopback fake)."""
    try:
        u = urllib.parse.urlsplit(url)
        port = u.port
    except ValueError as exc:
        raise ApprovalError(f"Slack returned a malformed Socket Mode URL: {exc}") from exc
    if u.scheme == "wss" and port in (None, 443) and u.hostname:
        return url
    if u.scheme == "ws" and u.hostname in _LOOPBACK_HOSTS:
        return url
    raise ApprovalError(
        f"refusing the Socket Mode URL {u.scheme}://{u.hostname}:{port}: "
        "only wss:// on port 443 (or ws:// on loopback) is used"
    )


class _CheckedClient(SocketModeClient):
    """slack-sdk's builtin client, with every URL it is handed checked before it connects."""

    def issue_new_wss_url(self) -> str:
        return check_socket_url(super().issue_new_wss_url())


class SlackSocketApprover(_SlackChannel):
    """Ask in a Slack channel; receive clicks over a Socket Mode connection."""

    def __init__(
        self,
        *,
        client: WebClient,
        app_token: str,
        channel: str,
        team_id: str | None = None,
        allowed_users: set[str] | None = None,
        settings: SlackSettings | None = None,
        connect_timeout: float = 10.0,
        ping_interval: float = 2.0,
        reconnect_wait: float = 3.0,
    ) -> None:
        if not app_token or not app_token.startswith("xapp-"):
            raise ApprovalError(
                "SLACK_APP_TOKEN must be an app-level token (xapp-...), not a bot (xoxb-) or user token"
            )
        super().__init__(
            client=client, channel=channel, team_id=team_id, allowed_users=allowed_users, settings=settings
        )
        self.app_token = app_token
        self.connect_timeout = connect_timeout
        self.ping_interval = ping_interval
        self.reconnect_wait = reconnect_wait
        self._sm: SocketModeClient | None = None
        self._hello = threading.Event()
        self.envelopes: dict[str, int] = {}  # envelope type -> how many arrived (and were acknowledged)
        self.stats.update(hellos=0, ack_failed=0)

    @classmethod
    def from_env(
        cls, *, channel: str | None = None, api_url: str | None = None, environ: Any = None
    ) -> SlackSocketApprover:
        """Build from SLACK_BOT_TOKEN, SLACK_APP_TOKEN, AGP_SLACK_CHANNEL (or ``channel``),
        AGP_SLACK_APPROVERS[_<GROUP>] and AGP_SLACK_API_URL (tests). Raises ApprovalError naming
        the first variable that is missing or malformed."""
        env = os.environ if environ is None else environ
        token, app_token = env.get("SLACK_BOT_TOKEN"), env.get("SLACK_APP_TOKEN")
        channel = channel or env.get("AGP_SLACK_CHANNEL")
        if not token:
            raise ApprovalError("the Slack approver needs SLACK_BOT_TOKEN (the bot token, xoxb-...; see docs/slack.md)")
        if not token.startswith("xoxb-"):
            raise ApprovalError("SLACK_BOT_TOKEN must be a bot token (xoxb-...; see docs/slack.md)")
        if not app_token:
            raise ApprovalError(
                "the Slack approver needs SLACK_APP_TOKEN (an app-level token, xapp-..., "
                "with connections:write; see docs/slack.md)"
            )
        if not channel:
            raise ApprovalError("the Slack approver needs a channel: --slack-channel or AGP_SLACK_CHANNEL")
        return cls(
            client=web_client(token, api_url or env.get("AGP_SLACK_API_URL")),
            app_token=app_token,
            channel=str(channel),
            settings=SlackSettings.from_env(env),
        )

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Check the bot token (``auth.test``, which also names the workspace), open the Socket Mode
        connection and wait for Slack's hello. Raises ApprovalError: the run does not start."""
        if self._sm is not None:
            return
        try:
            auth = self.client.auth_test()
        except SlackApiError as exc:
            raise ApprovalError(f"Slack refused SLACK_BOT_TOKEN: {exc.response.get('error', exc)}") from exc
        except (SlackClientError, OSError, ValueError) as exc:
            raise ApprovalError(f"Slack is unreachable: {exc}") from exc
        if self.team_id is None and auth.get("team_id"):
            self.team_id = str(auth["team_id"])
        sm = _CheckedClient(
            app_token=self.app_token,
            web_client=self.client,
            ping_interval=self.ping_interval,
            concurrency=4,
            logger=_SDK_LOG,
        )
        sm.message_listeners.append(self._on_message)
        sm.socket_mode_request_listeners.append(self._on_request)
        self._sm = sm
        try:
            sm.connect()
        except SlackApiError as exc:
            self.close()
            raise ApprovalError(
                f"Slack refused SLACK_APP_TOKEN (apps.connections.open): {exc.response.get('error', exc)}"
            ) from exc
        except ApprovalError:
            self.close()
            raise
        except (SlackClientError, OSError, ValueError) as exc:
            self.close()
            raise ApprovalError(f"cannot open the Slack Socket Mode connection: {exc}") from exc
        if not self._hello.wait(self.connect_timeout):
            self.close()
            raise ApprovalError(f"the Slack Socket Mode connection did not say hello within {self.connect_timeout:g}s")

    def close(self) -> None:
        sm, self._sm = self._sm, None
        if sm is not None:
            # unblock the SDK's receive thread first: it re-takes the receive lock in a tight loop
            # around recv(), and disconnect() waits for that same lock (a close could hang for good)
            sock = getattr(getattr(sm, "current_session", None), "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            try:
                sm.close()
            except Exception:  # closing must not raise
                log.exception("closing the Slack Socket Mode client failed")
        self._hello.clear()
        self._join_updaters()

    @property
    def transport(self) -> str:
        return "Socket Mode"

    @property
    def connected(self) -> bool:
        sm = self._sm
        return sm is not None and sm.is_connected() and self._hello.is_set()

    async def ask(self, request: ApprovalRequest) -> None:
        if self._sm is None:
            raise ApprovalError("the Slack Socket Mode connection is not started")
        if not self.connected:
            # a drop is being repaired by the client; give it a moment, then refuse rather than post a
            # message whose buttons could not reach us
            end = time.monotonic() + min(self.reconnect_wait, request.timeout / 4)
            while not self.connected and time.monotonic() < end:
                await anyio.sleep(0.05)
            if not self.connected:
                log.warning("Slack Socket Mode is disconnected; approval %s is denied as unreachable", request.key)
                raise ApprovalError("the Slack Socket Mode connection is down; the approval could not be delivered")
        await super().ask(request)

    # ------------------------------------------------------------ messages
    def _on_message(self, client: Any, message: dict, raw: str | None) -> None:
        if message.get("type") == "hello":
            self.stats["hellos"] += 1
            self._hello.set()

    def _on_request(self, client: Any, req: SocketModeRequest) -> None:
        # acknowledge first: Slack wants the envelope back within 3 seconds, whatever the payload says
        try:
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
        except (SlackClientError, OSError) as exc:
            self.stats["ack_failed"] += 1
            log.warning("could not acknowledge Slack envelope %s: %s", req.envelope_id, exc)
        self.envelopes[req.type] = self.envelopes.get(req.type, 0) + 1
        payload = req.payload
        if req.type != "interactive" or not isinstance(payload, dict) or payload.get("type") != "block_actions":
            return
        status, text = self.apply_block_actions(payload)
        if status != 200:
            log.warning("Slack interaction refused (%s): %s", status, text)

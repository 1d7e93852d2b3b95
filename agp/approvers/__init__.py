"""Approver channels for the gate's approvals broker: the terminal (rich) and Slack (Block Kit).

Slack answers over Socket Mode (:class:`SlackSocketApprover`, no public URL) or
over signed HTTP callbacks (:class:`SlackApprover`); :func:`slack_from_env`
picks one from the environment. The demo's automatic approver and CI's
no-approver live in :mod:`agp.gate.approvals` (``UnsafeAutoApprover``,
``NoApprover``); :func:`make_approver` builds any of them by name.
"""

from __future__ import annotations

import os
from typing import Any

from agp.approvers.slack import SlackApprover, SlackSettings
from agp.approvers.slack_socket import SlackSocketApprover
from agp.approvers.terminal import TerminalApprover
from agp.errors import ApprovalError, UsageError
from agp.gate.approvals import Approver, NoApprover, UnsafeAutoApprover

__all__ = (
    "APPROVER_NAMES",
    "SLACK_MODES",
    "NoApprover",
    "SlackApprover",
    "SlackSettings",
    "SlackSocketApprover",
    "TerminalApprover",
    "UnsafeAutoApprover",
    "make_approver",
    "slack_from_env",
    "slack_mode",
)

APPROVER_NAMES = ("terminal", "slack", "none", "auto")
SLACK_MODES = ("socket", "http")


def slack_mode(environ: Any = None) -> str:
    """``AGP_SLACK_MODE`` when set; else ``http`` when only SLACK_SIGNING_SECRET is set; else ``socket``."""
    env = os.environ if environ is None else environ
    mode = (env.get("AGP_SLACK_MODE") or "").strip().lower()
    if mode:
        if mode not in SLACK_MODES:
            raise ApprovalError(f"AGP_SLACK_MODE must be socket or http (got {mode!r})")
        return mode
    if env.get("SLACK_SIGNING_SECRET") and not env.get("SLACK_APP_TOKEN"):
        return "http"
    return "socket"


def slack_from_env(
    *, channel: str | None = None, api_url: str | None = None, port: int | None = None, environ: Any = None
) -> SlackSocketApprover | SlackApprover:
    """The Slack approver the environment describes (see docs/slack.md). Raises ApprovalError naming
    the variable that is missing or malformed; connects nothing (that happens in ``start``)."""
    if slack_mode(environ) == "http":
        return SlackApprover.from_env(channel=channel, port=port, api_url=api_url, environ=environ)
    return SlackSocketApprover.from_env(channel=channel, api_url=api_url, environ=environ)


def make_approver(name: str, **kw: Any) -> Approver:
    """``terminal`` (kw: console), ``slack`` (kw: client, channel, signing_secret or app_token...; without
    ``client``: from the environment, see :func:`slack_from_env`), ``none``, ``auto``."""
    if name == "terminal":
        return TerminalApprover(**kw)
    if name == "slack":
        if "client" not in kw:
            return slack_from_env(**kw)
        return SlackSocketApprover(**kw) if "app_token" in kw else SlackApprover(**kw)
    if name == "none":
        return NoApprover()
    if name == "auto":
        return UnsafeAutoApprover()
    raise UsageError(f"unknown approver {name!r}; choose one of {', '.join(APPROVER_NAMES)}")

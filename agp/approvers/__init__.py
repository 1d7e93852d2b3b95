"""Approver channels for the gate's approvals broker: the terminal (rich) and Slack (Block Kit).

The demo's automatic approver and CI's no-approver live in :mod:`agp.gate.approvals`
(``UnsafeAutoApprover``, ``NoApprover``); :func:`make_approver` builds any of them by name.
"""

from __future__ import annotations

from typing import Any

from agp.approvers.slack import SlackApprover
from agp.approvers.terminal import TerminalApprover
from agp.errors import UsageError
from agp.gate.approvals import Approver, NoApprover, UnsafeAutoApprover

__all__ = ("APPROVER_NAMES", "NoApprover", "SlackApprover", "TerminalApprover", "UnsafeAutoApprover", "make_approver")

APPROVER_NAMES = ("terminal", "slack", "none", "auto")


def make_approver(name: str, **kw: Any) -> Approver:
    """``terminal`` (kw: console), ``slack`` (kw: client, channel, signing_secret, port...; without ``client``: from the environment, see
    :meth:`SlackApprover.from_env`), ``none``, ``auto``."""
    if name == "terminal":
        return TerminalApprover(**kw)
    if name == "slack":
        return SlackApprover(**kw) if "client" in kw else SlackApprover.from_env(**kw)
    if name == "none":
        return NoApprover()
    if name == "auto":
        return UnsafeAutoApprover()
    raise UsageError(f"unknown approver {name!r}; choose one of {', '.join(APPROVER_NAMES)}")

"""The terminal approver: a rich prompt for each pending approval, answered with one key.

It prints through the console it is given. When that console hosts a rich
``Live`` view (``agp run``'s live table), rich renders each prompt above the
live region, so the prompt and the run view share the screen. Keys are read by
a background thread from the controlling terminal (``/dev/tty``, in cbreak mode
so no Enter is needed) or from any file descriptor the caller passes (tests
use a pipe):

    a / y   approve the current request      d / n   deny it
    TAB     show the next pending request    ?       show the current one again

The person at the keyboard answers as ``terminal:<login>`` (``SUDO_USER`` when
set). A terminal is one human: it cannot meet a quorum of two on its own.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import select
import threading
import time
from collections import OrderedDict
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from agp.errors import ApprovalError
from agp.gate.approvals import Answer, ApprovalBroker, ApprovalRequest, ApprovalResult

__all__ = ("TerminalApprover", "render_request", "write_preview")

log = logging.getLogger(__name__)

_APPROVE = {"a", "y", "A", "Y"}
_DENY = {"d", "n", "D", "N"}


def render_request(req: ApprovalRequest, *, index: int = 1, total: int = 1) -> Panel:
    """The prompt: harness, session, tool, statements, matching rules, call digest, keys."""
    t = Table.grid(padding=(0, 1))
    t.add_column(style="bold", no_wrap=True)
    t.add_column(overflow="fold")
    t.add_row("harness", req.harness)
    t.add_row("session", req.session)
    t.add_row("tool", req.tool)
    t.add_row(
        "rule",
        f"{req.rule or '-'}  (quorum {req.quorum}"
        + (f", group {req.approver_group}" if req.approver_group else "")
        + ")",
    )
    t.add_row("matched", ", ".join(req.matched) or "-")
    t.add_row("why", req.reason)
    st = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    st.add_column("#", justify="right")
    st.add_column("kind")
    st.add_column("statement", overflow="fold")
    st.add_column("effect")
    st.add_column("rule")
    for i, s in enumerate(req.statements, 1):
        eff = str(s.get("effect", ""))
        st.add_row(
            str(i),
            str(s.get("kind", "")),
            str(s.get("text", "")),
            Text(eff, style={"allow": "green", "deny": "red", "require": "yellow"}.get(eff, "")),
            str(s.get("rule") or "-"),
        )
    if not req.statements:
        st.add_row("-", "-", str(req.call.get("input", ""))[:200], "require", req.rule or "-")
    preview = write_preview(req.tool, req.call.get("input"))
    digest = Text(f"call sha256 {req.call_digest}", style="dim")
    left = max(0, int(req.expires - time.time()))
    keys = Text.assemble(
        ("[a]", "bold green"),
        " approve   ",
        ("[d]", "bold red"),
        " deny   ",
        ("[TAB]", "bold"),
        " next   ",
        (f"expires in {left}s", "dim"),
    )
    title = f"approval needed ({index}/{total}) · {req.key}"
    parts: list[RenderableType] = [t, st, *([preview] if preview is not None else []), digest, keys]
    return Panel(Group(*parts), title=title, border_style="yellow", expand=True)


#: how many lines of what a Write or Edit would write the prompt shows
PREVIEW_LINES = 40


def _clip(lines: list[str], styles: list[str]) -> Text:
    from agp._live import printable

    out = Text()
    for line, style in list(zip(lines, styles, strict=True))[:PREVIEW_LINES]:
        out.append(printable(line.rstrip("\n")) + "\n", style=style)
    if len(lines) > PREVIEW_LINES:
        out.append(f"… {len(lines) - PREVIEW_LINES} more lines\n", style="dim")
    return out


def write_preview(tool: str, tool_input: Any) -> Panel | None:
    """What a Write would write (the content), an Edit would change (a unified diff of old_string ->
    new_string; each edit of a MultiEdit), or a patch would apply (Codex's apply_patch): agent text,
    shown with control characters escaped and cut at PREVIEW_LINES."""
    import difflib

    if not isinstance(tool_input, dict):
        return None
    path = str(tool_input.get("file_path") or tool_input.get("path") or "")
    if tool == "Write" and isinstance(tool_input.get("content"), str):
        lines: list[str] = tool_input["content"].splitlines() or [""]
        return Panel(
            _clip(lines, [""] * len(lines)),
            title=f"would write {path} ({len(lines)} lines)",
            title_align="left",
            border_style="dim",
        )
    edits = []
    if tool == "Edit":
        edits = [tool_input]
    elif tool == "MultiEdit" and isinstance(tool_input.get("edits"), list):
        edits = [e for e in tool_input["edits"] if isinstance(e, dict)]
    if edits:
        lines = []
        for e in edits:
            old, new = e.get("old_string"), e.get("new_string")
            if not isinstance(old, str) or not isinstance(new, str):
                continue
            lines += list(
                difflib.unified_diff(
                    old.splitlines(), new.splitlines(), f"{path} (before)", f"{path} (after)", lineterm="", n=2
                )
            )
        if lines:
            styles = [
                "bold"
                if ln.startswith(("---", "+++"))
                else "green"
                if ln.startswith("+")
                else "red"
                if ln.startswith("-")
                else "cyan"
                if ln.startswith("@@")
                else ""
                for ln in lines
            ]
            return Panel(_clip(lines, styles), title=f"would change {path}", title_align="left", border_style="dim")
    patch = tool_input.get("patch") or tool_input.get("input")
    if isinstance(patch, str) and "*** Begin Patch" in patch:
        lines = patch.splitlines()
        styles = ["green" if ln.startswith("+") else "red" if ln.startswith("-") else "" for ln in lines]
        return Panel(_clip(lines, styles), title="would apply this patch", title_align="left", border_style="dim")
    return None


class TerminalApprover:
    """Ask on a terminal. ``console`` is where prompts go (share the live view's console)."""

    name = "terminal"

    def __init__(self, console: Console | None = None, *, key_fd: int | None = None, user: str | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self._key_fd = key_fd
        self._own_fd = False
        self.user = user or os.environ.get("SUDO_USER") or _login()
        self._broker: ApprovalBroker | None = None
        self._lock = threading.Lock()
        self._queue: OrderedDict[str, ApprovalRequest] = OrderedDict()  # nonce -> request
        self._current: str | None = None
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = -1, -1
        self._saved_tty: Any = None
        self._closed_input = False
        self._started = False

    # ------------------------------------------------------------ lifecycle
    def bind(self, broker: ApprovalBroker) -> None:
        self._broker = broker

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        if self._key_fd is None:
            try:
                self._key_fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC)
                self._own_fd = True
            except OSError:
                self._key_fd = None
                self._closed_input = True
                log.warning("no terminal to read approvals from; every approval will be denied")
                return
        if os.isatty(self._key_fd):
            import termios
            import tty

            try:
                self._saved_tty = termios.tcgetattr(self._key_fd)
                tty.setcbreak(self._key_fd)
            except termios.error:
                self._saved_tty = None
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._read_keys, name="agp-terminal-approver", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        if self._saved_tty is not None and self._key_fd is not None:
            import termios

            with contextlib.suppress(termios.error):
                termios.tcsetattr(self._key_fd, termios.TCSADRAIN, self._saved_tty)
            self._saved_tty = None
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1
        if self._own_fd and self._key_fd is not None:
            os.close(self._key_fd)
            self._key_fd = None

    # ------------------------------------------------------------- approver
    async def ask(self, request: ApprovalRequest) -> None:
        if not self._started:
            self.start()
        if self._closed_input or self._key_fd is None:
            raise ApprovalError("no terminal is available to ask for approval")
        with self._lock:
            self._queue[request.nonce] = request
            if self._current is None:
                self._current = request.nonce
            show = self._current == request.nonce
            n = len(self._queue)
        if show:
            self._show(request)
        else:
            self.console.print(Text(f"⏳ approval {request.key} queued ({n} pending; TAB to switch)", style="yellow"))

    async def resolved(self, result: ApprovalResult) -> None:
        req = result.request
        if req is None:
            return
        with self._lock:
            was_current = self._current == req.nonce
            self._queue.pop(req.nonce, None)
            if was_current:
                self._current = next(iter(self._queue), None)
            nxt = self._queue.get(self._current) if (was_current and self._current) else None
        style = "green" if result.allowed else "red"
        self.console.print(
            Text(
                f"approval {req.key} ({req.tool}): {result.outcome.value}"
                + (f" — {', '.join(result.approvers)}" if result.approvers else ""),
                style=style,
            )
        )
        if nxt is not None:
            self._show(nxt)

    # ----------------------------------------------------------------- keys
    def _show(self, req: ApprovalRequest) -> None:
        with self._lock:
            keys = list(self._queue)
        idx = keys.index(req.nonce) + 1 if req.nonce in keys else 1
        self.console.print(render_request(req, index=idx, total=max(1, len(keys))))

    def _read_keys(self) -> None:
        fd = self._key_fd
        if fd is None:
            raise RuntimeError("internal error: fd is not set")
        while True:
            try:
                ready, _, _ = select.select([fd, self._wake_r], [], [])
            except (OSError, ValueError):
                break
            if self._wake_r in ready:
                return
            try:
                data = os.read(fd, 64)
            except OSError:
                data = b""
            if not data:
                break
            for ch in data.decode("utf-8", "ignore"):
                try:
                    self.on_key(ch)
                except Exception:  # a key must never kill the reader
                    log.exception("terminal approver key handling failed")
        self._closed_input = True

    def on_key(self, ch: str) -> None:
        """Handle one key (public so a host UI with its own key loop can forward keys)."""
        with self._lock:
            req = self._queue.get(self._current) if self._current else None
        if ch == "\t":
            with self._lock:
                keys = list(self._queue)
                if keys and self._current in keys:
                    self._current = keys[(keys.index(self._current) + 1) % len(keys)]
                req = self._queue.get(self._current) if self._current else None
            if req is not None:
                self._show(req)
            return
        if ch == "?" and req is not None:
            self._show(req)
            return
        if req is None or (ch not in _APPROVE and ch not in _DENY) or self._broker is None:
            return
        approve = ch in _APPROVE
        res = self._broker.answer(
            Answer(
                nonce=req.nonce,
                session=req.session,
                approve=approve,
                user_id=f"terminal:{self.user}",
                via="terminal",
                user_name=self.user,
                call_digest=req.call_digest,
            )
        )
        if not res.accepted:
            self.console.print(Text(f"approval {req.key}: {res.detail}", style="red"))
        elif res.outcome is None:
            self.console.print(Text(f"approval {req.key}: {res.detail}", style="yellow"))


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001
        return f"uid{os.getuid()}"

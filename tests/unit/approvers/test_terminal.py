"""agp.approvers.terminal: prompts render the call, keys answer it, and it works under a rich Live view."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import anyio
import pytest
from rich.console import Console
from rich.live import Live
from rich.text import Text

from agp.approvers.terminal import TerminalApprover
from agp.gate.approvals import ApprovalBroker, Outcome
from agp.gate.protocol import call_digest
from agp.journal import Journal, init_keys

pytestmark = pytest.mark.anyio

CALL = {"id": "r1", "harness": "claude-code", "tool": "Bash", "input": {"command": "git commit -m x"}, "cwd": "/ws"}
STATEMENTS = [{"kind": "exec", "text": "git status", "effect": "allow", "rule": "read-git"},
              {"kind": "exec", "text": "git commit -m x", "effect": "require", "rule": "commit-needs-approval"}]


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def journal(tmp_path: Path):
    j = Journal.open(tmp_path / "j.jsonl", init_keys(tmp_path / "keys"))
    yield j
    j.close()


def console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=True, width=140, color_system=None), buf


async def run(broker, keys_w: int, keys: bytes, *, quorum: int = 1, session: str = "s1"):
    out = {}

    async def waiter():
        out["r"] = await broker.require(session=session, call=CALL, call_digest=call_digest(CALL),
                                        statements=STATEMENTS, rule="commit-needs-approval",
                                        matched=["read-git", "commit-needs-approval"], reason="approval required",
                                        quorum=quorum)

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        while not broker.pending():
            await anyio.sleep(0.01)
        await anyio.sleep(0.05)
        os.write(keys_w, keys)
    return out["r"]


async def test_prompt_shows_the_call_and_a_key_approves(journal):
    con, buf = console()
    r_fd, w_fd = os.pipe()
    ap = TerminalApprover(con, key_fd=r_fd, user="alice")
    broker = ApprovalBroker([ap], record=journal.append, timeout=10)
    broker.start()
    try:
        r = await run(broker, w_fd, b"a")
    finally:
        broker.close()
        os.close(w_fd)
        os.close(r_fd)
    assert r.outcome is Outcome.APPROVED and r.approvers == ("terminal:alice",)
    text = buf.getvalue()
    for needle in ("claude-code", "s1", "Bash", "git commit -m x", "git status", "commit-needs-approval",
                   "read-git", call_digest(CALL), "[a]", "[d]"):
        assert needle in text, needle
    assert "approved" in text
    body = [json.loads(x) for x in journal.path.read_bytes().splitlines()]
    assert [e["body"]["via"] for e in body if e["kind"] == "approval.answer"] == ["terminal"]


async def test_deny_key_and_unrelated_keys(journal):
    con, buf = console()
    r_fd, w_fd = os.pipe()
    ap = TerminalApprover(con, key_fd=r_fd, user="bob")
    broker = ApprovalBroker([ap], record=journal.append, timeout=10)
    broker.start()
    try:
        r = await run(broker, w_fd, b"xz?\rd")
    finally:
        broker.close()
        os.close(w_fd)
        os.close(r_fd)
    assert r.outcome is Outcome.DENIED and r.denied_by == "terminal:bob"


async def test_works_while_a_live_view_is_on_screen(journal):
    con, buf = console()
    r_fd, w_fd = os.pipe()
    ap = TerminalApprover(con, key_fd=r_fd, user="carol")
    broker = ApprovalBroker([ap], record=journal.append, timeout=10)
    broker.start()
    try:
        with Live(Text("LIVE-RUN-TABLE"), console=con, refresh_per_second=20, transient=False) as live:
            r = await run(broker, w_fd, b"y")
            live.update(Text("LIVE-RUN-TABLE done"))
    finally:
        broker.close()
        os.close(w_fd)
        os.close(r_fd)
    assert r.outcome is Outcome.APPROVED
    text = buf.getvalue()
    assert "approval needed" in text and "LIVE-RUN-TABLE" in text
    # the prompt was printed through the live console (above the live region), not lost
    assert text.index("approval needed") < text.rindex("LIVE-RUN-TABLE")


async def test_one_terminal_cannot_meet_a_quorum_of_two(journal):
    con, _ = console()
    r_fd, w_fd = os.pipe()
    ap = TerminalApprover(con, key_fd=r_fd, user="dave")
    broker = ApprovalBroker([ap], record=journal.append, timeout=0.6)
    broker.start()
    try:
        r = await run(broker, w_fd, b"aaa", quorum=2)
    finally:
        broker.close()
        os.close(w_fd)
        os.close(r_fd)
    assert r.outcome is Outcome.TIMED_OUT and "quorum not met: 1 of 2" in r.detail


async def test_closed_terminal_is_unreachable(journal):
    con, _ = console()
    r_fd, w_fd = os.pipe()
    os.close(w_fd)  # EOF at once: nobody is at the keyboard
    ap = TerminalApprover(con, key_fd=r_fd, user="eve")
    broker = ApprovalBroker([ap], record=journal.append, timeout=5)
    broker.start()
    await anyio.sleep(0.1)
    try:
        r = await broker.require(session="s1", call=CALL, call_digest=call_digest(CALL), rule="x")
    finally:
        broker.close()
        os.close(r_fd)
    assert r.outcome is Outcome.UNREACHABLE and "no terminal" in r.detail

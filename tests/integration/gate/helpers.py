"""Helpers for the gate over its real Unix socket: a real journal, real keys, the real policy engine."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
from pathlib import Path
from typing import Any, AsyncIterator

import anyio
import pytest

from agp.gate import GateServer, SessionTable
from agp.gate.approvals import ApprovalRequest, ApprovalResult
from agp.journal import Journal, Keyring, init_keys, verify_journal
from agp.policy import load_policy

POLICY = """
[policy]
name = "gate-test"

[[rule]]
id = "allow-ls"
effect = "allow"
program = ["ls", "echo", "cat"]
location = ["inside", "root", "null"]

[[rule]]
id = "commit-needs-approval"
effect = "require"
program = ["git"]
subcommand = ["commit"]

[[rule]]
id = "release-needs-two"
effect = "require"
program = ["make"]
subcommand = ["release"]
quorum = 2

[[rule]]
id = "no-rm"
effect = "deny"
program = ["rm"]
"""


def check(cmd: str, *, rid: str = "r1", session: str = "s1", **kw: Any) -> dict[str, Any]:
    d = {"v": 1, "type": "check", "id": rid, "session": session, "harness": "claude-code", "tool": "Bash",
         "input": {"command": cmd}, "cwd": "/workspace", "tool_use_id": f"toolu_{rid}"}
    d.update(kw)
    return d


def frame(obj: Any) -> bytes:
    b = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return struct.pack(">I", len(b)) + b


def raw_exchange(path: Path, data: bytes, *, read: bool = True, timeout: float = 10.0) -> dict | None:
    """Send raw bytes over a blocking socket; read one reply frame (None if the gate closed)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(path))
        s.sendall(data)
        if not read:
            return None
        head = b""
        while len(head) < 4:
            c = s.recv(4 - len(head))
            if not c:
                return None
            head += c
        (n,) = struct.unpack(">I", head)
        body = b""
        while len(body) < n:
            c = s.recv(n - len(body))
            if not c:
                return None
            body += c
        return json.loads(body)
    finally:
        s.close()


class Channel:
    """A scripted approver channel (the broker and the gate are real; Slack/terminal have their own tests)."""

    name = "scripted"

    def __init__(self) -> None:
        self.asked: list[ApprovalRequest] = []
        self.results: list[ApprovalResult] = []
        self.broker = None
        self.cond = threading.Condition()

    def bind(self, broker):
        self.broker = broker

    def start(self):
        pass

    def close(self):
        pass

    async def ask(self, request):
        with self.cond:
            self.asked.append(request)
            self.cond.notify_all()

    async def resolved(self, result):
        self.results.append(result)

    def wait_asked(self, n: int = 1, timeout: float = 10.0) -> ApprovalRequest:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.asked) >= n, timeout), "the approver was never asked"
            return self.asked[n - 1]


class GateEnv:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.key = init_keys(tmp / "keys")
        self.policy_path = tmp / "policy.toml"
        self.policy_path.write_text(POLICY)
        self.journal_path = tmp / "journal.jsonl"
        self.sock_dir = tmp / "sock"
        self.events: list = []

    @property
    def socket(self) -> Path:
        return self.sock_dir / "gate.sock"

    def entries(self) -> list[dict]:
        return [json.loads(line) for line in self.journal_path.read_bytes().splitlines()]

    def kinds(self, kind: str) -> list[dict]:
        return [e for e in self.entries() if e["kind"] == kind]

    def verify(self):
        return verify_journal(self.journal_path, Keyring.from_public_key(self.key.public))

    @contextlib.asynccontextmanager
    async def running(self, *, journal: Journal | None = None, sessions: SessionTable | None = None,
                      register: tuple[str, ...] = ("s1",), on_event_extra: Any = None,
                      **kw: Any) -> AsyncIterator[GateServer]:
        j = journal if journal is not None else Journal.open(self.journal_path, self.key)

        def on_event(ev):
            self.events.append(ev)
            if on_event_extra is not None:
                on_event_extra(ev)

        server = GateServer(socket_dir=self.sock_dir, policy=load_policy(self.policy_path), journal=j,
                            sessions=sessions, own_journal=True, on_event=on_event, **kw)
        for sid in register:
            server.register_session(sid)
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(server.serve)
                try:
                    yield server
                finally:
                    server.shutdown()
        except BaseExceptionGroup as eg:  # surface the one real error (tests match on it)
            if len(eg.exceptions) == 1:
                raise eg.exceptions[0] from None
            raise

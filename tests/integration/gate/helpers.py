"""Helpers for the gate over its real Unix socket: a real journal, real keys, the real policy engine."""

from __future__ import annotations

import contextlib
import json
import os
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


# --------------------------------------------------------------------------- a gate in its own process

_GATE_PROC = r"""
import json, os, resource, signal, sys, threading
import anyio
from agp.gate import GateServer, SessionTable
from agp.journal import Journal, load_signing_key
from agp.policy import load_policy

cfg = json.loads(sys.argv[1])
journal = Journal.open(cfg["journal"], load_signing_key(cfg["keys"]))
sessions = SessionTable(**cfg.get("sessions", {}))
server = GateServer(socket_dir=cfg["sock"], policy=load_policy(cfg["policy"]), journal=journal, own_journal=True,
                    sessions=sessions, **cfg.get("server", {}))

async def main():
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        for sid in cfg.get("register", []):
            server.register_session(sid)
        if cfg.get("nofile_after_start"):  # as if the rest of the process had used the descriptors up
            resource.setrlimit(resource.RLIMIT_NOFILE, (cfg["nofile_after_start"], resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        print("ready", server.connection_cap, flush=True)
        with anyio.open_signal_receiver(signal.SIGTERM) as sigs:
            async for _ in sigs:
                server.shutdown()
                break

anyio.run(main)
print(json.dumps({"counters": server.counters, "decisions": server.decisions}), flush=True)
"""


class GateProcess:
    """The real GateServer in its own process (for RSS, descriptor limits and CPU time)."""

    def __init__(self, env: "GateEnv", *, server: dict | None = None, sessions: dict | None = None,
                 register: tuple[str, ...] = ("s1",), nofile_after_start: int | None = None) -> None:
        import subprocess
        import sys

        cfg = {"journal": str(env.journal_path), "keys": str(env.tmp / "keys"), "sock": str(env.sock_dir),
               "policy": str(env.policy_path), "server": server or {}, "sessions": sessions or {},
               "register": list(register), "nofile_after_start": nofile_after_start}
        self.proc = subprocess.Popen([sys.executable, "-c", _GATE_PROC, json.dumps(cfg)], stdout=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("ready"), f"the gate process did not start: {line!r}"
        self.cap = int(line.split()[1])
        self.pid = self.proc.pid

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> dict:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, out
        return json.loads(out.strip().splitlines()[-1])


def suppressed(entries: list[dict], kind_prefix: str) -> int:
    """Events of a flood-guard kind (prefix) counted in gate.suppressed entries instead of their own."""
    return sum(v["count"] for e in entries if e["kind"] == "gate.suppressed"
               for k, v in e["body"]["kinds"].items() if k.startswith(kind_prefix))

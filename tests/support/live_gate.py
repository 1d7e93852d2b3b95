"""The real agp gate (agp.gate.GateServer, real journal and keys, real policy) running in a
background thread, for tests that drive a blocking subprocess (a harness, a bridge benchmark).

    with live_gate(tmp, policy_path, session="run-1") as g:
        ...  # g.socket is the Unix socket; g.decisions() the gate.decision bodies so far
    g.verify()  # the journal verifies offline with the public key

The approver is :class:`MarkerApprover`: a human-like channel (a non-bot user id)
that approves a pending call only when its input contains ``approve-me`` and
never answers the others, so they run into the gate's approval timeout.
"""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path
from typing import Any, Iterator

import anyio
import anyio.from_thread

from agp.gate import Answer, GateServer
from agp.journal import Journal, Keyring, init_keys, verify_journal
from agp.policy import load_policy

__all__ = ["LiveGate", "MarkerApprover", "live_gate"]


class MarkerApprover:
    name = "conformance"

    def __init__(self, marker: str = "approve-me") -> None:
        self.marker = marker
        self.broker: Any = None
        self.asked: list[Any] = []
        self.results: list[Any] = []

    def bind(self, broker: Any) -> None:
        self.broker = broker

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    async def ask(self, request: Any) -> None:
        self.asked.append(request)
        if self.marker in json.dumps(request.call):
            ans = Answer(request.nonce, request.session, True, user_id="test:conformance", via="conformance",
                         user_name="conformance operator", call_digest=request.call_digest)
            await anyio.to_thread.run_sync(self.broker.answer, ans)

    async def resolved(self, result: Any) -> None:
        self.results.append(result)


class LiveGate:
    def __init__(self, tmp: Path, server: GateServer, journal_path: Path, key: Any, approver: MarkerApprover):
        self.tmp = tmp
        self.server = server
        self.journal_path = journal_path
        self.key = key
        self.approver = approver
        self.stopped = threading.Event()

    @property
    def socket(self) -> str:
        return str(self.server.socket_path)

    def stop(self) -> None:
        """Shut the gate down (any thread): stops accepting, answers in-flight calls, writes the head."""
        self.server.shutdown()
        self.stopped.set()

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.journal_path.read_bytes().splitlines() if line.strip()]

    def decisions(self) -> list[dict[str, Any]]:
        return [e["body"] for e in self.entries() if e["kind"] == "gate.decision"]

    def verify(self) -> Any:
        return verify_journal(self.journal_path, Keyring.from_public_key(self.key.public))


@contextlib.contextmanager
def live_gate(
    tmp: Path,
    policy_path: Path,
    *,
    session: str,
    harness: str = "conformance",
    approval_timeout: float = 3.0,
    workspace: str = "/workspace",
) -> Iterator[LiveGate]:
    tmp.mkdir(parents=True, exist_ok=True)
    key = init_keys(tmp / "keys")
    jpath = tmp / "journal.jsonl"
    journal = Journal.open(jpath, key)
    approver = MarkerApprover()
    server = GateServer(socket_dir=tmp / "sock", policy=load_policy(policy_path), journal=journal, approvers=[approver],
                        approval_timeout=approval_timeout, own_journal=True, workspace=workspace)
    g = LiveGate(tmp, server, jpath, key, approver)
    with anyio.from_thread.start_blocking_portal() as portal:
        fut, _ = portal.start_task(server.serve)
        server.register_session(session, harness=harness)
        try:
            yield g
        finally:
            if not g.stopped.is_set():
                g.stop()
            fut.result(timeout=60)

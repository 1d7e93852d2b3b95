"""A relay flooded with connections must not take the gate down: both serve from one process (as `agp run`
starts them, agp/run.py), so descriptors the relay takes are descriptors the gate cannot accept with.

The gate and the relay run in a child process with RLIMIT_NOFILE = 256 (real journal, keys, policy; a real
upstream on 127.0.0.1); the test opens 600 connections to the relay and holds them, then asks the gate.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.integration.gate.helpers import POLICY, check, frame, raw_exchange
from tests.integration.sandbox._upstream import Upstream as ScriptedUpstream

REPO = Path(__file__).resolve().parents[3]
NOFILE = 256
FLOOD = 600

CHILD = textwrap.dedent("""
    import json, resource, sys
    from pathlib import Path
    import anyio
    resource.setrlimit(resource.RLIMIT_NOFILE, (%(nofile)d, %(nofile)d))
    from agp.gate import GateServer
    from agp.journal import Journal, init_keys
    from agp.policy import load_policy
    from agp.sandbox.relay import Credential, ModelRelay, RelayRules, Upstream

    tmp, upstream = Path(sys.argv[1]), sys.argv[2]

    async def main():
        key = init_keys(tmp / "keys")
        journal = Journal.open(tmp / "journal.jsonl", key)
        gate = GateServer(socket_dir=tmp / "sock", policy=load_policy(tmp / "policy.toml"), journal=journal,
                          approvers=[], own_journal=True)
        relay = ModelRelay(tmp / "sock" / "relay.sock", Upstream.parse(upstream), Credential("x-api-key", "k" * 20),
                           rules=RelayRules.for_provider("anthropic"))
        async with anyio.create_task_group() as tg:   # as agp.run._run_phases: one task group, one process
            await tg.start(gate.serve)
            gate.register_session("s1")
            await tg.start(relay.serve)
            print("READY", json.dumps({"gate": str(gate.socket_path), "cap": relay.connection_cap}), flush=True)
            await anyio.to_thread.run_sync(sys.stdin.read)   # until the test closes stdin
            print("STATS", json.dumps(relay.stats), flush=True)
            gate.shutdown()
            tg.cancel_scope.cancel()

    anyio.run(main)
""") % {"nofile": NOFILE}


@pytest.fixture
def pair(tmp_path):
    (tmp_path / "policy.toml").write_text(POLICY)
    with ScriptedUpstream() as up:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        p = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), up.url], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        line = p.stdout.readline()
        assert line.startswith("READY"), (line, p.stderr.read() if p.poll() is not None else "")
        info = json.loads(line.split(" ", 1)[1])
        try:
            yield p, info, tmp_path / "sock" / "relay.sock", up
        finally:
            if p.poll() is None:
                p.kill()
            p.wait(10)


def _flood(relay_sock: Path, what: bytes) -> list[socket.socket]:
    held = []
    for _ in range(FLOOD):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        try:
            s.connect(str(relay_sock))
            if what:
                s.sendall(what)
        except OSError:
            s.close()
            continue
        held.append(s)
    return held


def _finish(p) -> dict:
    out, err = p.communicate(timeout=30)
    stats = [ln for ln in out.splitlines() if ln.startswith("STATS")]
    assert p.returncode == 0 and stats, (out, err[-3000:])
    return json.loads(stats[0].split(" ", 1)[1])


@pytest.mark.parametrize("what", [b"", b"POST /v1/messages HTTP/1.1\r\n",
                                  b"POST /v1/messages HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"],
                         ids=["idle", "slow-head", "slow-body"])
def test_a_relay_flood_leaves_the_gate_answering(pair, what):
    p, info, relay_sock, up = pair
    assert info["cap"] == NOFILE // 4 // 2  # 2 descriptors per connection within a quarter of the limit
    held = _flood(relay_sock, what)
    try:
        time.sleep(0.5)  # let the relay accept (and refuse) what it will
        # the gate still decides, and journals, in the same process
        for i in range(5):
            v = raw_exchange(Path(info["gate"]), frame(check("ls -la", rid=f"a{i}")), timeout=10)
            assert v is not None and v["decision"] == "allow", v
        deny = raw_exchange(Path(info["gate"]), frame(check("rm -rf /", rid="d")), timeout=10)
        assert deny is not None and deny["decision"] == "deny"
        # and the relay still serves a well-behaved request, unless the flood holds bodies in every place
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(str(relay_sock))
        body = b'{"model": "m", "messages": []}'
        s.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        status = int(s.recv(65536).split(b" ", 2)[1])
        s.close()
        assert status == (503 if what.endswith(b"{") else 200)
        assert p.poll() is None, "the process serving gate and relay died"
    finally:
        for s in held:
            s.close()
    stats = _finish(p)
    assert stats["over_capacity"] + stats["evicted"] >= FLOOD - info["cap"], stats

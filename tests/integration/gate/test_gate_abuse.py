"""The gate under abuse from inside a box: slow frames, too many connections, no descriptors left,
partial 1 MiB frames, and floods of frames that must not flood the journal.

Real gate on a real Unix socket, real journal (fsync'd, signed, verified at the end), real
policy engine; attackers are raw sockets. Where memory, descriptors or CPU time are measured the
gate runs in its own process (:class:`GateProcess`). The latency figures under each attack are in
``bench/gate.py --attacks``; here only what must hold.
"""

from __future__ import annotations

import hashlib
import json
import socket
import struct
import threading
import time
from pathlib import Path

import anyio
import pytest

from agp.gate import MAX_FRAME, SessionTable, request_verdict
from agp.journal.canonical import canonicalize
from agp.policy import load_policy
from agp.policy.explain import replay_decisions
from tests.integration.gate.helpers import GateEnv, GateProcess, check, frame, raw_exchange, suppressed

pytestmark = pytest.mark.anyio

MIB = 1 << 20


async def ask(env: GateEnv, req) -> dict | None:
    return await anyio.to_thread.run_sync(lambda: raw_exchange(env.socket, frame(req)))


def connect(path: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)  # a gate that stopped accepting fills its backlog: connect would block for ever
    s.connect(str(path))
    s.settimeout(None)
    return s


def journal_size(env: GateEnv) -> int:
    return env.journal_path.stat().st_size


def wait_for(pred, timeout: float = 10.0, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def individually(env: GateEnv, kind: str, **match) -> list[dict]:
    return [e for e in env.entries() if e["kind"] == kind and all(e["body"].get(k) == v for k, v in match.items())]


# --------------------------------------------------------------------------- slowloris


async def test_slowloris_connections_are_closed_at_the_frame_deadline_not_kept_by_each_byte(env):
    """200 connections each start a frame and trickle one byte every 0.2 s: every one is closed
    about frame_timeout after its first byte, while a well-behaved client keeps being answered."""
    n, deadline = 200, 1.0
    async with env.running(frame_timeout=deadline, flood_burst=5):
        def attack() -> dict[int, float]:
            socks = []
            for _ in range(n):
                s = connect(env.socket)
                s.send(struct.pack(">I", 1000))
                s.setblocking(False)
                socks.append(s)
            t0, closed = time.monotonic(), {}
            while time.monotonic() - t0 < deadline + 4 and len(closed) < n:
                for i, s in enumerate(socks):
                    if i in closed:
                        continue
                    try:
                        s.send(b"{")
                        if s.recv(1) == b"":
                            closed[i] = time.monotonic() - t0
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:  # EPIPE / ECONNRESET: the gate closed it
                        closed[i] = time.monotonic() - t0
                time.sleep(0.2)
            for s in socks:
                s.close()
            return closed

        answers: list = []

        async def good_client():
            await anyio.sleep(0.3)
            for i in range(5):
                answers.append(await ask(env, check("ls -la", rid=f"g{i}")))
                await anyio.sleep(0.1)

        result: dict = {}
        async with anyio.create_task_group() as tg:
            tg.start_soon(good_client)
            result["closed"] = await anyio.to_thread.run_sync(attack)
    closed = result["closed"]
    assert len(closed) == n, f"{n - len(closed)} slow connections were still open {deadline + 4:g}s later"
    assert max(closed.values()) < deadline + 2.5
    assert [a["decision"] for a in answers] == ["allow"] * 5
    # every one of them is in the journal: a few one by one, the rest counted
    one_by_one = individually(env, "gate.frame_rejected", code="truncated")
    assert 1 <= len(one_by_one) <= 5
    assert len(one_by_one) + suppressed(env.entries(), "frame_rejected.truncated") == n
    env.verify()


# --------------------------------------------------------------------------- the connection cap


def exchange(s: socket.socket, rid: str) -> dict:
    s.sendall(frame(check("ls -la", rid=rid)))
    (k,) = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))
    return json.loads(s.recv(k, socket.MSG_WAITALL))


async def test_past_the_cap_an_idle_connection_makes_room_and_busy_ones_refuse_the_newcomer(env):
    cap = 40
    async with env.running(max_connections=cap, frame_timeout=30.0, evict_idle_after=0.5, flood_burst=3) as server:
        good = await anyio.to_thread.run_sync(connect, env.socket)
        idle = [await anyio.to_thread.run_sync(connect, env.socket) for _ in range(cap - 1)]
        assert await anyio.to_thread.run_sync(lambda: wait_for(lambda: len(server._conns) == cap))
        await anyio.sleep(0.6)
        # a hook bridge connects once per call: served, the longest-idle connection made room for it
        # (not the established client, which keeps calling)
        assert (await anyio.to_thread.run_sync(exchange, good, "e0"))["decision"] == "allow"
        v = await ask(env, check("ls", rid="bridge"))
        assert v is not None and v["decision"] == "allow"
        assert server.counters["connections_evicted"] >= 1

        # now every other connection is busy with a frame in progress
        for s in idle:
            s.close()
        assert await anyio.to_thread.run_sync(lambda: wait_for(lambda: len(server._conns) == 1))
        busy = []
        for _ in range(cap - 1):
            s = await anyio.to_thread.run_sync(connect, env.socket)
            s.sendall(struct.pack(">I", 4096) + b"{")
            busy.append(s)
        assert await anyio.to_thread.run_sync(lambda: wait_for(
            lambda: len(server._conns) == cap and server.frame_bytes >= cap - 1))

        def newcomer() -> tuple[bytes, float]:
            t = time.monotonic()
            s = connect(env.socket)
            s.settimeout(5)
            try:
                data = s.recv(1)
            except ConnectionResetError:
                data = b""
            s.close()
            return data, time.monotonic() - t

        assert (await anyio.to_thread.run_sync(exchange, good, "e1"))["decision"] == "allow"
        for _ in range(3):
            data, took = await anyio.to_thread.run_sync(newcomer)
            assert data == b"" and took < 1.0, "a connection past the cap was not refused at once"
        # the established client keeps being served
        for i in range(3):
            assert (await anyio.to_thread.run_sync(exchange, good, f"e{i + 2}"))["decision"] == "allow"
        refused = server.counters["connections_refused"]
        assert refused >= 3
        for s in busy + [good]:
            s.close()
    entries = env.entries()
    one_by_one = individually(env, "gate.connection", event="refused")
    assert len(one_by_one) + suppressed(entries, "connection.refused") == refused
    env.verify()


def test_out_of_descriptors_the_gate_refuses_does_not_spin_and_recovers(env):
    """The process's descriptor limit drops below what the connection cap allows: accept fails
    with EMFILE. The gate refuses the waiting connections (they are closed, not left hanging),
    does not spin, does not stop accepting, and serves again once descriptors come back."""
    g = GateProcess(env, server={"max_connections": 5000}, nofile_after_start=96)
    socks = []
    try:
        for _ in range(300):
            socks.append(connect(env.socket))
        time.sleep(1.0)
        cpu0 = g.cpu_seconds()
        time.sleep(2.0)
        burnt = g.cpu_seconds() - cpu0
        assert burnt < 0.5, f"the gate burnt {burnt:.2f}s of CPU in 2s while out of descriptors"
        closed = 0
        for s in socks:
            s.settimeout(0.01)
            try:
                closed += s.recv(1) == b""
            except ConnectionResetError:
                closed += 1
            except TimeoutError:
                pass
        assert closed >= 150, f"only {closed} of the connections past the descriptor limit were refused"
        for s in socks:
            s.close()
        socks.clear()
        time.sleep(0.5)
        v = request_verdict(str(env.socket), check("ls", rid="after"), timeout=10)
        assert v.decision == "allow", v.reason
    finally:
        for s in socks:
            s.close()
        out = g.stop()
    assert out["counters"]["accept_errors"] >= 1 and out["counters"]["connections_refused"] >= 150
    one_by_one = individually(env, "gate.connection", event="refused")
    assert len(one_by_one) + suppressed(env.entries(), "connection.refused") == out["counters"]["connections_refused"]
    env.verify()


# --------------------------------------------------------------------------- memory


def test_partial_1mib_frames_release_their_memory_when_their_connections_go(env):
    n = 200
    g = GateProcess(env, server={"frame_timeout": 60.0})
    try:
        base = g.rss_kib()
        socks = []
        for _ in range(n):
            s = connect(env.socket)
            s.sendall(struct.pack(">I", MAX_FRAME) + b"x" * (MAX_FRAME - 1))
            socks.append(s)
        wait_for(lambda: g.rss_kib() - base > n * 1024 * 0.8, timeout=20)
        peak = g.rss_kib()
        for s in socks:
            s.close()
        wait_for(lambda: g.rss_kib() - base < 48 * 1024, timeout=20)
        after = g.rss_kib()
        v = request_verdict(str(env.socket), check("ls", rid="after"), timeout=10)
    finally:
        g.stop()
    print(f"gate RSS: {base // 1024} MiB before, {peak // 1024} MiB with {n} partial 1 MiB frames, "
          f"{after // 1024} MiB after their connections closed")
    assert peak - base > n * 1024 * 0.8, "the attack did not reach the gate"
    assert after - base < 48 * 1024, f"the gate still holds {(after - base) // 1024} MiB after the connections closed"
    assert v.decision == "allow"
    one_by_one = individually(env, "gate.frame_rejected", code="truncated")
    assert len(one_by_one) + suppressed(env.entries(), "frame_rejected.truncated") == n
    assert all(e["body"]["size"] == MAX_FRAME + 3 for e in one_by_one)


async def test_frames_in_transit_are_held_within_the_memory_budget(env):
    async with env.running(frame_memory=4 * MIB, frame_timeout=30.0) as server:
        def attack():
            socks, replies = [], []
            for _ in range(8):
                s = connect(env.socket)
                s.settimeout(10)
                try:
                    s.sendall(struct.pack(">I", MAX_FRAME) + b"x" * (MAX_FRAME - 1))
                except OSError:
                    pass
                socks.append(s)
            wait_for(lambda: server.counters["frames_overloaded"] >= 4)
            held = server.frame_bytes
            for s in socks:
                try:
                    head = s.recv(4)
                except OSError:
                    head = b""
                if len(head) == 4:
                    replies.append(json.loads(s.recv(struct.unpack(">I", head)[0])))
                    s.close()
            return socks, replies, held

        socks, replies, held = await anyio.to_thread.run_sync(attack)
        assert held <= 4 * MIB
        assert len(replies) == 4 and all(r["decision"] == "deny" and "overloaded" in r["reason"] for r in replies)
        v = await ask(env, check("ls", rid="ok"))
        assert v["decision"] == "allow"
        for s in socks:
            s.close()
        assert await anyio.to_thread.run_sync(lambda: wait_for(lambda: server.frame_bytes == 0))
    env.verify()


# --------------------------------------------------------------------------- sessions


async def test_sessions_expire_after_their_idle_ttl(env):
    table = SessionTable(idle_ttl=0.5)
    async with env.running(sessions=table):
        assert (await ask(env, check("ls", rid="1")))["decision"] == "allow"
        await anyio.sleep(1.0)
        v = await ask(env, check("ls", rid="2"))
    assert v["decision"] == "deny" and "unknown_session" in v["reason"]
    expired = [e for e in env.kinds("gate.session") if e["body"]["event"] == "expire"]
    assert [e["session"] for e in expired] == ["s1"] and expired[0]["body"]["idle_s"] >= 0.5
    env.verify()


# --------------------------------------------------------------------------- the journal under a flood


async def test_a_1mib_denied_command_is_journaled_as_digest_size_and_prefix_a_small_one_whole(env):
    big_cmd = "rm -rf /workspace/" + "a" * (MAX_FRAME - 1000)
    async with env.running():
        before = journal_size(env)
        big = await ask(env, check(big_cmd, rid="big"))
        grew = journal_size(env) - before
        small = await ask(env, check("rm -rf /workspace/build", rid="small"))
        allowed_big = await ask(env, check("echo " + "b" * 12_000, rid="allowed"))  # under the classifier's 16 KiB cap
    assert big["decision"] == "deny" and small["decision"] == "deny" and allowed_big["decision"] == "allow"
    assert grew < 8 * 1024, f"a denied 1 MiB command grew the journal by {grew} bytes"
    by_id = {e["body"]["call"]["id"]: e for e in env.kinds("gate.decision")}
    call = by_id["big"]["body"]["call"]
    assert "input" not in call and call["tool_use_id"] == "toolu_big" and call["tool"] == "Bash"
    om = call["input_omitted"]
    assert om["size"] == len(canonicalize({"command": big_cmd}))
    assert om["sha256"] == hashlib.sha256(canonicalize({"command": big_cmd})).hexdigest()
    assert om["prefix"].startswith('{"command":"rm -rf /workspace/aaa') and len(om["prefix"]) <= 256
    assert by_id["big"]["body"]["effect"] == "deny" and by_id["big"]["body"]["policy_digest"]
    assert all(len(s.get("text", "")) <= 260 for s in by_id["big"]["body"]["statements"])
    # an ordinary denied command and an allowed call are journaled whole
    assert by_id["small"]["body"]["call"]["input"] == {"command": "rm -rf /workspace/build"}
    assert by_id["allowed"]["body"]["call"]["input"]["command"].endswith("b" * 12_000)
    # what `agp policy explain` replays: the small deny is the same, the big one says why it cannot be
    statuses = {r.seq: r.status for r in replay_decisions(env.entries(), load_policy(env.policy_path))}
    assert statuses[by_id["big"]["seq"]] == "input-omitted"
    assert statuses[by_id["small"]["seq"]] == "same" and statuses[by_id["allowed"]["seq"]] == "same"
    env.verify()


async def test_a_flood_of_1mib_unknown_session_frames_costs_the_journal_a_few_kib(env):
    n = 60
    async with env.running(flood_burst=10):
        before = journal_size(env)

        def flood():
            s = connect(env.socket)
            out = []
            for i in range(n):
                req = check("ls " + "c" * (MAX_FRAME - 1000), rid=f"u{i}", session="intruder")
                s.sendall(frame(req))
                (k,) = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))
                out.append(json.loads(s.recv(k, socket.MSG_WAITALL)))
            s.close()
            return out

        replies = await anyio.to_thread.run_sync(flood)
        assert all(r["decision"] == "deny" and "unknown_session" in r["reason"] for r in replies)
        assert (await ask(env, check("ls", rid="legit")))["decision"] == "allow"
    grew = journal_size(env) - before
    assert grew < n * 1024, f"{n} refused 1 MiB frames grew the journal by {grew} bytes"
    refused = [e for e in env.kinds("gate.decision") if e["body"].get("refusal") == "unknown_session"]
    assert len(refused) == 10 and all("input" not in e["body"]["call"] for e in refused)
    entries = env.entries()
    assert len(refused) + suppressed(entries, "refusal.unknown_session") == n
    sup = [e for e in entries if e["kind"] == "gate.suppressed"]
    assert sup[-1]["body"]["kinds"]["refusal.unknown_session"]["sessions"] == {"intruder": n - 10}
    env.verify()


async def test_repeated_identical_garbage_is_counted_not_journaled_line_by_line(env):
    n = 1000
    garbage = b"\x1b[2J not json " * 100
    async with env.running(flood_burst=20):
        def flood():
            s = connect(env.socket)
            sender = threading.Thread(target=s.sendall, args=(frame(garbage) * n,))  # read while it sends
            sender.start()
            got, buf = 0, b""
            while got < n:
                buf += s.recv(65536)
                while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:
                    k = struct.unpack(">I", buf[:4])[0]
                    assert json.loads(buf[4:4 + k])["decision"] == "deny"
                    buf = buf[4 + k:]
                    got += 1
            sender.join()
            s.close()
            return got

        assert await anyio.to_thread.run_sync(flood) == n
    rejected = env.kinds("gate.frame_rejected")
    assert len(rejected) == 20
    assert rejected[0]["body"]["size"] == len(garbage) and rejected[0]["body"]["code"] == "not_json"
    assert rejected[0]["body"]["prefix"].startswith("\\x1b[2J not json")  # rendered, never raw control bytes
    sup = [e for e in env.entries() if e["kind"] == "gate.suppressed"]
    counted = sup[-1]["body"]["kinds"]["frame_rejected.not_json"]
    assert counted["count"] == n - 20 and counted["distinct_digests"] == 1 and counted["bytes"] == (n - 20) * len(garbage)
    env.verify()


async def test_rate_limited_calls_past_the_budget_are_counted(env):
    async with env.running(sessions=SessionTable(rate=5, window=60.0), flood_burst=10):
        def go():
            s = connect(env.socket)
            out = []
            for i in range(100):
                s.sendall(frame(check("ls", rid=f"r{i}")))
                (k,) = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))
                out.append(json.loads(s.recv(k, socket.MSG_WAITALL)))
            s.close()
            return out

        replies = await anyio.to_thread.run_sync(go)
    assert [r["decision"] for r in replies].count("allow") == 5
    limited = [e for e in env.kinds("gate.decision") if e["body"].get("refusal") == "rate_limited"]
    assert len(limited) == 10
    assert len(limited) + suppressed(env.entries(), "refusal.rate_limited") == 95
    assert all(r["seq"] is None for r in replies[15:])
    env.verify()

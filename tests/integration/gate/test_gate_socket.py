"""The gate over its real Unix socket: decisions, the fail-closed rows, concurrency, draining.

Real journal (fsync'd, signed), real keys, real policy engine; clients are raw sockets.
"""

from __future__ import annotations

import os
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import pytest

from agp.gate import SessionTable, request_verdict
from agp.gate.approvals import Answer
from agp.journal import Journal
from tests.integration.gate.helpers import Channel, GateEnv, check, frame, raw_exchange

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[3]


async def ask(env: GateEnv, req) -> dict:
    return await anyio.to_thread.run_sync(lambda: raw_exchange(env.socket, frame(req)))


# --------------------------------------------------------------------------- basics


async def test_allow_and_deny_are_journaled_with_their_seq(env):
    async with env.running():
        st = os.stat(env.sock_dir)
        assert stat.S_IMODE(st.st_mode) == 0o700
        assert stat.S_ISSOCK(os.stat(env.socket).st_mode)
        allow = await ask(env, check("ls -la", rid="a"))
        deny = await ask(env, check("rm -rf /workspace", rid="d"))
        nomatch = await ask(env, check("curl http://example.com", rid="n"))
    assert allow["decision"] == "allow" and allow["rule"] == "allow-ls" and allow["id"] == "a"
    assert deny["decision"] == "deny" and deny["rule"] == "no-rm" and "no-rm" in deny["reason"]
    assert nomatch["decision"] == "deny" and nomatch["rule"] is None
    by_seq = {e["seq"]: e for e in env.entries()}
    for v in (allow, deny, nomatch):
        e = by_seq[v["seq"]]
        assert e["kind"] == "gate.decision" and e["body"]["decision"] == v["decision"]
        assert e["body"]["call"]["id"] == v["id"] and e["body"]["call"]["tool_use_id"] == f"toolu_{v['id']}"
        assert e["body"]["policy_digest"] and e["body"]["statements"]
    assert not env.socket.exists()  # removed at shutdown
    report = env.verify()
    assert report is not None
    assert (env.journal_path.parent / "journal.jsonl.head").exists()
    assert [e.data["decision"] for e in env.events if e.kind == "decision"] == ["allow", "deny", "deny"]


async def test_many_frames_on_one_connection_and_require_without_approver_is_deny(env):
    async with env.running():
        def go():
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(env.socket))
            s.sendall(frame(check("ls", rid="1")) + frame(check("git commit -m x", rid="2")))
            out = []
            buf = b""
            while len(out) < 2:
                buf += s.recv(65536)
                while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:
                    n = struct.unpack(">I", buf[:4])[0]
                    out.append(__import__("json").loads(buf[4:4 + n]))
                    buf = buf[4 + n:]
            s.close()
            return out

        a, b = await anyio.to_thread.run_sync(go)
    assert a["decision"] == "allow"
    assert b["decision"] == "deny" and "no approver is configured (CI mode" in b["reason"]
    e = [x for x in env.kinds("gate.decision") if x["body"]["call"]["id"] == "2"][0]
    assert e["body"]["effect"] == "require" and e["body"]["approval"]["outcome"] == "no_approver"


# --------------------------------------------------------------------------- fail-closed rows


async def test_gate_not_running_stale_socket_is_deny(env):
    env.sock_dir.mkdir(mode=0o700)
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(env.socket))  # bound, never listening: what a crashed gate leaves behind
    s.close()
    v = request_verdict(str(env.socket), check("ls"))
    assert v.decision == "deny" and "not reachable" in v.reason


async def test_socket_missing_is_deny(env):
    v = request_verdict(str(env.socket), check("ls"))
    assert v.decision == "deny" and "not reachable" in v.reason


def _bridge(sock: Path, cmd: str) -> subprocess.CompletedProcess:
    hook = {"session_id": "s1", "cwd": "/workspace", "hook_event_name": "PreToolUse", "tool_name": "Bash",
            "tool_input": {"command": cmd}, "tool_use_id": "toolu_b1"}
    return subprocess.run([sys.executable, "-I", "-S", str(REPO / "intendants/claude_code/bridge.py"),
                           "--socket", str(sock), "--deadline", "10"], input=__import__("json").dumps(hook),
                          capture_output=True, text=True, timeout=30)


async def test_real_hook_bridge_against_the_gate_and_without_it(env):
    down = await anyio.to_thread.run_sync(_bridge, env.socket, "ls")
    assert down.returncode == 2 and "not reachable" in down.stderr
    async with env.running():
        ok = await anyio.to_thread.run_sync(_bridge, env.socket, "ls")
        no = await anyio.to_thread.run_sync(_bridge, env.socket, "rm -rf /")
    assert ok.returncode == 0 and ok.stdout == ""
    assert no.returncode == 2 and "no-rm" in no.stderr
    assert len(env.kinds("gate.decision")) == 2


@pytest.mark.parametrize(
    "payload, code, rid",
    [
        (b"\x00\x00\x00\x05hello", "not_json", ""),
        (b"\x00\x00\x00\x02\xff\xfe", "not_utf8", ""),
        (frame([1, 2, 3]), "not_object", ""),
        (frame({**check("ls", rid="x1"), "extra": True}), "invalid", "x1"),
        (frame({**check("ls", rid="x2"), "type": "allow"}), "unknown_type", "x2"),
        (frame({**check("ls", rid="x3"), "v": 2}), "bad_version", "x3"),
        (frame({**check("ls", rid="x4"), "input": "ls"}), "invalid", "x4"),
    ],
)
async def test_malformed_frames_are_denied_journaled_and_the_gate_survives(env, payload, code, rid):
    async with env.running():
        bad = await anyio.to_thread.run_sync(raw_exchange, env.socket, payload)
        good = await ask(env, check("ls", rid="after"))
    assert bad["decision"] == "deny" and bad["id"] == rid and code in bad["reason"]
    rejected = env.kinds("gate.frame_rejected")
    assert len(rejected) == 1 and rejected[0]["body"]["code"] == code and rejected[0]["seq"] == bad["seq"]
    assert good["decision"] == "allow"


async def test_oversized_frame_is_denied_and_connection_closed(env):
    async with env.running():
        bad = await anyio.to_thread.run_sync(raw_exchange, env.socket, struct.pack(">I", (1 << 20) + 1) + b"{")
        good = await ask(env, check("ls"))
    assert bad["decision"] == "deny" and "oversized" in bad["reason"]
    assert env.kinds("gate.frame_rejected")[0]["body"]["code"] == "oversized"
    assert good["decision"] == "allow"


async def test_garbage_stream_never_allows(env):
    rnd = __import__("random").Random(5)
    async with env.running():
        for i in range(30):
            blob = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 300)))
            data = struct.pack(">I", len(blob)) + blob if i % 2 else blob
            v = await anyio.to_thread.run_sync(lambda: raw_exchange(env.socket, data, timeout=3))
            assert v is None or v["decision"] == "deny"
        assert (await ask(env, check("ls")))["decision"] == "allow"


async def test_truncated_frame_is_journaled(env):
    async with env.running():
        full = frame(check("ls"))
        await anyio.to_thread.run_sync(lambda: raw_exchange(env.socket, full[:20], read=False))
        for _ in range(200):
            if env.kinds("gate.frame_rejected"):
                break
            await anyio.sleep(0.01)
    r = env.kinds("gate.frame_rejected")
    assert r and r[0]["body"]["code"] == "truncated"


async def test_client_disconnect_mid_call_is_still_journaled(env):
    chan = Channel()
    async with env.running(approvers=[chan], approval_timeout=10) as server:
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(env.socket))
        s.sendall(frame(check("git commit -m wip", rid="gone")))
        req = await anyio.to_thread.run_sync(chan.wait_asked)
        s.close()  # the client gives up while the approval is pending
        await anyio.sleep(0.05)
        res = await anyio.to_thread.run_sync(server.broker.answer, Answer(req.nonce, "s1", True, "test:alice", "test"))
        assert res.accepted
        for _ in range(300):
            if env.kinds("gate.decision"):
                break
            await anyio.sleep(0.01)
    d = env.kinds("gate.decision")
    assert len(d) == 1 and d[0]["body"]["call"]["id"] == "gone" and d[0]["body"]["decision"] == "allow"
    assert d[0]["body"]["approval"]["approvers"] == ["test:alice"]


async def test_disconnect_right_after_sending_is_still_journaled(env):
    async with env.running():
        await anyio.to_thread.run_sync(lambda: raw_exchange(env.socket, frame(check("ls", rid="fire")), read=False))
        for _ in range(300):
            if env.kinds("gate.decision"):
                break
            await anyio.sleep(0.01)
    assert env.kinds("gate.decision")[0]["body"]["call"]["id"] == "fire"


async def test_approval_timeout_over_the_socket_is_deny(env):
    chan = Channel()
    async with env.running(approvers=[chan], approval_timeout=0.3):
        v = await ask(env, check("git commit -m x"))
    assert v["decision"] == "deny" and "no answer within the 0.3s approval timeout" in v["reason"]
    assert v["rule"] == "commit-needs-approval"
    body = env.kinds("gate.decision")[0]["body"]
    assert body["approval"]["outcome"] == "timed_out" and body["effect"] == "require"


async def test_quorum_not_met_over_the_socket_is_deny(env):
    chan = Channel()
    async with env.running(approvers=[chan], approval_timeout=0.5) as server:
        async with anyio.create_task_group() as tg:
            out = {}

            async def client():
                out["v"] = await ask(env, check("make release"))

            tg.start_soon(client)
            req = await anyio.to_thread.run_sync(chan.wait_asked)
            assert req.quorum == 2
            await anyio.to_thread.run_sync(server.broker.answer, Answer(req.nonce, "s1", True, "test:alice", "test"))
            dup = await anyio.to_thread.run_sync(server.broker.answer, Answer(req.nonce, "s1", True, "test:alice", "t2"))
            assert dup.code.value == "duplicate_user"
    assert out["v"]["decision"] == "deny" and "quorum not met: 1 of 2" in out["v"]["reason"]


async def test_wrong_session_and_replayed_nonce_over_the_socket(env):
    chan = Channel()
    async with env.running(approvers=[chan], approval_timeout=5, register=("s1", "s2")) as server:
        out = {}
        async with anyio.create_task_group() as tg:
            async def client():
                out["v"] = await ask(env, check("git commit -m a", rid="c1", session="s1"))

            tg.start_soon(client)
            req = await anyio.to_thread.run_sync(chan.wait_asked)
            wrong = await anyio.to_thread.run_sync(server.broker.answer, Answer(req.nonce, "s2", True, "test:eve", "test"))
            assert wrong.code.value == "wrong_session"
            ok = await anyio.to_thread.run_sync(server.broker.answer, Answer(req.nonce, "s1", True, "test:alice", "test"))
            assert ok.accepted
        assert out["v"]["decision"] == "allow"
        replay = await anyio.to_thread.run_sync(server.broker.answer, Answer(req.nonce, "s1", True, "test:alice", "test"))
        assert replay.code.value == "replayed_nonce"
    refused = [e["body"]["code"] for e in env.kinds("approval.refused")]
    assert refused == ["wrong_session", "replayed_nonce"]


async def test_rate_limit_is_a_journaled_deny(env):
    async with env.running(sessions=SessionTable(rate=3, window=60)):
        vs = [await ask(env, check("ls", rid=f"r{i}")) for i in range(5)]
    assert [v["decision"] for v in vs] == ["allow"] * 3 + ["deny"] * 2
    assert vs[3]["reason"].startswith("denied: rate_limited")
    body = [e for e in env.kinds("gate.decision") if e["seq"] == vs[3]["seq"]][0]["body"]
    assert body["refusal"] == "rate_limited" and body["decision"] == "deny"


async def test_session_cap_and_unknown_session(env):
    async with env.running(sessions=SessionTable(max_sessions=2), register=("s1", "s2")) as server:
        from agp.gate import SessionRefused

        with pytest.raises(SessionRefused):
            server.register_session("s3")
        unknown = await ask(env, check("ls", session="s3"))
    assert unknown["decision"] == "deny" and unknown["reason"].startswith("denied: unknown_session")
    refused = [e for e in env.kinds("gate.session") if e["body"]["event"] == "refused"]
    assert refused and refused[0]["body"]["reason"] == "session_limit"

    env2 = GateEnv(env.tmp / "auto")
    async with env2.running(sessions=SessionTable(max_sessions=1, auto_register=True), register=()):
        first = await ask(env2, check("ls", session="a"))
        second = await ask(env2, check("ls", session="b"))
    assert first["decision"] == "allow"
    assert second["decision"] == "deny" and second["reason"].startswith("denied: session_limit")
    assert [e["body"]["refusal"] for e in env2.kinds("gate.decision") if "refusal" in e["body"]] == ["session_limit"]


# --------------------------------------------------------------------------- journal failures


def _mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)


@pytest.fixture
def tiny_fs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs needs root (the journal's own tests cover disk full without it)")
    where = tmp_path / "tiny"
    _mount_tmpfs(where, "64k")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


async def test_journal_full_denies_then_denies_everything(tiny_fs, env):
    j = Journal.open(tiny_fs / "journal.jsonl", env.key)
    env.journal_path = tiny_fs / "journal.jsonl"
    async with env.running(journal=j) as server:
        ok = await ask(env, check("ls", rid="before"))
        assert ok["decision"] == "allow"
        fd = os.open(tiny_fs / "filler", os.O_WRONLY | os.O_CREAT)  # fill the file system
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        vs = []
        for i in range(50):  # the journal's last page may still hold a few lines
            vs.append(await ask(env, check("ls", rid=f"f{i}")))
            if vs[-1]["decision"] == "deny":
                break
        failed = vs[-1]
        after = await ask(env, check("ls", rid="after"))
        assert server.failed
    assert failed["decision"] == "deny" and failed["seq"] is None and "could not record" in failed["reason"]
    assert after["decision"] == "deny" and "denies every call" in after["reason"] and after["seq"] is None
    os.unlink(tiny_fs / "filler")
    journaled = {e["body"]["call"]["id"] for e in env.kinds("gate.decision")}
    answered_allow = {"before"} | {v["id"] for v in vs if v["decision"] == "allow"}
    assert journaled == answered_allow  # every allow is journaled; nothing after the failure claims to be
    assert any(e.kind == "journal_failed" for e in env.events)


async def test_journal_read_only_file_denies(env):
    if os.geteuid() != 0:
        pytest.skip("chattr +i needs the Linux capability that guards the i attribute (the journal's own tests cover EPERM without the gate)")
    async with env.running() as server:
        assert (await ask(env, check("ls", rid="before")))["decision"] == "allow"
        subprocess.run(["chattr", "+i", str(env.journal_path)], check=True)
        try:
            v = await ask(env, check("ls", rid="ro"))
            again = await ask(env, check("ls", rid="ro2"))
        finally:
            subprocess.run(["chattr", "-i", str(env.journal_path)], check=True)
        assert server.failed
    assert v["decision"] == "deny" and v["seq"] is None and "could not record" in v["reason"]
    assert again["decision"] == "deny"
    assert [e["body"]["call"]["id"] for e in env.kinds("gate.decision")] == ["before"]


# --------------------------------------------------------------------------- concurrency and draining


async def test_64_concurrent_clients_all_answered_and_chain_verifies(env):
    async with env.running(sessions=SessionTable(rate=100000, window=1)):
        results: list = []

        def client(i):
            for k in range(10):
                results.append(raw_exchange(env.socket, frame(check(f"ls {i}-{k}", rid=f"{i}-{k}"))))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(64)]
        await anyio.to_thread.run_sync(lambda: ([t.start() for t in threads], [t.join() for t in threads]))
    assert len(results) == 640 and all(r["decision"] == "allow" for r in results)
    assert len({r["seq"] for r in results}) == 640
    env.verify()


async def test_shutdown_drains_pending_calls_with_a_deny_and_writes_the_head(env):
    chan = Channel()
    out = {}
    async with env.running(approvers=[chan], approval_timeout=30) as server:
        async with anyio.create_task_group() as tg:
            async def client():
                out["v"] = await ask(env, check("git commit -m late", rid="late"))

            tg.start_soon(client)
            await anyio.to_thread.run_sync(chan.wait_asked)
            t0 = time.monotonic()
            server.shutdown()
    assert time.monotonic() - t0 < 10
    assert out["v"]["decision"] == "deny" and "stopped before the approval was decided" in out["v"]["reason"]
    assert out["v"]["seq"] is not None
    env.verify()
    head = (env.journal_path.parent / "journal.jsonl.head").read_text()
    assert head


async def test_refuses_a_socket_dir_owned_by_someone_else(env):
    if os.geteuid() != 0:
        pytest.skip("needs root to create a directory owned by another uid")
    env.sock_dir.mkdir()
    os.chown(env.sock_dir, 12345, 12345)
    from agp.errors import GateError

    with pytest.raises(GateError, match="belongs to uid 12345"):
        async with env.running(register=()):
            pass


async def test_refuses_to_start_when_another_gate_serves(env):
    from agp.errors import GateError

    async with env.running():
        other = GateEnv(env.tmp / "other")
        other.sock_dir = env.sock_dir
        with pytest.raises(GateError, match="already serving"):
            async with other.running(register=()):
                pass
        assert (await ask(env, check("ls")))["decision"] == "allow"


async def test_policy_with_approvals_off_denies_require_even_with_an_approver(env):
    env.policy_path.write_text(env.policy_path.read_text().replace('name = "gate-test"',
                                                                   'name = "gate-test"\napprovals = false'))
    chan = Channel()
    async with env.running(approvers=[chan], approval_timeout=5):
        v = await ask(env, check("git commit -m x"))
    assert v["decision"] == "deny" and "approvals = false" in v["reason"] and not chan.asked


async def test_events_drive_the_run_live_view(env):
    import io

    from rich.console import Console

    from agp._live import LiveView
    from agp.gate import live_view_sink

    buf = io.StringIO()
    view = LiveView(Console(file=buf, width=200))  # not a terminal: one plain line per event
    chan = Channel()
    with view:
        env.events = []
        async with env.running(approvers=[chan], approval_timeout=0.3, on_event_extra=live_view_sink(view)):
            await ask(env, check("ls"))
            await ask(env, check("git commit -m x", rid="r2"))
    text = buf.getvalue()
    assert "ALLOW" in text and "allow-ls" in text and "WAIT" in text and "timed out" in text
    assert "TIMED_OUT" not in text and "None" not in text  # no enum names, no None
    assert view.counts == {"allow": 1, "deny": 1}


async def test_socket_dir_and_socket_can_be_handed_to_the_sandbox_uid(env):
    if os.geteuid() != 0:
        pytest.skip("chown to another uid needs root")
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="agp-gate-uid-"))  # pytest's tmp root is 0700; sandboxes bind-mount
    os.chmod(base, 0o711)  # the directory itself, so only its own mode matters there
    env.sock_dir = base / "sock"
    try:
        await _uid_checks(env)
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def _uid_checks(env):
    async with env.running(socket_uid=10001, socket_gid=10001):
        d, s = os.stat(env.sock_dir), os.stat(env.socket)
        assert (d.st_uid, stat.S_IMODE(d.st_mode)) == (10001, 0o700)
        assert (s.st_uid, stat.S_IMODE(s.st_mode)) == (10001, 0o600)
        # a process running as that uid can connect (what the sandbox user does)
        code = ("import socket,struct,json,sys;s=socket.socket(socket.AF_UNIX);s.connect(sys.argv[1]);"
                "b=json.dumps({'v':1,'type':'check','id':'u','session':'s1','harness':'claude-code','tool':'Bash',"
                "'input':{'command':'ls'},'cwd':'/workspace'}).encode();s.sendall(struct.pack('>I',len(b))+b);"
                "n=struct.unpack('>I',s.recv(4))[0];print(json.loads(s.recv(n))['decision'])")
        out = await anyio.to_thread.run_sync(lambda: subprocess.run(
            ["/usr/bin/python3", "-I", "-c", code, str(env.socket)], capture_output=True, text=True, user=10001, group=10001,
            timeout=30))
        other = await anyio.to_thread.run_sync(lambda: subprocess.run(
            ["/usr/bin/python3", "-I", "-c", code, str(env.socket)], capture_output=True, text=True, user=10002, group=10002,
            timeout=30))
    assert out.stdout.strip() == "allow", out.stderr
    assert other.returncode != 0 and "Permission denied" in other.stderr


async def test_an_internal_error_is_a_journaled_deny_and_the_gate_keeps_serving(env):
    async with env.running() as server:
        real = server.check

        async def broken(req, **kw):
            if req.id == "boom":
                raise RuntimeError("injected bug")
            return await real(req, **kw)

        server.check = broken  # the safety net under every frame
        boom = await ask(env, check("ls", rid="boom"))
        after = await ask(env, check("ls", rid="after"))
    assert boom["decision"] == "deny" and boom["id"] == "boom" and "internal error" in boom["reason"]
    assert after["decision"] == "allow"
    r = env.kinds("gate.frame_rejected")
    assert r[0]["body"]["code"] == "internal_error" and "injected bug" in r[0]["body"]["detail"]


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_runs_on_trio_too(env, anyio_backend):
    chan = Channel()
    async with env.running(approvers=[chan], approval_timeout=5) as server:
        assert server._pump is None  # appends go through anyio.to_thread on other backends
        assert (await ask(env, check("ls")))["decision"] == "allow"
        async with anyio.create_task_group() as tg:
            out = {}

            async def client():
                out["v"] = await ask(env, check("git commit -m t", rid="t"))

            tg.start_soon(client)
            req = await anyio.to_thread.run_sync(chan.wait_asked)
            await anyio.to_thread.run_sync(server.broker.answer, Answer(req.nonce, "s1", True, "test:alice", "test"))
    assert out["v"]["decision"] == "allow"
    env.verify()

"""The hook bridge, run exactly as the harness runs it: `python3 -I -S bridge.py`, hook JSON on stdin.

Every failure path must come out as the deny dialect (JSON deny on stdout, a
non-empty reason on stderr, exit 2); only an explicit allow verdict with the
request's id is exit 0 with nothing printed. The peers here are hostile or
broken sockets (the failure modes a real gate cannot be made to produce on
demand); the allow/deny round trip with the real gate is in test_bridge_gate.py
and the harness conformance suite.
"""

from __future__ import annotations

import ast
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BRIDGES = {
    "claude-code": ROOT / "intendants" / "claude_code" / "bridge.py",
    "codex": ROOT / "intendants" / "codex" / "bridge.py",
    "reference": ROOT / "intendants" / "reference" / "bridge.py",
}
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

HOOK = {
    "session_id": "sess-1",
    "cwd": "/workspace",
    "hook_event_name": "PreToolUse",
    "tool_name": "Bash",
    "tool_input": {"command": "ls -la"},
    "tool_use_id": "toolu_01",
}


def run_bridge(stdin: bytes | dict, *args: str, bridge: Path = BRIDGES["claude-code"], env: dict | None = None,
               timeout: float = 20) -> subprocess.CompletedProcess[bytes]:
    data = json.dumps(stdin).encode() if isinstance(stdin, dict) else stdin
    return subprocess.run([PY, "-I", "-S", str(bridge), *args], input=data, capture_output=True,
                          env=env if env is not None else {"PATH": "/usr/bin:/bin"}, timeout=timeout)


def assert_deny(p: subprocess.CompletedProcess[bytes], fragment: str = "") -> str:
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    out = json.loads(p.stdout)
    hso = out["hookSpecificOutput"]
    assert hso["hookEventName"] == "PreToolUse"
    assert hso["permissionDecision"] == "deny"
    reason = p.stderr.decode().strip()
    assert reason, "a deny must carry a reason on stderr (Codex runs the tool on exit 2 with empty stderr)"
    assert hso["permissionDecisionReason"] == reason
    assert fragment in reason, reason
    assert "Traceback" not in reason
    return reason


class Peer:
    """A Unix-socket peer that reads one frame and answers with `behave(request) -> bytes | None`."""

    def __init__(self, path: Path, behave):
        self.path = str(path)
        self.behave = behave
        self.requests: list[dict] = []
        self.connections = 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.stop = threading.Event()
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _one(self, c):
        try:
            head = c.recv(4, socket.MSG_WAITALL)
            n = struct.unpack(">I", head)[0]
            req = json.loads(c.recv(n, socket.MSG_WAITALL))
            self.requests.append(req)
            reply = self.behave(req)
            if reply is not None:
                c.sendall(reply)
                time.sleep(0.05)
        except Exception:
            pass
        finally:
            c.close()

    def close(self):
        self.stop.set()
        self.t.join(2)
        self.sock.close()


def frame(obj) -> bytes:
    b = json.dumps(obj).encode()
    return struct.pack(">I", len(b)) + b


def verdict(req, decision="allow", **kw):
    v = {"v": 1, "type": "verdict", "id": req["id"], "decision": decision, "reason": "because", "rule": "r1", "seq": 7}
    v.update(kw)
    return frame(v)


@pytest.fixture
def peer(tmp_path):
    made = []

    def make(behave, name="gate.sock"):
        p = Peer(tmp_path / name, behave)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


# ---------------------------------------------------------------- source-level checks


CORE = ROOT / "intendants" / "_agp_bridge.py"


def test_bridge_stubs_differ_only_in_harness_name():
    base = BRIDGES["claude-code"].read_text().splitlines()
    for name, path in BRIDGES.items():
        lines = path.read_text().splitlines()
        assert len(lines) == len(base), name
        diff = [(a, b) for a, b in zip(base, lines) if a != b]
        assert all(a.startswith('"""agp hook bridge for') or a.startswith("HARNESS = ") for a, _ in diff), diff
        assert f'HARNESS = "{name}"' in lines


def _imports(path: Path) -> set[str]:
    seen = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            seen |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            seen.add((node.module or "").split(".")[0])
    return seen


def test_bridge_imports_only_the_standard_library_c_modules():
    assert _imports(CORE) <= {"os", "sys", "_json", "_signal", "_socket", "_ctypes", "json"}  # json: fallback only
    for path in BRIDGES.values():
        assert _imports(path) == {"sys", "_agp_bridge"}


def _stage(tmp_path: Path, harness: str, *, drop: tuple[str, ...] = ()) -> Path:
    """Lay the bridge out as the launch spec ships it (stub, core, compiled core) in a fresh directory."""
    from intendants._launch import bridge_files

    target = tmp_path / "opt" / harness / "bridge.py"
    for path, content in bridge_files(harness, str(target)).items():
        if any(path.endswith(d) for d in drop):
            continue
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(content)
    return target


@pytest.mark.parametrize("drop", [(), (".pyc",)])
def test_staged_bridge_runs_with_and_without_its_compiled_core(tmp_path, peer, drop):
    p = peer(lambda req: verdict(req))
    bridge = _stage(tmp_path, "codex", drop=drop)
    os.chmod(bridge.parent, 0o555)  # read-only, as mounted: nothing may be written beside it
    try:
        r = run_bridge(HOOK, "--socket", p.path, bridge=bridge)
    finally:
        os.chmod(bridge.parent, 0o755)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    assert p.requests[0]["harness"] == "codex"


def test_staged_bridge_uses_the_compiled_core(tmp_path, peer):
    p = peer(lambda req: verdict(req))
    bridge = _stage(tmp_path, "claude-code")
    (pyc,) = (bridge.parent / "__pycache__").iterdir()
    assert pyc.name == f"_agp_bridge.{sys.implementation.cache_tag}.pyc"
    r = subprocess.run([sys.executable, "-I", "-S", "-v", str(bridge), "--socket", p.path], input=json.dumps(HOOK).encode(),
                       capture_output=True, timeout=20)
    assert r.returncode == 0
    assert f"matches {bridge.parent / '_agp_bridge.py'}".encode() in r.stderr or str(pyc).encode() in r.stderr


def test_stub_without_its_core_is_a_deny(tmp_path, peer):
    p = peer(lambda req: verdict(req))
    bridge = _stage(tmp_path, "codex", drop=("_agp_bridge.py", ".pyc"))
    reason = assert_deny(run_bridge(HOOK, "--socket", p.path, bridge=bridge), "could not load")
    assert "Traceback" not in reason
    assert p.requests == []


# ---------------------------------------------------------------- fail closed


def test_no_socket_is_a_deny(tmp_path):
    assert_deny(run_bridge(HOOK, "--socket", str(tmp_path / "absent.sock")), "not reachable")


def test_refused_connection_is_a_deny(tmp_path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(tmp_path / "g.sock"))  # bound, never listening: connect is refused
    try:
        assert_deny(run_bridge(HOOK, "--socket", str(tmp_path / "g.sock")), "not reachable")
    finally:
        s.close()


@pytest.mark.parametrize(
    "stdin, fragment",
    [
        (b"", "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b"[1,2]", "not a JSON object"),
        (b'{"hook_event_name":"PreToolUse"}', "names no tool"),
        (json.dumps({**HOOK, "hook_event_name": "PostToolUse"}).encode(), "only answers PreToolUse"),
        (json.dumps({**HOOK, "tool_input": "ls"}).encode(), "not a JSON object"),
        (json.dumps({**HOOK, "tool_name": ""}).encode(), "names no tool"),
        (json.dumps({k: v for k, v in HOOK.items() if k != "session_id"}).encode(), "names no session"),
        (b'{"a": NaN}', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (json.dumps(HOOK).encode() + b" trailing", "not valid JSON"),
    ],
)
def test_bad_hook_input_is_a_deny(tmp_path, peer, stdin, fragment):
    p = peer(lambda req: verdict(req))
    assert_deny(run_bridge(stdin, "--socket", p.path), fragment)
    assert p.requests == []  # nothing reached the gate


def test_oversized_stdin_is_a_deny(peer):
    p = peer(lambda req: verdict(req))
    big = {**HOOK, "tool_input": {"command": "x" * (5 << 20)}}
    assert_deny(run_bridge(big, "--socket", p.path), "larger than")


def test_unknown_argument_is_a_deny(peer):
    p = peer(lambda req: verdict(req))
    assert_deny(run_bridge(HOOK, "--socket", p.path, "--allow-all"), "unknown argument")


@pytest.mark.parametrize(
    "behave, fragment",
    [
        (lambda req: verdict(req, id="someone-else"), "different request"),
        (lambda req: verdict(req, decision="ALLOW"), "unknown decision"),
        (lambda req: verdict(req, decision="require"), "unknown decision"),
        (lambda req: verdict(req, v=2), "malformed"),
        (lambda req: verdict(req, type="check"), "malformed"),
        (lambda req: frame(["allow"]), "malformed"),
        (lambda req: struct.pack(">I", 11) + b"not json at", "malformed"),
        (lambda req: struct.pack(">I", (1 << 20) + 1), "malformed"),
        (lambda req: struct.pack(">I", 0), "malformed"),
        (lambda req: struct.pack(">I", 100) + b'{"v":1', "closed the connection"),
        (lambda req: b"", "closed the connection"),
        (lambda req: None, "closed the connection"),
    ],
)
def test_bad_replies_are_denies(peer, behave, fragment):
    p = peer(behave)
    assert_deny(run_bridge(HOOK, "--socket", p.path), fragment)
    assert len(p.requests) == 1


def test_explicit_deny_carries_the_gate_reason_and_rule(peer):
    p = peer(lambda req: verdict(req, decision="deny", reason="rm is not allowed here", rule="deny-rm"))
    reason = assert_deny(run_bridge(HOOK, "--socket", p.path))
    assert "rm is not allowed here" in reason and "deny-rm" in reason


def test_hung_gate_is_denied_by_the_bridge_deadline(peer):
    p = peer(lambda req: time.sleep(30))
    t0 = time.monotonic()
    r = run_bridge(HOOK, "--socket", p.path, "--deadline", "1.5")
    took = time.monotonic() - t0
    assert_deny(r, "deadline")
    assert took < 10  # bounded by the deadline, not by the peer (exact latency: bench/bridge.py)


def test_stdin_left_open_is_denied_by_the_deadline(peer):
    p = peer(lambda req: verdict(req))
    r, w = os.pipe()
    try:
        os.write(w, b'{"hook_event_name":')  # a harness that stalls mid-write and never closes
        proc = subprocess.Popen([PY, "-I", "-S", str(BRIDGES["codex"]), "--socket", p.path, "--deadline", "1"],
                                stdin=r, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = proc.communicate(timeout=15)
    finally:
        os.close(r)
        os.close(w)
    assert proc.returncode == 2
    assert b"deadline" in err
    assert p.requests == []


# ---------------------------------------------------------------- allow, and what was sent


@pytest.mark.parametrize("harness", sorted(BRIDGES))
def test_explicit_allow_is_exit_0_and_silence(peer, harness):
    p = peer(lambda req: verdict(req))
    r = run_bridge(HOOK, "--socket", p.path, "--session", "run-42", bridge=BRIDGES[harness])
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    (req,) = p.requests
    assert req["v"] == 1 and req["type"] == "check" and req["id"].startswith("b-")
    assert req["harness"] == harness
    assert req["session"] == "run-42"  # pinned on the command line wins over the hook's session_id
    assert (req["tool"], req["input"], req["cwd"], req["tool_use_id"]) == ("Bash", {"command": "ls -la"}, "/workspace", "toolu_01")


def test_hook_session_is_used_when_none_is_pinned(peer):
    p = peer(lambda req: verdict(req))
    assert run_bridge(HOOK, "--socket", p.path).returncode == 0
    assert p.requests[0]["session"] == "sess-1"


def test_unicode_and_nested_input_round_trip(peer):
    p = peer(lambda req: verdict(req))
    hook = {**HOOK, "tool_name": "mcp__db__query", "tool_input": {"sql": "select 'é✓'", "n": [1, 2.5, None, True]}}
    assert run_bridge(hook, "--socket", p.path).returncode == 0
    assert p.requests[0]["input"] == hook["tool_input"]
    assert p.requests[0]["tool"] == "mcp__db__query"


def test_each_request_has_a_fresh_id(peer):
    p = peer(lambda req: verdict(req))
    for _ in range(3):
        assert run_bridge(HOOK, "--socket", p.path).returncode == 0
    assert len({r["id"] for r in p.requests}) == 3


# ---------------------------------------------------------------- which gate


def test_env_socket_outside_run_agp_is_ignored(peer):
    """An agent that sets AGP_GATE_SOCKET to a gate of its own does not get it used."""
    evil = peer(lambda req: verdict(req), name="evil.sock")
    r = run_bridge(HOOK, env={"PATH": "/usr/bin:/bin", "AGP_GATE_SOCKET": evil.path})
    assert_deny(r)  # fell back to /run/agp/gate.sock, which does not exist here
    assert evil.connections == 0


def test_pinned_socket_wins_over_env(peer):
    real = peer(lambda req: verdict(req, decision="deny", reason="real gate says no"), name="real.sock")
    evil = peer(lambda req: verdict(req), name="evil.sock")
    r = run_bridge(HOOK, "--socket", real.path, env={"PATH": "/usr/bin:/bin", "AGP_GATE_SOCKET": evil.path})
    assert_deny(r, "real gate says no")
    assert evil.connections == 0


def test_socket_path_rules():
    import importlib.util

    spec = importlib.util.spec_from_file_location("agp_bridge_under_test", CORE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sp = mod.socket_path
    assert sp("/pinned.sock", {"AGP_GATE_SOCKET": "/run/agp/x.sock"}) == "/pinned.sock"
    assert sp(None, {}) == "/run/agp/gate.sock"
    assert sp(None, {"AGP_GATE_SOCKET": "/run/agp/other.sock"}) == "/run/agp/other.sock"
    assert sp(None, {"AGP_GATE_SOCKET": "/tmp/evil.sock"}) == "/run/agp/gate.sock"
    assert sp(None, {"AGP_GATE_SOCKET": "/run/agp/../../tmp/evil.sock"}) == "/run/agp/gate.sock"
    assert sp(None, {"AGP_GATE_SOCKET": "/run/agpx/evil.sock"}) == "/run/agp/gate.sock"
    assert sp(None, {"AGP_GATE_SOCKET": "relative.sock"}) == "/run/agp/gate.sock"


# ---------------------------------------------------------------- the hook command wrapper


def _wrapped(bridge: Path, sock: str) -> subprocess.CompletedProcess[bytes]:
    from intendants._launch import hook_command

    cmd = hook_command(python=PY, bridge=str(bridge), socket=sock, deadline=5)
    return subprocess.run(["/bin/sh", "-c", cmd], input=json.dumps(HOOK).encode(), capture_output=True, timeout=20)


@pytest.mark.parametrize(
    "body, fragment",
    [
        (None, "can't open file"),  # missing: python exits 2 with its own message on stderr (a block)
        ("raise SystemExit(1)\n", "exit 1"),
        ("import os\nos.kill(os.getpid(), 9)\n", "exit 137"),
        ("this is not python\n", "exit 1"),
    ],
)
def test_hook_command_turns_any_bridge_failure_into_a_block(tmp_path, body, fragment):
    bridge = tmp_path / "b" / "bridge.py"
    bridge.parent.mkdir()
    if body is not None:
        bridge.write_text(body)
    r = _wrapped(bridge, str(tmp_path / "none.sock"))
    assert r.returncode == 2
    assert r.stderr.strip()
    assert fragment in r.stderr.decode()


def test_hook_command_keeps_allow_and_deny(tmp_path, peer):
    bridge = _stage(tmp_path, "codex")
    p = peer(lambda req: verdict(req))
    r = _wrapped(bridge, p.path)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    d = peer(lambda req: verdict(req, decision="deny", reason="nope"), name="d.sock")
    r = _wrapped(bridge, d.path)
    assert r.returncode == 2 and b"nope" in r.stderr
    assert b"hook bridge failed" not in r.stderr  # the bridge's own deny is passed through as is


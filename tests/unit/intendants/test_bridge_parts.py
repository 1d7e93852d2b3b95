"""The hook bridge core's parts, and its limits at exactly the limit and one byte over.

The functions are called in process where that says more than a run would (argument forms, the
check request's fields, every judge outcome); the limits and the framing are checked by running
the bridge as the harness does (`python3 -I -S bridge.py`) against a socket peer, as in
test_bridge.py.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time

import pytest

from tests.support.cpu_ceiling import cpu_ceiling_fixture
from tests.unit.intendants.test_bridge import CORE, HOOK, Peer, assert_deny, peer, run_bridge, verdict  # noqa: F401 - peer is a fixture

# the argument loop runs in this process here: a loop that does not end fails the test instead of hanging it
_cpu_ceiling = cpu_ceiling_fixture(5.0)


def _core():
    import importlib.util

    spec = importlib.util.spec_from_file_location("agp_bridge_parts_under_test", CORE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_prctl_options_are_the_kernel_abi():
    b = _core()  # <linux/prctl.h>; GET is what proves SET took effect, so it must not be SET again
    assert (b.PR_GET_DUMPABLE, b.PR_SET_DUMPABLE) == (3, 4)


def test_arguments_in_both_forms():
    b = _core()
    assert b.parse_args([]) == {"socket": None, "deadline": 25.0, "session": None}
    want = {"socket": "/s.sock", "deadline": 5.0, "session": "run=1"}
    assert b.parse_args(["--socket", "/s.sock", "--deadline", "5", "--session", "run=1"]) == want
    assert b.parse_args(["--socket=/s.sock", "--deadline=5", "--session=run=1"]) == want
    assert b.parse_args(["--session", "a", "--session=b"])["session"] == "b"  # the last one wins
    assert b.parse_args(["--deadline=5", "--session", "x"])["session"] == "x"
    for argv in (["--socket"], ["--deadline"], ["--session"], ["--socket", "/s", "--session"], ["--socket=/s", "--session"], ["-x"], ["--sock=/s"],
                 ["--socket-/s"], ["/s.sock"]):
        with pytest.raises(b._Deny, match=r"^the hook bridge was started with an unknown argument$"):
            b.parse_args(argv)


def test_deadline_bounds():
    b = _core()
    for ok in ("0.05", "1", "3600", "3600.0"):
        assert b.parse_args(["--deadline", ok])["deadline"] == float(ok)
    for bad in ("0.0499", "0", "-1", "3600.01", "nan", "inf", "-inf"):
        with pytest.raises(b._Deny, match=r"^the hook bridge deadline is out of range$"):
            b.parse_args(["--deadline", bad])
    with pytest.raises(ValueError):  # not a number: main turns it into a deny ("the hook bridge failed")
        b.parse_args(["--deadline", "soon"])


def test_unparsable_deadline_is_a_deny(peer):
    p = peer(lambda req: verdict(req))
    assert_deny(run_bridge(HOOK, "--socket", p.path, "--deadline", "soon"), "the hook bridge failed")
    assert p.requests == []


def test_check_request_normalizes_the_optional_fields():
    b = _core()

    def check(**changes):
        hook = {**HOOK, **changes}
        return b.build_check(json.dumps({k: v for k, v in hook.items() if v is not ...}).encode(), None, "b-1", "codex")

    assert check() == {"v": 1, "type": "check", "id": "b-1", "session": "sess-1", "harness": "codex", "tool": "Bash",
                       "input": {"command": "ls -la"}, "cwd": "/workspace", "tool_use_id": "toolu_01"}
    assert check(tool_input=None)["input"] == {} and check(tool_input=...)["input"] == {}
    assert check(tool_input={})["input"] == {}
    assert check(cwd=5)["cwd"] == "" and check(cwd=None)["cwd"] == "" and check(cwd=...)["cwd"] == ""
    assert check(cwd="")["cwd"] == ""
    for tuid in ("", 7, None, ...):
        assert check(tool_use_id=tuid)["tool_use_id"] is None
    assert b.build_check(json.dumps(HOOK).encode(), "pinned", "b-1", "codex")["session"] == "pinned"
    # a pinned session also stands in for a hook without one
    assert b.build_check(json.dumps({**HOOK, "session_id": None}).encode(), "pinned", "b-1", "codex")["session"] == "pinned"
    for changes, reason in (
        ({"session_id": ""}, "the hook input names no session"),
        ({"session_id": 5}, "the hook input names no session"),
        ({"session_id": ...}, "the hook input names no session"),
        ({"tool_name": 5}, "the hook input names no tool"),
        ({"tool_name": ...}, "the hook input names no tool"),
        ({"tool_input": [1]}, "the tool input is not a JSON object"),
        ({"tool_input": "ls"}, "the tool input is not a JSON object"),
        ({"hook_event_name": ...}, "the hook bridge only answers PreToolUse events"),
        ({"hook_event_name": "pretooluse"}, "the hook bridge only answers PreToolUse events"),
    ):
        with pytest.raises(b._Deny, match=f"^{reason}$"):
            check(**changes)
    for raw, reason in ((b"[]", "the hook input is not a JSON object"), (b'"x"', "the hook input is not a JSON object"),
                        (b"{", "the hook input is not valid JSON"), (b"\xc3", "the hook input is not valid JSON")):
        with pytest.raises(b._Deny, match=f"^{reason}$"):
            b.build_check(raw, None, "b-1", "codex")


def _reply(**kw):
    return {"v": 1, "type": "verdict", "id": "b-1", "decision": "deny", **kw}


@pytest.mark.parametrize(
    "reply, reason",
    [
        (_reply(reason="no rm", rule="deny-rm"), "no rm (rule: deny-rm)"),
        (_reply(reason="no rm"), "no rm"),
        (_reply(reason="no rm", rule=""), "no rm"),
        (_reply(reason="no rm", rule=5), "no rm"),
        (_reply(rule="r1"), "no reason given (rule: r1)"),
        (_reply(reason="   ", rule="r1"), "no reason given (rule: r1)"),
        (_reply(reason=5), "no reason given"),
        (_reply(decision="maybe", reason="x"), "the gate sent an unknown decision"),
        (_reply(decision=None), "the gate sent an unknown decision"),
        (_reply(id="b-2", decision="allow"), "the gate answered a different request"),
        (_reply(v=2, decision="allow"), "the gate sent a malformed reply"),
        (_reply(type="check", decision="allow"), "the gate sent a malformed reply"),
        (["verdict"], "the gate sent a malformed reply"),
        (None, "the gate sent a malformed reply"),
    ],
)
def test_judge_denies_with_the_gate_reason_or_says_why(reply, reason):
    b = _core()
    with pytest.raises(b._Deny) as e:
        b.judge(reply, "b-1")
    assert str(e.value) == reason


def test_judge_allows_only_an_allow_for_this_request():
    b = _core()
    assert b.judge(_reply(decision="allow"), "b-1") is True
    assert b.judge(_reply(decision="allow", reason=None, rule=None), "b-1") is True


def test_deny_reason_is_one_line_on_both_channels(peer):
    p = peer(lambda req: verdict(req, decision="deny", reason="first line\n  second\tline ", rule="r9"))
    reason = assert_deny(run_bridge(HOOK, "--socket", p.path))
    assert reason == "agp gate denied this call: first line second line (rule: r9)"


def test_request_ids_carry_96_random_bits(peer):
    p = peer(lambda req: verdict(req))
    assert run_bridge(HOOK, "--socket", p.path).returncode == 0
    rid = p.requests[0]["id"]
    assert rid.startswith("b-") and len(rid) == 2 + 24 and int(rid[2:], 16) >= 0 and rid[2:] == rid[2:].lower()


def _request_size(b, hook: dict) -> int:
    req = b.build_check(json.dumps(hook).encode(), None, "b-" + "0" * 24, "claude-code")
    return len(b.dumps(req).encode())


def test_a_request_of_exactly_the_frame_limit_is_sent_one_byte_more_is_not(peer):
    b = _core()
    base = _request_size(b, {**HOOK, "tool_input": {"command": ""}})
    exact = {**HOOK, "tool_input": {"command": "x" * (b.MAX_FRAME - base)}}
    assert _request_size(b, exact) == b.MAX_FRAME == 1 << 20
    p = peer(lambda req: verdict(req))
    r = run_bridge(exact, "--socket", p.path)
    assert (r.returncode, r.stderr) == (0, b"")
    assert len(p.requests) == 1
    over = {**HOOK, "tool_input": {"command": "x" * (b.MAX_FRAME - base + 1)}}
    assert_deny(run_bridge(over, "--socket", p.path), "the tool call is larger than the gate accepts")
    assert len(p.requests) == 1 and p.connections == 1  # the oversized call never reached the gate


def test_stdin_of_exactly_the_input_limit_is_read_one_byte_more_is_not(peer):
    b = _core()
    p = peer(lambda req: verdict(req))
    raw = json.dumps(HOOK).encode()
    exact = raw + b" " * (b.MAX_STDIN - len(raw))  # trailing whitespace: valid JSON, nothing more to send
    assert len(exact) == b.MAX_STDIN == 4 << 20
    r = run_bridge(exact, "--socket", p.path)
    assert (r.returncode, r.stderr) == (0, b"")
    assert_deny(run_bridge(exact + b" ", "--socket", p.path), "the hook input is larger than the bridge accepts")
    assert len(p.requests) == 1


class _PiecesPeer(Peer):
    """Answers an allow verdict in three writes, the last one followed by bytes that are no part of it."""

    def _one(self, c):
        try:
            head = c.recv(4, socket.MSG_WAITALL)
            req = json.loads(c.recv(struct.unpack(">I", head)[0], socket.MSG_WAITALL))
            self.requests.append(req)
            whole = verdict(req)
            for piece in (whole[:2], whole[2:9], whole[9:] + b"not part of the frame"):
                c.sendall(piece)
                time.sleep(0.05)
        except OSError:
            pass
        finally:
            c.close()


def test_a_reply_that_arrives_in_pieces_is_read_to_its_length_and_no_further(tmp_path):
    p = _PiecesPeer(tmp_path / "g.sock", None)
    try:
        r = run_bridge(HOOK, "--socket", p.path)
    finally:
        p.close()
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    assert len(p.requests) == 1


def test_a_number_too_large_for_a_float_is_not_forwarded(peer):
    # 1e999 parses as a float infinity, which JSON cannot carry: the bridge denies instead of
    # sending the gate `Infinity` (which Python's json, for one, would read back)
    p = peer(lambda req: verdict(req))
    raw = json.dumps(HOOK).encode().replace(b'"ls -la"', b'"ls -la", "n": 1e999')
    assert b"1e999" in raw
    assert_deny(run_bridge(raw, "--socket", p.path), "the hook bridge failed")
    assert p.requests == []


def test_a_reply_of_exactly_the_frame_limit_is_read_one_byte_more_is_not(peer):
    def padded(req, size):
        body = json.dumps({"v": 1, "type": "verdict", "id": req["id"], "decision": "allow"}).encode()
        body += b" " * (size - len(body))  # trailing whitespace: the same JSON value
        return struct.pack(">I", len(body)) + body

    b = _core()
    p = peer(lambda req: padded(req, b.MAX_FRAME))
    r = run_bridge(HOOK, "--socket", p.path)
    assert (r.returncode, r.stderr) == (0, b"")
    q = peer(lambda req: padded(req, b.MAX_FRAME + 1), name="over.sock")
    assert_deny(run_bridge(HOOK, "--socket", q.path), "the gate sent a malformed reply")


def test_the_socket_variable_is_refused_when_only_its_target_is_in_the_trusted_directory(tmp_path):
    b = _core()
    link = tmp_path / "gate.sock"
    link.symlink_to("/run/agp/gate-of-my-own.sock")  # the path outside, the target inside: still outside
    assert b.socket_path(None, {"AGP_GATE_SOCKET": str(link)}) == "/run/agp/gate.sock"


def test_a_deny_is_written_whole_when_the_harness_reads_it_after_the_deadline(peer, tmp_path):
    # the answer is bigger than a pipe holds, and the harness reads it only after the deadline has
    # passed: the deadline was disarmed when the answer began, so it cannot cut the answer short
    import subprocess

    from tests.unit.intendants.test_bridge import BRIDGES, PY

    long_reason = "no " * 100_000  # ~300 KB: the write blocks until the harness reads
    p = peer(lambda req: verdict(req, decision="deny", reason=long_reason, rule="r1"))
    (tmp_path / "hook.json").write_text(json.dumps(HOOK))
    with open(tmp_path / "hook.json", "rb") as stdin:
        proc = subprocess.Popen([PY, "-I", "-S", str(BRIDGES["codex"]), "--socket", p.path, "--deadline", "1"],
                                stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={"PATH": "/usr/bin:/bin"})
        try:
            time.sleep(2.5)  # past the 1 s deadline, with the bridge blocked writing its answer
            out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 2
    reason = json.loads(out)["hookSpecificOutput"]["permissionDecisionReason"]
    assert reason == "agp gate denied this call: " + long_reason.strip() + " (rule: r1)"
    assert err.decode().strip() == reason


def test_control_characters_inside_strings_are_not_json(peer):
    p = peer(lambda req: verdict(req))
    raw = json.dumps(HOOK).encode().replace(b"ls -la", b"ls\t-la")  # a raw tab inside a string
    assert b"\t" in raw
    assert_deny(run_bridge(raw, "--socket", p.path), "the hook input is not valid JSON")
    assert p.requests == []


def test_without_a_pinned_socket_the_environment_is_read():
    # no --socket: AGP_GATE_SOCKET inside /run/agp/ is used (nothing listens there in this test)
    r = run_bridge(HOOK, env={"PATH": "/usr/bin:/bin", "AGP_GATE_SOCKET": "/run/agp/none-here.sock"})
    assert_deny(r, "the gate is not reachable")


@pytest.mark.parametrize("closed", ["stdout", "stderr"])
def test_a_harness_that_closed_a_channel_still_gets_exit_2(peer, tmp_path, closed):
    import subprocess

    from tests.unit.intendants.test_bridge import BRIDGES, PY

    p = peer(lambda req: verdict(req, decision="deny", reason="no"))
    r, w = os.pipe()
    os.close(r)  # the harness stopped reading: every write fails with EPIPE
    (tmp_path / "hook.json").write_text(json.dumps(HOOK))
    other = subprocess.PIPE
    with open(tmp_path / "hook.json", "rb") as stdin:
        kw = {"stdout": w, "stderr": other} if closed == "stdout" else {"stdout": other, "stderr": w}
        proc = subprocess.run([PY, "-I", "-S", str(BRIDGES["codex"]), "--socket", p.path], stdin=stdin,
                              env={"PATH": "/usr/bin:/bin"}, timeout=20, check=False, **kw)
    os.close(w)
    assert proc.returncode == 2  # still a deny: exit 2 does not depend on the answer being read
    left = proc.stderr if closed == "stdout" else proc.stdout
    assert b"no" in left and b"Traceback" not in left

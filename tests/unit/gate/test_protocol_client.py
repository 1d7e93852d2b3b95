"""agp.gate.protocol.request_verdict: the host-side client fails closed against every bad gate.

Each test runs a real Unix-socket peer in a thread that plays one kind of gate (a good one, a
mute one, one that hangs up, one that lies about the request id, one that sends garbage) and
checks the verdict the client returns and the exact bytes it sent.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from pathlib import Path
from typing import Callable

import pytest

from agp.gate.protocol import MAX_FRAME, encode_frame, request_verdict

REQ = {"v": 1, "type": "check", "id": "r1", "session": "s1", "harness": "claude-code", "tool": "Bash",
       "input": {"command": "ls"}, "cwd": "/workspace", "tool_use_id": None}


class Peer:
    """A one-connection Unix-socket gate stand-in: reads one frame, then runs ``answer(conn, body)``."""

    def __init__(self, path: Path, answer: Callable[[socket.socket, bytes], None]) -> None:
        self.path = str(path)
        self.answer = answer
        self.received: bytes | None = None
        self._srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._srv.bind(self.path)
        self._srv.listen(1)
        self._done = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        conn, _ = self._srv.accept()
        try:
            head = b""
            while len(head) < 4:
                head += conn.recv(4 - len(head))
            (n,) = struct.unpack(">I", head)
            body = b""
            while len(body) < n:
                body += conn.recv(n - len(body))
            self.received = head + body
            self.answer(conn, body)
            self._done.wait(5)  # keep the connection open until the test is done with it
        finally:
            conn.close()
            self._srv.close()

    def close(self) -> None:
        self._done.set()
        self._t.join(5)


@pytest.fixture
def peer(tmp_path):
    made: list[Peer] = []

    def start(answer: Callable[[socket.socket, bytes], None]) -> Peer:
        p = Peer(tmp_path / f"gate{len(made)}.sock", answer)
        made.append(p)
        return p

    yield start
    for p in made:
        p.close()


def verdict_for(body: bytes, **over) -> bytes:
    req = json.loads(body)
    return encode_frame({"v": 1, "type": "verdict", "id": req["id"], "decision": "allow", "reason": "ok",
                         "rule": "r.read", "seq": 7, **over})


def test_an_allow_for_this_request_is_returned_whole_and_the_request_goes_out_as_one_compact_frame(peer):
    p = peer(lambda conn, body: conn.sendall(verdict_for(body)))
    v = request_verdict(p.path, REQ)
    assert (v.id, v.decision, v.reason, v.rule, v.seq) == ("r1", "allow", "ok", "r.read", 7)
    wire = json.dumps(REQ, separators=(",", ":"), ensure_ascii=False).encode()
    assert p.received == struct.pack(">I", len(wire)) + wire


def test_a_reply_delivered_one_byte_at_a_time_is_reassembled(peer):
    def trickle(conn, body):
        for b in verdict_for(body, decision="deny", reason="no"):
            conn.sendall(bytes([b]))

    v = request_verdict(peer(trickle).path, REQ)
    assert (v.decision, v.reason, v.seq) == ("deny", "no", 7)


def test_only_the_first_of_two_frames_is_the_answer(peer):
    p = peer(lambda conn, body: conn.sendall(verdict_for(body, decision="deny", reason="first")
                                             + verdict_for(body, reason="second")))
    v = request_verdict(p.path, REQ)
    assert (v.decision, v.reason) == ("deny", "first")


def test_non_ascii_input_is_sent_as_utf8_not_escaped(peer):
    p = peer(lambda conn, body: conn.sendall(verdict_for(body)))
    request_verdict(p.path, dict(REQ, input={"command": "echo é"}))
    assert "echo é".encode() in p.received


def test_an_answer_to_another_request_is_a_deny(peer):
    p = peer(lambda conn, body: conn.sendall(verdict_for(body, id="r2")))
    v = request_verdict(p.path, REQ)
    assert (v.id, v.decision, v.reason) == ("r1", "deny", "the gate answered a different request")


def test_a_gate_that_hangs_up_without_answering_is_a_deny(peer):
    p = peer(lambda conn, body: conn.shutdown(socket.SHUT_WR))
    v = request_verdict(p.path, REQ)
    assert (v.id, v.decision, v.reason) == ("r1", "deny", "the gate closed the connection before answering")


def test_a_gate_that_hangs_up_mid_frame_is_a_deny(peer):
    def half(conn, body):
        conn.sendall(verdict_for(body)[:10])
        conn.shutdown(socket.SHUT_WR)

    v = request_verdict(peer(half).path, REQ)
    assert v.decision == "deny" and "closed the connection" in v.reason


def test_an_oversized_or_empty_length_prefix_is_a_malformed_reply(peer):
    p = peer(lambda conn, body: conn.sendall(struct.pack(">I", MAX_FRAME + 1)))
    v = request_verdict(p.path, REQ)
    assert v.decision == "deny" and v.reason == "the gate sent a malformed reply (oversized)"
    p = peer(lambda conn, body: conn.sendall(struct.pack(">I", 0)))
    v = request_verdict(p.path, REQ)
    assert v.decision == "deny" and v.reason == "the gate sent a malformed reply (empty)"


@pytest.mark.parametrize("reply", [
    b"not json",
    json.dumps({"v": 1, "type": "verdict", "id": "r1", "decision": "maybe", "reason": "?"}).encode(),
    json.dumps({"v": 1, "type": "verdict", "id": "r1", "decision": "allow"}).encode(),  # no reason
    json.dumps({"v": 1, "type": "verdict", "id": "r1", "decision": "allow", "reason": "", "x": 1}).encode(),
])
def test_a_reply_that_is_not_a_verdict_is_a_deny(peer, reply):
    p = peer(lambda conn, body: conn.sendall(struct.pack(">I", len(reply)) + reply))
    v = request_verdict(p.path, REQ)
    assert (v.id, v.decision, v.reason) == ("r1", "deny", "the gate sent a malformed reply")


def test_a_mute_gate_is_a_deny_after_the_timeout(peer):
    p = peer(lambda conn, body: None)
    v = request_verdict(p.path, REQ, timeout=0.3)
    assert (v.id, v.decision, v.reason) == ("r1", "deny", "the gate did not answer in time")


def test_no_gate_at_the_path_is_a_deny_naming_the_path(tmp_path):
    path = str(tmp_path / "absent.sock")
    v = request_verdict(path, REQ)
    assert v.decision == "deny" and v.reason == f"the gate is not reachable at {path}: No such file or directory"


def test_a_request_that_cannot_be_encoded_is_a_deny_without_connecting(tmp_path):
    for bad in (dict(REQ, input={"x": float("nan")}), dict(REQ, input={"x": {1, 2}}),
                dict(REQ, input={"x": "a" * MAX_FRAME})):
        v = request_verdict(str(tmp_path / "never.sock"), bad)
        assert (v.id, v.decision) == ("r1", "deny") and v.reason.startswith("the request cannot be sent: ")


def test_a_request_without_a_string_id_gets_a_deny_with_an_empty_id(tmp_path):
    v = request_verdict(str(tmp_path / "absent.sock"), dict(REQ, id=5))
    assert (v.id, v.decision) == ("", "deny")


def test_a_gate_that_resets_the_connection_is_a_deny_saying_so(tmp_path):
    path = str(tmp_path / "reset.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)

    def reset():
        conn, _ = srv.accept()
        conn.recv(1)  # leave the rest of the request unread: closing now resets the connection
        conn.close()
        srv.close()

    t = threading.Thread(target=reset, daemon=True)
    t.start()
    v = request_verdict(path, REQ)
    t.join(5)
    assert (v.id, v.decision, v.reason) == ("r1", "deny", "the connection to the gate failed: Connection reset by peer")

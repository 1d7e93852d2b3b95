"""agp's Unix sockets work under a run directory of any depth (a Unix socket address holds 107 bytes).

The gate, the model relay and the egress door each listen at ``<run dir>/sock/<name>``; a run
under a long ``--out`` put those paths past the limit, and binding failed with "AF_UNIX path too
long". They now bind (and agp's own clients connect) through the socket directory's descriptor.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from agp._unix import SUN_PATH_MAX, bind_unix, connect_unix
from agp.gate.protocol import request_verdict
from tests.integration.gate.helpers import check
from tests.support.egress import http_server, running_door


def deep(base: Path, length: int = 220) -> Path:
    """A directory under ``base`` whose path is ``length`` characters or more (components of 50)."""
    d = base
    while len(str(d)) < length:
        d = d / ("d" * 50)
    d.mkdir(parents=True)
    return d


def test_bind_and_connect_past_the_address_limit(tmp_path):
    path = deep(tmp_path) / "gate.sock"
    assert len(os.fsencode(str(path))) > SUN_PATH_MAX
    with pytest.raises(OSError, match="too long"):  # what the plain call does
        socket.socket(socket.AF_UNIX).bind(str(path))
    srv = bind_unix(path, mode=0o600)
    try:
        st = os.lstat(path)  # the socket is at its real path, with the mode asked for
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
        cli = connect_unix(path, timeout=5)
        srv.setblocking(True)
        conn, _ = srv.accept()
        cli.sendall(b"ping")
        assert conn.recv(4) == b"ping"
        conn.close()
        cli.close()
    finally:
        srv.close()


def test_no_directory_descriptor_is_left_open(tmp_path):
    path = deep(tmp_path) / "relay.sock"
    before = set(os.listdir("/proc/self/fd"))
    srv = bind_unix(path)
    connect_unix(path, timeout=5).close()
    srv.close()
    assert set(os.listdir("/proc/self/fd")) - before == set()


def test_a_short_path_is_bound_as_itself(tmp_path):
    path = tmp_path / "s.sock"
    srv = bind_unix(path, mode=0o660)
    try:
        assert srv.getsockname() == str(path)
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o660
    finally:
        srv.close()


def test_a_name_that_cannot_fit_even_through_the_descriptor_is_refused(tmp_path):
    path = tmp_path / ("n" * 100)
    with pytest.raises(OSError, match="too long for a Unix socket address"):
        bind_unix(path)
    assert not path.exists()


def test_a_missing_socket_directory_is_an_error_not_a_fallback(tmp_path):
    path = deep(tmp_path) / "gone" / "egress.sock"
    with pytest.raises(FileNotFoundError):
        bind_unix(path)
    with pytest.raises(FileNotFoundError):
        connect_unix(path, timeout=1)


def test_the_umask_is_restored(tmp_path):
    old = os.umask(0o022)
    try:
        bind_unix(deep(tmp_path) / "x.sock").close()
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(old)


POLICY = """
[[rule]]
id = "allow-ls"
effect = "allow"
program = ["ls"]
location = ["inside", "root", "null"]

[[rule]]
id = "registry"
effect = "allow"
kind = ["egress"]
host = ["registry.test"]
private = true
"""


def test_the_gate_and_the_egress_door_serve_under_a_deep_run_directory(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "hello.txt").write_bytes(b"hello\n")
    run = deep(tmp_path) / "run"
    with http_server(root) as port, running_door(run, POLICY, resolve={("registry.test", port): "127.0.0.1"}) as d:
        gate_sock = run / "sock" / "gate.sock"
        assert len(str(d.door.socket_path)) > SUN_PATH_MAX and len(str(gate_sock)) > SUN_PATH_MAX
        v = request_verdict(str(gate_sock), check("ls", session="run-egress"), timeout=10)
        assert (v.decision, v.rule) == ("allow", "allow-ls"), v
        s = connect_unix(d.door.socket_path, timeout=10)
        s.sendall(f"GET http://registry.test:{port}/hello.txt HTTP/1.1\r\nHost: registry.test:{port}\r\n"
                  f"Connection: close\r\n\r\n".encode())
        resp = b""
        while chunk := s.recv(65536):
            resp += chunk
        s.close()
        assert resp.startswith(b"HTTP/1.") and b" 200 " in resp.split(b"\r\n", 1)[0] and resp.endswith(b"hello\n")
    assert [x["decision"] for x in d.entries("egress.decision")] == ["allow"]


def test_the_model_relay_serves_under_a_deep_run_directory(tmp_path):
    from agp.sandbox.relay import Credential, ModelRelay, RelayThread, Upstream
    from tests.unit.sandbox.test_relay import HOST_KEY, RULES, ScriptedUpstream

    path = deep(tmp_path) / "relay.sock"
    with ScriptedUpstream() as up, RelayThread(ModelRelay(path, Upstream.parse(up.url), Credential("x-api-key", HOST_KEY),
                                                           rules=RULES)):
        s = connect_unix(path, timeout=10)
        body = b'{"model":"m","messages":[]}'
        s.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:8788\r\nContent-Type: application/json\r\n"
                  b"anthropic-version: 2023-06-01\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        resp = b""
        while chunk := s.recv(65536):
            resp += chunk
        s.close()
        assert up.requests[-1]["body"] == body
    assert resp.split(b" ", 2)[1] == b"200", resp[:300]
    assert not path.exists()  # removed on stop, through the same alias

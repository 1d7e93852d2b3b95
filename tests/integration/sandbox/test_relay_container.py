"""The model relay end to end: harness-side client in a network-none sandbox -> loopback forwarder ->
relay.sock (host) -> one upstream on 127.0.0.1. The key never enters the container."""

from __future__ import annotations

import json
import textwrap

import pytest

from agp.sandbox.docker import DockerSandbox
from agp.sandbox.relay import ENDPOINTS, Credential, ModelRelay, RelayRules, RelayThread, Upstream
from tests.integration.sandbox._upstream import Upstream as ScriptedUpstream

pytestmark = pytest.mark.docker
HOST_KEY = "sk-relay-HOSTKEY-5e3f9a1c77d2"

CLIENT = textwrap.dedent("""
    import json, sys, urllib.request
    base = "http://127.0.0.1:8788"
    req = urllib.request.Request(base + "/v1/messages", data=b'{"q": 1}', method="POST",
                                 headers={"x-api-key": "placeholder-from-container", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=20) as r:
        first = json.loads(r.read())
    s = urllib.request.urlopen(base + "/v1/stream", timeout=20)
    line = b""
    while b"event: one" not in line:
        line += s.readline()
    print("FIRST-EVENT", flush=True)
    sys.stdin.readline()          # the test releases event two only after it saw FIRST-EVENT
    rest = s.read()
    print(json.dumps({"first": first, "two": b"event: two" in rest}), flush=True)
""")


def test_relay_streams_through_the_sandbox_and_key_stays_outside(docker_client, spec_for, run_dirs, tmp_path):
    ws, sock = run_dirs
    log = []
    with ScriptedUpstream() as up:
        relay = ModelRelay(sock / "relay.sock", Upstream.parse(up.url), Credential("x-api-key", HOST_KEY),
                           rules=RelayRules("anthropic", ENDPOINTS["anthropic"] | {("GET", "/v1/stream")}),
                           on_request=log.append)
        with RelayThread(relay), DockerSandbox(spec_for(), client=docker_client) as sb:
            sb.preflight()
            fwd = sb.exec_stream(["python3", "-I", "-S", "/opt/agp/bin/agp-forward.py", "--port", "8788"])
            frames = fwd.frames(timeout=10)
            stream, data = next(frames)
            assert b"listening on 127.0.0.1:8788" in data, data
            client = sb.exec_stream(["python3", "-I", "-S", "-c", CLIENT], keep_stdin_open=True)
            out = b""
            for stream, data in client.frames(timeout=20):
                assert stream == 1, data
                out += data
                if b"FIRST-EVENT" in out:
                    break
            # streamed, not buffered: event two has not even been produced yet
            assert not up.release.is_set()
            up.release.set()
            client.write(b"go\n")
            client.close_stdin()
            for stream, data in client.frames(timeout=20):
                out += data
            result = json.loads(out.decode().strip().splitlines()[-1])
            assert result == {"first": {"ok": True, "echo_len": 8}, "two": True}
            assert client.wait() == 0

            # the upstream saw the host key, never the container's
            for req in up.requests:
                h = dict(req["headers"])
                assert h["x-api-key"] == HOST_KEY
                assert "placeholder-from-container" not in json.dumps(req["headers"])
            # the key is nowhere in the container: env, files, process list (the pattern does not match
            # itself; a planted control value proves the search would find it)
            pattern = HOST_KEY[:9] + "[" + HOST_KEY[9] + "]" + HOST_KEY[10:]
            control = "CONTROL-" + HOST_KEY[9:]
            sb.exec(["sh", "-c", "cat > /tmp/control.txt"], stdin=control)
            search = ("cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' '\\n' | grep -c \"$P\"; "
                      "grep -rl --exclude-dir=proc --exclude-dir=sys \"$P\" / 2>/dev/null | wc -l")
            leak = sb.exec(["sh", "-c", search], env={"P": pattern}, timeout=60)
            assert leak.stdout.decode().split() == ["0", "0"], leak
            found = sb.exec(["sh", "-c", search], env={"P": "CONTROL-[" + HOST_KEY[9] + "]" + HOST_KEY[10:]},
                            timeout=60)
            assert found.stdout.decode().split() == ["0", "1"], found
            assert HOST_KEY not in json.dumps(docker_client.api.inspect_container(sb.container_id))
            fwd.kill()
    assert [m["path"] for m in log] == ["/v1/messages", "/v1/stream"]
    assert all(m["status"] == 200 for m in log)
    assert HOST_KEY not in json.dumps(log)
    assert all(set(m) >= {"method", "path", "status", "bytes_in", "bytes_out", "duration_ms"} for m in log)


def test_forwarder_without_relay_fails_closed(docker_client, spec_for):
    """No relay socket: the harness's request gets a closed connection, never a route elsewhere."""
    with DockerSandbox(spec_for(), client=docker_client) as sb:
        fwd = sb.start_forwarder(8790)
        r = sb.exec(["python3", "-I", "-S", "-c",
                     "import urllib.request as u\ntry:\n u.urlopen('http://127.0.0.1:8790/v1/x', timeout=5)\n"
                     " print('REACHED')\nexcept Exception as e:\n print('FAILED', type(e).__name__)"], timeout=30)
        fwd.kill()
    assert r.stdout.decode().startswith("FAILED"), r


def test_forwarder_that_cannot_listen_is_an_error(docker_client, spec_for):
    from agp.errors import SandboxError

    with DockerSandbox(spec_for(), client=docker_client) as sb:
        first = sb.start_forwarder(8791)
        with pytest.raises(SandboxError, match="forwarder did not start"):
            sb.start_forwarder(8791, timeout=5)  # the port is taken
        first.kill()

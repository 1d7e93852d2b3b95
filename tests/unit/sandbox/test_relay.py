"""The model relay on the host: one upstream, credentials stripped and injected, streaming, refusals, metadata."""

from __future__ import annotations

import socket
import threading

import pytest

from agp.errors import SandboxError
from agp.sandbox.relay import Credential, ModelRelay, RelayRules, RelayThread, Upstream
from tests.integration.sandbox._upstream import Upstream as ScriptedUpstream

HOST_KEY = "sk-host-KEY-0123456789abcdef"
#: the Anthropic endpoints plus the scripted upstream's test paths
RULES = RelayRules("anthropic", frozenset({("POST", "/v1/messages"), ("POST", "/v1/messages/count_tokens"),
                                           ("GET", "/v1/stream"), ("GET", "/v1/big")}))


@pytest.fixture
def upstream():
    with ScriptedUpstream() as up:
        yield up


@pytest.fixture
def relay(tmp_path, upstream):
    log = []
    r = ModelRelay(tmp_path / "relay.sock", Upstream.parse(upstream.url), Credential("x-api-key", HOST_KEY),
                   rules=RULES, on_request=log.append)
    with RelayThread(r):
        yield r, log


def _send(path, raw: bytes) -> bytes:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(str(path))
    s.sendall(raw)
    s.shutdown(socket.SHUT_WR)
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    s.close()
    return out


def _status(resp: bytes) -> int:
    return int(resp.split(b" ", 2)[1])


def test_forwards_and_injects_the_host_key_stripping_container_credentials(relay, upstream):
    r, log = relay
    body = b'{"model":"m","messages":[]}'
    req = (b"POST /v1/messages?beta=true HTTP/1.1\r\nHost: 127.0.0.1:8788\r\nContent-Type: application/json\r\n"
           b"Authorization: Bearer container-token\r\nx-api-key: container-key\r\nApi-Key: k2\r\n"
           b"anthropic-api-key: k3\r\nOpenAI-Api-Key: k4\r\nX-Auth-Token: k5\r\nCookie: s=1\r\n"
           b"anthropic-version: 2023-06-01\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    resp = _send(r.socket_path, req)
    assert _status(resp) == 200
    assert b"connection: close" in resp.lower()
    got = upstream.requests[-1]
    hdrs = got["headers"]
    names = [k for k, _ in hdrs]
    assert ("x-api-key", HOST_KEY) in hdrs and names.count("x-api-key") == 1
    for banned in ("authorization", "api-key", "anthropic-api-key", "openai-api-key", "x-auth-token", "cookie"):
        assert banned not in names, banned
    assert ("anthropic-version", "2023-06-01") in hdrs
    assert ("host", f"127.0.0.1:{upstream.port}") in hdrs
    assert got["path"] == "/v1/messages?beta=true" and got["body"] == body
    assert all(v not in str(hdrs) for v in ("container-token", "container-key", "k2", "k3", "k4", "k5"))
    meta = log[-1]
    assert meta["method"] == "POST" and meta["path"] == "/v1/messages" and meta["status"] == 200
    assert meta["bytes_in"] == len(body) and meta["bytes_out"] > 0 and meta["duration_ms"] >= 0
    assert HOST_KEY not in repr(meta) and "container" not in repr(meta) and "messages\":" not in repr(meta)
    assert HOST_KEY not in repr(r.credential)


def test_chunked_request_body_is_forwarded(relay, upstream):
    r, _ = relay
    req = (b"POST /v1/messages HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"6\r\n{\"a\": \r\n9;ext=1\r\n\"hello\"}\n\r\n0\r\nX-Trailer: t\r\n\r\n")
    resp = _send(r.socket_path, req)
    assert _status(resp) == 200
    got = upstream.requests[-1]
    # re-framed: the upstream never sees the sandbox's chunking (or its trailers)
    assert got["body"] == b'{"a": "hello"}\n'
    assert ("content-length", "15") in got["headers"]
    assert not any(k in ("transfer-encoding", "x-trailer") for k, _ in got["headers"])


def test_streaming_is_not_buffered(relay, upstream):
    """The upstream sends event two only after the client has seen event one through the relay."""
    r, log = relay
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(str(r.socket_path))
    s.sendall(b"GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    seen = b""
    while b"event: one" not in seen:
        chunk = s.recv(65536)
        assert chunk, "relay closed before the first event"
        seen += chunk
    assert b"event: two" not in seen
    upstream.release.set()
    while chunk := s.recv(65536):
        seen += chunk
    s.close()
    assert b"event: two" in seen and seen.endswith(b"0\r\n\r\n")
    assert b"text/event-stream" in seen


@pytest.mark.parametrize("req,status", [
    (b"GET http://evil.example/v1/x HTTP/1.1\r\nHost: evil.example\r\n\r\n", 421),
    (b"GET http://127.0.0.1:1/v1/x HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n", 421),
    (b"GET /v1/x HTTP/1.1\r\nHost: evil.example\r\n\r\n", 421),
    (b"GET /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n", 400),
    (b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n", 405),
    (b"GET /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", 400),
    (b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
     400),
    (b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc", 400),
    (b"GET * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400),
    (b"GET /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\n folded: x\r\n\r\n", 400),
    (b"GET /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\nAuthorization: Bearer smuggled\r\n\r\n", 400),
    (b"GET /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\x00b\r\n\r\n", 400),
    (b"GET /v1/x\nHost: evil HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400),
])
def test_other_upstreams_and_tricks_are_refused_and_nothing_is_sent(relay, upstream, req, status):
    r, log = relay
    before = len(upstream.requests)
    resp = _send(r.socket_path, req)
    assert _status(resp) == status
    assert b"X-Agp-Relay: refused" in resp
    assert len(upstream.requests) == before
    assert log[-1]["status"] == status and log[-1].get("refused")


def test_absolute_url_naming_the_upstream_is_allowed(relay, upstream):
    r, _ = relay
    req = f"GET {upstream.url}/v1/big?n=10 HTTP/1.1\r\nHost: 127.0.0.1:{upstream.port}\r\n\r\n".encode()
    resp = _send(r.socket_path, req)
    assert _status(resp) == 200 and resp.endswith(b"x" * 10)


def test_oversized_head_is_refused(relay, upstream):
    r, _ = relay
    resp = _send(r.socket_path, b"GET /v1/x HTTP/1.1\r\nX-Pad: " + b"a" * 70000 + b"\r\n\r\n")
    assert _status(resp) == 431


def test_unreachable_upstream_is_502(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    log = []
    r = ModelRelay(tmp_path / "relay.sock", Upstream.parse(f"http://127.0.0.1:{port}"), None, rules=RULES,
                   on_request=log.append)
    with RelayThread(r):
        resp = _send(r.socket_path, b"GET /v1/big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert _status(resp) == 502
    assert log[-1]["status"] == 502


def test_concurrent_requests(relay, upstream):
    r, log = relay
    out = []

    def one(i):
        out.append(_send(r.socket_path, b"GET /v1/big?n=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % (1000 + i)))

    ts = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(len(o.split(b"\r\n\r\n", 1)[1]) for o in out) == [1000 + i for i in range(16)]


@pytest.mark.parametrize("url", ["ftp://x", "http://user:pw@h", "http://h/?q=1", "nohost"])
def test_bad_upstream_urls(url):
    with pytest.raises(SandboxError):
        Upstream.parse(url)


def test_socket_is_removed_on_stop(tmp_path, upstream):
    r = ModelRelay(tmp_path / "relay.sock", Upstream.parse(upstream.url), None, rules=RULES)
    with RelayThread(r):
        assert r.socket_path.exists()
    assert not r.socket_path.exists()


def _self_signed(tmp_path):
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return tmp_path / "c.pem", tmp_path / "k.pem"


def test_https_upstream_verifies_the_certificate(tmp_path):
    import ssl

    cert, key = _self_signed(tmp_path)
    with ScriptedUpstream() as up:
        srv_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        srv_ctx.load_cert_chain(cert, key)
        up.server.socket = srv_ctx.wrap_socket(up.server.socket, server_side=True)
        trusted = ssl.create_default_context(cafile=str(cert))
        log = []
        ok = ModelRelay(tmp_path / "ok.sock", Upstream.parse(f"https://127.0.0.1:{up.port}"),
                        Credential("x-api-key", HOST_KEY), rules=RULES, ssl_context=trusted,
                        on_request=log.append)
        with RelayThread(ok):
            resp = _send(ok.socket_path, b"GET /v1/big?n=5 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _status(resp) == 200 and resp.endswith(b"xxxxx")
        assert ("x-api-key", HOST_KEY) in up.requests[-1]["headers"]
        # the system trust store does not know this certificate: refused, nothing relayed
        n = len(up.requests)
        bad = ModelRelay(tmp_path / "bad.sock", Upstream.parse(f"https://127.0.0.1:{up.port}"),
                         Credential("x-api-key", HOST_KEY), rules=RULES, on_request=log.append)
        with RelayThread(bad):
            resp = _send(bad.socket_path, b"GET /v1/big?n=5 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _status(resp) == 502
        assert len(up.requests) == n


def test_provider_credentials_come_from_the_host_environment(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0000")
    c = Credential.for_provider("anthropic")
    assert (c.header, c.value) == ("x-api-key", "sk-ant-test-0000")
    assert "sk-ant" not in repr(c)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-oa-0000")
    assert Credential.for_provider("openai").value == "Bearer sk-oa-0000"
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(SandboxError, match="OPENAI_API_KEY"):
        Credential.for_provider("openai")
    with pytest.raises(SandboxError, match="unknown"):
        Credential.for_provider("nope")

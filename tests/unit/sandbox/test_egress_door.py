"""The egress door on the host with local upstreams: each connection a journaled gate decision.

Everything listens on 127.0.0.1; names are pinned with ``resolve`` (``agp run --resolve``)."""

from __future__ import annotations

import socket
import ssl
import urllib.error

import pytest

from agp.sandbox.egress import EgressLimits, is_private_address, parse_resolve, sni_of
from agp.errors import SandboxError
from tests.support.egress import http_server, make_ca, running_door, urlopen_via


def policy(tls_port: int, http_port: int) -> str:
    return f"""
[[rule]]
id = "registry"
effect = "allow"
kind = ["egress"]
host = ["registry.test"]
port = [{tls_port}, {http_port}]
private = true

[[rule]]
id = "public-only"
effect = "allow"
kind = ["egress"]
host = ["public.test"]
"""


@pytest.fixture
def env(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "hello.txt").write_bytes(b"hello from the registry\n")
    ca = make_ca(tmp_path / "ca", ["registry.test", "other.test", "public.test"])
    with http_server(root, tls=ca) as tls_port, http_server(root) as http_port:
        yield tmp_path, ca, tls_port, http_port


def door(env, **kw):
    tmp, ca, tls_port, http_port = env
    pins = {(h, p): "127.0.0.1" for h in ("registry.test", "other.test", "public.test")
            for p in (tls_port, http_port)}
    return running_door(tmp / "run", policy(tls_port, http_port), resolve=pins, **kw)


def test_https_and_http_to_an_allowed_host(env):
    tmp, ca, tls_port, http_port = env
    with door(env) as d:
        assert urlopen_via(d.proxy, f"https://registry.test:{tls_port}/hello.txt", ca=ca.ca_pem) == \
            (200, b"hello from the registry\n")
        assert urlopen_via(d.proxy, f"http://registry.test:{http_port}/hello.txt") == \
            (200, b"hello from the registry\n")
    decisions = d.entries("egress.decision")
    assert [(x["host"], x["method"], x["decision"], x["rule"]) for x in decisions] == [
        ("registry.test", "CONNECT", "allow", "registry"), ("registry.test", "GET", "allow", "registry")]
    assert decisions[0]["addresses"] == ["127.0.0.1"] and decisions[0]["private"] is True
    assert decisions[1]["path"] == "/hello.txt"
    closes = d.entries("egress.close")
    assert len(closes) == 2 and all(c["bytes_down"] > 0 and c["bytes_up"] > 0 for c in closes)
    assert all(isinstance(c["decision_seq"], int) for c in closes)


def test_host_without_rule_refused_and_never_resolved(env):
    tmp, ca, tls_port, http_port = env
    with door(env) as d:
        with pytest.raises(urllib.error.URLError, match="403 agp egress: denied: no rule allows"):
            urlopen_via(d.proxy, f"https://other.test:{tls_port}/hello.txt", ca=ca.ca_pem)
        code, body = urlopen_via(d.proxy, f"http://other.test:{http_port}/hello.txt")
        assert code == 403 and b"no rule allows" in body
    decisions = d.entries("egress.decision")
    assert [x["decision"] for x in decisions] == ["deny", "deny"]
    assert all("addresses" not in x for x in decisions)  # denied before any resolution
    assert d.entries("egress.close") == []


def test_private_address_needs_private_true(env):
    tmp, ca, tls_port, http_port = env
    with door(env) as d:
        with pytest.raises(urllib.error.URLError, match="403"):
            urlopen_via(d.proxy, f"https://public.test:{tls_port}/hello.txt", ca=ca.ca_pem)
    (dec,) = d.entries("egress.decision")
    assert dec["decision"] == "deny" and dec["private"] is True and dec["addresses"] == ["127.0.0.1"]


def test_sni_mismatch_refused(env):
    """A tunnel opened for registry.test carrying a ClientHello for other.test is cut before any byte
    of it reaches the upstream."""
    tmp, ca, tls_port, http_port = env
    with door(env) as d:
        s = socket.create_connection(("127.0.0.1", d.port))
        s.sendall(f"CONNECT registry.test:{tls_port} HTTP/1.1\r\nHost: registry.test\r\n\r\n".encode())
        assert s.recv(1024).startswith(b"HTTP/1.1 200")
        ctx = ssl.create_default_context(cafile=str(ca.ca_pem))
        with pytest.raises((ssl.SSLError, ConnectionError)):
            ctx.wrap_socket(s, server_hostname="other.test")
        s.close()
    (ref,) = d.entries("egress.refused")
    assert "does not match the CONNECT host" in ref["refused"] and "other.test" in ref["refused"]
    (close,) = d.entries("egress.close")
    assert close["bytes_up"] == 0 and close["end"].startswith("refused")


def test_not_tls_in_a_tunnel_refused(env):
    tmp, ca, tls_port, http_port = env
    with door(env) as d:
        s = socket.create_connection(("127.0.0.1", d.port))
        s.sendall(f"CONNECT registry.test:{http_port} HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n".encode())
        data = s.recv(1024)
        assert data.startswith(b"HTTP/1.1 200")
        s.close()
    (ref,) = d.entries("egress.refused")
    assert "not a TLS" in ref["refused"]


def test_upload_past_budget_cut(env):
    tmp, ca, tls_port, http_port = env
    limits = EgressLimits(upload_per_connection=64 * 1024, upload_per_run=10 * 1024**2)
    with door(env, limits=limits) as d:
        code, body = urlopen_via(d.proxy, f"http://registry.test:{http_port}/up", data=b"x" * 1000)
        assert code == 200 and b'"received": 1000' in body
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            urlopen_via(d.proxy, f"https://registry.test:{tls_port}/up", ca=ca.ca_pem, data=b"x" * 1024**2)
    ends = [c["end"] for c in d.entries("egress.close")]
    assert ends[0] == "closed" and "upload budget exceeded" in ends[1]


def test_run_upload_budget(env):
    tmp, ca, tls_port, http_port = env
    limits = EgressLimits(upload_per_connection=1024**2, upload_per_run=3000)
    with door(env, limits=limits) as d:
        assert urlopen_via(d.proxy, f"http://registry.test:{http_port}/up", data=b"x" * 1000)[0] == 200
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            urlopen_via(d.proxy, f"http://registry.test:{http_port}/up", data=b"x" * 5000)
    assert "in this run" in d.entries("egress.close")[-1]["end"]


def test_connection_cap_and_head_timeout(env):
    tmp, ca, tls_port, http_port = env
    with door(env, limits=EgressLimits(max_connections=2, head_timeout=1.0)) as d:
        held = [socket.create_connection(("127.0.0.1", d.port)) for _ in range(2)]
        import time
        time.sleep(0.3)
        s = socket.create_connection(("127.0.0.1", d.port))
        assert b"503 agp egress: too many connections" in s.recv(1024)
        for h in held:
            h.settimeout(5)
            assert b"408" in h.recv(1024)  # no head within head_timeout
            h.close()
        s.close()


def test_idle_timeout(env):
    tmp, ca, tls_port, http_port = env
    with door(env, limits=EgressLimits(idle_timeout=0.5)) as d:
        s = socket.create_connection(("127.0.0.1", d.port))
        s.sendall(f"CONNECT registry.test:{tls_port} HTTP/1.1\r\n\r\n".encode())
        assert s.recv(1024).startswith(b"HTTP/1.1 200")
        ctx = ssl.create_default_context(cafile=str(ca.ca_pem))
        t = ctx.wrap_socket(s, server_hostname="registry.test")
        t.settimeout(5)
        assert t.recv(1) == b""  # the door closed the idle tunnel
        t.close()
    assert d.entries("egress.close")[0]["end"].startswith("idle for")


@pytest.mark.parametrize("head", [
    b"CONNECT registry.test HTTP/1.1\r\n\r\n",
    b"CONNECT bad_host!:443 HTTP/1.1\r\n\r\n",
    b"GET /relative HTTP/1.1\r\n\r\n",
    b"GET ftp://registry.test/ HTTP/1.1\r\n\r\n",
    b"GET http://user:pw@registry.test/ HTTP/1.1\r\n\r\n",
    b"GET http://registry.test/ HTTP/1.1\r\nHost: other.test\r\n\r\n",
    b"GET http://registry.test/ HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
])
def test_malformed_requests_refused(env, head):
    with door(env) as d:
        s = socket.create_connection(("127.0.0.1", d.port))
        s.sendall(head)
        assert s.recv(1024).startswith((b"HTTP/1.1 400", b"HTTP/1.1 421"))
        s.close()
    assert d.entries("egress.decision") == [] and len(d.entries("egress.refused")) == 1


def test_private_addresses():
    for a in ("127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "::1",
              "fd00:ec2::254", "fe80::1", "224.0.0.1", "0.0.0.0", "::ffff:127.0.0.1", "ff02::1"):
        assert is_private_address(a), a
    for a in ("93.184.216.34", "2606:4700::1111", "1.1.1.1"):
        assert not is_private_address(a), a


def test_parse_resolve():
    assert parse_resolve(["pypi.org:443:127.0.0.5", "x.test:80:[::1]"]) == {("pypi.org", 443): "127.0.0.5",
                                                                           ("x.test", 80): "::1"}
    for bad in ("pypi.org:443", "pypi.org:http:1.2.3.4", "pypi.org:443:not-an-ip", "b_d:1:1.2.3.4"):
        with pytest.raises(SandboxError):
            parse_resolve([bad])


def test_sni_parser_on_a_real_client_hello():
    """The ClientHello Python's ssl writes, read back by the door's parser."""
    import anyio
    from anyio.streams.buffered import BufferedByteReceiveStream
    from agp.sandbox.egress import _read_client_hello

    ctx = ssl.create_default_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="files.example.org")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    raw = out.read()

    class Src:
        def __init__(self, data):
            self.data = data

        async def receive(self, n=65536):
            if not self.data:
                raise anyio.EndOfStream
            d, self.data = self.data[:7], self.data[7:]  # small pieces: records cross reads
            return d

    async def go():
        return await _read_client_hello(BufferedByteReceiveStream(Src(raw)), 65536)

    got_raw, hello = anyio.run(go)
    assert got_raw == raw and sni_of(hello) == "files.example.org"


def test_a_redirect_to_a_host_without_rule_is_refused_at_that_hop(env):
    """The allowed host answers 302 to other.test: the client's next request is a new decision, denied."""
    tmp, ca, tls_port, http_port = env
    (tmp / "www" / "moved").mkdir()
    import http.server
    import threading

    class R(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(302)
            self.send_header("Location", f"http://other.test:{http_port}/hello.txt")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), R)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    rport = srv.server_address[1]
    pol = policy(tls_port, http_port).replace(f"port = [{tls_port}, {http_port}]",
                                              f"port = [{tls_port}, {http_port}, {rport}]")
    pins = {("registry.test", rport): "127.0.0.1", ("other.test", http_port): "127.0.0.1"}
    try:
        with running_door(tmp / "run", pol, resolve=pins) as d:
            code, body = urlopen_via(d.proxy, f"http://registry.test:{rport}/")
    finally:
        srv.shutdown()
        srv.server_close()
    assert code == 403 and b"no rule allows" in body
    decisions = d.entries("egress.decision")
    assert [(x["host"], x["decision"]) for x in decisions] == [("registry.test", "allow"), ("other.test", "deny")]


class Approve:
    """An approver that approves only connections to approve.test."""

    name = "test"

    def __init__(self):
        self.broker = None
        self.asked = []

    def bind(self, broker):
        self.broker = broker

    def start(self):
        pass

    def close(self):
        pass

    async def ask(self, request):
        import anyio

        from agp.gate import Answer

        self.asked.append(request)
        if request.call["input"]["host"] == "approve.test":
            ans = Answer(request.nonce, request.session, True, user_id="test:operator", via="test",
                         user_name="operator", call_digest=request.call_digest)
            await anyio.to_thread.run_sync(self.broker.answer, ans)

    async def resolved(self, result):
        pass


def test_require_asks_the_approver(env):
    tmp, ca, tls_port, http_port = env
    pol = f"""
[[rule]]
id = "ask"
effect = "require"
kind = ["egress"]
host = ["approve.test", "ignored.test"]
private = true
"""
    pins = {(h, http_port): "127.0.0.1" for h in ("approve.test", "ignored.test")}
    ap = Approve()
    with running_door(tmp / "run", pol, resolve=pins, approvers=(ap,), approval_timeout=1.0) as d:
        assert urlopen_via(d.proxy, f"http://approve.test:{http_port}/hello.txt")[0] == 200
        code, body = urlopen_via(d.proxy, f"http://ignored.test:{http_port}/hello.txt")
        assert code == 403 and b"approval required by rule ask" in body
    assert len(ap.asked) == 2 and ap.asked[0].tool == "egress"
    decisions = d.entries("egress.decision")
    assert [(x["decision"], x["effect"]) for x in decisions] == [("allow", "require"), ("deny", "require")]
    assert decisions[0]["approval"]["outcome"] == "approved"


def test_egress_env_points_every_client_at_the_forwarder():
    from agp._wiring import egress_env

    env = egress_env("http://127.0.0.1:8789", {"GIT_CONFIG_COUNT": "2"})
    for k in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "PIP_PROXY", "npm_config_proxy",
              "npm_config_https_proxy", "CARGO_HTTP_PROXY"):
        assert env[k] == "http://127.0.0.1:8789", k
    assert "127.0.0.1" in env["NO_PROXY"] and env["NO_PROXY"] == env["no_proxy"]
    assert (env["GIT_CONFIG_COUNT"], env["GIT_CONFIG_KEY_2"], env["GIT_CONFIG_VALUE_2"]) == \
        ("3", "http.proxy", "http://127.0.0.1:8789")


def test_a_chunked_upload_is_reframed_and_counted(env):
    tmp, ca, tls_port, http_port = env
    with door(env) as d:
        s = socket.create_connection(("127.0.0.1", d.port))
        s.sendall(f"POST http://registry.test:{http_port}/up HTTP/1.1\r\nHost: registry.test:{http_port}\r\n"
                  f"Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n".encode())
        s.settimeout(10)
        got = b""
        while True:
            data = s.recv(4096)
            if not data:
                break
            got += data
        s.close()
    assert got.startswith(b"HTTP/1.0 200") and got.endswith(b'{"received": 11}'), got
    (close,) = d.entries("egress.close")
    assert close["bytes_up"] > 11


def test_a_failed_journal_closes_the_door(env):
    """Once the gate's journal has failed, no connection is allowed (nothing could record it)."""
    tmp, ca, tls_port, http_port = env
    with door(env) as d:
        assert urlopen_via(d.proxy, f"http://registry.test:{http_port}/hello.txt")[0] == 200
        d.gate._poison("disk full (test)")
        code, body = urlopen_via(d.proxy, f"http://registry.test:{http_port}/hello.txt")
        assert code == 403 and b"could not record" in body
        with pytest.raises(urllib.error.URLError, match="403"):
            urlopen_via(d.proxy, f"https://registry.test:{tls_port}/hello.txt", ca=ca.ca_pem)
    assert [x["decision"] for x in d.entries("egress.decision")] == ["allow"]


def test_method_and_path_rules_on_plain_http(env):
    tmp, ca, tls_port, http_port = env
    pol = f"""
[[rule]]
id = "read-only"
effect = "allow"
kind = ["egress"]
host = ["registry.test"]
method = ["GET"]
url_path = ["/hello.txt"]
private = true
"""
    with running_door(tmp / "run", pol, resolve={("registry.test", http_port): "127.0.0.1"}) as d:
        assert urlopen_via(d.proxy, f"http://registry.test:{http_port}/hello.txt")[0] == 200
        assert urlopen_via(d.proxy, f"http://registry.test:{http_port}/up", data=b"x")[0] == 403
        assert urlopen_via(d.proxy, f"http://registry.test:{http_port}/other")[0] == 403
    assert [x["decision"] for x in d.entries("egress.decision")] == ["allow", "deny", "deny"]


INSPECT = """
[[rule]]
id = "registry-read"
effect = "allow"
kind = ["egress"]
host = ["registry.test"]
method = ["GET", "HEAD"]
url_path = ["/hello.txt", "/simple/**"]
inspect = true
private = true
"""


def test_inspecting_mode_decides_each_request_by_method_and_path(env):
    """TLS to registry.test is terminated with the run's CA: GET of an allowed path passes, a PUT or
    another path is refused inside TLS with the reason, each a journaled decision with method and path."""
    from agp.sandbox.egress import EgressCA

    tmp, ca, tls_port, http_port = env
    run_ca = EgressCA(tmp / "ca-work")
    trust = tmp / "box-trust.pem"
    trust.write_bytes(run_ca.cert_pem)  # the box trusts the run's CA only: the door must be the TLS server
    upstream_ssl = ssl.create_default_context(cafile=str(ca.ca_pem))
    with running_door(tmp / "run", INSPECT, resolve={("registry.test", tls_port): "127.0.0.1"}, ca=run_ca,
                      upstream_ssl=upstream_ssl) as d:
        assert urlopen_via(d.proxy, f"https://registry.test:{tls_port}/hello.txt", ca=trust) == \
            (200, b"hello from the registry\n")
        code, body = urlopen_via(d.proxy, f"https://registry.test:{tls_port}/up", ca=trust, data=b"x" * 10)
        assert code == 403 and b"no rule allows" in body
        code, body = urlopen_via(d.proxy, f"https://registry.test:{tls_port}/secret.txt", ca=trust)
        assert code == 403
        # the upstream's own certificate is not the run CA's: a client trusting only the test CA fails
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urlopen_via(d.proxy, f"https://registry.test:{tls_port}/hello.txt", ca=ca.ca_pem)
    decisions = d.entries("egress.decision")
    assert [(x["method"], x["path"], x["decision"], x["inspected"]) for x in decisions] == [
        ("GET", "/hello.txt", "allow", True), ("POST", "/up", "deny", True), ("GET", "/secret.txt", "deny", True)]
    closes = d.entries("egress.close")
    assert closes[0]["bytes_down"] > 0 and closes[0]["end"] == "closed"
    assert not list((tmp / "ca-work").iterdir())  # no key left on disk


def test_inspecting_mode_refuses_an_upstream_it_cannot_verify(env):
    from agp.sandbox.egress import EgressCA

    tmp, ca, tls_port, http_port = env
    run_ca = EgressCA(tmp / "ca-work")
    trust = tmp / "box-trust.pem"
    trust.write_bytes(run_ca.cert_pem)
    with running_door(tmp / "run", INSPECT, resolve={("registry.test", tls_port): "127.0.0.1"}, ca=run_ca,
                      upstream_ssl=ssl.create_default_context()) as d:  # the test CA is not trusted
        code, body = urlopen_via(d.proxy, f"https://registry.test:{tls_port}/hello.txt", ca=trust)
        assert code == 502 and b"could not be verified" in body


def test_inspecting_mode_injects_a_credential_the_box_never_sees(env):
    """The rule names the secret; the door adds it on the host. The box's own Authorization is replaced,
    the value is in no response and no journal entry; the journal names the secret."""
    from agp.sandbox.egress import EgressCA
    from tests.support.egress import SEEN

    tmp, ca, tls_port, http_port = env
    value = "tok-registry-0123456789abcdef"
    pol = INSPECT.replace("inspect = true", 'inspect = true\ncredential_header = "Authorization: Bearer {{secret:REG_TOKEN}}"')
    run_ca = EgressCA(tmp / "ca-work")
    trust = tmp / "box-trust.pem"
    trust.write_bytes(run_ca.cert_pem)
    SEEN.clear()
    with running_door(tmp / "run", pol, resolve={("registry.test", tls_port): "127.0.0.1"}, ca=run_ca,
                      upstream_ssl=ssl.create_default_context(cafile=str(ca.ca_pem)),
                      secrets_env={"AGP_SECRET_REG_TOKEN": value}) as d:
        import urllib.request

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"https": d.proxy}),
                                             urllib.request.HTTPSHandler(context=ssl.create_default_context(
                                                 cafile=str(trust))))
        req = urllib.request.Request(f"https://registry.test:{tls_port}/hello.txt",
                                     headers={"Authorization": "Bearer from-the-box"})
        with opener.open(req, timeout=20) as r:
            body = r.read()
            assert body == b"hello from the registry\n" and value.encode() not in bytes(r.headers)
    assert ("/hello.txt", f"Bearer {value}") in SEEN  # the upstream got the host's secret, not the box's
    raw = (tmp / "run" / "journal.jsonl").read_bytes()
    assert value.encode() not in raw and b"from-the-box" not in raw
    assert d.entries("egress.close")[0]["credential"] == "REG_TOKEN"


def test_an_unset_credential_refuses_the_request(env):
    from agp.sandbox.egress import EgressCA

    tmp, ca, tls_port, http_port = env
    pol = INSPECT.replace("inspect = true", 'inspect = true\ncredential_header = "Authorization: Bearer {{secret:MISSING}}"')
    run_ca = EgressCA(tmp / "ca-work")
    trust = tmp / "box-trust.pem"
    trust.write_bytes(run_ca.cert_pem)
    with running_door(tmp / "run", pol, resolve={("registry.test", tls_port): "127.0.0.1"}, ca=run_ca,
                      upstream_ssl=ssl.create_default_context(cafile=str(ca.ca_pem))) as d:
        code, body = urlopen_via(d.proxy, f"https://registry.test:{tls_port}/hello.txt", ca=trust)
        assert code == 502 and b"MISSING is not set" in body


class ApproveRef:
    """Approves a git push only when it updates refs/heads/ok."""

    name = "test"

    def __init__(self):
        self.broker = None
        self.asked = []

    def bind(self, broker):
        self.broker = broker

    def start(self):
        pass

    def close(self):
        pass

    async def ask(self, request):
        import anyio

        from agp.gate import Answer

        self.asked.append(request)
        refs = [r["ref"] for r in request.call["input"].get("git_push", {}).get("refs", [])]
        if refs == ["refs/heads/ok"]:
            await anyio.to_thread.run_sync(self.broker.answer, Answer(
                request.nonce, request.session, True, user_id="test:operator", via="test", user_name="operator",
                call_digest=request.call_digest))

    async def resolved(self, result):
        pass


def test_git_push_is_its_own_decision_naming_repository_and_refs(env, tmp_path):
    """Clone and fetch pass; each push asks the approver with the repository and refs; an unapproved push
    never reaches the remote."""
    import os
    import subprocess

    from agp.sandbox.egress import EgressCA

    tmp, ca, tls_port, http_port = env
    src = tmp_path / "src"
    genv = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "init", "-q", "-b", "main", str(src)], check=True)
    (src / "README").write_text("r\n")
    subprocess.run(["git", "-C", str(src), "add", "README"], check=True)
    subprocess.run(["git", "-C", str(src), "commit", "-qm", "one"], check=True, env=genv)
    subprocess.run(["git", "clone", "-q", "--bare", str(src), str(tmp / "www" / "p.git")], check=True)
    pol = """
[[rule]]
id = "git-read"
effect = "allow"
kind = ["egress"]
host = ["registry.test"]
url_path = ["/smart/**"]
facts_none = ["git_push"]
inspect = true
private = true

[[rule]]
id = "git-push"
effect = "require"
kind = ["egress"]
host = ["registry.test"]
facts_any = ["git_push"]
inspect = true
private = true
"""
    run_ca = EgressCA(tmp / "ca-work")
    trust = tmp / "box-trust.pem"
    trust.write_bytes(run_ca.cert_pem)
    ap = ApproveRef()
    url = f"https://registry.test:{tls_port}/smart/p.git"
    with running_door(tmp / "run", pol, resolve={("registry.test", tls_port): "127.0.0.1"}, ca=run_ca,
                      upstream_ssl=ssl.create_default_context(cafile=str(ca.ca_pem)), approvers=(ap,),
                      approval_timeout=1.0) as d:
        e = {**genv, "HTTPS_PROXY": d.proxy, "GIT_SSL_CAINFO": str(trust), "NO_PROXY": ""}
        work = tmp_path / "work"
        subprocess.run(["git", "clone", "-q", url, str(work)], check=True, env=e, timeout=60)
        (work / "NEW").write_text("n\n")
        subprocess.run(["git", "-C", str(work), "add", "NEW"], check=True)
        subprocess.run(["git", "-C", str(work), "commit", "-qm", "two"], check=True, env=e)
        ok = subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "HEAD:refs/heads/ok"], env=e,
                            capture_output=True, text=True, timeout=60)
        no = subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "HEAD:refs/heads/main"], env=e,
                            capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert no.returncode != 0 and "403" in no.stderr, no.stderr
    refs = subprocess.run(["git", "-C", str(tmp / "www" / "p.git"), "for-each-ref", "--format=%(refname)"],
                          capture_output=True, text=True).stdout.split()
    assert "refs/heads/ok" in refs
    main = subprocess.run(["git", "-C", str(tmp / "www" / "p.git"), "log", "--format=%s", "main"],
                          capture_output=True, text=True).stdout.split()
    assert main == ["one"]  # the unapproved push never reached the remote
    pushes = [x for x in d.entries("egress.decision") if "git_push" in x]
    assert [(p["git_push"]["repository"], [r["ref"] for r in p["git_push"]["refs"]], p["decision"])
            for p in pushes] == [("/smart/p.git", ["refs/heads/ok"], "allow"),
                                 ("/smart/p.git", ["refs/heads/main"], "deny")]
    assert all(p["rule"] == "git-push" for p in pushes)
    assert len(ap.asked) == 2


def test_git_push_refs():
    from agp.sandbox.egress import git_push_refs

    old, new = "1" * 40, "2" * 40
    line1 = f"{'0' * 40} {new} refs/heads/a\0 report-status".encode()
    line2 = f"{old} {'0' * 40} refs/heads/b\n".encode()
    body = b"%04x" % (len(line1) + 4) + line1 + b"%04x" % (len(line2) + 4) + line2 + b"0000PACK..."
    assert git_push_refs(body) == [
        {"ref": "refs/heads/a", "old": "0" * 40, "new": new, "action": "create"},
        {"ref": "refs/heads/b", "old": old, "new": "0" * 40, "action": "delete"}]
    assert git_push_refs(b"zzzz") == [] and git_push_refs(b"") == []


class SlowApprove(Approve):
    """Approves every connection, after ``delay`` seconds (an operator reading the question)."""

    def __init__(self, delay: float):
        super().__init__()
        self.delay = delay

    async def ask(self, request):
        import threading

        from agp.gate import Answer

        self.asked.append(request)  # the question is posted; the answer comes later, as a person's would
        ans = Answer(request.nonce, request.session, True, user_id="test:operator", via="test",
                     user_name="operator", call_digest=request.call_digest)
        threading.Timer(self.delay, self.broker.answer, (ans,)).start()


@pytest.mark.slow
def test_pip_waits_for_an_approval_slower_than_its_default_timeout(tmp_path):
    """pip gives up on a connection after 15 s by default and retries on a new one, which asks the
    approver again. With the environment agp gives the box, real pip waits out approvals that take
    longer than that (PIP_RETRIES=0 here makes a give-up fail the download instead of asking again)."""
    import hashlib
    import os
    import subprocess
    import sys
    import zipfile

    from agp._wiring import egress_env

    root = tmp_path / "www"
    (root / "simple" / "egpkg").mkdir(parents=True)
    (root / "files").mkdir()
    whl = root / "files" / "egpkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr("egpkg/__init__.py", "")
        z.writestr("egpkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: egpkg\nVersion: 1.0\n")
        z.writestr("egpkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("egpkg-1.0.dist-info/RECORD", "")
    digest = hashlib.sha256(whl.read_bytes()).hexdigest()
    (root / "simple" / "egpkg" / "index.html").write_text(
        f'<html><body><a href="../../files/{whl.name}#sha256={digest}">{whl.name}</a></body></html>\n')
    ca = make_ca(tmp_path / "ca", ["pypi.test"])
    pol = """
[[rule]]
id = "ask-pypi"
effect = "require"
kind = ["egress"]
host = ["pypi.test"]
private = true
"""
    ap = SlowApprove(17.0)  # past pip's default 15 s
    with http_server(root, tls=ca) as port, running_door(tmp_path / "run", pol, resolve={("pypi.test", port): "127.0.0.1"},
                                                        approvers=(ap,), approval_timeout=25.0) as d:
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PIP_RETRIES": "0",
               **egress_env(d.proxy, approval_wait=25.0)}
        p = subprocess.run([sys.executable, "-m", "pip", "download", "egpkg==1.0", "--no-deps", "--no-cache-dir",
                            "--disable-pip-version-check", "--index-url", f"https://pypi.test:{port}/simple",
                            "--cert", str(ca.ca_pem), "-d", str(tmp_path / "got")],
                           env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-3000:]
    assert (tmp_path / "got" / whl.name).read_bytes() == whl.read_bytes()
    # one question per connection (the index and the file; this upstream closes after each answer),
    # none of them a retry of a connection pip gave up on
    decisions = d.entries("egress.decision")
    assert len(ap.asked) == len(decisions) == 2, [r.call["input"] for r in ap.asked]
    assert [(x["host"], x["decision"], x["approval"]["outcome"]) for x in decisions] == [
        ("pypi.test", "allow", "approved")] * 2


def test_client_timeouts_follow_the_approval_wait():
    from agp._wiring import egress_env

    short = egress_env("http://127.0.0.1:8789", approval_wait=0)
    assert (short["PIP_TIMEOUT"], short["CARGO_HTTP_TIMEOUT"]) == ("30", "30")
    long = egress_env("http://127.0.0.1:8789", approval_wait=120.5)
    assert (long["PIP_TIMEOUT"], long["CARGO_HTTP_TIMEOUT"]) == ("151", "151")

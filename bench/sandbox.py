"""Sandbox benchmark: hardened lifecycle, and the model relay against a direct loopback connection.

    .venv/bin/python bench/sandbox.py [--runs 20] [--requests 200] [--json bench/out/sandbox.json]

Prints, from one run on this machine (real Docker engine, the pinned reference image):
  - create + inspect + preflight + teardown of a hardened sandbox: p50 / p99 over --runs, per phase too
  - relay overhead per request: a small GET to a scripted upstream on 127.0.0.1, direct (TCP) vs through
    relay.sock (host relay), and through the in-container forwarder (measured inside the sandbox)
  - time to first byte of a streamed (SSE) response, direct vs through the relay, as a ratio
Traffic goes only to 127.0.0.1 and Unix sockets.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._stats import pct, summary  # noqa: E402
from agp.sandbox import SandboxSpec  # noqa: E402
from agp.sandbox.docker import DockerSandbox, docker_client  # noqa: E402
from agp.sandbox.images import resolve_intendant_image  # noqa: E402
from agp.sandbox.relay import Credential, ModelRelay, RelayRules, RelayThread, Upstream  # noqa: E402

STREAM_GAP = 0.02  # seconds between SSE events from the scripted upstream


class _H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path.startswith("/stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(5):
                ev = b"event: delta\ndata: {\"i\": %d}\n\n" % i
                self.wfile.write(b"%x\r\n%s\r\n" % (len(ev), ev))
                self.wfile.flush()
                time.sleep(STREAM_GAP)
            self.wfile.write(b"0\r\n\r\n")
            return
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _request(connect, path: str) -> tuple[float, float]:
    """(time to first body byte, total) for one GET; a fresh connection each time (as the relay does)."""
    t0 = time.perf_counter()
    s = connect()
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    buf = b""
    ttfb = None
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        if ttfb is None and b"\r\n\r\n" in buf and len(buf.split(b"\r\n\r\n", 1)[1]) > 0:
            ttfb = time.perf_counter() - t0
    s.close()
    total = time.perf_counter() - t0
    assert b" 200 " in buf.split(b"\r\n", 1)[0], buf[:200]
    return (ttfb if ttfb is not None else total), total


def bench_lifecycle(runs: int, client, image_id: str) -> dict:
    phases = {"create+inspect": [], "preflight": [], "teardown": [], "total": []}
    with tempfile.TemporaryDirectory() as d:
        ws, sock = Path(d, "ws"), Path(d, "sock")
        ws.mkdir()
        sock.mkdir()
        os.chown(ws, 10001, 10001)
        for i in range(runs + 1):  # one warm-up
            spec = SandboxSpec(image=image_id, run_id=f"bench-{os.getpid()}-{i}", workspace=ws, socket_dir=sock)
            t0 = time.perf_counter()
            sb = DockerSandbox(spec, client=client)
            sb.create()
            t1 = time.perf_counter()
            res = sb.preflight()
            assert res.ok
            t2 = time.perf_counter()
            sb.teardown()
            t3 = time.perf_counter()
            if i == 0:
                continue
            phases["create+inspect"].append(t1 - t0)
            phases["preflight"].append(t2 - t1)
            phases["teardown"].append(t3 - t2)
            phases["total"].append(t3 - t0)
    return phases


def bench_relay(requests: int, client, image_id: str) -> dict:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    port = srv.server_address[1]
    out: dict = {}
    with tempfile.TemporaryDirectory() as d:
        sock_dir = Path(d, "sock")
        sock_dir.mkdir()
        os.chmod(sock_dir, 0o777)
        relay = ModelRelay(sock_dir / "relay.sock", Upstream.parse(f"http://127.0.0.1:{port}"),
                           Credential("x-api-key", "bench-key-0000"), on_request=lambda m: None,
                           rules=RelayRules("anthropic", frozenset({("GET", "/small"), ("GET", "/stream")})))

        def direct():
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return s

        def via_relay():
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(sock_dir / "relay.sock"))
            return s

        with RelayThread(relay):
            for name, conn in (("direct", direct), ("relay", via_relay)):
                for _ in range(20):
                    _request(conn, "/small")  # warm-up
            small = {"direct": [], "relay": []}
            ttfb = {"direct": [], "relay": []}
            for _ in range(requests):  # interleaved so both see the same machine state
                small["direct"].append(_request(direct, "/small")[1])
                small["relay"].append(_request(via_relay, "/small")[1])
            for _ in range(max(20, requests // 5)):
                ttfb["direct"].append(_request(direct, "/stream")[0])
                ttfb["relay"].append(_request(via_relay, "/stream")[0])
            out["small"] = small
            out["ttfb"] = ttfb
            out["container"] = _bench_in_container(client, image_id, sock_dir, port, max(50, requests // 2))
    srv.shutdown()
    srv.server_close()
    return out


IN_CONTAINER = r"""
import json, socket, sys, time
n = int(sys.argv[1])
def req(path):
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", 8788))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:8788\r\nConnection: close\r\n\r\n" % path).encode())
    buf, first = b"", None
    while True:
        c = s.recv(65536)
        if not c:
            break
        buf += c
        if first is None and b"\r\n\r\n" in buf and buf.split(b"\r\n\r\n", 1)[1]:
            first = time.perf_counter() - t0
    s.close()
    assert b" 200 " in buf[:20], buf[:200]
    return first, time.perf_counter() - t0
for _ in range(10):
    req("/small")
small = [req("/small")[1] for _ in range(n)]
ttfb = [req("/stream")[0] for _ in range(max(20, n // 5))]
print(json.dumps({"small": small, "ttfb": ttfb}))
"""


def _bench_in_container(client, image_id: str, sock_dir: Path, port: int, n: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        ws = Path(d)
        os.chown(ws, 10001, 10001)
        spec = SandboxSpec(image=image_id, run_id=f"bench-relay-{os.getpid()}", workspace=ws, socket_dir=sock_dir)
        with DockerSandbox(spec, client=client) as sb:
            sb.preflight()
            fwd = sb.exec_stream(["python3", "-I", "-S", "/opt/agp/bin/agp-forward.py", "--port", "8788"])
            next(fwd.frames(timeout=10))
            r = sb.exec(["python3", "-I", "-S", "-c", IN_CONTAINER, str(n)], timeout=300)
            fwd.kill()
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--json", type=Path, default=None, help="also write the raw figures here")
    args = ap.parse_args()
    client = docker_client()
    image = resolve_intendant_image("reference", client=client)
    print(f"engine {client.version()['Version']}, image {image.id[:19]}, {os.cpu_count()} cpus")

    life = bench_lifecycle(args.runs, client, image.id)
    print(f"\nhardened sandbox lifecycle over {args.runs} runs (goal: total p50 <= 1.5 s)")
    for k, v in life.items():
        print(f"  {k:15} {summary(v)}")

    rel = bench_relay(args.requests, client, image.id)
    d, r = rel["small"]["direct"], rel["small"]["relay"]
    print(f"\nrelay, small GET, fresh connection each ({args.requests} requests each, interleaved)")
    print(f"  direct loopback  {summary(d)}")
    print(f"  via relay.sock   {summary(r)}")
    print(f"  overhead p50 {(pct(r, 50) - pct(d, 50)) * 1e3:.3f} ms, ratio p50 {pct(r, 50) / pct(d, 50):.2f}x, "
          f"p99 {pct(r, 99) / pct(d, 99):.2f}x")
    c = rel["container"]["small"]
    print(f"  in-sandbox client -> forwarder -> relay.sock: {summary(c)}; ratio to direct p50 "
          f"{pct(c, 50) / pct(d, 50):.2f}x")
    td, tr, tc = rel["ttfb"]["direct"], rel["ttfb"]["relay"], rel["container"]["ttfb"]
    print("\nstreamed (SSE, chunked) response: time to first body byte")
    print(f"  direct loopback  {summary(td)}")
    print(f"  via relay.sock   {summary(tr)}")
    print(f"  in-sandbox       {summary(tc)}")
    print(f"  TTFB ratio relay/direct p50 {pct(tr, 50) / pct(td, 50):.2f}x, in-sandbox/direct p50 "
          f"{pct(tc, 50) / pct(td, 50):.2f}x (event gap upstream: {STREAM_GAP * 1e3:.0f} ms, so buffering would "
          f"show as >= {STREAM_GAP * 4e3:.0f} ms)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"lifecycle": life, "relay": rel}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

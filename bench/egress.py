"""The egress door's cost: connection set-up latency and a 50 MB download's throughput, against a direct
loopback connection, measured in one run (interleaved).

    .venv/bin/python bench/egress.py [--connections 300] [--mb 50] [--rounds 3] [--json bench/out/egress.json]

The upstream is a TLS server on 127.0.0.1 (a test CA, the name pinned as with ``agp run --resolve``). The
door runs in its own process with the real gate (real policy, journal and keys: every connection is an
``egress.decision`` and an ``egress.close`` appended durably), as in ``agp run``. Paths measured:

- direct: TCP connect + TLS handshake to the upstream;
- door: the door's Unix socket, ``CONNECT`` + its 200, then the TLS handshake through the tunnel;
- door+fwd: the same through the in-box forwarder (images/common/agp-forward.py) on a loopback port,
  the box's real path.

Set-up: connect to the first application byte (the upstream sends ``ok`` after the handshake).
Download: the upstream sends --mb MB inside TLS; throughput is bytes over the time from the request to
the last byte; the ratio is door / direct. Traffic goes only to 127.0.0.1 and Unix sockets.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._stats import pct, summary  # noqa: E402

HOST = "registry.bench"
CHUNK = b"\x5a" * (256 * 1024)


def _upstream(ca, mb: int) -> tuple[socket.socket, int]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(ca.cert_pem, ca.key_pem)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(256)

    def one(c: socket.socket) -> None:
        try:
            t = ctx.wrap_socket(c, server_side=True)
            t.sendall(b"ok")
            what = t.recv(1)
            if what == b"D":
                left = mb * 1024 * 1024
                while left:
                    n = min(left, len(CHUNK))
                    t.sendall(CHUNK[:n])
                    left -= n
            t.close()
        except OSError:
            pass
        finally:
            c.close()

    def loop() -> None:
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=one, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return srv, srv.getsockname()[1]


def _serve_door(tmp: Path, port: int) -> None:
    """--serve: the real gate and door in this process until stdin closes."""
    import anyio
    import anyio.from_thread

    from agp.gate import GateServer
    from agp.journal import Journal, init_keys
    from agp.policy import load_policy
    from agp.sandbox.egress import EgressDoor

    (tmp / "policy.toml").write_text(f'[[rule]]\nid = "bench"\neffect = "allow"\nkind = ["egress"]\n'
                                     f'host = ["{HOST}"]\nport = [{port}]\nprivate = true\n')
    key = init_keys(tmp / "keys")
    journal = Journal.open(tmp / "journal.jsonl", key)
    gate = GateServer(socket_dir=tmp / "sock", policy=load_policy(tmp / "policy.toml"), journal=journal,
                      own_journal=True)
    door = EgressDoor(tmp / "sock" / "egress.sock", gate, session="bench", harness="claude-code",
                      resolve={(HOST, port): "127.0.0.1"})
    with anyio.from_thread.start_blocking_portal() as portal:
        gfut, _ = portal.start_task(gate.serve)
        gate.register_session("bench", harness="claude-code")
        dfut, _ = portal.start_task(door.serve)
        print(door.socket_path, flush=True)
        sys.stdin.read()
        dfut.cancel()
        gate.shutdown()
        gfut.result(timeout=30)
    print(json.dumps(door.stats), flush=True)


def _open(path: str, via: str | tuple[str, int], port: int, ctx: ssl.SSLContext) -> ssl.SSLSocket:
    if path == "direct":
        s = socket.create_connection(("127.0.0.1", port))
    else:
        if isinstance(via, tuple):
            s = socket.create_connection(via)
        else:
            s = socket.socket(socket.AF_UNIX)
            s.connect(via)
        s.sendall(f"CONNECT {HOST}:{port} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode())
        got = b""
        while b"\r\n\r\n" not in got:
            d = s.recv(4096)
            if not d:
                raise OSError(f"door closed: {got!r}")
            got += d
        if not got.startswith(b"HTTP/1.1 200"):
            raise OSError(got.decode(errors="replace"))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1) if s.family == socket.AF_INET else None
    t = ctx.wrap_socket(s, server_hostname=HOST)
    assert t.recv(2) == b"ok"
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=300)
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        _serve_door(args.serve, args.port)
        return

    from tests.support.egress import FORWARDER, make_ca

    tmp = Path(tempfile.mkdtemp(prefix="agp-bench-egress-"))
    ca = make_ca(tmp / "ca", [HOST])
    srv, port = _upstream(ca, args.mb)
    door = subprocess.Popen([sys.executable, __file__, "--serve", str(tmp / "run"), "--port", str(port)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    (tmp / "run").mkdir(exist_ok=True)
    sock_path = door.stdout.readline().strip()
    fwd = subprocess.Popen([sys.executable, "-I", "-S", str(FORWARDER), "--port", "0", "--socket", sock_path],
                           stdout=subprocess.PIPE, text=True)
    fwd_port = int(fwd.stdout.readline().rsplit(":", 1)[1])
    ctx = ssl.create_default_context(cafile=str(ca.ca_pem))
    paths = {"direct": None, "door": sock_path, "door+fwd": ("127.0.0.1", fwd_port)}
    setup: dict[str, list[float]] = {k: [] for k in paths}
    tput: dict[str, list[float]] = {k: [] for k in paths}
    try:
        for _ in range(args.connections):
            for name, via in paths.items():
                t0 = time.perf_counter()
                t = _open(name, via, port, ctx)
                setup[name].append(time.perf_counter() - t0)
                t.close()
        for _ in range(args.rounds):
            for name, via in paths.items():
                t = _open(name, via, port, ctx)
                t0 = time.perf_counter()
                t.sendall(b"D")
                n = 0
                while True:
                    d = t.recv(1 << 20)
                    if not d:
                        break
                    n += len(d)
                dt = time.perf_counter() - t0
                t.close()
                assert n == args.mb * 1024 * 1024, n
                tput[name].append(n / dt / 1e6)
    finally:
        fwd.kill()
        door.stdin.close()
        stats = door.stdout.read().strip()
        door.wait(timeout=60)
        srv.close()
    load = os.getloadavg()
    print(f"connection set-up ({args.connections} each, interleaved; load average {load[0]:.2f})")
    for name in paths:
        print(f"  {name:9s} {summary(setup[name])}")
    res: dict = {"load_average": load, "connections": args.connections, "mb": args.mb, "setup_ms": {}, "mb_per_s": {}}
    for name in paths:
        res["setup_ms"][name] = {"p50": pct(setup[name], 50) * 1e3, "p99": pct(setup[name], 99) * 1e3}
    for name in ("door", "door+fwd"):
        print(f"  {name} overhead: p50 +{res['setup_ms'][name]['p50'] - res['setup_ms']['direct']['p50']:.2f} ms, "
              f"p99 +{res['setup_ms'][name]['p99'] - res['setup_ms']['direct']['p99']:.2f} ms")
    print(f"{args.mb} MB download over TLS (median of {args.rounds}, interleaved)")
    for name in paths:
        med = sorted(tput[name])[len(tput[name]) // 2]
        res["mb_per_s"][name] = med
        print(f"  {name:9s} {med:8.1f} MB/s  (all: {', '.join(f'{x:.0f}' for x in tput[name])})")
    for name in ("door", "door+fwd"):
        res[f"ratio_{name}"] = res["mb_per_s"][name] / res["mb_per_s"]["direct"]
        print(f"  {name} / direct: {res[f'ratio_{name}']:.2f}")
    print(f"door stats: {stats}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()

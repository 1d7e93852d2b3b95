"""Model relay under a slow-head (slowloris) attack: a well-behaved model request's latency, alone and while
200 slow-head connections are held, in one run.

    .venv/bin/python bench/relay.py [--requests 300] [--slow 200] [--json bench/out/relay.json]

Three phases in one run: alone; 200 slow-head connections opened once and held (the relay evicts the
oldest when a request needs a place); the same 200 reopened as soon as the relay drops one.

The well-behaved client sends what Claude Code sends (POST /v1/messages?beta=true, a JSON body with custom
tools, ~4 KB), a fresh connection each, through relay.sock (default RelayRules and RelayLimits) to a scripted
upstream on 127.0.0.1; the baseline is the same request sent directly to the upstream, interleaved. The
attacker keeps --slow connections open, each sending its request head one byte a second, and reconnects
whenever the relay drops one (eviction at capacity, the head deadline, or 503 over capacity).
Traffic goes only to 127.0.0.1 and Unix sockets.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import socket
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._stats import pct, summary  # noqa: E402
from agp.sandbox.relay import Credential, ModelRelay, RelayRules, RelayThread, Upstream  # noqa: E402

BODY = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 1024, "stream": False,
                   "messages": [{"role": "user", "content": "x" * 2000}],
                   "tools": [{"name": f"T{i}", "description": "d" * 100, "input_schema": {"type": "object"}}
                             for i in range(10)]}).encode()
REPLY = json.dumps({"id": "msg_1", "type": "message", "role": "assistant", "content": [{"type": "text", "text": "ok"}],
                    "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1}}).encode()


class _H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(REPLY)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(REPLY)


def _request(connect) -> tuple[float, int]:
    t0 = time.perf_counter()
    s = connect()
    s.settimeout(30)
    s.sendall(b"POST /v1/messages?beta=true HTTP/1.1\r\nHost: 127.0.0.1:8788\r\nContent-Type: application/json\r\n"
              b"x-api-key: placeholder\r\nanthropic-version: 2023-06-01\r\nContent-Length: %d\r\n\r\n" % len(BODY)
              + BODY)
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    s.close()
    return time.perf_counter() - t0, int(out.split(b" ", 2)[1]) if out else 0


class SlowLoris:
    """Hold n connections that never finish their request head; reconnect each one the relay drops."""

    def __init__(self, path: Path, n: int, reconnect: bool = True) -> None:
        self.path, self.n, self.reconnect = path, n, reconnect
        self.stop = threading.Event()
        self.dropped = 0
        self.held = 0
        self._t = threading.Thread(target=self._run, daemon=True)

    def _open(self, sel) -> None:
        s = socket.socket(socket.AF_UNIX)
        s.setblocking(False)
        try:
            s.connect(str(self.path))
            s.send(b"POST /v1/messages HTTP/1.1\r\nX-Slow: ")
        except OSError:
            s.close()
            self.dropped += 1
            return
        sel.register(s, selectors.EVENT_READ)

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        for _ in range(self.n):
            self._open(sel)
        next_byte = time.monotonic() + 1.0
        while not self.stop.is_set():
            for key, _ in sel.select(0.05):  # the relay answered (a refusal) or closed: reconnect
                sel.unregister(key.fileobj)
                key.fileobj.close()
                self.dropped += 1
                if self.reconnect:
                    self._open(sel)
            while self.reconnect and len(sel.get_map()) < self.n and not self.stop.is_set():
                self._open(sel)
            self.held = len(sel.get_map())
            if time.monotonic() >= next_byte:
                next_byte += 1.0
                for key in list(sel.get_map().values()):
                    try:
                        key.fileobj.send(b"a")
                    except OSError:
                        pass
        for key in list(sel.get_map().values()):
            key.fileobj.close()

    def __enter__(self) -> "SlowLoris":
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self._t.join(10)


class AttackProcess:
    """The attacker in a process of its own (it must not share the benchmark's interpreter lock)."""

    def __init__(self, path: Path, n: int, reconnect: bool) -> None:
        self.argv = [sys.executable, __file__, "--attack", str(path), str(n), "1" if reconnect else "0"]
        self.n = n
        self.result: dict = {}

    def __enter__(self) -> "AttackProcess":
        import subprocess

        self.p = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.p.stdout.readline().strip() == "ATTACKING"
        return self

    def held(self) -> int:
        self.p.stdin.write("?\n")
        self.p.stdin.flush()
        return int(self.p.stdout.readline())

    def __exit__(self, *exc) -> None:
        out, _ = self.p.communicate(timeout=30)
        self.result = json.loads(out.strip().splitlines()[-1])


def _attack(path: str, n: int, reconnect: bool) -> None:
    with SlowLoris(Path(path), n, reconnect) as a:
        print("ATTACKING", flush=True)
        for _ in sys.stdin:  # "?": how many are open now
            print(a.held, flush=True)
    print(json.dumps({"dropped": a.dropped, "held": a.held}), flush=True)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--attack":
        return _attack(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--slow", type=int, default=200)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    srv = ThreadingHTTPServer(("127.0.0.1", 0), _H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    port = srv.server_address[1]
    res: dict = {}
    with tempfile.TemporaryDirectory() as d:
        relay = ModelRelay(Path(d) / "relay.sock", Upstream.parse(f"http://127.0.0.1:{port}"),
                           Credential("x-api-key", "bench-key-0000"), rules=RelayRules.for_provider("anthropic"),
                           on_request=lambda m: None)

        def direct():
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return s

        def via_relay():
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(relay.socket_path))
            return s

        with RelayThread(relay):
            for _ in range(20):
                _request(via_relay)  # warm-up
            phases = {}
            for phase, n, reconnect in (("alone", 0, False), ("held", args.slow, False),
                                        ("reconnecting", args.slow, True)):
                times = {"direct": [], "relay": []}
                statuses: dict[int, int] = {}
                with contextlib.ExitStack() as stack:
                    attack = stack.enter_context(AttackProcess(relay.socket_path, n, reconnect)) if n else None
                    if attack:
                        time.sleep(2.0)  # let the attack fill the relay
                    held_at_start = attack.held() if attack else 0
                    for _ in range(args.requests):
                        times["direct"].append(_request(direct)[0])
                        t, status = _request(via_relay)
                        times["relay"].append(t)
                        statuses[status] = statuses.get(status, 0) + 1
                    held_at_end = attack.held() if attack else 0
                phases[phase] = {
                    "direct_p50_ms": pct(times["direct"], 50) * 1e3, "direct_p99_ms": pct(times["direct"], 99) * 1e3,
                    "relay_p50_ms": pct(times["relay"], 50) * 1e3, "relay_p99_ms": pct(times["relay"], 99) * 1e3,
                    "statuses": statuses, "slow_open_at_start": held_at_start, "slow_open_at_end": held_at_end,
                    "slow_dropped": attack.result.get("dropped", 0) if attack else 0,
                }
                print(f"\n{phase} ({args.requests} requests, interleaved with direct)"
                      + (f"; {n} slow-head connections opened" + (", reopened when dropped" if reconnect else "")
                         if n else ""))
                print(f"  direct  {summary(times['direct'])}")
                print(f"  relay   {summary(times['relay'])}")
                print(f"  relay statuses {statuses}")
                if attack:
                    print(f"  attacker: {held_at_start} open when measuring began, {held_at_end} at the end, "
                          f"{phases[phase]['slow_dropped']} dropped by the relay")
            res["phases"] = phases
            res["relay_stats"] = dict(relay.stats)
            res["connection_cap"] = relay.connection_cap
    a = res["phases"]["alone"]
    for name in ("held", "reconnecting"):
        u = res["phases"][name]
        res[f"ratio_{name}"] = {"p50": u["relay_p50_ms"] / a["relay_p50_ms"], "p99": u["relay_p99_ms"] / a["relay_p99_ms"]}
        print(f"\n{name} / alone: relay p50 {res[f'ratio_{name}']['p50']:.2f}x, p99 {res[f'ratio_{name}']['p99']:.2f}x")
    print(f"connection cap {res['connection_cap']}; relay stats {res['relay_stats']}")
    srv.shutdown()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()

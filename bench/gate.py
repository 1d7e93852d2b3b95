"""Gate benchmark: decisions per second and latency over the real Unix socket, durable journal.

    .venv/bin/python bench/gate.py --out /tmp/gbench

One run prints, on this machine and file system:
  - the baseline: bare durable journal appends (same body shape, same file system),
    1 appender (rate, p50/p99) and 64 concurrent appenders (rate, group commit);
  - the gate (`agp gate` in its own process, `--approver none --quiet`): decisions/s and
    p50/p99 per decision with 1 client and with 64 concurrent clients (persistent
    connections), and 1 client opening a new connection per call (what a hook bridge does);
  - ratios gate/bare.

With --attacks (or --attacks-only), the gate under abuse: a well-behaved client shaped like the
hook bridge (a new connection per call, session pinned) measured for p50/p99 with no attack and
while (a) 200 slowloris connections trickle one byte every 0.5 s, (b) 1,100 idle connections sit
past the 1,024-connection cap (reopened when closed), (c) a flood of garbage frames, oversized
length prefixes and 1 MiB frames of an unknown session, (d) 200 connections each hold all but
the last byte of a 1 MiB frame; each attack runs in its own process. Reported per phase: the
client's p50/p99 and failures, journal growth (bytes per flood frame for (c)), gate RSS before /
peak / after, and the gate's descriptor limit and connection cap.

Every request is a distinct Bash command (no classifier cache hits): 4 in 5 are allowed,
1 in 5 denied by a rule; every decision is appended and fdatasync'd before its answer.
Clients run in this process (anyio), the gate in another (`agp gate` defaults: ordinary calls
classified inline, 2 evaluation workers for frames above 8 KiB); the machine has 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio  # noqa: E402

from bench import _gate as attacks_  # noqa: E402
from bench._gate import spawn_gate  # noqa: E402
from bench._stats import pct  # noqa: E402
from agp.journal import Journal, init_keys, load_signing_key  # noqa: E402

POLICY = """
[policy]
name = "bench"

[[rule]]
id = "read-only"
effect = "allow"
program = ["ls", "cat", "grep", "wc", "head"]
location = ["inside", "root", "null"]

[[rule]]
id = "no-rm"
effect = "deny"
program = ["rm"]
"""


WORKLOAD = {"repeat": False}


def command(i: int) -> str:
    if WORKLOAD["repeat"]:  # the same few commands: the classifier's cache answers; isolates the gate itself
        return "rm -rf build/out" if i % 5 == 4 else "ls -la src && grep -n todo src/main.py"
    if i % 5 == 4:
        return f"rm -rf build/out_{i}"
    return f"ls -la src/module_{i} && grep -n todo src/module_{i}/main_{i}.py"


def request(i: int, session: str) -> dict:
    return {"v": 1, "type": "check", "id": f"b{i}", "session": session, "harness": "claude-code", "tool": "Bash",
            "input": {"command": command(i), "description": "inspect"}, "cwd": "/workspace",
            "tool_use_id": f"toolu_{i:09d}"}


def decision_body(i: int) -> dict:
    r = request(i, "s")
    return {"call": {k: r[k] for k in ("id", "harness", "tool", "input", "cwd", "tool_use_id")},
            "decision": "allow", "effect": "allow", "rule": "read-only", "matched": ["read-only"],
            "reason": "allowed by rule read-only", "policy_digest": "ab" * 32,
            "statements": [{"kind": "exec", "text": f"ls -la src/module_{i}", "program": "ls",
                            "argv": ["ls", "-la", f"src/module_{i}"], "effect": "allow", "rule": "read-only",
                            "matched": ["read-only"]}], "approval": None}


# --------------------------------------------------------------------------- baseline


def bare_journal(out: Path, key, seconds: float) -> dict:
    res = {}
    j = Journal.open(out / "bare1.jsonl", key)
    lat = []
    end = time.monotonic() + seconds
    i = 0
    t0 = time.perf_counter()
    while time.monotonic() < end:
        s = time.perf_counter()
        j.append("gate.decision", "s", decision_body(i))
        lat.append(time.perf_counter() - s)
        i += 1
    res["1"] = {"rate": i / (time.perf_counter() - t0), "p50_ms": pct(lat, 50) * 1e3, "p99_ms": pct(lat, 99) * 1e3}
    j.close()

    j = Journal.open(out / "bare64.jsonl", key)
    counts = [0] * 64
    stop = threading.Event()

    def work(t):
        k = 0
        while not stop.is_set():
            j.append("gate.decision", "s", decision_body(t * 1_000_000 + k))
            k += 1
        counts[t] = k

    ths = [threading.Thread(target=work, args=(t,)) for t in range(64)]
    t0 = time.perf_counter()
    for t in ths:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in ths:
        t.join()
    res["64"] = {"rate": sum(counts) / (time.perf_counter() - t0)}
    j.close()
    return res


# --------------------------------------------------------------------------- gate clients


async def _recv_frame(stream, buf: bytearray) -> bytes:
    while True:
        if len(buf) >= 4:
            (n,) = struct.unpack_from(">I", buf)
            if len(buf) >= 4 + n:
                body = bytes(buf[4 : 4 + n])
                del buf[: 4 + n]
                return body
        buf += await stream.receive(65536)


def _frame(obj: dict) -> bytes:
    b = json.dumps(obj, separators=(",", ":")).encode()
    return struct.pack(">I", len(b)) + b


async def load(sock: str, clients: int, seconds: float, start: int, *, reconnect: bool = False) -> dict:
    lat: list[float] = []
    counts = [0] * clients
    decisions = {"allow": 0, "deny": 0}
    end = time.monotonic() + seconds

    async def client(c: int) -> None:
        i = start + c * 10_000_000
        stream = None if reconnect else await anyio.connect_unix(sock)
        buf = bytearray()
        try:
            while time.monotonic() < end:
                req = request(i, f"bench-{c % 16}")
                s = time.perf_counter()
                if reconnect:
                    stream = await anyio.connect_unix(sock)
                    buf = bytearray()
                await stream.send(_frame(req))
                v = json.loads(await _recv_frame(stream, buf))
                if reconnect:
                    await stream.aclose()
                lat.append(time.perf_counter() - s)
                assert v["id"] == req["id"] and v["seq"] is not None, v
                decisions[v["decision"]] += 1
                counts[c] += 1
                i += 1
        finally:
            if stream is not None and not reconnect:
                await stream.aclose()

    t0 = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for c in range(clients):
            tg.start_soon(client, c)
    wall = time.perf_counter() - t0
    return {"clients": clients, "reconnect": reconnect, "n": sum(counts), "rate": sum(counts) / wall,
            "p50_ms": pct(lat, 50) * 1e3, "p99_ms": pct(lat, 99) * 1e3, "max_ms": max(lat) * 1e3,
            "decisions": decisions}


def stages(out: Path, key, n: int = 2000) -> dict:
    """CPU per decision of each stage, in this process, no I/O contention (µs per call)."""
    import datetime as dt

    from agp.gate.protocol import parse_request
    from agp.policy import ToolCall, evaluate, load_policy

    policy = load_policy(out / "policy.toml")
    now = dt.datetime.now(dt.timezone.utc)
    res = {}
    bodies = [json.dumps(request(i, "s")).encode() for i in range(n)]
    t = time.perf_counter()
    reqs = [parse_request(b) for b in bodies]
    res["parse_request"] = (time.perf_counter() - t) / n * 1e6

    def ev(reqs_):
        t = time.perf_counter()
        for r in reqs_:
            evaluate(ToolCall(harness=r.harness, tool=r.tool, input=r.input, cwd=r.cwd, workspace="/workspace",
                              session=r.session), policy, now)
        return (time.perf_counter() - t) / len(reqs_) * 1e6

    saved = WORKLOAD["repeat"]
    WORKLOAD["repeat"] = False
    res["evaluate_distinct"] = ev([parse_request(json.dumps(request(i, "s")).encode())
                                   for i in range(50_000_000, 50_000_000 + n)])
    WORKLOAD["repeat"] = True
    rep = [parse_request(json.dumps(request(i, "s")).encode()) for i in range(n)]
    WORKLOAD["repeat"] = saved
    ev(rep)
    res["evaluate_cached"] = ev(rep)
    j = Journal.open(Path("/dev/shm") / f"agp-gate-bench-{os.getpid()}.jsonl", key)
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(n):
            j.append("gate.decision", "s", decision_body(i))
        res["journal_append_cpu"] = (time.process_time() - c0) / n * 1e6
    finally:
        j.close()
        for suffix in ("", ".head"):
            try:
                os.unlink(f"/dev/shm/agp-gate-bench-{os.getpid()}.jsonl{suffix}")
            except OSError:
                pass
    return res


def start_gate(out: Path, extra: list[str]) -> tuple[subprocess.Popen, str]:
    sock_dir = out / "sock"
    cmd = [sys.executable, "-m", "agp.cli", "gate", "--socket-dir", str(sock_dir), "--policy", str(out / "policy.toml"),
           "--journal", str(out / "gate.jsonl"), "--key-dir", str(out / "keys"), "--approver", "none", "--quiet",
           "--max-sessions", "64", "--rate", "100000000", "--window", "1", *extra]
    return spawn_gate(cmd, sock_dir, out / "gate.log", attempts=400)


# --------------------------------------------------------------------------- attacks


def probe(sock: str, seconds: float, session: str, start: int) -> dict:
    """A bridge-shaped client: one connection per call, blocking; latency of each decision."""
    lat: list[float] = []
    failed = 0
    end = time.monotonic() + seconds
    i = start
    while time.monotonic() < end:
        req = request(i, session)
        i += 1
        t = time.perf_counter()
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        try:
            s.connect(sock)
            s.sendall(_frame(req))
            head = s.recv(4, socket.MSG_WAITALL)
            (k,) = struct.unpack(">I", head)
            v = json.loads(s.recv(k, socket.MSG_WAITALL))
            if v.get("id") != req["id"] or v.get("seq") is None:
                raise OSError("unexpected reply")
            lat.append(time.perf_counter() - t)
        except (OSError, struct.error, ValueError):
            failed += 1
        finally:
            s.close()
    if not lat:
        return {"n": 0, "failed": failed}
    return {"n": len(lat), "failed": failed, "p50_ms": pct(lat, 50) * 1e3, "p99_ms": pct(lat, 99) * 1e3,
            "max_ms": max(lat) * 1e3}


def attack_phases(out: Path, seconds: float) -> dict:
    import multiprocessing as mp

    sock_dir = out / "asock"
    jpath = out / "attack.jsonl"
    cmd = [sys.executable, "-m", "agp.cli", "gate", "--socket-dir", str(sock_dir), "--policy", str(out / "policy.toml"),
           "--journal", str(jpath), "--key-dir", str(out / "keys"), "--approver", "none", "--quiet",
           "--session", "bench-good", "--rate", "100000000", "--window", "1"]
    proc, sock = spawn_gate(cmd, sock_dir, out / "attack-gate.log", attempts=400)
    ctx = mp.get_context("fork")
    res: dict = {"nofile": attacks_.nofile(proc.pid)}
    phases = [("none", None), ("a slowloris x200", attacks_.attack_slowloris),
              ("b 1100 idle conns past the cap", attacks_.attack_past_cap),
              ("c flood: garbage/oversized/1MiB unknown session", attacks_.attack_flood),
              ("d 200 partial 1 MiB frames", attacks_.attack_partial_1mib), ("none (again)", None)]
    try:
        probe(sock, 1.0, "bench-good", 900_000_000)  # warm-up
        for k, (name, fn) in enumerate(phases):
            j0 = jpath.stat().st_size
            rss0 = attacks_.rss_kib(proc.pid)
            stop, q = ctx.Event(), ctx.Queue()
            att = None
            if fn is not None:
                att = ctx.Process(target=fn, args=(sock, stop, q), daemon=True)
                att.start()
                time.sleep(2.0)  # let the attack build up
            peak = [rss0, attacks_.open_fds(proc.pid)]
            sampling = threading.Event()

            def sample():
                while not sampling.is_set():
                    try:
                        peak[0] = max(peak[0], attacks_.rss_kib(proc.pid))
                        peak[1] = max(peak[1], attacks_.open_fds(proc.pid))
                    except OSError:
                        pass
                    sampling.wait(0.2)

            th = threading.Thread(target=sample, daemon=True)
            th.start()
            r = probe(sock, seconds, "bench-good", 1_000_000_000 + k * 10_000_000)
            sampling.set()
            th.join()
            counts = {}
            if att is not None:
                stop.set()
                counts = q.get(timeout=60)
                att.join(timeout=30)
            time.sleep(2.0)
            with open(jpath, "rb") as f:  # what the attack cost the journal: every entry but the client's decisions
                f.seek(j0)
                attack_bytes = sum(len(line) + 1 for line in f.read().splitlines()
                                   if json.loads(line).get("session") != "bench-good")
            r.update({"attack": counts, "journal_bytes": jpath.stat().st_size - j0, "journal_attack_bytes": attack_bytes,
                      "rss_before_kib": rss0,
                      "rss_peak_kib": peak[0], "rss_after_kib": attacks_.rss_kib(proc.pid), "fds_peak": peak[1]})
            if name.startswith("c "):
                frames = sum(counts.values())
                r["journal_bytes_per_flood_frame"] = attack_bytes / frames if frames else None
            res[name] = r
            print(f"under attack {name:48s}: p50 {r.get('p50_ms', float('nan')):7.3f} ms  "
                  f"p99 {r.get('p99_ms', float('nan')):8.3f} ms  (n={r['n']}, failed {r['failed']})  "
                  f"journal +{r['journal_bytes']} B (attack's entries {attack_bytes} B)  RSS {rss0 // 1024}->{peak[0] // 1024}->{r['rss_after_kib'] // 1024} MiB"
                  f"  fds peak {peak[1]}  {counts}", flush=True)
            if "journal_bytes_per_flood_frame" in r and r["journal_bytes_per_flood_frame"] is not None:
                print(f"    journal growth per flood frame: {r['journal_bytes_per_flood_frame']:.1f} B", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    kinds: dict = {}
    individual: dict = {}
    for line in jpath.read_bytes().splitlines():
        e = json.loads(line)
        if e["kind"] == "gate.suppressed":
            for kk, v in e["body"]["kinds"].items():
                kinds[kk] = kinds.get(kk, 0) + v["count"]
        elif e["kind"] in ("gate.frame_rejected", "gate.connection") or e["body"].get("refusal"):
            key = e["kind"] + ":" + str(e["body"].get("code") or e["body"].get("event") or e["body"].get("refusal"))
            individual[key] = individual.get(key, 0) + 1
    res["journal"] = {"size": jpath.stat().st_size, "one_by_one": individual, "counted_in_gate.suppressed": kinds}
    print(f"attack journal: {jpath.stat().st_size} B; entered one by one {individual}; counted {kinds}")
    soft, hard = res["nofile"]
    print(f"gate RLIMIT_NOFILE soft {soft} hard {hard}; connection cap {min(1024, max(8, soft - 128 - soft // 8))}")
    verify = subprocess.run([sys.executable, "-m", "agp.cli", "verify", str(jpath), "--key",
                             str(out / "keys" / "agp.pub")], capture_output=True, text=True)
    print(f"agp verify attack journal: exit {verify.returncode}")
    res["verify_rc"] = verify.returncode
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="directory for keys and journals (emptied first)")
    ap.add_argument("--seconds", type=float, default=5.0, help="seconds per measurement (default 5)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    ap.add_argument("--profile", action="store_true", help="run the gate under py-spy (writes collapsed stacks to OUT/gate.folded)")
    ap.add_argument("--workload", choices=("distinct", "repeat"), default="distinct",
                    help="distinct commands (default; every call classified afresh) or a repeated few "
                         "(classifier cache hits: the gate's own overhead)")
    ap.add_argument("--attacks", action="store_true", help="also measure the gate under each abuse case")
    ap.add_argument("--attacks-only", action="store_true", help="only the abuse cases (skips the throughput figures)")
    args = ap.parse_args()
    WORKLOAD["repeat"] = args.workload == "repeat"

    out = args.out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    init_keys(out / "keys")
    key = load_signing_key(out / "keys")
    (out / "policy.toml").write_text(POLICY)

    load1 = os.getloadavg()[0]
    if args.attacks_only:
        print(f"gate bench (attacks) · {os.cpu_count()} cores · load average {load1:.1f} at start · "
              f"{args.seconds:g}s per phase", flush=True)
        res = attack_phases(out, args.seconds)
        if args.json:
            print(json.dumps(res, indent=2))
        return res["verify_rc"]
    print(f"gate bench · {os.cpu_count()} cores · load average {load1:.1f} at start · journal on {out} · "
          f"{args.seconds:g}s per figure · workload {args.workload}", flush=True)
    bare = bare_journal(out, key, args.seconds)
    print(f"bare journal append   1 appender : {bare['1']['rate']:>8.0f}/s  p50 {bare['1']['p50_ms']:.3f} ms  "
          f"p99 {bare['1']['p99_ms']:.3f} ms", flush=True)
    print(f"bare journal append  64 appenders: {bare['64']['rate']:>8.0f}/s", flush=True)
    st = stages(out, key)
    print("CPU per call by stage (µs, this process): " + " · ".join(f"{k} {v:.0f}" for k, v in st.items()),
          flush=True)

    proc, sock = start_gate(out, [])
    spy = None
    if args.profile:
        spy_bin = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        spy = subprocess.Popen([spy_bin, "record", "--format", "raw", "-o", str(out / "gate.folded"), "-p",
                                str(proc.pid), "-d", str(int(args.seconds * 3 + 5)), "--nonblocking", "--gil"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        anyio.run(load, sock, 4, 1.0, 0)  # warm-up (imports, caches of the rule candidates)
        one = anyio.run(load, sock, 1, args.seconds, 100_000_000)
        many = anyio.run(load, sock, 64, args.seconds, 200_000_000)
        conn = anyio.run(lambda: load(sock, 1, args.seconds, 300_000_000, reconnect=True))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        if spy is not None:
            spy.wait(timeout=120)
    rows = [("gate   1 client  (persistent conn)", one), ("gate  64 clients (persistent conns)", many),
            ("gate   1 client  (connect per call)", conn)]
    for name, r in rows:
        print(f"{name}: {r['rate']:>8.0f}/s  p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  "
              f"max {r['max_ms']:.1f} ms  (n={r['n']}, allow {r['decisions']['allow']}, deny {r['decisions']['deny']})")
    print(f"ratio gate/bare: 1 client {one['rate'] / bare['1']['rate']:.2f} · "
          f"64 clients {many['rate'] / bare['64']['rate']:.2f}")
    print(f"goals: >= 5000/s at 64 clients: {'MET' if many['rate'] >= 5000 else 'NOT MET'} · "
          f"p99 <= 2 ms at 1 client: {'MET' if one['p99_ms'] <= 2 else 'NOT MET'}")
    verify = subprocess.run([sys.executable, "-m", "agp.cli", "verify", str(out / "gate.jsonl"), "--key",
                             str(out / "keys" / "agp.pub")], capture_output=True, text=True)
    print(f"agp verify gate journal: exit {verify.returncode}")
    att = attack_phases(out, args.seconds) if args.attacks else None
    if att is not None and att["verify_rc"] != 0:
        return 1
    if args.json:
        print(json.dumps({"stages_us": st, "bare": bare, "gate": {"1": one, "64": many, "1_reconnect": conn}}, indent=2))
    return 0 if verify.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

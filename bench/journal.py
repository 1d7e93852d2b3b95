"""Journal benchmark: durable append (group commit) and offline verification.

    .venv/bin/python bench/journal.py --entries 1000000 --out /tmp/jbench

Prints, from one run on this machine:
  - the ceiling: Ed25519 sign and verify rates (1 and 2 threads), SHA-256, canonicalization
  - durable append throughput with 8 concurrent appenders (group commit, fdatasync)
  - single-appender durable append latency p50/p99
  - `agp verify` of the whole journal: wall time, workers, peak RSS of the process tree
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._stats import summary, tree_rss_sampler  # noqa: E402
from agp.journal import Journal, SigningKey, init_keys  # noqa: E402
from agp.journal.canonical import canonicalize  # noqa: E402


def decision_body(i: int) -> dict:
    return {
        "call": {"id": f"c{i}", "harness": "claude-code", "tool": "Bash", "cwd": "/workspace",
                 "input": {"command": f"git diff --stat HEAD~{i % 7} && ls -la src/module_{i % 50}",
                           "description": "inspect"}, "tool_use_id": f"toolu_{i:08d}"},
        "decision": "allow" if i % 5 else "deny", "effect": "allow" if i % 5 else "deny",
        "rule": "read-workspace" if i % 5 else "deny-network", "matched": ["read-workspace"],
        "reason": "allowed by rule read-workspace: git diff reads inside the workspace",
        "policy_digest": "3f" * 32,
        "statements": [{"kind": "exec", "program": "git", "argv": ["git", "diff", "--stat"]},
                       {"kind": "exec", "program": "ls", "argv": ["ls", "-la"]}],
        "approval": None,
    }


def ceiling(seconds: float = 1.0) -> dict:
    key = SigningKey.generate()
    msg = canonicalize(decision_body(1)) * 1
    sig = key.sign(msg)
    res = {}
    for name, fn in (("sign", lambda: key.sign(msg)), ("verify", lambda: key.public.verify(sig, msg))):
        for nt in (1, 2):
            counts = [0] * nt
            stop = time.perf_counter() + seconds

            def loop(k):
                n = 0
                while time.perf_counter() < stop:
                    for _ in range(50):
                        fn()
                    n += 50
                counts[k] = n

            ts = [threading.Thread(target=loop, args=(k,)) for k in range(nt)]
            t0 = time.perf_counter()
            [t.start() for t in ts]
            [t.join() for t in ts]
            res[f"{name}_{nt}t_per_s"] = sum(counts) / (time.perf_counter() - t0)
    body = decision_body(3)
    n = 20000
    t0 = time.perf_counter()
    for _ in range(n):
        canonicalize(body)
    res["canonicalize_us"] = (time.perf_counter() - t0) / n * 1e6
    return res


def throughput(path: Path, key: SigningKey, entries: int, appenders: int) -> dict:
    j = Journal.open(path, key, head_every=1.0)
    per = entries // appenders
    errors = []

    def work(t):
        try:
            for i in range(per):
                j.append("gate.decision", f"sess-{t}", decision_body(t * per + i))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    ts = [threading.Thread(target=work, args=(t,)) for t in range(appenders)]
    t0 = time.perf_counter()
    [t.start() for t in ts]
    last = 0
    while any(t.is_alive() for t in ts):
        time.sleep(2)
        if sys.stderr.isatty() or True:
            done = j.last_seq
            rate = (done - last) / 2
            last = done
            print(f"  … {done:,} entries written ({rate:,.0f}/s)", file=sys.stderr, flush=True)
    [t.join() for t in ts]
    wall = time.perf_counter() - t0
    j.close()
    if errors:
        raise errors[0]
    return {"entries": per * appenders, "appenders": appenders, "seconds": wall, "per_s": per * appenders / wall}


def latency(path: Path, key: SigningKey, n: int) -> list[float]:
    j = Journal.open(path, key)
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        j.append("gate.decision", "solo", decision_body(i))
        lat.append(time.perf_counter() - t0)
    j.close()
    return lat


def verify_run(path: Path, pub: Path) -> dict:
    cmd = [sys.executable, "-m", "agp.cli", "verify", str(path), "--key", str(pub), "--json"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stop, mem = threading.Event(), {}
    sampler = threading.Thread(target=tree_rss_sampler, args=(proc.pid, stop, mem))
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    doc = json.loads(out) if out else {}
    return {"seconds": wall, "rc": proc.returncode, "ok": doc.get("ok"), "entries": doc.get("entries"),
            "peak_tree_mb": mem.get("peak_total_kb", 0) / 1024, "peak_single_mb": mem.get("peak_single_kb", 0) / 1024,
            "children_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "stderr": err.decode()[-500:]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=200_000, help="entries in the throughput journal (default 200000)")
    ap.add_argument("--appenders", type=int, default=8, help="concurrent appender threads (default 8)")
    ap.add_argument("--latency-samples", type=int, default=5000, help="single-appender appends to time (default 5000)")
    ap.add_argument("--out", type=Path, required=True, help="directory for keys, journals and heads (emptied first)")
    args = ap.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    key = init_keys(args.out / "keys")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    c = ceiling()
    print("ceiling (same run):")
    print(f"  Ed25519 sign    {c['sign_1t_per_s']:>10,.0f}/s (1 thread)   {c['sign_2t_per_s']:>10,.0f}/s (2 threads)")
    print(f"  Ed25519 verify  {c['verify_1t_per_s']:>10,.0f}/s (1 thread)   {c['verify_2t_per_s']:>10,.0f}/s (2 threads)")
    print(f"  canonicalize a gate decision: {c['canonicalize_us']:.1f} µs")
    lat = latency(args.out / "latency.jsonl", key, args.latency_samples)
    print(f"single-appender durable append: {summary(lat)}")
    print(f"writing {args.entries:,} entries with {args.appenders} concurrent appenders …", flush=True)
    t = throughput(args.out / "journal.jsonl", key, args.entries, args.appenders)
    size = (args.out / "journal.jsonl").stat().st_size
    print(f"durable append, {t['appenders']} appenders: {t['per_s']:,.0f} entries/s "
          f"({t['entries']:,} in {t['seconds']:.1f} s; {size / 1e6:.0f} MB)")
    print("verifying with `agp verify` …", flush=True)
    v = verify_run(args.out / "journal.jsonl", args.out / "keys" / "agp.pub")
    if v["rc"] != 0:
        print(f"verify FAILED rc={v['rc']}: {v['stderr']}")
        return 1
    print(f"agp verify: {v['entries']:,} entries in {v['seconds']:.1f} s "
          f"({v['entries'] / v['seconds']:,.0f}/s; ceiling {c['verify_2t_per_s']:,.0f}/s signature checks on 2 threads); "
          f"peak RSS {v['peak_tree_mb']:.0f} MB for the process tree (largest single process {v['peak_single_mb']:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

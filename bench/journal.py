"""Journal benchmark: durable append (group commit) and offline verification.

    .venv/bin/python bench/journal.py --entries 1000000 --out /tmp/jbench

Prints, from one run on this machine (with the load average before and after):
  - the ceiling: Ed25519 sign and verify rates on 1 and 2 threads through libsodium (what
    the journal uses) and through cryptography/OpenSSL (the baseline), canonicalization
  - single-appender durable append latency p50/p99
  - durable append with 8 concurrent appenders, signing through libsodium and, on a smaller
    journal in the same run, through cryptography (--baseline-entries; 0 skips it)
  - `agp verify` of the whole journal (worker processes), and the same check with threads
    in one process: wall time, rate against the raw 2-thread libsodium verify rate, peak
    RSS summed over the process tree
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

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from bench._stats import summary, tree_rss_sampler  # noqa: E402
from agp.journal import Journal, SigningKey, init_keys  # noqa: E402
from agp.journal.canonical import canonicalize  # noqa: E402


class OpenSSLKey:
    """The baseline: a journal key that signs through cryptography (OpenSSL), as agp did before."""

    def __init__(self, key: SigningKey, seed: bytes) -> None:
        self._k = Ed25519PrivateKey.from_private_bytes(seed)
        self._pub = self._k.public_key()
        self.kid, self.public = key.kid, key.public

    def sign(self, data: bytes) -> bytes:
        return self._k.sign(data)


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()
    except OSError:
        return "?"


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


def _rate(fn, nt: int, seconds: float) -> float:
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
    return sum(counts) / (time.perf_counter() - t0)


def ceiling(seconds: float = 0.3, rounds: int = 5) -> dict:
    """Rates of each primitive, interleaved in ``rounds`` short rounds and the median taken, so
    that a change in the machine's load during the run falls on both libraries alike."""
    seed = os.urandom(32)
    key = SigningKey(seed)
    ossl = Ed25519PrivateKey.from_private_bytes(seed)
    ossl_pub = ossl.public_key()
    msg = canonicalize(decision_body(1))
    sig = key.sign(msg)
    assert ossl.sign(msg) == sig
    samples: dict[str, list[float]] = {}
    fns = {
        "sign": lambda: key.sign(msg), "verify": lambda: key.public.verify(sig, msg),
        "ossl_sign": lambda: ossl.sign(msg), "ossl_verify": lambda: ossl_pub.verify(sig, msg),
    }
    for _ in range(rounds):
        for name, fn in fns.items():
            for nt in (1, 2):
                samples.setdefault(f"{name}_{nt}t_per_s", []).append(_rate(fn, nt, seconds))
    res = {k: sorted(v)[len(v) // 2] for k, v in samples.items()}
    body = decision_body(3)
    n = 20000
    t0 = time.perf_counter()
    for _ in range(n):
        canonicalize(body)
    res["canonicalize_us"] = (time.perf_counter() - t0) / n * 1e6
    return res


def throughput(path: Path, key, entries: int, appenders: int, progress: bool = True) -> dict:
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
        if progress:
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


def verify_run(path: Path, pub: Path, pool: str = "cli") -> dict:
    """`agp verify` (pool "cli": worker processes), or scan_journal with pool="thread", in a child process."""
    if pool == "cli":
        cmd = [sys.executable, "-m", "agp.cli", "verify", str(path), "--key", str(pub), "--json"]
    else:
        code = ("import json,sys; from agp.journal import Keyring, load_public_key, scan_journal; "
                f"r = scan_journal(sys.argv[1], Keyring([load_public_key(sys.argv[2])]), pool={pool!r}); "
                "print(json.dumps(r.to_json_dict())); sys.exit(0 if r.ok else 1)")
        cmd = [sys.executable, "-c", code, str(path), str(pub)]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
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
    ap.add_argument("--baseline-entries", type=int, default=100_000,
                    help="entries for the libsodium-vs-OpenSSL append comparison (default 100000; 0 skips it)")
    ap.add_argument("--appenders", type=int, default=8, help="concurrent appender threads (default 8)")
    ap.add_argument("--latency-samples", type=int, default=5000, help="single-appender appends to time (default 5000)")
    ap.add_argument("--out", type=Path, required=True, help="directory for keys, journals and heads (emptied first)")
    args = ap.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    key = init_keys(args.out / "keys")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; load average {loadavg()}")
    c = ceiling()
    print("ceiling (same run):")
    print(f"  Ed25519 sign    libsodium {c['sign_1t_per_s']:>8,.0f}/s (1 thread) {c['sign_2t_per_s']:>8,.0f}/s (2 threads)"
          f"   OpenSSL {c['ossl_sign_1t_per_s']:>8,.0f}/s {c['ossl_sign_2t_per_s']:>8,.0f}/s")
    print(f"  Ed25519 verify  libsodium {c['verify_1t_per_s']:>8,.0f}/s (1 thread) {c['verify_2t_per_s']:>8,.0f}/s (2 threads)"
          f"   OpenSSL {c['ossl_verify_1t_per_s']:>8,.0f}/s {c['ossl_verify_2t_per_s']:>8,.0f}/s")
    print(f"  canonicalize a gate decision: {c['canonicalize_us']:.1f} µs")
    lat = latency(args.out / "latency.jsonl", key, args.latency_samples)
    print(f"single-appender durable append: {summary(lat)}")
    if args.baseline_entries:
        seed = (args.out / "keys" / "agp.key").read_bytes()
        from agp.journal.keys import load_signing_key

        k = load_signing_key(args.out / "keys")
        from agp.journal import _crypto  # the bench may look inside: it compares the two libraries

        ossl = OpenSSLKey(k, _crypto.ed25519_private_from_pem(seed))
        for name, signer in (("OpenSSL", ossl), ("libsodium", k)):
            t = throughput(args.out / f"cmp-{name}.jsonl", signer, args.baseline_entries, args.appenders, progress=False)
            print(f"durable append, {t['appenders']} appenders, signing with {name:9}: {t['per_s']:,.0f} entries/s "
                  f"({t['entries']:,} in {t['seconds']:.1f} s)", flush=True)
    print(f"writing {args.entries:,} entries with {args.appenders} concurrent appenders …", flush=True)
    t = throughput(args.out / "journal.jsonl", key, args.entries, args.appenders)
    size = (args.out / "journal.jsonl").stat().st_size
    print(f"durable append, {t['appenders']} appenders: {t['per_s']:,.0f} entries/s "
          f"({t['entries']:,} in {t['seconds']:.1f} s; {size / 1e6:.0f} MB)")
    raw2 = c["verify_2t_per_s"]
    for pool, label in (("cli", "agp verify (processes)"), ("thread", "scan_journal(pool='thread')")):
        print(f"verifying with {label} … load average {loadavg()}", flush=True)
        v = verify_run(args.out / "journal.jsonl", args.out / "keys" / "agp.pub", pool)
        if v["rc"] != 0:
            print(f"verify FAILED rc={v['rc']}: {v['stderr']}")
            return 1
        rate = v["entries"] / v["seconds"]
        print(f"{label}: {v['entries']:,} entries in {v['seconds']:.1f} s ({rate:,.0f}/s = {rate / raw2:.2f} x the raw "
              f"2-thread libsodium verify rate {raw2:,.0f}/s); peak RSS {v['peak_tree_mb']:.0f} MB for the process tree "
              f"(largest single process {v['peak_single_mb']:.0f} MB)")
    print(f"load average at the end {loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

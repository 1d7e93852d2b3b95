"""Journal benchmark: durable append (group commit) and offline verification.

    .venv/bin/python bench/journal.py --entries 1000000 --out /tmp/jbench

Prints, from one run on this machine (with the load average before and after):
  - the ceiling: Ed25519 sign and verify rates on 1 and 2 threads through libsodium (what
    the journal uses) and through cryptography/OpenSSL (the baseline), canonicalization
  - single-appender durable append latency p50/p99
  - durable append with 8 concurrent appenders, signing through libsodium and, on a smaller
    journal in the same run, through cryptography (--baseline-entries; 0 skips it)
  - `agp verify` of the whole journal (worker processes), and the same check with threads
    in one process: wall time, rate against the raw 2-thread libsodium verify rate (measured
    again just before), peak RSS summed over the process tree
  - the disk's own ceiling: fdatasync rate of a file grown by 1 KB lines, one line and eight
    lines a sync
  - with --many K: durable append with the same appenders each calling append_many with K entries
  - with --compare TREE (another checkout, e.g. the main branch): the 8-appender throughput and the
    single-appender latency of this tree and of TREE, alternately in child processes for --rounds
    rounds, so that both see the same machine load

    .venv/bin/python bench/journal.py --entries 0 --compare /work/main --out /tmp/jcmp
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

#: AGP_BENCH_TREE: import agp from that checkout instead (how --compare runs the other tree)
TREE = Path(os.environ.get("AGP_BENCH_TREE") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(TREE))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from bench._stats import pct, summary, tree_rss_sampler  # noqa: E402
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


def throughput(path: Path, key, entries: int, appenders: int, progress: bool = True, many: int = 0) -> dict:
    """``appenders`` threads append ``entries`` in all, one call an entry (``many`` = 0) or
    ``many`` entries a call to append_many."""
    j = Journal.open(path, key, head_every=1.0)
    per = entries // appenders
    if many:
        per -= per % many
    errors = []

    def work(t):
        try:
            if many:
                for i in range(0, per, many):
                    j.append_many([("gate.decision", f"sess-{t}", decision_body(t * per + i + k)) for k in range(many)])
            else:
                for i in range(per):
                    j.append("gate.decision", f"sess-{t}", decision_body(t * per + i))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    ts = [threading.Thread(target=work, args=(t,)) for t in range(appenders)]
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    [t.start() for t in ts]
    last, tick = 0, t0
    for th in ts:  # join as they end (the wall time is not rounded to the progress interval)
        while th.is_alive():
            th.join(timeout=2)
            now = time.perf_counter()
            if progress and now - tick >= 2:
                done = j.last_seq
                print(f"  … {done:,} entries written ({(done - last) / (now - tick):,.0f}/s)", file=sys.stderr, flush=True)
                last, tick = done, now
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    j.close()
    if errors:
        raise errors[0]
    n = per * appenders
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return {"entries": n, "appenders": appenders, "seconds": wall, "per_s": n / wall, "cpu_us": cpu / n * 1e6}


def latency(path: Path, key: SigningKey, n: int) -> list[float]:
    j = Journal.open(path, key)
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        j.append("gate.decision", "solo", decision_body(i))
        lat.append(time.perf_counter() - t0)
    j.close()
    return lat


def fsync_ceiling(directory: Path, seconds: float = 1.0) -> dict:
    """fdatasync rate of a file grown by 1 KB lines (what any durable append on this disk pays)."""
    res = {}
    line = b"x" * 1023 + b"\n"
    for batch in (1, 8):
        path = directory / f"fsync-{batch}.bin"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
        lat = []
        stop = time.perf_counter() + seconds
        try:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                os.write(fd, line * batch)
                os.fdatasync(fd)
                lat.append(time.perf_counter() - t0)
        finally:
            os.close(fd)
            path.unlink()
        res[batch] = lat
    return res


def child(args) -> int:
    """One measurement in this process, printed as JSON (how --compare measures each tree)."""
    key = init_keys(args.out / "keys")
    lat = latency(args.out / "latency.jsonl", key, args.latency_samples)
    t = throughput(args.out / "journal.jsonl", key, args.entries, args.appenders, progress=False)
    shm = Path("/dev/shm")
    if shm.is_dir():  # fdatasync is a no-op on tmpfs: what the CPU alone allows
        d = Path(tempfile.mkdtemp(prefix="agp-jbench-", dir=shm))
        try:
            shm_t = throughput(d / "journal.jsonl", key, args.entries, args.appenders, progress=False)
            t["tmpfs_per_s"], t["tmpfs_cpu_us"] = shm_t["per_s"], shm_t["cpu_us"]
        finally:
            shutil.rmtree(d)
    print(json.dumps({"tree": str(TREE), "p50_ms": pct(lat, 50) * 1e3, "p99_ms": pct(lat, 99) * 1e3, **t}))
    return 0


def compare(args) -> None:
    trees = [("this tree", Path(__file__).resolve().parent.parent), ("compared", args.compare.resolve())]
    rates: dict[str, list[float]] = {name: [] for name, _ in trees}
    p99s: dict[str, list[float]] = {name: [] for name, _ in trees}
    shm_rates: dict[str, list[float]] = {name: [] for name, _ in trees}
    cpus: dict[str, list[float]] = {name: [] for name, _ in trees}
    print(f"compare: {trees[0][1]} vs {trees[1][1]}: {args.compare_entries:,} entries, {args.appenders} appenders, "
          f"{args.rounds} rounds, alternating")
    for r in range(args.rounds):
        order = trees if r % 2 == 0 else trees[::-1]
        for name, tree in order:
            out = args.out / f"cmp-{r}-{'a' if name == 'this tree' else 'b'}"
            out.mkdir()
            load = loadavg()
            env = dict(os.environ, AGP_BENCH_TREE=str(tree), PYTHONPATH=str(tree))
            cmd = [sys.executable, __file__, "--child", "--entries", str(args.compare_entries), "--appenders",
                   str(args.appenders), "--latency-samples", str(args.latency_samples // 2), "--out", str(out)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tree, check=False)
            if proc.returncode != 0:
                raise SystemExit(f"compare child for {tree} failed: {proc.stderr[-800:]}")
            doc = json.loads(proc.stdout.strip().splitlines()[-1])
            rates[name].append(doc["per_s"])
            p99s[name].append(doc["p99_ms"])
            shm_rates[name].append(doc.get("tmpfs_per_s", float("nan")))
            cpus[name].append(doc["cpu_us"])
            print(f"  round {r + 1} {name:9} ({tree}): {doc['per_s']:>8,.0f} entries/s, {doc['cpu_us']:.0f} µs CPU an entry "
                  f"(on tmpfs, no real sync: {doc.get('tmpfs_per_s', float('nan')):>7,.0f}/s, "
                  f"{doc.get('tmpfs_cpu_us', float('nan')):.0f} µs CPU); single appender p50 "
                  f"{doc['p50_ms']:.3f} ms p99 {doc['p99_ms']:.3f} ms; load average before {load}", flush=True)
            shutil.rmtree(out)
    a, b = (sorted(rates[n])[len(rates[n]) // 2] for n, _ in trees)
    print(f"compare: median {a:,.0f} entries/s (this tree) vs {b:,.0f} entries/s (compared) = {a / b:.2f} x; "
          f"median single-appender p99 {pct(p99s['this tree'], 50):.3f} ms vs {pct(p99s['compared'], 50):.3f} ms")
    a, b = (pct(cpus[n], 50) for n, _ in trees)
    print(f"compare: median process CPU an entry (user + system, all threads) {a:.0f} µs (this tree) vs {b:.0f} µs "
          f"(compared): on c free cores the CPU alone allows at most c x 1e6 / that many entries/s")
    a, b = (pct(shm_rates[n], 50) for n, _ in trees)
    print(f"compare on tmpfs (CPU only): median {a:,.0f} entries/s (this tree) vs {b:,.0f} entries/s (compared) = {a / b:.2f} x")


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
    ap.add_argument("--many", type=int, default=0, help="also measure append_many with this many entries a call")
    ap.add_argument("--compare", type=Path, help="another checkout to measure against, alternately (e.g. /work/main)")
    ap.add_argument("--compare-entries", type=int, default=40_000, help="entries per --compare round (default 40000)")
    ap.add_argument("--rounds", type=int, default=3, help="--compare rounds (default 3)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, required=True, help="directory for keys, journals and heads (emptied first)")
    args = ap.parse_args()
    if args.child:
        return child(args)
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
    fs = fsync_ceiling(args.out)
    for batch, lat_s in fs.items():
        print(f"  fdatasync after {batch} x 1 KB line{'s' if batch > 1 else ''}: {len(lat_s) / sum(lat_s):>6,.0f} syncs/s "
              f"= {batch * len(lat_s) / sum(lat_s):>7,.0f} lines/s ({summary(lat_s)})")
    if args.compare:
        compare(args)
    if not args.entries:
        print(f"load average at the end {loadavg()}")
        return 0
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
    if args.many:
        t = throughput(args.out / "many.jsonl", key, args.entries // 4, args.appenders, progress=False, many=args.many)
        print(f"durable append_many, {t['appenders']} appenders x {args.many} entries a call: {t['per_s']:,.0f} entries/s "
              f"({t['entries']:,} in {t['seconds']:.1f} s; {t['cpu_us']:.0f} µs CPU an entry)", flush=True)
    print(f"writing {args.entries:,} entries with {args.appenders} concurrent appenders …", flush=True)
    t = throughput(args.out / "journal.jsonl", key, args.entries, args.appenders)
    size = (args.out / "journal.jsonl").stat().st_size
    print(f"durable append, {t['appenders']} appenders: {t['per_s']:,.0f} entries/s "
          f"({t['entries']:,} in {t['seconds']:.1f} s; {size / 1e6:.0f} MB; {t['cpu_us']:.0f} µs CPU an entry)")
    # the raw rate again, just before verifying: the ratio compares two figures taken minutes apart otherwise
    raw2 = ceiling()["verify_2t_per_s"]
    print(f"raw 2-thread libsodium verify rate, measured again now: {raw2:,.0f}/s (at the start {c['verify_2t_per_s']:,.0f}/s)")
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

"""Transparency-log benchmark: what the Merkle tree costs the journal, and what proofs cost.

    .venv/bin/python bench/merkle.py --entries 1000000 --out /tmp/mbench

Prints, from one run on this machine:
  - durable append throughput (8 concurrent appenders, group commit) with the Merkle tree
    maintained against the same journal without it, alternating rounds in the same run,
    and the ratio (goal >= 90 %); plus the bare cost of CompactRange.append;
  - for a journal of --entries entries: building the proof sidecar (JOURNAL.tree),
    inclusion proof generation and verification p50/p99 (the Merkle part alone, and the
    whole offline check of one entry: entry hash, entry signature, checkpoint signature,
    inclusion), consistency proof generation and verification p50/p99, and
    `verify_consistency` (streams and rechecks the whole journal) wall time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._stats import pct, summary  # noqa: E402
from bench.journal import decision_body  # noqa: E402
from agp.journal import Journal, SigningKey, init_keys  # noqa: E402
from agp.journal.checkpoint import format_checkpoint, journal_origin, open_checkpoint, sign_checkpoint  # noqa: E402
from agp.journal.merkle import (  # noqa: E402
    CompactRange,
    consistency_proof,
    hash_leaf,
    inclusion_proof,
    verify_consistency as merkle_verify_consistency,
    verify_inclusion,
)
from agp.journal.proofs import (  # noqa: E402
    InclusionProof,
    TreeFile,
    prove_inclusion,
    read_checkpoint,
    verify_consistency,
    verify_entry,
    write_checkpoint,
)


class _NoTree:
    """Stands in for the journal's compact range to measure the journal without the tree."""

    size = 0

    def append(self, _data: bytes) -> None:
        return None

    def copy(self) -> CompactRange:
        return CompactRange()


def _append_run(path: Path, key: SigningKey, entries: int, appenders: int, with_tree: bool) -> tuple[float, float, str]:
    """One run: (entries/s wall, CPU µs of this process per entry, how the tree was maintained)."""
    hook_tree = CompactRange()
    j = Journal.open(path, key, head_every=1.0)
    builtin = hasattr(j, "_tree")
    if builtin and not with_tree:
        j._tree = _NoTree()  # the journal keeps its tree inside append
    if not builtin and with_tree:  # a journal without the integration: maintain the tree from on_append
        j.close()
        j = Journal.open(path, key, head_every=1.0, on_append=lambda e: hook_tree.append(bytes.fromhex(e.hash)))
    method = "tree in Journal.append" if builtin else "tree via on_append hook"
    per = entries // appenders
    bodies = [decision_body(i) for i in range(256)]
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(per):
                j.append("gate.decision", f"sess-{t}", bodies[(t * per + i) & 255])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    ts = [threading.Thread(target=work, args=(t,)) for t in range(appenders)]
    c0 = time.process_time()
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    j.close()
    if errors:
        raise errors[0]
    n = per * appenders
    return n / wall, cpu / n * 1e6, method


def append_overhead(out: Path, key: SigningKey, entries: int, appenders: int, rounds: int) -> dict:
    """Pairs of runs in ABBA order (the machine is shared: compare neighbours, not distant runs)."""
    rates: dict[bool, list[float]] = {True: [], False: []}
    cpus: dict[bool, list[float]] = {True: [], False: []}
    ratios: list[float] = []
    method = ""
    for r in range(rounds):
        pair: dict[bool, float] = {}
        for with_tree in ((True, False) if r % 2 == 0 else (False, True)):
            p = out / f"append-{'tree' if with_tree else 'plain'}-{r}.jsonl"
            rate, cpu, method = _append_run(p, key, entries, appenders, with_tree)
            rates[with_tree].append(rate)
            cpus[with_tree].append(cpu)
            pair[with_tree] = rate
            for suffix in ("", ".head", ".tree", ".tree.idx"):
                Path(str(p) + suffix).unlink(missing_ok=True)
        ratios.append(pair[True] / pair[False])
        print(f"  pair {r + 1:>2}: with tree {pair[True]:>8,.0f}/s  without {pair[False]:>8,.0f}/s  "
              f"ratio {ratios[-1] * 100:5.1f} %   CPU/entry {cpus[True][-1]:.0f} vs {cpus[False][-1]:.0f} µs", flush=True)
    # the bare cost of the tree per append
    cr = CompactRange()
    data = [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(200_000)]
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for d in data:
            cr.append(d)
        best = min(best, (time.perf_counter() - t0) / len(data) * 1e6)
    return {
        "method": method,
        "with_tree_per_s": statistics.median(rates[True]), "without_tree_per_s": statistics.median(rates[False]),
        "ratio_of_medians": statistics.median(rates[True]) / statistics.median(rates[False]),
        "median_pair_ratio": statistics.median(ratios),
        "cpu_us_with": statistics.median(cpus[True]), "cpu_us_without": statistics.median(cpus[False]),
        "compact_range_append_us": best,
    }


def build_journal(path: Path, key: SigningKey, entries: int, appenders: int) -> float:
    j = Journal.open(path, key, head_every=1.0)
    per = entries // appenders
    bodies = [decision_body(i) for i in range(1024)]

    def work(t: int) -> None:
        for i in range(per):
            j.append("gate.decision", f"sess-{t}", bodies[(t * per + i) & 1023])

    ts = [threading.Thread(target=work, args=(t,)) for t in range(appenders)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    last = 0
    while any(t.is_alive() for t in ts):
        time.sleep(5)
        done = j.last_seq
        print(f"  … {done:,} entries ({(done - last) / 5:,.0f}/s)", file=sys.stderr, flush=True)
        last = done
    for t in ts:
        t.join()
    j.close()
    return time.perf_counter() - t0


def proofs(path: Path, key: SigningKey, samples: int) -> dict:
    res: dict = {}
    for suffix in (".tree", ".tree.idx"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    t0 = time.perf_counter()
    t = TreeFile.open(path)
    res["sidecar_build_s"] = time.perf_counter() - t0
    res["sidecar_mb"] = (t.path.stat().st_size + t.idx_path.stat().st_size) / 1e6
    res["leaves"] = t.leaves
    note = read_checkpoint(path)
    if note is None:
        note = write_checkpoint(path, key)
    cp = open_checkpoint(note, key.public)
    n = cp.size
    res["tree_size"] = n
    rng = random.Random(6)
    seqs = [rng.randrange(n) for _ in range(samples)]

    gen, ver = [], []
    proofs_ = []
    for s in seqs:
        t0 = time.perf_counter()
        pr = inclusion_proof(t, s, n)
        gen.append(time.perf_counter() - t0)
        proofs_.append(pr)
    leaf_hashes = [hash_leaf(bytes.fromhex(json.loads(t.entry_line(s))["hash"])) for s in seqs]
    for s, pr, lh in zip(seqs, proofs_, leaf_hashes):
        t0 = time.perf_counter()
        verify_inclusion(s, n, lh, pr, cp.root)
        ver.append(time.perf_counter() - t0)
    res["inclusion_gen"], res["inclusion_verify"] = gen, ver
    res["proof_hashes"] = statistics.mean(len(p) for p in proofs_)

    full_gen, full_ver = [], []
    for s in seqs[: max(1, samples // 4)]:
        t0 = time.perf_counter()
        ip = prove_inclusion(path, s, checkpoint=note)
        full_gen.append(time.perf_counter() - t0)
        text = ip.to_text()
        t0 = time.perf_counter()
        verify_entry(None, InclusionProof.from_text(text), note, key.public)
        full_ver.append(time.perf_counter() - t0)
    res["prove_inclusion_full"], res["verify_entry_full"] = full_gen, full_ver

    cgen, cver = [], []
    for _ in range(samples):
        m = rng.randrange(1, n)
        root_m = t.root_at(m)
        t0 = time.perf_counter()
        cpf = consistency_proof(t, m, n)
        cgen.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        merkle_verify_consistency(m, n, cpf, root_m, cp.root)
        cver.append(time.perf_counter() - t0)
    res["consistency_gen"], res["consistency_verify"] = cgen, cver

    half = n // 2
    origin = journal_origin(json.loads(t.entry_line(0))["hash"])
    old = sign_checkpoint(format_checkpoint(origin, half, t.root_at(half)), key, origin)
    t.close()
    t0 = time.perf_counter()
    verify_consistency(path, old, key.public)
    res["verify_consistency_s"] = time.perf_counter() - t0
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=1_000_000, help="entries in the proof journal (default 1000000)")
    ap.add_argument("--append-entries", type=int, default=20_000, help="entries per append-throughput run (default 20000)")
    ap.add_argument("--rounds", type=int, default=8, help="pairs of runs, with and without the tree (default 8)")
    ap.add_argument("--skip-proofs", action="store_true", help="only the append-throughput comparison")
    ap.add_argument("--appenders", type=int, default=8, help="concurrent appender threads (default 8)")
    ap.add_argument("--samples", type=int, default=2000, help="proofs to time (default 2000)")
    ap.add_argument("--out", type=Path, required=True, help="work directory (emptied first unless --reuse)")
    ap.add_argument("--reuse", action="store_true", help="reuse OUT/journal.jsonl if it is there")
    ap.add_argument("--skip-append", action="store_true", help="skip the append-throughput comparison")
    args = ap.parse_args()
    if args.out.exists() and not args.reuse:
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    key_dir = args.out / "keys"
    key = init_keys(key_dir) if not (key_dir / "agp.key").exists() else __import__("agp.journal", fromlist=["x"]).load_signing_key(key_dir)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")

    if not args.skip_append:
        print(f"durable append, {args.appenders} appenders, {args.append_entries:,} entries a round, alternating:", flush=True)
        a = append_overhead(args.out, key, args.append_entries, args.appenders, args.rounds)
        print(f"append with the Merkle tree ({a['method']}): median {a['with_tree_per_s']:,.0f}/s, without: "
              f"{a['without_tree_per_s']:,.0f}/s → ratio of medians {a['ratio_of_medians'] * 100:.1f} %, "
              f"median of paired ratios {a['median_pair_ratio'] * 100:.1f} % (goal ≥ 90 %)")
        print(f"  CPU per entry (this process, all threads): {a['cpu_us_with']:.0f} µs with the tree, "
              f"{a['cpu_us_without']:.0f} µs without → {a['cpu_us_without'] / a['cpu_us_with'] * 100:.1f} %; "
              f"CompactRange.append alone {a['compact_range_append_us']:.2f} µs (best of 3)")

    if args.skip_proofs:
        return 0
    jpath = args.out / "journal.jsonl"
    if not (args.reuse and jpath.exists()):
        print(f"writing a {args.entries:,}-entry journal …", flush=True)
        secs = build_journal(jpath, key, args.entries, args.appenders)
        print(f"  written in {secs:.1f} s ({jpath.stat().st_size / 1e6:.0f} MB)")
    r = proofs(jpath, key, args.samples)
    print(f"sidecar: built from {r['leaves']:,} lines in {r['sidecar_build_s']:.1f} s, {r['sidecar_mb']:.0f} MB; "
          f"checkpoint tree size {r['tree_size']:,}; {r['proof_hashes']:.1f} hashes an inclusion proof")
    print(f"inclusion proof generation (Merkle path from the sidecar): {summary(r['inclusion_gen'])}")
    print(f"inclusion proof verification (RFC 9162):                  {summary(r['inclusion_verify'])}")
    print(f"prove_inclusion(journal, seq) end to end:                 {summary(r['prove_inclusion_full'])}")
    print(f"verify_entry (entry hash + 2 Ed25519 + inclusion):        {summary(r['verify_entry_full'])}")
    print(f"consistency proof generation:                             {summary(r['consistency_gen'])}")
    print(f"consistency proof verification:                           {summary(r['consistency_verify'])}")
    print(f"verify_consistency (streams and rechecks every entry):    {r['verify_consistency_s']:.1f} s "
          f"({r['leaves'] / r['verify_consistency_s']:,.0f} entries/s)")
    ok = pct(r["inclusion_verify"], 99) <= 1e-3
    print(f"goal verify p99 ≤ 1 ms: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

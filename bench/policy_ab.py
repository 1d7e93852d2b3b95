"""Shell classification timed in two source trees, interleaved in one run (a before/after figure).

    .venv/bin/python bench/policy_ab.py BEFORE_TREE AFTER_TREE [--blocks 8] [--rounds 8]

Each block runs ``bench.policy.bench_classification`` (the same commands as bench/policy.py: up to
1 KB, a fresh working directory each round) once in a subprocess importing BEFORE_TREE's ``agp``
and once importing AFTER_TREE's (the order alternates between blocks), so both see the same load.
Prints p50/p99 by size band over all blocks for each tree, the ratio after/before, and the load
average before and after. ``--clock cpu`` times the thread's CPU time instead of elapsed time. The trees are checkouts (a git worktree of the commit to compare with).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._stats import pct  # noqa: E402

_CHILD = r"""
import json, random, sys, time
sys.path.insert(0, sys.argv[1])
import bench.policy as bp
from agp.policy import ToolCall, classify
cmds = bp.commands(random.Random(int(sys.argv[3])))
clock = time.thread_time_ns if sys.argv[4] == "cpu" else time.perf_counter_ns
for c in cmds[:10]:
    classify(ToolCall(harness="claude-code", tool="Bash", input={"command": c}, cwd=bp.WS, workspace=bp.WS,
                      host_workspace=""))
bands = {"<=200 B": [], "201-1024 B": []}
for r in range(int(sys.argv[2])):
    cwd = f"{bp.WS}/ab-{r}"
    for c in cmds:
        call = ToolCall(harness="claude-code", tool="Bash", input={"command": c}, cwd=cwd, workspace=bp.WS,
                        host_workspace="")
        t0 = clock()
        classify(call)
        bands["<=200 B" if len(c.encode()) <= 200 else "201-1024 B"].append((clock() - t0) / 1e9)
print(json.dumps(bands))
"""


def run(tree: Path, bench_tree: Path, rounds: int, seed: int, clock: str) -> dict[str, list[float]]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    # the commands come from this tree's bench/policy.py; agp from `tree`
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tree), str(rounds), str(seed), clock],
        env=env,
        cwd=bench_tree,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=8, help="rounds over the commands per block and tree")
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: elapsed time (what a caller waits); cpu: the thread's CPU time, which leaves out the "
        "time the scheduler gave other processes (use it on a loaded machine)",
    )
    args = ap.parse_args()
    here = Path(__file__).resolve().parent.parent
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    times: dict[str, dict[str, list[float]]] = {k: {} for k in trees}
    print(f"clock: {args.clock}; load average at start: {os.getloadavg()}")
    for b in range(args.blocks):
        order = ("before", "after") if b % 2 == 0 else ("after", "before")
        for name in order:
            for band, vs in run(trees[name], here, args.rounds, args.seed, args.clock).items():
                times[name].setdefault(band, []).extend(vs)
    print(f"load average at end: {os.getloadavg()}")
    for band in times["before"]:
        b, a = times["before"][band], times["after"][band]
        print(
            f"{band:>11}: before p50 {pct(b, 50) * 1e3:.3f} ms p99 {pct(b, 99) * 1e3:.3f} ms | "
            f"after p50 {pct(a, 50) * 1e3:.3f} ms p99 {pct(a, 99) * 1e3:.3f} ms | "
            f"after/before p50 {pct(a, 50) / pct(b, 50):.2f} p99 {pct(a, 99) / pct(b, 99):.2f} (n={len(a)})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

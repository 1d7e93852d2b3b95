"""Clone mode benchmark: making the clone and computing the result, as a ratio to `git clone --local`.

    .venv/bin/python bench/clone.py [--files 10000] [--mb 200] [--runs 3] [--changed 100]

Builds one repository of --files files and --mb MB of incompressible content (one commit), leaves
a few uncommitted changes and untracked files in it (so the base is a working-tree commit), then,
interleaved in the same process, --runs times each:
  - baseline: `git clone --local -q REPO DST` (hard links, checkout; what a user would type)
  - clone:    agp.workspace.make_clone (working tree staged into agp's index, no hard links, checkout)
  - result:   agp.workspace.compute_result after --changed files were edited in the clone
Prints p50 / max of each and the ratios of the p50s to the baseline's, and the load average.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._stats import pct  # noqa: E402
from agp.workspace import compute_result, make_clone  # noqa: E402

GIT_ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": "b",
           "GIT_AUTHOR_EMAIL": "b@example.invalid", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.invalid"}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, env=GIT_ENV, capture_output=True)


def build(repo: Path, files: int, mb: int) -> None:
    size = mb * 1024 * 1024 // files
    per_dir = 100
    for i in range(files):
        d = repo / f"pkg{i // per_dir:03d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.dat").write_bytes(os.urandom(size))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "bench")
    for i in range(10):
        (repo / f"pkg000/f{i:05d}.dat").write_bytes(os.urandom(size))
        (repo / f"untracked{i}.txt").write_text("new\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--changed", type=int, default=100)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as td:
        repo = Path(td) / "repo"
        t = time.perf_counter()
        build(repo, a.files, a.mb)
        print(f"repository: {a.files} files, {a.mb} MB, built in {time.perf_counter() - t:.1f}s")
        base, ours, res = [], [], []
        for i in range(a.runs):
            dst = Path(td) / f"plain{i}"
            t = time.perf_counter()
            subprocess.run(["git", "clone", "--local", "-q", str(repo), str(dst)], check=True, env=GIT_ENV)
            base.append(time.perf_counter() - t)
            shutil.rmtree(dst)
            run = Path(td) / f"run{i}"
            run.mkdir()
            t = time.perf_counter()
            c = make_clone(repo, run, f"bench{i}")
            ours.append(time.perf_counter() - t)
            ws = Path(c.path)
            for j in range(a.changed):
                p = ws / f"pkg{(j * 7) % (a.files // 100):03d}" / f"f{(j * 7) % (a.files // 100) * 100 + j % 100:05d}.dat"
                if p.exists():
                    p.write_bytes(p.read_bytes()[::-1])
            t = time.perf_counter()
            r = compute_result(c, run / "changes.patch")
            res.append(time.perf_counter() - t)
            assert r.files, "the edits produced no change"
            shutil.rmtree(run)
        b = pct(base, 50)
        print(f"git clone --local      p50 {b:.2f}s  max {max(base):.2f}s  (n={len(base)})")
        print(f"agp clone (make_clone) p50 {pct(ours, 50):.2f}s  max {max(ours):.2f}s  ratio {pct(ours, 50) / b:.2f}x")
        print(f"agp result ({a.changed} files changed) p50 {pct(res, 50):.2f}s  max {max(res):.2f}s  "
              f"ratio {pct(res, 50) / b:.2f}x")
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

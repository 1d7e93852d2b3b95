"""Collect benchmark: agp's no-follow reader and the write watchdog's sampler, against plain baselines.

    .venv/bin/python bench/collect.py [--files 5000] [--runs 9]

Prints, from one run on this machine (the same tree, measured in the same process):
  - collect() of a transcript-like tree vs shutil.copytree (which follows nothing either, but checks
    nothing): p50 / p99 over --runs and the ratio of the p50s
  - tree_bytes() (the watchdog's one sample) of a workspace-like tree vs os.walk + lstat
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._stats import pct, summary  # noqa: E402
from agp.sandbox.collect import collect, tree_bytes  # noqa: E402


def _tree(root: Path, files: int) -> None:
    per_dir = 50
    for i in range(files):
        d = root / "projects" / f"d{i // per_dir:04d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"s{i:05d}.jsonl").write_bytes(b'{"type":"assistant","message":"x"}\n' * 20)


def _walk_lstat(root: Path) -> int:
    n = 0
    for dp, dns, fns in os.walk(root):
        for f in fns + dns:
            n += os.lstat(os.path.join(dp, f)).st_blocks * 512
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=9)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as td:
        src = Path(td) / "src"
        _tree(src, a.files)
        ours, base, samp, walk = [], [], [], []
        for i in range(a.runs):
            d1, d2 = Path(td) / f"o{i}", Path(td) / f"b{i}"
            d1.mkdir()
            t = time.perf_counter()
            rep = collect(src, "projects", d1)
            ours.append(time.perf_counter() - t)
            assert len(rep.copied) == a.files and not rep.problems
            t = time.perf_counter()
            shutil.copytree(src / "projects", d2 / "projects", symlinks=True)
            base.append(time.perf_counter() - t)
            t = time.perf_counter()
            tree_bytes(src)
            samp.append(time.perf_counter() - t)
            t = time.perf_counter()
            _walk_lstat(src)
            walk.append(time.perf_counter() - t)
            shutil.rmtree(d1)
            shutil.rmtree(d2)
    print(f"collect()       {a.files} files: {summary(ours)}")
    print(f"shutil.copytree {a.files} files: {summary(base)}")
    print(f"  ratio p50 collect/copytree: {pct(ours, 50) / pct(base, 50):.2f}")
    print(f"tree_bytes()    {a.files} files: {summary(samp)}")
    print(f"os.walk+lstat   {a.files} files: {summary(walk)}")
    print(f"  ratio p50 tree_bytes/os.walk: {pct(samp, 50) / pct(walk, 50):.2f}")


if __name__ == "__main__":
    main()

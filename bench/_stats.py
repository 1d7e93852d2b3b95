"""Percentiles and a small table printer shared by the benchmarks."""

from __future__ import annotations

import os
import time

__all__ = ("pct", "summary", "tree_rss_sampler")


def pct(values, q):
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, int(round(q / 100 * (len(s) - 1)))))
    return s[k]


def summary(values, scale=1e3, unit="ms"):
    return f"p50 {pct(values, 50) * scale:.3f} {unit}  p90 {pct(values, 90) * scale:.3f} {unit}  p99 {pct(values, 99) * scale:.3f} {unit}  max {max(values) * scale:.3f} {unit}  (n={len(values)})"


def _children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def _rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_sampler(pid, stop, result, every=0.02):
    """Sample the summed RSS of ``pid`` and its descendants until ``stop`` is set."""
    peak_total = peak_single = 0
    while not stop.is_set():
        pids, frontier = [], [pid]
        while frontier:
            p = frontier.pop()
            pids.append(p)
            frontier += _children(p)
        rss = [_rss_kb(p) for p in pids]
        peak_total = max(peak_total, sum(rss))
        peak_single = max(peak_single, max(rss) if rss else 0)
        time.sleep(every)
    result["peak_total_kb"] = peak_total
    result["peak_single_kb"] = peak_single

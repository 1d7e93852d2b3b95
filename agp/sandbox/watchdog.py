"""A host-side bound on how much a sandbox writes: the workspace and the run's mounted directories.

The engine has no quota for a bind mount, so a thread on the host samples the
bytes allocated under each watched directory (:func:`agp.sandbox.collect.tree_bytes`:
links never followed, each inode once) every ``interval`` seconds and, when the
growth over the first sample passes the limit, calls ``on_limit`` once with a
reason naming the directory and the figures (agp run stops the sandbox there).
It is a sampler: a writer can overshoot by what it writes in one interval
before it is stopped; the disk's own free space is the backstop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from agp.sandbox.collect import tree_bytes

__all__ = ("WriteWatchdog",)


class WriteWatchdog:
    """Watch ``dirs`` for growth past ``limit_bytes`` (their sum, over the baseline taken at start)."""

    def __init__(
        self,
        dirs: dict[str, Path],
        limit_bytes: int,
        on_limit: Callable[[str], None],
        *,
        interval: float = 1.0,
        sample: Callable[[Path], int] = tree_bytes,
    ) -> None:
        self.dirs = dict(dirs)
        self.limit = int(limit_bytes)
        self.on_limit = on_limit
        self.interval = interval
        self._sample = sample
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.baseline: dict[str, int] = {}
        self.last: dict[str, int] = {}
        self.peak_growth = 0
        self.tripped: str | None = None

    def growth(self) -> int:
        return sum(max(self.last.get(k, 0) - self.baseline.get(k, 0), 0) for k in self.dirs)

    def check_once(self) -> str | None:
        """Take one sample; return (and remember) the reason when the limit is passed."""
        for name, path in self.dirs.items():
            self.last[name] = self._sample(path)
        grown = self.growth()
        self.peak_growth = max(self.peak_growth, grown)
        if grown > self.limit and self.tripped is None:
            per = ", ".join(f"{k} +{max(self.last[k] - self.baseline.get(k, 0), 0) / 1e6:.1f} MB" for k in self.dirs)
            self.tripped = (
                f"the sandbox wrote more than the write limit of {self.limit / 1e6:g} MB "
                f"({per}); the run was stopped (raise it with --max-write-mb)"
            )
            return self.tripped
        return None

    def start(self) -> WriteWatchdog:
        for name, path in self.dirs.items():
            self.baseline[name] = self._sample(path)
        self.last = dict(self.baseline)
        self._thread = threading.Thread(target=self._loop, name="agp-write-watchdog", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            t0 = time.monotonic()
            reason = self.check_once()
            if reason is not None:
                self.on_limit(reason)
                return
            # a large tree takes long to walk: never spend more than half the time sampling
            spent = time.monotonic() - t0
            if spent > self.interval:
                self._stop.wait(spent)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def to_json_dict(self) -> dict:
        return {
            "limit_bytes": self.limit,
            "peak_growth_bytes": self.peak_growth,
            "baseline_bytes": dict(self.baseline),
            "tripped": self.tripped,
        }

"""Start an `agp gate` process for a benchmark and wait until its socket accepts connections."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

__all__ = ("spawn_gate",)


def spawn_gate(argv: list[str], sock_dir: Path, log: Path, *, attempts: int) -> tuple[subprocess.Popen, str]:
    """Run ``argv`` (an `agp gate` command line) with stderr to ``log``; return (process, socket path)
    once ``sock_dir/gate.sock`` accepts a connection. Exits the benchmark if the gate dies or never comes up."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    path = sock_dir / "gate.sock"
    for _ in range(attempts):
        if path.exists():
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(str(path))
                s.close()
                return proc, str(path)
            except OSError:
                pass
        if proc.poll() is not None:
            raise SystemExit(f"agp gate exited: {log.read_text()}")
        time.sleep(0.05)
    raise SystemExit("the gate did not come up")

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


# --------------------------------------------------------------------------- attacks on the gate
#
# Each attack runs in its own process (so the measured client does not share a GIL with it) until
# ``stop`` is set, keeping its pressure up (a connection the gate closes is opened again), and puts
# a dict of counts on ``out``.

import json  # noqa: E402
import os  # noqa: E402
import struct  # noqa: E402

MAX_FRAME = 1 << 20


def _frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def _connect(path: str) -> socket.socket | None:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
    except OSError:
        s.close()
        return None
    return s


def _gone(s: socket.socket) -> bool:
    """True when the gate closed ``s`` (non-blocking probe)."""
    try:
        return s.recv(65536) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True


def attack_slowloris(path: str, stop, out, n: int = 200, every: float = 0.5) -> None:
    """``n`` connections, each starting a 1000-byte frame and sending one more byte every ``every`` s."""
    socks: list[socket.socket | None] = [None] * n
    opened = closed_by_gate = 0
    while not stop.is_set():
        for i in range(n):
            s = socks[i]
            if s is not None and _gone(s):
                s.close()
                s = socks[i] = None
                closed_by_gate += 1
            if s is None:
                s = _connect(path)
                if s is None:
                    continue
                s.setblocking(False)
                try:
                    s.send(struct.pack(">I", 1000))
                except OSError:
                    s.close()
                    continue
                socks[i] = s
                opened += 1
            else:
                try:
                    s.send(b"{")
                except OSError:
                    pass
        stop.wait(every)
    for s in socks:
        if s is not None:
            s.close()
    out.put({"opened": opened, "closed_by_gate": closed_by_gate})


def attack_past_cap(path: str, stop, out, n: int = 1100) -> None:
    """``n`` idle connections (more than the gate's cap), each reopened when the gate closes it."""
    socks: list[socket.socket | None] = [None] * n
    opened = closed_by_gate = 0
    while not stop.is_set():
        for i in range(n):
            s = socks[i]
            if s is not None and _gone(s):
                s.close()
                s = socks[i] = None
                closed_by_gate += 1
            if s is None:
                s = _connect(path)
                if s is not None:
                    s.setblocking(False)
                    socks[i] = s
                    opened += 1
        stop.wait(0.05)
    for s in socks:
        if s is not None:
            s.close()
    out.put({"opened": opened, "closed_by_gate": closed_by_gate})


def attack_flood(path: str, stop, out) -> None:
    """Garbage frames (4 KiB, not JSON, all identical) on one connection; oversized length prefixes
    (a new connection each); 1 MiB check frames of a session the gate does not know."""
    garbage = _frame(b"\x00garbage " * 455)
    big = _frame(json.dumps({"v": 1, "type": "check", "id": "x", "session": "intruder", "harness": "h", "tool": "Bash",
                             "input": {"command": "rm -rf " + "z" * (MAX_FRAME - 200)}, "cwd": "/workspace",
                             "tool_use_id": None}).encode())
    counts = {"garbage": 0, "oversized": 0, "unknown_session_1mib": 0}
    g = _connect(path)
    while not stop.is_set():
        kind = ("garbage", "garbage", "garbage", "oversized", "unknown_session_1mib")[sum(counts.values()) % 5]
        try:
            if kind == "oversized":
                s = _connect(path)
                if s is None:
                    continue
                s.sendall(struct.pack(">I", MAX_FRAME + 1))
                s.recv(65536)
                s.close()
            else:
                if g is None:
                    g = _connect(path)
                    if g is None:
                        continue
                g.sendall(garbage if kind == "garbage" else big)
                (k,) = struct.unpack(">I", g.recv(4, socket.MSG_WAITALL))
                g.recv(k, socket.MSG_WAITALL)
            counts[kind] += 1
        except (OSError, struct.error):
            if g is not None:
                g.close()
            g = None
    if g is not None:
        g.close()
    out.put(counts)


def attack_partial_1mib(path: str, stop, out, n: int = 200) -> None:
    """``n`` connections, each sending all but the last byte of a 1 MiB frame and holding it."""
    body = b"p" * (MAX_FRAME - 1)
    socks: list[socket.socket | None] = [None] * n
    sent = closed_by_gate = 0
    while not stop.is_set():
        for i in range(n):
            if stop.is_set():
                break
            s = socks[i]
            if s is not None and _gone(s):
                s.close()
                s = socks[i] = None
                closed_by_gate += 1
            if s is None:
                s = _connect(path)
                if s is None:
                    continue
                try:
                    s.settimeout(5)
                    s.sendall(struct.pack(">I", MAX_FRAME) + body)
                    s.setblocking(False)
                except OSError:
                    s.close()
                    continue
                socks[i] = s
                sent += 1
        stop.wait(0.2)
    for s in socks:
        if s is not None:
            s.close()
    out.put({"partial_frames": sent, "closed_by_gate": closed_by_gate})


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def nofile(pid: int) -> tuple[int, int]:
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                parts = line.split()
                return int(parts[3]), int(parts[4])
    return (0, 0)


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))

"""Ctrl-C at a terminal reaches the gate's evaluation workers too (one process group). A worker
hit while it is still starting (unpickling the policy, importing) must neither die nor print a
traceback: workers are spawned with SIGINT blocked, and the gate alone decides when they stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

CHILD = r"""
import os, signal, sys, anyio
from agp.gate._evalpool import EvalPool
from agp.policy import load_policy

pool = EvalPool(load_policy(sys.argv[1]), workers=1, timeout=5)
w = pool._spawn()
for _ in range(20):                 # Ctrl-C, again and again, while the worker starts
    os.kill(w.proc.pid, signal.SIGINT)
anyio.run(pool._ready, w)           # raises GateError if the worker died
os.kill(w.proc.pid, signal.SIGINT)
pool.close()

import threading                    # a replacement worker is spawned from a worker thread
out = []
t = threading.Thread(target=lambda: out.append(pool._spawn()))
t.start(); t.join()
for _ in range(20):
    os.kill(out[0].proc.pid, signal.SIGINT)
anyio.run(pool._ready, out[0])
pool.close()
print("worker survived")
"""


def test_sigint_while_a_worker_starts_neither_kills_it_nor_prints_a_traceback():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", CHILD, str(ROOT / "policies" / "default.toml")], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "worker survived" in r.stdout
    assert "Traceback" not in r.stderr and "KeyboardInterrupt" not in r.stderr, r.stderr[-3000:]

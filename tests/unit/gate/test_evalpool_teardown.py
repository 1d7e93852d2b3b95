"""The evaluation pool's teardown: a worker being replaced and a pool being closed at the same
moment must not both close that worker's pipe (two closes of one fd number can close a file
that reused it; seen in CI as EBADF from `EvalPool.close`)."""

from __future__ import annotations

import threading
from pathlib import Path

from agp.gate._evalpool import EvalPool
from agp.policy import load_policy

ROOT = Path(__file__).resolve().parents[3]


class _SlowCloseConn:
    """A worker pipe whose close blocks until released, counting how often it is closed."""

    def __init__(self, conn) -> None:
        self._conn = conn
        self.closes = 0
        self.closing = threading.Event()
        self.release = threading.Event()

    def close(self) -> None:
        self.closes += 1
        self.closing.set()
        self.release.wait(10)
        if self.closes == 1:
            self._conn.close()

    def __getattr__(self, name):
        return getattr(self._conn, name)


def test_replacing_and_closing_at_once_close_each_pipe_once():
    pool = EvalPool(load_policy(ROOT / "policies" / "default.toml"), workers=1, timeout=5)
    w = pool._spawn()
    spy = _SlowCloseConn(w.conn)
    w.conn = spy
    killer = threading.Thread(target=pool._kill, args=(w,))
    killer.start()
    assert spy.closing.wait(10), "the replacement never reached the pipe"
    closer = threading.Thread(target=pool.close)
    closer.start()
    closer.join(2)  # close() must not wait for, or touch, a worker a replacement has taken
    spy.release.set()
    killer.join(10)
    closer.join(10)
    assert not killer.is_alive() and not closer.is_alive()
    assert spy.closes == 1
    assert not w.proc.is_alive()
    assert pool._live == []


def test_close_tears_down_every_worker_once():
    pool = EvalPool(load_policy(ROOT / "policies" / "default.toml"), workers=1, timeout=5)
    ws = [pool._spawn(), pool._spawn()]
    spies = []
    for w in ws:
        spy = _SlowCloseConn(w.conn)
        spy.release.set()
        w.conn = spy
        spies.append(spy)
    pool.close()
    for w in ws:
        pool._kill(w)  # a replacement arriving after the close: nothing left to do
    assert [s.closes for s in spies] == [1, 1]
    assert not any(w.proc.is_alive() for w in ws)

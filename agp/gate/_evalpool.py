"""Policy evaluation in worker processes, with a deadline per call.

Why: classifying a call is CPU work in Python (about 0.6 ms for an ordinary two-statement
command here, seconds for an adversarial 240 KB pipeline). On the gate's event loop that
work blocks every other client; in worker processes it uses the other cores, and a call
that overruns its deadline is denied and its worker killed and replaced, so no input can
stall the gate.

Each worker is a spawned process (never forked: the gate has threads) that rebuilds the
policy from the gate's own parsed tiers and refuses to serve unless its digest matches.
One call at a time per worker over a ``multiprocessing`` pipe; the gate waits for the
answer with ``anyio.wait_readable`` (no thread per call).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import multiprocessing
import os
import signal
import threading
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread

from agp.errors import GateError

__all__ = ("EvalPool", "EvalTimeout")

log = logging.getLogger(__name__)

_CTX = multiprocessing.get_context("spawn")


class EvalTimeout(GateError):
    """The policy evaluation of one call overran its deadline (the call is denied)."""


def _worker_main(conn: Any, tiers: Any, sources: tuple[str, ...], digest: str) -> None:  # pragma: no cover - child
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the gate decides when workers stop
    from agp.policy import ToolCall, evaluate
    from agp.policy.engine import Policy

    try:
        policy = Policy(tiers, sources)
    except Exception as exc:  # noqa: BLE001
        conn.send(("bad", f"{type(exc).__name__}: {exc}"))
        return
    if policy.digest != digest:
        conn.send(("bad", f"policy digest {policy.digest} differs from the gate's {digest}"))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        kwargs, now = msg
        try:
            conn.send(("ok", evaluate(ToolCall(**kwargs), policy, now)))
        except Exception as exc:  # noqa: BLE001 - reported to the gate, which denies
            conn.send(("err", f"{type(exc).__name__}: {str(exc)[:300]}"))


def _start_ignoring_sigint(proc: Any) -> None:
    """``proc.start()`` with SIGINT ignored in the child from its first instruction. On the main thread
    the disposition is swapped around the start (signal.signal works there only); on another thread
    (a replacement worker) SIGINT is blocked in that thread, which the spawned child inherits."""
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            proc.start()
        finally:
            signal.signal(signal.SIGINT, previous)
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        proc.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@dataclass
class _Worker:
    proc: Any
    conn: Any


class EvalPool:
    """``workers`` processes evaluating ``policy``; ``await evaluate(kwargs, now)`` -> Decision."""

    def __init__(self, policy: Any, *, workers: int = 2, timeout: float = 5.0, start_timeout: float = 120.0) -> None:
        if workers < 1:
            raise ValueError("an evaluation pool needs at least one worker")
        self.policy = policy
        self.workers = workers
        self.timeout = timeout
        self.start_timeout = start_timeout
        self._send: Any = None
        self._recv: Any = None
        self._tg: Any = None
        self._live: list[_Worker] = []
        self.replaced = 0
        self._closed = False
        # _kill (a replacement, in a worker thread) and close (at shutdown, in another) may reach
        # the same worker at once: whoever takes it out of _live under this lock tears it down.
        # Two threads closing one pipe could close an fd number another file has reused meanwhile.
        self._lock = threading.Lock()

    def _spawn(self) -> _Worker:
        parent, child = _CTX.Pipe(duplex=True)
        proc = _CTX.Process(
            target=_worker_main,
            args=(child, self.policy.tiers, self.policy.sources, self.policy.digest),
            name="agp-gate-eval",
            daemon=True,
        )
        # Ctrl-C at a terminal reaches the whole process group: a worker still starting (Python's own
        # start-up, unpickling the policy, importing) would die printing a KeyboardInterrupt traceback.
        # It starts with SIGINT ignored (an ignored signal stays ignored across exec, and Python keeps
        # it so); _worker_main keeps ignoring it: the gate decides when workers stop.
        _start_ignoring_sigint(proc)
        child.close()
        w = _Worker(proc, parent)
        with self._lock:
            self._live.append(w)
        return w

    async def _ready(self, w: _Worker) -> _Worker:
        with anyio.fail_after(self.start_timeout):
            await anyio.wait_readable(w.conn.fileno())
        try:
            kind, detail = w.conn.recv()
        except (EOFError, OSError) as exc:
            raise GateError(f"a policy evaluation worker died at startup: {exc}") from exc
        if kind != "ready":
            raise GateError(f"a policy evaluation worker refused to start: {detail}")
        return w

    async def start(self, task_group: Any) -> None:
        """Spawn the workers and wait until each has loaded the policy (raises GateError)."""
        self._tg = task_group
        self._send, self._recv = anyio.create_memory_object_stream(self.workers)
        spawned = [await anyio.to_thread.run_sync(self._spawn) for _ in range(self.workers)]
        try:
            for w in spawned:
                await self._ready(w)
        except BaseException:
            for w in spawned:
                self._kill(w)
            self._send.close()
            self._recv.close()
            raise
        for w in spawned:
            self._send.send_nowait(w)

    async def evaluate(self, kwargs: dict[str, Any], now: _dt.datetime) -> Any:
        """Evaluate one call in a worker. Raises EvalTimeout or GateError (the caller denies)."""
        if self._recv is None or self._closed:
            raise GateError("the evaluation pool is not running")
        with anyio.move_on_after(self.timeout) as wait:
            w = await self._recv.receive()
        if wait.cancelled_caught:
            raise EvalTimeout(f"no evaluation worker was free within {self.timeout:g}s")
        ok = False
        try:
            w.conn.send((kwargs, now))
            with anyio.move_on_after(self.timeout) as scope:
                await anyio.wait_readable(w.conn.fileno())
            if scope.cancelled_caught:
                raise EvalTimeout(f"classifying the call took longer than {self.timeout:g}s")
            kind, value = w.conn.recv()
            ok = True
        except (EOFError, OSError) as exc:
            raise GateError(f"the policy evaluation worker failed: {exc}") from exc
        finally:
            if ok:
                self._send.send_nowait(w)
            else:  # killed and replaced in the background: this call's deny is not held up
                self._tg.start_soon(self._replace, w)
        if kind != "ok":
            raise GateError(f"policy evaluation failed in the worker: {value}")
        return value

    async def _replace(self, w: _Worker) -> None:
        await anyio.to_thread.run_sync(self._kill, w)
        if self._closed:
            return
        self.replaced += 1
        try:
            nw = await self._ready(await anyio.to_thread.run_sync(self._spawn))
        except Exception:  # one fewer worker; the others keep serving
            log.exception("could not replace a policy evaluation worker")
            return
        if self._closed:
            self._kill(nw)
            return
        self._send.send_nowait(nw)

    def _take(self, w: _Worker) -> bool:
        """Take ``w`` out of the pool; False if someone else already did (and tears it down)."""
        with self._lock:
            if w in self._live:
                self._live.remove(w)
                return True
            return False

    def _kill(self, w: _Worker) -> None:
        if not self._take(w):
            return
        try:
            w.proc.kill()
            w.proc.join(timeout=10)
        finally:
            w.conn.close()

    def close(self) -> None:
        """Stop every worker (blocking; call from a thread or at exit)."""
        with self._lock:
            self._closed = True
            live, self._live = self._live, []
        for w in live:
            with contextlib.suppress(OSError):
                w.conn.send(None)
        for w in live:
            w.proc.join(timeout=5)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(timeout=5)
            w.conn.close()
        for stream in (self._send, self._recv):
            if stream is not None:
                stream.close()

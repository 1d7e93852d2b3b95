"""The gate: a Unix-socket decision server (anyio).

For each ``check`` frame, in this order:

1. parse and validate the frame (:func:`agp.gate.protocol.parse_request`); a bad
   frame is journaled as ``gate.frame_rejected`` and answered with a deny when
   an id can be recovered;
2. admit the session (:class:`agp.gate.sessions.SessionTable`): unknown session,
   session cap and rate limit are journaled denies;
3. classify and evaluate the call against the policy;
4. resolve ``require`` through the approvals broker (a human, the demo's
   automatic approver, or nobody: CI mode is a deny);
5. append ``gate.decision`` to the journal durably (the blocking append runs in
   a worker thread, so concurrent clients share group commits);
6. answer with the verdict and the journal seq of its entry.

A failed append answers deny, and from then on the gate denies every call
without asking the policy (the journal is poisoned; restart to recover). A
client that disconnects mid-call does not stop its decision from being
journaled. :meth:`GateServer.shutdown` (SIGTERM in ``agp gate``) stops
accepting, denies pending approvals, answers every call in flight, then writes
the signed head.

The socket is ``<socket_dir>/gate.sock``; the directory is created mode 0700
(and optionally handed to the sandbox's uid) before anything else starts, and
it is the directory, not the socket file, that sandboxes mount.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import logging
import mmap
import os
import queue
import socket
import stat
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread

from agp._unix import bind_unix, connect_unix
from agp.errors import GateError, JournalWriteError
from agp.gate._evalpool import EvalPool, EvalTimeout
from agp.gate._flood import INLINE_MAX, FloodGuard, compact_decision, digest_record
from agp.gate.approvals import ApprovalBroker, ApprovalResult, Approver, GateEvent, NoApprover, Outcome
from agp.gate.decision import GateDecision, JournaledEntry, JournalSink
from agp.gate.protocol import MAX_FRAME, CheckRequest, FrameCode, FrameRejected, Verdict, call_digest, parse_request
from agp.gate.sessions import SessionRefused, SessionTable

if TYPE_CHECKING:
    from agp.policy import Decision, Policy

__all__ = ("SOCKET_NAME", "GateServer", "live_view_sink", "prepare_socket_dir")

log = logging.getLogger(__name__)

SOCKET_NAME = "gate.sock"
_HEADER = struct.Struct(">I")
#: frame bodies above this size are read into an anonymous mapping (pages committed as bytes
#: arrive, returned to the system when the frame is done or its connection is gone)
_MAPPED_BODY = 64 * 1024
#: descriptors kept for the gate's own use (journal, workers, approver channels, threads)
_FD_RESERVE = 128
#: soft RLIMIT_NOFILE the gate raises itself to (bounded by the hard limit)
_FD_TARGET = 65536
_ACCEPT_RESOURCE_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_JOURNAL_FAILED = (
    "the gate could not record this decision in its journal, so the call is denied; "
    "the gate denies every call until it is restarted"
)


def prepare_socket_dir(socket_dir: Path, *, uid: int | None = None, gid: int | None = None) -> Path:
    """Create (or check) the socket directory: a real directory, mode 0700, owned by us or ``uid``.

    Refuses (GateError) a symlink, a non-directory, or a directory another user owns.
    """
    socket_dir = Path(socket_dir)
    try:
        socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(socket_dir)
    except OSError as exc:
        raise GateError(f"cannot create the socket directory {socket_dir}: {exc.strerror}") from exc
    if not stat.S_ISDIR(st.st_mode):
        raise GateError(f"the socket directory {socket_dir} is not a directory (or is a symlink)")
    me = os.geteuid()
    allowed = {me} | ({uid} if uid is not None else set())
    if st.st_uid not in allowed:
        raise GateError(f"the socket directory {socket_dir} belongs to uid {st.st_uid}, not to this user ({me})")
    try:
        os.chmod(socket_dir, 0o700)
        if uid is not None:
            os.chown(socket_dir, uid, gid if gid is not None else -1)
    except OSError as exc:
        raise GateError(f"cannot secure the socket directory {socket_dir}: {exc.strerror}") from exc
    return socket_dir


def _statements_summary(statements: Sequence[Mapping[str, Any]]) -> str:
    texts = [str(s.get("text", "")) for s in statements if s.get("text")]
    return " ; ".join(texts)[:200]


class _AppendPump:
    """Blocking journal appends on a fixed pool of threads, completed on the asyncio loop.

    ``anyio.to_thread`` pays a Python ``Condition`` handoff per call (about a fifth of the
    gate's CPU under 64 clients, measured with py-spy); this pool waits on a C
    ``SimpleQueue`` and completes an asyncio future with ``call_soon_threadsafe``. Used
    only on asyncio; other backends go through ``anyio.to_thread``.
    """

    def __init__(self, func: Callable[..., Any], threads: int) -> None:
        self._func = func
        self._n = threads
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._loop: Any = None

    def start(self, loop: Any) -> None:
        self._loop = loop
        for i in range(self._n):
            t = threading.Thread(target=self._run, name=f"agp-gate-append-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def _run(self) -> None:
        q, func = self._q, self._func
        while True:
            item = q.get()
            if item is None:
                return
            fut, args = item
            try:
                res, exc = func(*args), None
            except BaseException as e:  # noqa: BLE001 - handed to the waiting call
                res, exc = None, e
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                self._loop.call_soon_threadsafe(_settle, fut, res, exc)

    async def submit(self, *args: Any) -> Any:
        fut = self._loop.create_future()
        self._q.put((fut, args))
        return await fut

    def close(self) -> None:
        for _ in self._threads:
            self._q.put(None)
        for t in self._threads:
            t.join(timeout=10)
        self._threads.clear()


def _settle(fut: Any, res: Any, exc: BaseException | None) -> None:
    if fut.cancelled():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(res)


def live_view_sink(view: Any) -> Callable[[GateEvent], None]:
    """Adapt gate events to a live view with ``decision(...)``, ``pending(key, text)``,
    ``resolved(key, outcome)`` and ``log(text)`` (``agp._live.LiveView``)."""

    def sink(ev: GateEvent) -> None:
        d = ev.data
        if ev.kind == "decision":
            view.decision(
                tool=d["tool"], summary=d["summary"], decision=d["decision"], rule=d.get("rule"), seq=d.get("seq")
            )
        elif ev.kind == "pending":
            view.pending(d["key"], f"{d['summary']} (rule {d.get('rule')}, quorum {d.get('quorum')})")
        elif ev.kind == "resolved":
            view.resolved(d["key"], d["outcome"])
        elif ev.kind == "frame_rejected":
            view.log(f"gate rejected a frame: {d['code']}: {d['detail'][:120]}")
        elif ev.kind == "journal_failed":
            view.log(f"JOURNAL FAILED, the gate now denies every call: {d['reason']}")

    return sink


def _call_has_mode() -> bool:
    """Does the policy's call context carry ``workspace_mode`` (the policy side adds the field)?"""
    import dataclasses

    from agp.policy import ToolCall

    return any(f.name == "workspace_mode" for f in dataclasses.fields(ToolCall))


class GateServer:
    """The gate, in-process. ``await serve(task_status=...)`` in a task group; ``shutdown()`` from anywhere.

    ``journal`` is an open :class:`agp.journal.Journal` (any :class:`~agp.gate.decision.JournalSink`);
    with ``own_journal=True`` the server closes it at the end, otherwise it only writes the head. ``approvers`` is a sequence of approver
    channels (empty or :class:`NoApprover`: every ``require`` is a deny).
    ``on_event`` receives a :class:`GateEvent` for each decision, pending approval,
    resolved approval, rejected frame and session change, from the gate's thread; it
    must be quick.

    Under abuse: at most ``max_connections`` connections are served at once (less if the
    descriptor limit, raised toward its hard limit at start, leaves less room); past it the
    longest-idle connection (no frame in progress, no call in flight) is closed to make room
    and when none has been idle ``evict_idle_after`` seconds the new connection is closed at
    once (a client that keeps calling is not evicted). Each frame must arrive whole
    within ``frame_timeout`` seconds of its first byte; a connection may wait ``idle_timeout``
    seconds between frames. Bytes of frames still in transit are held, over all connections,
    within ``frame_memory`` bytes (a frame that would exceed it is rejected ``overloaded``),
    large bodies in anonymous mappings released as soon as the frame is done or its
    connection gone. A denied call's input above ``deny_inline_max`` bytes is journaled as
    digest, size and prefix (:mod:`agp.gate._flood`); rejected frames, session refusals and
    refused connections are journaled individually up to ``flood_burst`` per kind per
    ``flood_window`` seconds and counted in ``gate.suppressed`` entries beyond that.
    """

    def __init__(
        self,
        *,
        socket_dir: str | os.PathLike[str],
        policy: Policy,
        journal: JournalSink,
        approvers: Sequence[Approver] = (),
        sessions: SessionTable | None = None,
        workspace: str = "/workspace",
        host_workspace: str | None = None,
        workspace_mode: str | None = None,
        approval_timeout: float = 20.0,
        allow_automatic: bool = False,
        on_event: Callable[[GateEvent], None] | None = None,
        own_journal: bool = False,
        socket_uid: int | None = None,
        socket_gid: int | None = None,
        append_threads: int = 64,
        max_connections: int = 1024,
        frame_timeout: float = 10.0,
        idle_timeout: float = 600.0,
        frame_memory: int = 256 * 1024 * 1024,
        evict_idle_after: float = 0.25,
        deny_inline_max: int = INLINE_MAX,
        flood_burst: int = 20,
        flood_window: float = 10.0,
        drain_timeout: float = 30.0,
        eval_workers: int = 0,
        eval_timeout: float = 5.0,
        eval_inline_max: int = 8192,
        now: Callable[[], _dt.datetime] = lambda: _dt.datetime.now(_dt.UTC),
    ) -> None:
        self.socket_dir = Path(socket_dir)
        self.socket_path = self.socket_dir / SOCKET_NAME
        self.policy = policy
        self.journal = journal
        self.sessions = sessions if sessions is not None else SessionTable()
        self.workspace = workspace
        #: the host directory behind ``workspace`` in the sandbox: symlinks there are resolved on the host
        self.host_workspace = host_workspace
        #: clone | mount: how the workspace is backed, in each call's context for the policy
        self.workspace_mode = workspace_mode
        self.own_journal = own_journal
        self._on_event = on_event
        self._socket_uid, self._socket_gid = socket_uid, socket_gid
        self._limiter = anyio.CapacityLimiter(append_threads)
        self._append_threads = append_threads
        self._pump: _AppendPump | None = None
        self._eval_workers = eval_workers
        self._eval_timeout = eval_timeout
        self._eval_inline_max = eval_inline_max
        self._pool: EvalPool | None = None
        self._max_connections = max_connections
        self.connection_cap = max_connections  # lowered at start if the descriptor limit is tighter
        self._frame_timeout = frame_timeout
        self._idle_timeout = idle_timeout
        self._frame_memory = frame_memory
        self._evict_idle_after = evict_idle_after
        self._deny_inline_max = deny_inline_max
        self.flood = FloodGuard(burst=flood_burst, window=flood_window)
        #: bytes of frames in transit (held by connections, not yet parsed)
        self.frame_bytes = 0
        self._conns: set[_Conn] = set()
        self._idle_conns: dict[_Conn, None] = {}  # idle connections, oldest first (insertion order)
        self.counters = {
            "connections_refused": 0,
            "connections_evicted": 0,
            "frames_late": 0,
            "frames_overloaded": 0,
            "accept_errors": 0,
        }
        self._drain_timeout = drain_timeout
        self._now = now
        approvers = tuple(approvers) or (NoApprover(),)
        self.broker = ApprovalBroker(
            approvers,
            record=self._record_sync,
            timeout=approval_timeout,
            allow_automatic=allow_automatic,
            on_event=self._emit,
        )
        self.failed: str | None = None
        self.stopping = False
        self.decisions = {"allow": 0, "deny": 0}
        self._inflight = 0
        self._stop: anyio.Event | None = None
        self._idle: anyio.Event | None = None
        self._token: Any = None
        self._loop_thread: int | None = None
        self._served = False
        self._bound = False

    # ------------------------------------------------------------------ utils
    def _emit(self, event: GateEvent) -> None:
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # a UI must never break the gate
                log.exception("gate event sink failed")

    def _record_sync(self, kind: str, session: str, body: Mapping[str, Any]) -> JournaledEntry:
        if self.failed is not None:
            raise JournalWriteError(self.failed)
        try:
            return self.journal.append(kind, session, body)
        except JournalWriteError as exc:
            self._poison(str(exc))
            raise

    def _poison(self, why: str) -> None:
        if self.failed is None:
            self.failed = why
            log.error("journal append failed; the gate now denies every call: %s", why)
            self._emit(GateEvent("journal_failed", {"reason": why}))

    async def _record(self, kind: str, session: str, body: Mapping[str, Any]) -> JournaledEntry:
        pump = self._pump
        if pump is not None and threading.get_ident() == self._loop_thread:
            entry: JournaledEntry = await pump.submit(kind, session, body)
            return entry
        return await anyio.to_thread.run_sync(self._record_sync, kind, session, body, limiter=self._limiter)

    # --------------------------------------------------------------- sessions
    def register_session(self, sid: str, **meta: Any) -> None:
        """Register a run/harness session (journaled as ``gate.session``). Blocking; any thread.

        Raises SessionRefused (journaled too) at the session cap.
        """
        try:
            new = self.sessions.register(sid)
        except SessionRefused as exc:
            self._record_sync(
                "gate.session",
                sid,
                {"event": "refused", "reason": exc.refusal.reason.value, "detail": exc.refusal.detail, **meta},
            )
            raise
        if new:
            self._record_sync("gate.session", sid, {"event": "register", **meta})
            self._emit(GateEvent("session", {"event": "register", "session": sid}))

    def close_session(self, sid: str) -> None:
        if self.sessions.close(sid):
            self._record_sync("gate.session", sid, {"event": "close"})
            self._emit(GateEvent("session", {"event": "close", "session": sid}))

    # ----------------------------------------------------------------- decide
    async def check(self, req: CheckRequest, *, size: int = 0, frame: bytes | None = None) -> Verdict:
        """Decide one validated request, journal it, return the verdict (never raises for a deny).

        ``size`` is the frame's length: with evaluation workers, frames longer than
        ``eval_inline_max`` bytes (-1: every frame) are classified in a worker under the
        deadline (see ``_evalpool``); ordinary calls are classified inline, which is faster
        here than a round trip to another process. ``frame`` (the raw body, when known) is
        only hashed, to count distinct frames among suppressed refusals.

        A denied call whose input is larger than ``deny_inline_max`` is journaled as the
        digest, size and prefix of its input; a session refusal past the flood budget is
        counted in the next ``gate.suppressed`` entry instead of its own entry (its verdict
        then has no ``seq``).
        """
        call = req.call_dict()
        if self.failed is not None:
            return self._journal_failed(req)
        refusal, new = self.sessions.admit(req.session)
        if new and await self._journal("gate.session", req.session, {"event": "register", "auto": True}) is None:
            return self._journal_failed(req)
        if refusal is not None:
            gd = GateDecision.denied(f"denied: {refusal.text}", extra={"refusal": refusal.reason.value})
            if not self.flood.admit(
                f"refusal.{refusal.reason.value}",
                size=size,
                session=req.session,
                digest=hashlib.sha256(frame).hexdigest() if frame is not None else None,
            ):
                self._count_and_emit(req, gd)
                return Verdict(
                    id=req.id,
                    decision="deny",
                    reason=f"{gd.reason} (counted in the journal with other refusals, not entered one by one)",
                )
        else:
            try:
                d = await self._evaluate(req, size)
            except Exception as exc:  # a classifier bug or overrun is a deny, never an allow
                if isinstance(exc, EvalTimeout):
                    log.warning("policy evaluation overran: %s", exc)
                    reason = f"denied: {exc}"
                else:
                    log.exception("policy evaluation failed")
                    reason = "denied: the gate could not evaluate this call"
                gd = GateDecision.denied(
                    reason, policy_digest=self.policy.digest, extra={"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
                )
            else:
                gd = await self._settle(d, lambda statements: self._approve(req.session, call, d, statements))
        j_call: dict[str, Any] = call
        j_statements: Sequence[Mapping[str, Any]] = gd.statements
        if not gd.allowed:  # what was refused is kept whole only up to deny_inline_max bytes
            j_call, j_statements, more = compact_decision(call, gd.statements, inline_max=self._deny_inline_max)
            gd = replace(gd, extra={**gd.extra, **more})
        seq = await self._journal(
            "gate.decision", req.session, gd.journal_body({"call": j_call}, statements=j_statements)
        )
        if seq is None:
            return self._journal_failed(req, rule=gd.rule, statements=gd.statements)
        self._count_and_emit(req, gd, seq)
        return Verdict(id=req.id, decision=gd.decision, reason=gd.reason, rule=gd.rule, seq=seq)

    async def _settle(
        self, d: Decision, approve: Callable[[list[Mapping[str, Any]]], Awaitable[ApprovalResult]]
    ) -> GateDecision:
        """The policy's decision, with a ``require`` put to the approvers (``approve``)."""
        if d.effect != "require":
            return GateDecision.from_policy(d)
        statements: list[Mapping[str, Any]] = [s.to_json_dict() for s in d.statements]
        approval = await approve(statements)
        return GateDecision.from_policy(
            d, approval=approval, reason=self._approval_reason(d, approval), statements=statements
        )

    async def _journal(self, kind: str, session: str, body: Mapping[str, Any]) -> int | None:
        """Append ``body``; its seq, or None when the journal failed (the gate is then poisoned)."""
        try:
            entry = await self._record(kind, session, body)
        except JournalWriteError:
            return None  # _record_sync has poisoned the gate
        except Exception as exc:  # anything else that stops the journal poisons the gate too
            log.exception("journal append raised")
            self._poison(f"{type(exc).__name__}: {exc}")
            return None
        return entry.seq

    def _journal_failed(
        self, req: CheckRequest, *, rule: str | None = None, statements: Sequence[Mapping[str, Any]] = ()
    ) -> Verdict:
        """The deny answered when the journal cannot record: counted, shown, never an allow."""
        self._count_and_emit(
            req, GateDecision("deny", "journal_failed", _JOURNAL_FAILED, rule, statements=tuple(statements))
        )
        return Verdict(id=req.id, decision="deny", reason=_JOURNAL_FAILED, rule=rule)

    def precheck_egress(self, session: str, harness: str, statement: Any) -> str:
        """The policy's effect for an egress statement, without asking or journaling anything (the egress
        door asks this before it resolves a name, so that a name no rule admits never reaches DNS)."""
        from agp.policy import ToolCall
        from agp.policy.call import ClassifiedCall
        from agp.policy.engine import evaluate_classified

        if self.failed is not None:
            return "deny"
        call = ToolCall(
            harness=harness, tool="egress", input={}, cwd=self.workspace, workspace=self.workspace, session=session
        )
        return evaluate_classified(ClassifiedCall(call, (statement,)), self.policy, self._now()).effect

    async def decide_egress(
        self, session: str, harness: str, statement: Any, detail: Mapping[str, Any]
    ) -> tuple[bool, str, str | None, int | None]:
        """Decide one egress connection (a CONNECT or a plain-HTTP request at the egress door): the same
        policy engine, the same approvers for ``require``, journaled as ``egress.decision`` with ``detail``
        (the addresses the host resolved...). Returns (allowed, reason, rule, journal seq); never raises for
        a deny; a failed journal append is a deny."""
        from agp.policy import ToolCall
        from agp.policy.call import ClassifiedCall
        from agp.policy.engine import evaluate_classified

        call = {
            "harness": harness,
            "tool": "egress",
            "input": dict(detail),
            "cwd": self.workspace,
            "workspace": self.workspace,
            "session": session,
        }
        if self.failed is not None:
            return False, _JOURNAL_FAILED, None, None
        try:
            tc = ToolCall(
                harness=harness, tool="egress", input={}, cwd=self.workspace, workspace=self.workspace, session=session
            )
            d = evaluate_classified(ClassifiedCall(tc, (statement,)), self.policy, self._now())
        except Exception:  # an evaluation failure is a deny, never an allow
            log.exception("egress evaluation failed")
            gd = GateDecision.denied(
                "denied: the gate could not evaluate this connection",
                policy_digest=self.policy.digest,
                statements=[statement.to_json_dict()],
            )
        else:
            try:
                gd = await self._settle(d, lambda statements: self._approve(session, call, d, statements))
            except JournalWriteError:
                return False, _JOURNAL_FAILED, d.rule, None
        seq = await self._journal("egress.decision", session, gd.journal_body(detail))
        if seq is None:
            return False, _JOURNAL_FAILED, gd.rule, None
        self.decisions[gd.decision] += 1
        self._emit(
            GateEvent(
                "decision",
                {
                    "session": session,
                    "tool": "egress",
                    "harness": harness,
                    "summary": statement.text,
                    "decision": gd.decision,
                    "effect": gd.effect,
                    "rule": gd.rule,
                    "seq": seq,
                    "tool_use_id": None,
                },
            )
        )
        return gd.allowed, gd.reason, gd.rule, seq

    async def record_egress(self, kind: str, session: str, body: Mapping[str, Any]) -> int | None:
        """Journal an egress event (``egress.close``, ``egress.refused``); None when the journal failed."""
        return await self._journal(kind, session, body)

    async def _evaluate(self, req: CheckRequest, size: int = 0) -> Any:
        from agp.policy import ToolCall, evaluate

        kwargs: dict[str, Any] = {
            "harness": req.harness,
            "tool": req.tool,
            "input": req.input,
            "cwd": req.cwd or self.workspace,
            "workspace": self.workspace,
            "host_workspace": self.host_workspace,
            "session": req.session,
            "tool_use_id": req.tool_use_id,
        }
        if self.workspace_mode is not None and _call_has_mode():
            kwargs["workspace_mode"] = self.workspace_mode
        # large requests, and any with non-ASCII text (a parser crash on odd input must cost a worker,
        # not the gate), are evaluated in the worker processes
        if self._pool is not None and (size > self._eval_inline_max or not _ascii_only(req.input)):
            return await self._pool.evaluate(kwargs, self._now())
        return evaluate(ToolCall(**kwargs), self.policy, self._now())

    async def _approve(
        self, session: str, call: dict[str, Any], d: Decision, statements: list[Mapping[str, Any]]
    ) -> ApprovalResult:
        if self.stopping:
            return ApprovalResult(None, Outcome.CANCELLED, detail="the gate is shutting down")
        if not self.policy.approvals:
            return ApprovalResult(
                None,
                Outcome.NO_APPROVER,
                detail="the policy turns approvals off (approvals = false): every require is a deny",
            )
        return await self.broker.require(
            session=session,
            call=call,
            call_digest=call_digest(call),
            statements=statements,
            rule=d.rule,
            matched=d.matched,
            reason=d.reason,
            quorum=d.quorum,
            approver_group=d.approver_group,
        )

    @staticmethod
    def _approval_reason(d: Decision, a: ApprovalResult) -> str:
        if a.outcome is Outcome.APPROVED:
            return f"approved by {', '.join(a.approvers)} (rule {d.rule})"
        if a.outcome is Outcome.APPROVED_AUTOMATICALLY:
            return f"approved automatically by the demo's auto approver (rule {d.rule}; no human looked at it)"
        base = d.reason
        if a.outcome is Outcome.UNREACHABLE:  # channel internals (URLs, API errors) stay in the journal
            return f"denied: {base}; no approver could be reached (the approval channel is unreachable)"
        return f"denied: {base}; {a.detail or a.outcome.value}"

    def _count_and_emit(self, req: CheckRequest, gd: GateDecision, seq: int | None = None) -> None:
        self.decisions[gd.decision] += 1
        if self._on_event is not None:
            self._emit(
                GateEvent(
                    "decision",
                    {
                        "session": req.session,
                        "tool": req.tool,
                        "harness": req.harness,
                        "summary": _statements_summary(gd.statements) or req.tool,
                        "decision": gd.decision,
                        "effect": gd.effect,
                        "rule": gd.rule,
                        "seq": seq,
                        "tool_use_id": req.tool_use_id,
                    },
                )
            )

    async def reject_frame(self, exc: FrameRejected, body: bytes | None, *, size: int | None = None) -> Verdict | None:
        """Journal a rejected frame (its sha256, size and a rendered prefix, never its body); return
        the deny to send. ``size``: bytes received of a frame whose body is not at hand.

        Past the flood budget for its code the frame is counted in the next ``gate.suppressed``
        entry instead of its own entry.
        """
        entry_body: dict[str, Any] = {"code": exc.code.value, "detail": exc.detail, "request_id": exc.request_id}
        rec = digest_record(body) if body is not None else None
        if rec is not None:
            entry_body.update(rec)
        elif size is not None:
            entry_body["size"] = size
        seq = None
        self.decisions["deny"] = self.decisions.get("deny", 0) + 1
        if self.flood.admit(
            f"frame_rejected.{exc.code.value}",
            size=len(body) if body is not None else (size or 0),
            digest=rec["sha256"] if rec else None,
            session=exc.session,
        ):
            with contextlib.suppress(Exception):  # the journal failure is already recorded in self.failed
                entry = await self._record("gate.frame_rejected", exc.session or "", entry_body)
                seq = entry.seq
            self._emit(GateEvent("frame_rejected", {"code": exc.code.value, "detail": exc.detail, "seq": seq}))
        reason = f"denied: the gate rejected the request ({exc.code.value}: {exc.detail[:160]})"
        return Verdict(id=exc.request_id or "", decision="deny", reason=reason, seq=seq)

    async def handle_frame(self, body: bytes) -> Verdict | None:
        try:
            req = parse_request(body)
        except FrameRejected as exc:
            return await self.reject_frame(exc, body)
        return await self.check(req, size=len(body), frame=body)

    # ------------------------------------------------------------ connections
    async def _noise(self, kind: str, entry_kind: str, session: str, body: Mapping[str, Any], *, size: int = 0) -> None:
        """Journal an entry that records no decision, within the flood budget (counted beyond it)."""
        if self.failed is not None or not self.flood.admit(kind, size=size, session=session or None):
            return
        with contextlib.suppress(Exception):  # the journal failure is already recorded in self.failed
            await self._record(entry_kind, session, body)

    def _idlest(self) -> _Conn | None:
        """The longest-idle connection if it has been idle ``evict_idle_after`` seconds (O(1))."""
        horizon = time.monotonic() - self._evict_idle_after
        for c in self._idle_conns:
            return c if c.idle_since is not None and c.idle_since <= horizon else None
        return None

    def _set_idle(self, conn: _Conn, idle: bool) -> None:
        self._idle_conns.pop(conn, None)
        if idle:
            conn.idle_since = time.monotonic()
            self._idle_conns[conn] = None
        else:
            conn.idle_since = None

    async def _handle_conn(self, stream: anyio.abc.SocketStream) -> None:
        if len(self._conns) >= self.connection_cap:
            victim = self._idlest()
            if victim is None or self.stopping:
                self.counters["connections_refused"] += 1
                await stream.aclose()
                await self._noise(
                    "connection.refused",
                    "gate.connection",
                    "",
                    {
                        "event": "refused",
                        "open": len(self._conns),
                        "cap": self.connection_cap,
                        "detail": "every connection was busy with a frame or a call",
                    },
                )
                return
            self._idle_conns.pop(victim, None)
            victim.evict()
            self.counters["connections_evicted"] += 1
            await self._noise(
                "connection.evicted",
                "gate.connection",
                "",
                {
                    "event": "evicted",
                    "open": len(self._conns),
                    "cap": self.connection_cap,
                    "idle_s": round(time.monotonic() - (victim.idle_since or 0.0), 3),
                    "detail": "the longest-idle connection was closed to make room for a new one",
                },
            )
        conn = _Conn()
        self._conns.add(conn)
        try:
            with anyio.CancelScope() as conn.scope:
                if conn.evicted:  # evicted before it ran
                    conn.scope.cancel()
                await self._conn_loop(stream, conn)
        except Exception:  # one connection's failure never takes the gate down
            log.exception("gate connection failed")
        finally:
            self._conns.discard(conn)
            self._idle_conns.pop(conn, None)
            await stream.aclose()

    async def _receive(self, stream: anyio.abc.SocketStream, limit: int, deadline: float | None) -> bytes | None:
        """Up to ``limit`` bytes; b"" at end of stream; None when ``deadline`` (monotonic) passed."""
        timeout = self._idle_timeout if deadline is None else deadline - time.monotonic()
        if timeout <= 0:
            return None
        with anyio.move_on_after(timeout):
            try:
                return await stream.receive(limit)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                return b""
        return None

    async def _conn_loop(self, stream: anyio.abc.SocketStream, conn: _Conn) -> None:
        carry = b""  # bytes received past the end of the previous frame's header chunk
        while True:
            frame = await self._read_frame(stream, conn, carry)
            if frame is None:
                return
            body, carry = frame
            self._set_idle(conn, False)
            if not await self._serve_frame(stream, body):
                return

    async def _read_frame(
        self, stream: anyio.abc.SocketStream, conn: _Conn, carry: bytes
    ) -> tuple[bytes, bytes] | None:
        """Read one frame: (body, bytes received beyond it), or None when the connection must end
        (closed, idle too long, a frame late, broken or too large: each journaled and answered).

        The whole frame must arrive within ``frame_timeout`` of its first byte (one deadline per
        frame, not per receive). A body above 64 KiB is read into an anonymous mapping of its
        declared length whose pages are committed only as bytes arrive; it counts against
        ``frame_memory`` until the frame is done, and is unmapped on every path out.
        """
        buf = carry
        deadline = time.monotonic() + self._frame_timeout if buf else None
        self._set_idle(conn, not buf)
        while len(buf) < 4:
            chunk = await self._receive(stream, 65536, deadline)
            if not chunk:
                if buf:
                    late = chunk is None
                    await self.reject_frame(
                        FrameRejected(
                            FrameCode.TRUNCATED,
                            (
                                f"the frame did not arrive within {self._frame_timeout:g}s"
                                if late
                                else f"the peer closed after {len(buf)} bytes of a frame"
                            ),
                        ),
                        None,
                        size=len(buf),
                    )
                    if late:
                        self.counters["frames_late"] += 1
                return None
            if deadline is None:
                deadline = time.monotonic() + self._frame_timeout
                self._set_idle(conn, False)
            buf += chunk
        (n,) = _HEADER.unpack_from(buf)
        if n == 0 or n > MAX_FRAME:
            exc = (
                FrameRejected(FrameCode.EMPTY, "length prefix 0")
                if n == 0
                else FrameRejected(FrameCode.OVERSIZED, f"length prefix {n} exceeds {MAX_FRAME} bytes")
            )
            await self._send(stream, await self.reject_frame(exc, None, size=len(buf)))
            return None  # the stream cannot be resynchronized
        if len(buf) >= 4 + n:
            return buf[4 : 4 + n], buf[4 + n :]
        part = buf[4:]
        del buf
        held = 0

        def hold(k: int) -> bool:
            nonlocal held
            if self.frame_bytes + k > self._frame_memory:
                return False
            self.frame_bytes += k
            held += k
            return True

        mm = mmap.mmap(-1, n) if n > _MAPPED_BODY else None
        small = bytearray()  # the body when it is not mapped
        got = 0
        try:
            while True:
                if not hold(len(part)):
                    self.counters["frames_overloaded"] += 1
                    await self._send(
                        stream,
                        await self.reject_frame(
                            FrameRejected(
                                FrameCode.OVERLOADED,
                                f"the gate holds {self.frame_bytes} bytes of frames in transit "
                                f"(at most {self._frame_memory}); this frame of {n} bytes was refused",
                            ),
                            None,
                            size=4 + got,
                        ),
                    )
                    return None
                if mm is not None:
                    mm[got : got + len(part)] = part
                else:
                    small += part
                got += len(part)
                if got >= n:
                    break
                more = await self._receive(stream, min(65536, n - got), deadline)
                if not more:
                    late = more is None
                    if late:
                        self.counters["frames_late"] += 1
                    await self.reject_frame(
                        FrameRejected(
                            FrameCode.TRUNCATED,
                            (
                                f"{got} of {n} bytes arrived within {self._frame_timeout:g}s"
                                if late
                                else f"the peer closed after {got} of {n} bytes of a frame"
                            ),
                        ),
                        None,
                        size=4 + got,
                    )
                    return None
                part = more
            return (bytes(small) if mm is None else mm[:n]), b""
        finally:
            self.frame_bytes -= held
            if mm is not None:
                mm.close()

    async def _serve_frame(self, stream: anyio.abc.SocketStream, body: bytes) -> bool:
        """Decide, journal and answer one frame; shielded: a decision once begun is journaled and answered."""
        self._inflight += 1
        try:
            with anyio.CancelScope(shield=True):
                try:
                    v = await self.handle_frame(body)
                except Exception as exc:  # a bug is a deny, never a crash
                    log.exception("internal error while deciding a frame")
                    v = await self._internal_error(body, exc)
                sent = await self._send(stream, v)
            return sent
        finally:
            self._inflight -= 1
            if self._inflight == 0 and self._idle is not None:
                self._idle.set()

    async def _internal_error(self, body: bytes, exc: BaseException) -> Verdict:
        rid = ""
        with contextlib.suppress(Exception):  # a frame that does not parse is answered without an id
            rid = parse_request(body).id
        self.decisions["deny"] = self.decisions.get("deny", 0) + 1
        seq = None
        with contextlib.suppress(Exception):  # the journal failure is already recorded in self.failed
            entry = await self._record(
                "gate.frame_rejected",
                "",
                {
                    "code": "internal_error",
                    "detail": f"{type(exc).__name__}: {str(exc)[:200]}",
                    "request_id": rid or None,
                    "size": len(body),
                    "sha256": hashlib.sha256(body).hexdigest(),
                },
            )
            seq = entry.seq
        return Verdict(id=rid, decision="deny", reason="denied: the gate hit an internal error", seq=seq)

    @staticmethod
    async def _send(stream: anyio.abc.SocketStream, v: Verdict | None) -> bool:
        if v is None:
            return True
        try:
            await stream.send(v.to_frame())
            return True
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            return False  # the client left; its decision is already journaled

    # ---------------------------------------------------------------- serving
    def _bind(self) -> socket.socket:
        prepare_socket_dir(self.socket_dir, uid=self._socket_uid, gid=self._socket_gid)
        path = str(self.socket_path)
        if os.path.lexists(path):
            try:
                connect_unix(path, timeout=1.0).close()
            except OSError:
                os.unlink(path)  # stale socket from a previous gate
            else:
                raise GateError(f"another gate is already serving {path}")
        try:
            sock = bind_unix(path, mode=0o600, backlog=512)
        except OSError as exc:
            raise GateError(f"cannot listen on {path}: {exc.strerror or exc}") from exc
        try:
            if self._socket_uid is not None:
                os.chown(path, self._socket_uid, self._socket_gid if self._socket_gid is not None else -1)
        except OSError as exc:
            sock.close()
            os.unlink(path)
            raise GateError(f"cannot hand {path} to the sandbox uid: {exc.strerror or exc}") from exc
        self._bound = True
        return sock

    async def serve(self, *, task_status: anyio.abc.TaskStatus[Any] = anyio.TASK_STATUS_IGNORED) -> None:
        """Bind the socket, then serve until :meth:`shutdown`; drains and writes the head on the way out."""
        if self._served:
            raise GateError("a GateServer serves once")
        self._served = True
        self._stop = anyio.Event()
        self._idle = anyio.Event()
        self._token = anyio.lowlevel.current_token()
        self._loop_thread = threading.get_ident()
        try:
            await self._serve_with_pool(task_status)
        except BaseExceptionGroup as eg:  # report the one real error (a startup refusal) as itself
            if len(eg.exceptions) == 1 and isinstance(eg.exceptions[0], Exception):
                raise eg.exceptions[0] from None
            raise

    async def _serve_with_pool(self, task_status: anyio.abc.TaskStatus[Any]) -> None:
        async with anyio.create_task_group() as pool_tg:
            try:
                if self._eval_workers:
                    pool = EvalPool(self.policy, workers=self._eval_workers, timeout=self._eval_timeout)
                    try:
                        await pool.start(pool_tg)
                    except BaseException:
                        self.stopping = True
                        with anyio.CancelScope(shield=True):
                            await anyio.to_thread.run_sync(self._finish_journal)
                        raise
                    self._pool = pool
                await self._serve(task_status)
            finally:
                started, self._pool = self._pool, None
                if started is not None:
                    with anyio.CancelScope(shield=True):
                        await anyio.to_thread.run_sync(started.close)
                pool_tg.cancel_scope.cancel()

    async def _serve(self, task_status: anyio.abc.TaskStatus[Any]) -> None:
        stop = self._stop
        if stop is None:
            raise GateError("internal error: the gate serves only through serve()")
        self._raise_fd_limit()
        try:
            raw = self._bind()
            try:
                listener = await anyio.abc.SocketListener.from_socket(raw)
            except BaseException:
                raw.close()
                raise
        except BaseException:
            self.stopping = True
            self._unlink_socket()
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._finish_journal)
            raise
        try:
            try:
                import asyncio

                loop = asyncio.get_running_loop()  # RuntimeError on other backends (trio)
            except RuntimeError:
                loop = None
            if loop is not None:
                self._pump = _AppendPump(self._record_sync, self._append_threads)
                self._pump.start(loop)
            self.broker.start()
            async with anyio.create_task_group() as conn_tg:
                async with anyio.create_task_group() as accept_tg:
                    accept_tg.start_soon(self._accept_loop, listener, raw, conn_tg)
                    accept_tg.start_soon(self._housekeeping)
                    task_status.started(self)
                    await stop.wait()
                    accept_tg.cancel_scope.cancel()
                self.stopping = True
                await listener.aclose()
                self._unlink_socket()
                self.broker.cancel_all()
                with anyio.move_on_after(self._drain_timeout):
                    while self._inflight:
                        self._idle = anyio.Event()
                        await self._idle.wait()
                conn_tg.cancel_scope.cancel()
        finally:
            self.stopping = True
            self._unlink_socket()
            self.broker.close()
            with anyio.CancelScope(shield=True):
                await self._flush_housekeeping(final=True)  # nothing counted goes unrecorded
            pump, self._pump = self._pump, None
            with anyio.CancelScope(shield=True):
                if pump is not None:
                    await anyio.to_thread.run_sync(pump.close)
                await anyio.to_thread.run_sync(self._finish_journal)

    async def _accept_loop(self, listener: Any, raw: socket.socket, tg: anyio.abc.TaskGroup) -> None:
        """Accept until the listener closes. Out of descriptors (EMFILE/ENFILE) the gate frees its
        spare descriptor, accepts the waiting connection and closes it at once (so the peer is
        refused instead of hanging in the backlog), then backs off briefly: it neither spins nor
        stops accepting."""
        spare = _open_spare()
        warned = -1e9
        try:
            while True:
                try:
                    stream = await listener.accept()
                except anyio.ClosedResourceError:
                    return
                except (anyio.BrokenResourceError, OSError) as exc:
                    err = exc if isinstance(exc, OSError) else exc.__cause__
                    if self.stopping:
                        return
                    code = getattr(err, "errno", None)
                    self.counters["accept_errors"] += 1
                    if code in _ACCEPT_RESOURCE_ERRNOS:
                        if spare is not None:
                            os.close(spare)
                            spare = None
                        refused = _refuse_one(raw)
                        spare = _open_spare()
                        if refused:
                            self.counters["connections_refused"] += 1
                            await self._noise(
                                "connection.refused",
                                "gate.connection",
                                "",
                                {
                                    "event": "refused",
                                    "open": len(self._conns),
                                    "cap": self.connection_cap,
                                    "detail": f"accept failed: {errno.errorcode.get(code or 0, code)}",
                                },
                            )
                        else:  # could not even refuse it: wait for descriptors to come back
                            if time.monotonic() - warned >= 10.0:  # one line per episode, not 20 a second
                                warned = time.monotonic()
                                log.warning("accept failed (%s); backing off until descriptors are free", err)
                            await anyio.sleep(0.05)
                    elif isinstance(exc, anyio.BrokenResourceError) and code is None:
                        log.error("the gate's listening socket broke: %s", exc)
                        return
                    else:  # an aborted connection and the like: go on
                        log.warning("accept failed: %s", err)
                        await anyio.sleep(0)
                    continue
                tg.start_soon(self._handle_conn, stream)
        finally:
            if spare is not None:
                os.close(spare)

    async def _housekeeping(self) -> None:
        """Every few seconds: journal the suppressed counts of a closed window and expired sessions."""
        period = max(0.05, min(self.flood.window, self.sessions.idle_ttl / 4, 5.0))
        while True:
            await anyio.sleep(period)
            await self._flush_housekeeping(final=False)

    async def _flush_housekeeping(self, *, final: bool) -> None:
        for sid, idle in self.sessions.expire():
            with contextlib.suppress(Exception):  # the journal failure is already recorded in self.failed
                await self._record(
                    "gate.session",
                    sid,
                    {"event": "expire", "idle_s": round(idle, 3), "idle_ttl_s": self.sessions.idle_ttl},
                )
            self._emit(GateEvent("session", {"event": "expire", "session": sid}))
        if final or self.flood.due():
            body = self.flood.take()
            if body is not None:
                body["counters"] = dict(self.counters)
                with contextlib.suppress(Exception):  # the journal failure is already recorded in self.failed
                    await self._record("gate.suppressed", "", body)

    def _raise_fd_limit(self) -> None:
        """Raise the soft RLIMIT_NOFILE toward the hard limit; keep the connection cap below it."""
        try:
            import resource
        except ImportError:  # not on this platform
            return
        try:
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            want = _FD_TARGET if hard == resource.RLIM_INFINITY else min(hard, _FD_TARGET)
            if soft != resource.RLIM_INFINITY and soft < want:
                resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
                soft = want
        except (OSError, ValueError) as exc:
            log.warning("could not raise the descriptor limit: %s", exc)
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft != resource.RLIM_INFINITY:
            room = max(8, soft - _FD_RESERVE - soft // 8)
            if room < self.connection_cap:
                log.warning("the descriptor limit (%d) holds the gate to %d connections", soft, room)
                self.connection_cap = room

    def _unlink_socket(self) -> None:
        if not self._bound:
            return  # never remove a socket this server did not create
        with contextlib.suppress(OSError):
            os.unlink(self.socket_path)

    def _finish_journal(self) -> None:
        try:
            if self.own_journal:
                self.journal.close()
            elif self.failed is None:
                self.journal.write_head()
        except JournalWriteError as exc:
            self._poison(str(exc))
            log.error("could not write the journal head: %s", exc)

    def shutdown(self) -> None:
        """Stop accepting, deny pending approvals, answer in-flight calls, write the head. Any thread."""
        if self._stop is None:
            self.stopping = True
            return
        if threading.get_ident() == self._loop_thread:
            self._stop.set()
        else:
            with contextlib.suppress(RuntimeError):
                anyio.from_thread.run_sync(self._stop.set, token=self._token)

    async def aclose(self) -> None:
        self.shutdown()


def _ascii_only(value: Any) -> bool:
    """True when every string (and key) in ``value`` is ASCII."""
    if isinstance(value, str):
        return value.isascii()
    if isinstance(value, dict):
        return all(_ascii_only(k) and _ascii_only(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_ascii_only(v) for v in value)
    return True


def _open_spare() -> int | None:
    try:
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


def _refuse_one(raw: socket.socket) -> bool:
    """Accept one waiting connection on the (non-blocking) listening socket and close it."""
    try:
        s, _ = raw.accept()
    except OSError:
        return False
    s.close()
    return True


class _Conn:
    """One connection's state, for the connection cap: idle (waiting between frames) or busy."""

    __slots__ = ("evicted", "idle_since", "scope")

    def __init__(self) -> None:
        self.scope: anyio.CancelScope | None = None
        self.idle_since: float | None = None
        self.evicted = False

    def evict(self) -> None:
        self.evicted = True
        if self.scope is not None:
            self.scope.cancel()

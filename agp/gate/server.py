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

import datetime as _dt
import errno
import hashlib
import logging
import os
import socket
import queue
import stat
import threading
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import anyio
import anyio.abc
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread

from agp.errors import GateError, JournalWriteError
from agp.gate._evalpool import EvalPool, EvalTimeout
from agp.gate.approvals import ApprovalBroker, ApprovalResult, Approver, GateEvent, NoApprover, Outcome
from agp.gate.protocol import CheckRequest, FrameCode, FrameDecoder, FrameRejected, Verdict, call_digest, parse_request
from agp.gate.sessions import SessionRefused, SessionTable

__all__ = ("SOCKET_NAME", "GateServer", "live_view_sink", "prepare_socket_dir")

log = logging.getLogger(__name__)

SOCKET_NAME = "gate.sock"
_JOURNAL_FAILED = ("the gate could not record this decision in its journal, so the call is denied; "
                   "the gate denies every call until it is restarted")


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
        self._q: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
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
            try:
                self._loop.call_soon_threadsafe(_settle, fut, res, exc)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass

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
            view.decision(tool=d["tool"], summary=d["summary"], decision=d["decision"], rule=d.get("rule"),
                          seq=d.get("seq"))
        elif ev.kind == "pending":
            view.pending(d["key"], f"{d['summary']} (rule {d.get('rule')}, quorum {d.get('quorum')})")
        elif ev.kind == "resolved":
            view.resolved(d["key"], d["outcome"])
        elif ev.kind == "frame_rejected":
            view.log(f"gate rejected a frame: {d['code']}: {d['detail'][:120]}")
        elif ev.kind == "journal_failed":
            view.log(f"JOURNAL FAILED, the gate now denies every call: {d['reason']}")

    return sink


class GateServer:
    """The gate, in-process. ``await serve(task_status=...)`` in a task group; ``shutdown()`` from anywhere.

    ``journal`` is an open :class:`agp.journal.Journal` (anything with ``append``,
    ``write_head`` and ``close``); with ``own_journal=True`` the server closes it at the
    end, otherwise it only writes the head. ``approvers`` is a sequence of approver
    channels (empty or :class:`NoApprover`: every ``require`` is a deny).
    ``on_event`` receives a :class:`GateEvent` for each decision, pending approval,
    resolved approval, rejected frame and session change, from the gate's thread; it
    must be quick.
    """

    def __init__(
        self,
        *,
        socket_dir: str | os.PathLike[str],
        policy: Any,
        journal: Any,
        approvers: Sequence[Approver] = (),
        sessions: SessionTable | None = None,
        workspace: str = "/workspace",
        host_workspace: str | None = None,
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
        drain_timeout: float = 30.0,
        eval_workers: int = 0,
        eval_timeout: float = 5.0,
        eval_inline_max: int = 8192,
        now: Callable[[], _dt.datetime] = lambda: _dt.datetime.now(_dt.timezone.utc),
    ) -> None:
        self.socket_dir = Path(socket_dir)
        self.socket_path = self.socket_dir / SOCKET_NAME
        self.policy = policy
        self.journal = journal
        self.sessions = sessions if sessions is not None else SessionTable()
        self.workspace = workspace
        #: the host directory behind ``workspace`` in the sandbox: symlinks there are resolved on the host
        self.host_workspace = host_workspace
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
        self._frame_timeout = frame_timeout
        self._idle_timeout = idle_timeout
        self._drain_timeout = drain_timeout
        self._now = now
        approvers = tuple(approvers) or (NoApprover(),)
        self.broker = ApprovalBroker(approvers, record=self._record_sync, timeout=approval_timeout,
                                     allow_automatic=allow_automatic, on_event=self._emit)
        self.failed: str | None = None
        self.stopping = False
        self.decisions = {"allow": 0, "deny": 0}
        self._inflight = 0
        self._connections = 0
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
            except Exception:  # noqa: BLE001 - a UI must never break the gate
                log.exception("gate event sink failed")

    def _record_sync(self, kind: str, session: str, body: Mapping[str, Any]) -> Any:
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

    async def _record(self, kind: str, session: str, body: Mapping[str, Any]) -> Any:
        pump = self._pump
        if pump is not None and threading.get_ident() == self._loop_thread:
            return await pump.submit(kind, session, body)
        return await anyio.to_thread.run_sync(self._record_sync, kind, session, body, limiter=self._limiter)

    # --------------------------------------------------------------- sessions
    def register_session(self, sid: str, **meta: Any) -> None:
        """Register a run/harness session (journaled as ``gate.session``). Blocking; any thread.

        Raises SessionRefused (journaled too) at the session cap.
        """
        try:
            new = self.sessions.register(sid)
        except SessionRefused as exc:
            self._record_sync("gate.session", sid, {"event": "refused", "reason": exc.refusal.reason.value,
                                                     "detail": exc.refusal.detail, **meta})
            raise
        if new:
            self._record_sync("gate.session", sid, {"event": "register", **meta})
            self._emit(GateEvent("session", {"event": "register", "session": sid}))

    def close_session(self, sid: str) -> None:
        if self.sessions.close(sid):
            self._record_sync("gate.session", sid, {"event": "close"})
            self._emit(GateEvent("session", {"event": "close", "session": sid}))

    # ----------------------------------------------------------------- decide
    async def check(self, req: CheckRequest, *, size: int = 0) -> Verdict:
        """Decide one validated request, journal it, return the verdict (never raises for a deny).

        ``size`` is the frame's length: with evaluation workers, frames longer than
        ``eval_inline_max`` bytes (-1: every frame) are classified in a worker under the
        deadline (see ``_evalpool``); ordinary calls are classified inline, which is faster
        here than a round trip to another process.
        """
        call = req.call_dict()
        if self.failed is not None:
            self._count_and_emit(req, "deny", None, None, [], "journal_failed")
            return Verdict(id=req.id, decision="deny", reason=_JOURNAL_FAILED)
        refusal, new = self.sessions.admit(req.session)
        if new:
            try:
                await self._record("gate.session", req.session, {"event": "register", "auto": True})
            except JournalWriteError:
                return Verdict(id=req.id, decision="deny", reason=_JOURNAL_FAILED)
        approval: ApprovalResult | None = None
        statements: list[Mapping[str, Any]] = []
        if refusal is not None:
            effect, decision, rule, matched, digest = "deny", "deny", None, [], None
            reason = f"denied: {refusal.text}"
            extra: dict[str, Any] = {"refusal": refusal.reason.value}
        else:
            extra = {}
            try:
                d = await self._evaluate(req, size)
            except Exception as exc:  # noqa: BLE001 - a classifier bug or overrun is a deny, never an allow
                if isinstance(exc, EvalTimeout):
                    log.warning("policy evaluation overran: %s", exc)
                    reason = f"denied: {exc}"
                else:
                    log.exception("policy evaluation failed")
                    reason = "denied: the gate could not evaluate this call"
                effect, decision, rule, matched, digest = "deny", "deny", None, [], getattr(self.policy, "digest", None)
                extra = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
            else:
                effect, rule, matched, digest = d.effect, d.rule, list(d.matched), d.policy_digest
                statements = [s.to_json_dict() for s in d.statements]
                reason = d.reason
                if effect == "allow":
                    decision = "allow"
                elif effect == "require":
                    approval = await self._approve(req, call, d, statements)
                    decision = "allow" if approval.allowed else "deny"
                    reason = self._approval_reason(d, approval)
                else:
                    decision = "deny"
        if decision not in ("allow", "deny"):  # defensive: only an explicit allow allows
            decision = "deny"
        body = {
            "call": call, "decision": decision, "effect": effect, "rule": rule, "matched": matched,
            "reason": reason, "policy_digest": digest, "statements": statements,
            "approval": approval.to_json_dict() if approval is not None else None, **extra,
        }
        try:
            entry = await self._record("gate.decision", req.session, body)
        except JournalWriteError:
            self._count_and_emit(req, "deny", rule, None, statements, "journal_failed")
            return Verdict(id=req.id, decision="deny", reason=_JOURNAL_FAILED, rule=rule)
        except Exception as exc:  # noqa: BLE001 - anything else that stops the journal is a deny too
            log.exception("journal append raised")
            self._poison(f"{type(exc).__name__}: {exc}")
            return Verdict(id=req.id, decision="deny", reason=_JOURNAL_FAILED, rule=rule)
        self._count_and_emit(req, decision, rule, entry.seq, statements, effect)
        return Verdict(id=req.id, decision=decision, reason=reason, rule=rule, seq=entry.seq)

    def precheck_egress(self, session: str, harness: str, statement: Any) -> str:
        """The policy's effect for an egress statement, without asking or journaling anything (the egress
        door asks this before it resolves a name, so that a name no rule admits never reaches DNS)."""
        from agp.policy import ToolCall
        from agp.policy.call import ClassifiedCall
        from agp.policy.engine import evaluate_classified

        if self.failed is not None:
            return "deny"
        call = ToolCall(harness=harness, tool="egress", input={}, cwd=self.workspace, workspace=self.workspace,
                        session=session)
        return evaluate_classified(ClassifiedCall(call, (statement,)), self.policy, self._now()).effect

    async def decide_egress(self, session: str, harness: str, statement: Any,
                            detail: Mapping[str, Any]) -> tuple[bool, str, str | None, int | None]:
        """Decide one egress connection (a CONNECT or a plain-HTTP request at the egress door): the same
        policy engine, the same approvers for ``require``, journaled as ``egress.decision`` with ``detail``
        (the addresses the host resolved...). Returns (allowed, reason, rule, journal seq); never raises for
        a deny; a failed journal append is a deny."""
        from agp.policy import ToolCall
        from agp.policy.call import ClassifiedCall
        from agp.policy.engine import evaluate_classified

        call = {"harness": harness, "tool": "egress", "input": dict(detail), "cwd": self.workspace,
                "workspace": self.workspace, "session": session}
        approval: ApprovalResult | None = None
        statements: list[Mapping[str, Any]] = [statement.to_json_dict()]
        effect, rule, matched, digest = "deny", None, [], getattr(self.policy, "digest", None)
        if self.failed is not None:
            return False, _JOURNAL_FAILED, None, None
        try:
            tc = ToolCall(harness=harness, tool="egress", input={}, cwd=self.workspace, workspace=self.workspace,
                          session=session)
            d = evaluate_classified(ClassifiedCall(tc, (statement,)), self.policy, self._now())
        except Exception:  # noqa: BLE001 - an evaluation failure is a deny, never an allow
            log.exception("egress evaluation failed")
            reason = "denied: the gate could not evaluate this connection"
            decision = "deny"
        else:
            effect, rule, matched, digest, reason = d.effect, d.rule, list(d.matched), d.policy_digest, d.reason
            statements = [s.to_json_dict() for s in d.statements]
            if effect == "allow":
                decision = "allow"
            elif effect == "require":
                try:
                    approval = await self._approve_egress(session, call, d, statements)
                except JournalWriteError:
                    return False, _JOURNAL_FAILED, rule, None
                decision = "allow" if approval.allowed else "deny"
                reason = self._approval_reason(d, approval)
            else:
                decision = "deny"
        body = {**dict(detail), "decision": decision, "effect": effect, "rule": rule, "matched": matched,
                "reason": reason, "policy_digest": digest, "statements": statements,
                "approval": approval.to_json_dict() if approval is not None else None}
        try:
            entry = await self._record("egress.decision", session, body)
        except Exception as exc:  # noqa: BLE001 - anything that stops the journal is a deny
            if not isinstance(exc, JournalWriteError):
                self._poison(f"{type(exc).__name__}: {exc}")
            return False, _JOURNAL_FAILED, rule, None
        self.decisions[decision] = self.decisions.get(decision, 0) + 1
        self._emit(GateEvent("decision", {
            "session": session, "tool": "egress", "harness": harness, "summary": statement.text,
            "decision": decision, "effect": effect, "rule": rule, "seq": entry.seq, "tool_use_id": None}))
        return decision == "allow", reason, rule, entry.seq

    async def _approve_egress(self, session: str, call: dict[str, Any], d: Any,
                              statements: list[Mapping[str, Any]]) -> ApprovalResult:
        if self.stopping:
            return ApprovalResult(None, Outcome.CANCELLED, detail="the gate is shutting down")
        if getattr(self.policy, "approvals", True) is False:
            return ApprovalResult(None, Outcome.NO_APPROVER,
                                  detail="the policy turns approvals off (approvals = false): every require is a deny")
        return await self.broker.require(
            session=session, call=call, call_digest=call_digest(call), statements=statements, rule=d.rule,
            matched=d.matched, reason=d.reason, quorum=d.quorum, approver_group=d.approver_group)

    async def record_egress(self, kind: str, session: str, body: Mapping[str, Any]) -> int | None:
        """Journal an egress event (``egress.close``, ``egress.refused``); None when the journal failed."""
        try:
            entry = await self._record(kind, session, body)
        except Exception as exc:  # noqa: BLE001
            if not isinstance(exc, JournalWriteError):
                self._poison(f"{type(exc).__name__}: {exc}")
            return None
        return entry.seq

    async def _evaluate(self, req: CheckRequest, size: int = 0) -> Any:
        from agp.policy import ToolCall, evaluate

        kwargs = {"harness": req.harness, "tool": req.tool, "input": req.input, "cwd": req.cwd or self.workspace,
                  "workspace": self.workspace, "host_workspace": self.host_workspace, "session": req.session,
                  "tool_use_id": req.tool_use_id}
        # large requests, and any with non-ASCII text (a parser crash on odd input must cost a worker,
        # not the gate), are evaluated in the worker processes
        if self._pool is not None and (size > self._eval_inline_max or not _ascii_only(req.input)):
            return await self._pool.evaluate(kwargs, self._now())
        return evaluate(ToolCall(**kwargs), self.policy, self._now())

    async def _approve(self, req: CheckRequest, call: dict[str, Any], d: Any,
                       statements: list[Mapping[str, Any]]) -> ApprovalResult:
        if self.stopping:
            return ApprovalResult(None, Outcome.CANCELLED, detail="the gate is shutting down")
        if getattr(self.policy, "approvals", True) is False:
            return ApprovalResult(None, Outcome.NO_APPROVER,
                                  detail="the policy turns approvals off (approvals = false): every require is a deny")
        return await self.broker.require(
            session=req.session, call=call, call_digest=call_digest(call), statements=statements, rule=d.rule,
            matched=d.matched, reason=d.reason, quorum=d.quorum, approver_group=d.approver_group,
        )

    @staticmethod
    def _approval_reason(d: Any, a: ApprovalResult) -> str:
        if a.outcome is Outcome.APPROVED:
            return f"approved by {', '.join(a.approvers)} (rule {d.rule})"
        if a.outcome is Outcome.APPROVED_AUTOMATICALLY:
            return f"approved automatically by the demo's auto approver (rule {d.rule}; no human looked at it)"
        base = d.reason
        if a.outcome is Outcome.UNREACHABLE:  # channel internals (URLs, API errors) stay in the journal
            return f"denied: {base}; no approver could be reached (the approval channel is unreachable)"
        return f"denied: {base}; {a.detail or a.outcome.value}"

    def _count_and_emit(self, req: CheckRequest, decision: str, rule: str | None, seq: int | None,
                        statements: Sequence[Mapping[str, Any]], effect: str) -> None:
        self.decisions[decision] = self.decisions.get(decision, 0) + 1
        if self._on_event is not None:
            self._emit(GateEvent("decision", {
                "session": req.session, "tool": req.tool, "harness": req.harness,
                "summary": _statements_summary(statements) or req.tool, "decision": decision, "effect": effect,
                "rule": rule, "seq": seq, "tool_use_id": req.tool_use_id,
            }))

    async def reject_frame(self, exc: FrameRejected, body: bytes | None) -> Verdict | None:
        """Journal a rejected frame; return the deny to send (``None`` when no id was recovered)."""
        entry_body: dict[str, Any] = {"code": exc.code.value, "detail": exc.detail, "request_id": exc.request_id}
        if body is not None:
            entry_body["size"] = len(body)
            entry_body["sha256"] = hashlib.sha256(body).hexdigest()
        seq = None
        try:
            entry = await self._record("gate.frame_rejected", exc.session or "", entry_body)
            seq = entry.seq
        except Exception:  # noqa: BLE001 - the journal failure is already recorded in self.failed
            pass
        self.decisions["deny"] = self.decisions.get("deny", 0) + 1
        self._emit(GateEvent("frame_rejected", {"code": exc.code.value, "detail": exc.detail, "seq": seq}))
        reason = f"denied: the gate rejected the request ({exc.code.value}: {exc.detail[:160]})"
        return Verdict(id=exc.request_id or "", decision="deny", reason=reason, seq=seq)

    async def handle_frame(self, body: bytes) -> Verdict | None:
        try:
            req = parse_request(body)
        except FrameRejected as exc:
            return await self.reject_frame(exc, body)
        return await self.check(req, size=len(body))

    # ------------------------------------------------------------ connections
    async def _handle_conn(self, stream: anyio.abc.SocketStream) -> None:
        if self._connections >= self._max_connections:
            await stream.aclose()
            return
        self._connections += 1
        try:
            await self._conn_loop(stream)
        except Exception:  # noqa: BLE001 - one connection's failure never takes the gate down
            log.exception("gate connection failed")
        finally:
            self._connections -= 1

    async def _conn_loop(self, stream: anyio.abc.SocketStream) -> None:
        dec = FrameDecoder()
        async with stream:
            while True:
                timeout = self._frame_timeout if dec.pending else self._idle_timeout
                with anyio.move_on_after(timeout) as scope:
                    try:
                        data = await stream.receive(65536)
                    except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                        data = b""
                if scope.cancelled_caught:
                    if dec.pending:
                        await self.reject_frame(FrameRejected(FrameCode.TRUNCATED, "the frame did not arrive in time"), None)
                    return
                if not data:
                    if dec.pending:
                        await self.reject_frame(FrameRejected(
                            FrameCode.TRUNCATED, f"the peer closed after {dec.pending} bytes of a frame"), None)
                    return
                try:
                    frames = dec.feed(data)
                except FrameRejected as exc:  # oversized/empty length: cannot resync
                    v = await self.reject_frame(exc, None)
                    await self._send(stream, v)
                    return
                for body in frames:
                    if not await self._serve_frame(stream, body):
                        return

    async def _serve_frame(self, stream: anyio.abc.SocketStream, body: bytes) -> bool:
        """Decide, journal and answer one frame; shielded: a decision once begun is journaled and answered."""
        self._inflight += 1
        try:
            with anyio.CancelScope(shield=True):
                try:
                    v = await self.handle_frame(body)
                except Exception as exc:  # noqa: BLE001 - a bug is a deny, never a crash
                    log.exception("internal error while deciding a frame")
                    v = await self._internal_error(body, exc)
                return await self._send(stream, v)
        finally:
            self._inflight -= 1
            if self._inflight == 0 and self._idle is not None:
                self._idle.set()

    async def _internal_error(self, body: bytes, exc: BaseException) -> Verdict:
        rid = ""
        try:
            rid = parse_request(body).id
        except Exception:  # noqa: BLE001
            pass
        self.decisions["deny"] = self.decisions.get("deny", 0) + 1
        seq = None
        try:
            entry = await self._record("gate.frame_rejected", "", {
                "code": "internal_error", "detail": f"{type(exc).__name__}: {str(exc)[:200]}", "request_id": rid or None,
                "size": len(body), "sha256": hashlib.sha256(body).hexdigest()})
            seq = entry.seq
        except Exception:  # noqa: BLE001
            pass
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
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.settimeout(1.0)
                probe.connect(path)
            except OSError:
                os.unlink(path)  # stale socket from a previous gate
            else:
                raise GateError(f"another gate is already serving {path}")
            finally:
                probe.close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            old = os.umask(0o177)
            try:
                sock.bind(path)
            finally:
                os.umask(old)
            os.chmod(path, 0o600)
            if self._socket_uid is not None:
                os.chown(path, self._socket_uid, self._socket_gid if self._socket_gid is not None else -1)
            self._bound = True
            sock.listen(512)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise GateError(f"cannot listen on {path}: {exc.strerror}") from exc
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
                pool, self._pool = self._pool, None
                if pool is not None:
                    with anyio.CancelScope(shield=True):
                        await anyio.to_thread.run_sync(pool.close)
                pool_tg.cancel_scope.cancel()

    async def _serve(self, task_status: anyio.abc.TaskStatus[Any]) -> None:
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
                    accept_tg.start_soon(self._accept_loop, listener, conn_tg)
                    task_status.started(self)
                    await self._stop.wait()
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
            pump, self._pump = self._pump, None
            with anyio.CancelScope(shield=True):
                if pump is not None:
                    await anyio.to_thread.run_sync(pump.close)
                await anyio.to_thread.run_sync(self._finish_journal)

    async def _accept_loop(self, listener: Any, tg: anyio.abc.TaskGroup) -> None:
        while True:
            try:
                stream = await listener.accept()
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return
            except OSError as exc:  # out of descriptors, aborted connection ...: back off, never crash
                log.warning("accept failed: %s", exc)
                await anyio.sleep(0.05 if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM) else 0)
                continue
            tg.start_soon(self._handle_conn, stream)

    def _unlink_socket(self) -> None:
        if not self._bound:
            return  # never remove a socket this server did not create
        try:
            os.unlink(self.socket_path)
        except OSError:
            pass

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
            try:
                anyio.from_thread.run_sync(self._stop.set, token=self._token)
            except RuntimeError:
                pass

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

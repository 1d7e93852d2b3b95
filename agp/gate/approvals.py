"""The approvals broker: a ``require`` verdict becomes a pending approval that humans answer.

A pending approval is bound to three things: the sha256 of the RFC 8785
canonical call (:func:`agp.gate.protocol.call_digest`), the session id, and a
single-use random nonce of 256 bits from :mod:`secrets`. The nonce travels only
to the approver channels (a Slack button value, the terminal prompt); the
journal records its sha256, never the nonce itself.

An answer (:class:`Answer`) counts only when every binding holds. Refusals are
typed (:class:`AnswerCode`) and journaled as ``approval.refused``; none of them
consumes the nonce, so a bot click or a stray answer cannot burn a real
approval:

- ``unknown_nonce``   no approval was ever issued with this nonce
- ``replayed_nonce``  the approval it belonged to is already decided
- ``after_timeout``   it arrived after the approval timed out
- ``wrong_session``   the nonce belongs to another session
- ``wrong_call``      the channel named a call digest that is not this call's
- ``bot_user``        the answer came from a bot user (bots never approve)
- ``not_approver``    the answer came from a person outside the approvers the channel allows
- ``duplicate_user``  this user already approved; a quorum counts distinct humans
- ``automatic_not_allowed``  an automatic answer, but this broker is not in demo mode

Accepted answers are journaled as ``approval.answer``. One human deny decides the
approval (deny). Approvals from ``quorum`` distinct human user ids (namespaced by
channel: ``slack:U123``, ``terminal:alice``) decide it (approve). No decision
before the timeout is a deny (``timed_out``); no approver at all (CI) is a deny
(``no_approver``); approvers that all fail to deliver the prompt are a deny
(``approver_unreachable``).

:meth:`ApprovalBroker.answer` is thread-safe and blocking (it journals); approver
channels call it from their own threads (the Slack HTTP endpoint, the terminal
key reader). :meth:`ApprovalBroker.require` is async and runs in the gate's loop.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, runtime_checkable

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread

from agp.errors import ApprovalError

__all__ = (
    "NONCE_BYTES",
    "Answer",
    "AnswerCode",
    "AnswerResult",
    "ApprovalBroker",
    "ApprovalRequest",
    "ApprovalResult",
    "Approver",
    "GateEvent",
    "NoApprover",
    "Outcome",
    "UnsafeAutoApprover",
    "nonce_digest",
)

log = logging.getLogger(__name__)

#: random bytes in a nonce (256 bits; the issue asks for at least 128)
NONCE_BYTES = 32
_CLOSED_KEEP = 100_000  # decided nonces remembered for replay / after-timeout detection


def nonce_digest(nonce: str) -> str:
    return hashlib.sha256(nonce.encode("utf-8", "surrogatepass")).hexdigest()


class Outcome(str, Enum):
    APPROVED = "approved"
    APPROVED_AUTOMATICALLY = "approved_automatically"
    DENIED = "denied"
    TIMED_OUT = "timed_out"
    NO_APPROVER = "no_approver"
    UNREACHABLE = "approver_unreachable"
    CANCELLED = "cancelled"  # the gate shut down while the approval was pending

    @property
    def allows(self) -> bool:
        return self in (Outcome.APPROVED, Outcome.APPROVED_AUTOMATICALLY)


class AnswerCode(str, Enum):
    COUNTED = "counted"
    DECIDED = "decided"
    UNKNOWN_NONCE = "unknown_nonce"
    REPLAYED_NONCE = "replayed_nonce"
    AFTER_TIMEOUT = "after_timeout"
    WRONG_SESSION = "wrong_session"
    WRONG_CALL = "wrong_call"
    BOT_USER = "bot_user"
    NOT_APPROVER = "not_approver"
    DUPLICATE_USER = "duplicate_user"
    AUTOMATIC_NOT_ALLOWED = "automatic_not_allowed"

    @property
    def accepted(self) -> bool:
        return self in (AnswerCode.COUNTED, AnswerCode.DECIDED)


@dataclass(frozen=True)
class ApprovalRequest:
    """What an approver shows a human. ``nonce`` is for the channel only; never journal it."""

    nonce: str = field(repr=False)
    session: str
    call_digest: str
    call: Mapping[str, Any]
    harness: str
    tool: str
    statements: tuple[Mapping[str, Any], ...]
    rule: str | None
    matched: tuple[str, ...]
    reason: str
    quorum: int
    approver_group: str | None
    created: float  # wall clock (epoch seconds)
    timeout: float

    @property
    def nonce_digest(self) -> str:
        return nonce_digest(self.nonce)

    @property
    def key(self) -> str:
        """A short, non-secret handle (for UIs and events)."""
        return self.nonce_digest[:12]

    @property
    def expires(self) -> float:
        return self.created + self.timeout

    def summary(self) -> str:
        first = self.statements[0].get("text", "") if self.statements else ""
        return f"{self.tool}: {first or self.reason}"[:160]


@dataclass(frozen=True)
class Answer:
    """One human (or bot) response from an approver channel."""

    nonce: str = field(repr=False)
    session: str
    approve: bool
    user_id: str  # namespaced by channel: "slack:U123", "terminal:alice"
    via: str
    user_name: str = ""
    is_bot: bool = False
    call_digest: str | None = None  # when the channel carries it, it must match
    automatic: bool = False
    is_approver: bool = True  # False: the channel says this person may not answer (not in the approver group)


@dataclass(frozen=True)
class AnswerResult:
    code: AnswerCode
    detail: str
    outcome: Outcome | None = None  # set when this answer decided the approval

    @property
    def accepted(self) -> bool:
        return self.code.accepted


@dataclass(frozen=True)
class ApprovalResult:
    request: ApprovalRequest | None
    outcome: Outcome
    approvers: tuple[str, ...] = ()
    denied_by: str | None = None
    detail: str = ""

    @property
    def allowed(self) -> bool:
        return self.outcome.allows

    def to_json_dict(self) -> dict[str, Any]:
        """The ``approval`` field of a ``gate.decision`` body."""
        r = self.request
        return {
            "nonce_digest": r.nonce_digest if r else None,
            "call_digest": r.call_digest if r else None,
            "outcome": self.outcome.value,
            "approvers": list(self.approvers),
            "quorum": r.quorum if r else None,
            "denied_by": self.denied_by,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class GateEvent:
    """For the live view: ``decision``, ``pending``, ``resolved``, ``frame_rejected``, ``session``."""

    kind: str
    data: Mapping[str, Any]


@runtime_checkable
class Approver(Protocol):
    """An approver channel. ``ask`` delivers the prompt (raise ApprovalError if it cannot);
    answers come back through ``broker.answer`` from whatever thread the channel uses."""

    name: str

    def bind(self, broker: ApprovalBroker) -> None: ...

    def start(self) -> None: ...

    def close(self) -> None: ...

    async def ask(self, request: ApprovalRequest) -> None: ...

    async def resolved(self, result: ApprovalResult) -> None: ...


class NoApprover:
    """CI mode: nobody can approve, so every ``require`` is a deny. Says so plainly."""

    name = "none"
    REASON = "no approver is configured (CI mode, --approver none): every call that needs approval is denied"

    def bind(self, broker: ApprovalBroker) -> None:
        pass

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    async def ask(self, request: ApprovalRequest) -> None:
        raise ApprovalError(self.REASON)

    async def resolved(self, result: ApprovalResult) -> None:
        pass


class UnsafeAutoApprover:
    """Demo only: approves every request at once, journaled as automatic (``approved_automatically``).

    The broker accepts its answers only when built with ``allow_automatic=True``.
    """

    name = "auto"

    def __init__(self) -> None:
        self._broker: ApprovalBroker | None = None

    def bind(self, broker: ApprovalBroker) -> None:
        self._broker = broker

    def start(self) -> None:
        log.warning("the auto approver approves every call that needs approval (demo mode)")

    def close(self) -> None:
        pass

    async def ask(self, request: ApprovalRequest) -> None:
        if self._broker is None:
            raise ApprovalError("the auto approver is not bound to a broker")
        ans = Answer(
            request.nonce,
            request.session,
            True,
            user_id="auto:agp-demo",
            via="auto",
            user_name="agp demo (automatic approval)",
            automatic=True,
            call_digest=request.call_digest,
        )
        await anyio.to_thread.run_sync(self._broker.answer, ans)

    async def resolved(self, result: ApprovalResult) -> None:
        pass


@dataclass
class _Pending:
    request: ApprovalRequest
    deadline: float  # monotonic
    event: anyio.Event
    token: Any
    loop_thread: int
    approvals: dict[str, str] = field(default_factory=dict)  # user id -> via
    outcome: Outcome | None = None
    denied_by: str | None = None
    #: cleared while a deciding answer is being journaled; the waiter waits for it
    settled: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.settled.set()

    def wake(self) -> None:
        if threading.get_ident() == self.loop_thread:
            self.event.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting any more
                anyio.from_thread.run_sync(self.event.set, token=self.token)


Record = Callable[[str, str, Mapping[str, Any]], Any]


class ApprovalBroker:
    """Issues, tracks and decides approvals. ``record(kind, session, body)`` journals (blocking)."""

    def __init__(
        self,
        approvers: Sequence[Approver],
        *,
        record: Record,
        timeout: float = 20.0,
        allow_automatic: bool = False,
        on_event: Callable[[GateEvent], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if timeout <= 0:
            raise ValueError("the approval timeout must be positive")
        self.approvers = tuple(approvers)
        self.timeout = timeout
        self.allow_automatic = allow_automatic
        self._record = record
        self._on_event = on_event
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._closed: OrderedDict[str, Outcome] = OrderedDict()
        for a in self.approvers:
            a.bind(self)

    # ------------------------------------------------------------------ info
    @property
    def has_approver(self) -> bool:
        return any(not isinstance(a, NoApprover) for a in self.approvers)

    def pending(self) -> list[ApprovalRequest]:
        with self._lock:
            return [p.request for p in self._pending.values()]

    def _emit(self, kind: str, **data: Any) -> None:
        if self._on_event is not None:
            try:
                self._on_event(GateEvent(kind, data))
            except Exception:  # a UI must never break a decision
                log.exception("approval event sink failed")

    def start(self) -> None:
        for a in self.approvers:
            a.start()

    def close(self) -> None:
        for a in self.approvers:
            try:
                a.close()
            except Exception:
                log.exception("closing approver %s failed", a.name)

    # --------------------------------------------------------------- require
    async def require(
        self,
        *,
        session: str,
        call: Mapping[str, Any],
        call_digest: str,
        statements: Sequence[Mapping[str, Any]] = (),
        rule: str | None = None,
        matched: Sequence[str] = (),
        reason: str = "",
        quorum: int | None = None,
        approver_group: str | None = None,
    ) -> ApprovalResult:
        """Ask the approvers and wait for a decision or the timeout. Never raises ApprovalError.

        A journal failure (JournalWriteError from ``record``) propagates: the caller denies.
        """
        if not self.has_approver:
            return ApprovalResult(None, Outcome.NO_APPROVER, detail=NoApprover.REASON)
        req = ApprovalRequest(
            nonce=secrets.token_urlsafe(NONCE_BYTES),
            session=session,
            call_digest=call_digest,
            call=dict(call),
            harness=str(call.get("harness", "")),
            tool=str(call.get("tool", "")),
            statements=tuple(statements),
            rule=rule,
            matched=tuple(matched),
            reason=reason,
            quorum=max(1, int(quorum or 1)),
            approver_group=approver_group,
            created=self._wall(),
            timeout=self.timeout,
        )
        p = _Pending(
            req, self._clock() + self.timeout, anyio.Event(), anyio.lowlevel.current_token(), threading.get_ident()
        )
        await anyio.to_thread.run_sync(
            self._record,
            "approval.request",
            session,
            {
                "nonce_digest": req.nonce_digest,
                "call_digest": call_digest,
                "call_id": call.get("id"),
                "tool": req.tool,
                "rule": rule,
                "quorum": req.quorum,
                "approver_group": approver_group,
                "timeout_s": self.timeout,
                "approvers": [a.name for a in self.approvers],
            },
        )
        with self._lock:
            self._pending[req.nonce] = p
        self._emit(
            "pending",
            key=req.key,
            session=session,
            tool=req.tool,
            summary=req.summary(),
            rule=rule,
            quorum=req.quorum,
            expires=req.expires,
        )
        try:
            delivered, failures = 0, []
            for a in self.approvers:
                try:
                    with anyio.fail_after(min(10.0, self.timeout)):
                        await a.ask(req)
                    delivered += 1
                except (ApprovalError, TimeoutError) as exc:
                    failures.append(f"{a.name}: {exc or 'timed out'}")
                except Exception as exc:  # a broken channel is an unreachable one
                    log.exception("approver %s failed", a.name)
                    failures.append(f"{a.name}: {type(exc).__name__}: {exc}")
            if delivered == 0:
                with self._lock:
                    if p.outcome is None:
                        p.outcome = Outcome.UNREACHABLE
                detail = "no approver could be reached (" + "; ".join(failures) + ")"
            else:
                remaining = p.deadline - self._clock()
                with anyio.move_on_after(max(0.0, remaining)):
                    await p.event.wait()
                detail = ""
        finally:
            with anyio.CancelScope(shield=True):
                if not p.settled.is_set():
                    await anyio.to_thread.run_sync(p.settled.wait)
                result = self._finish(p, cancelled_detail="the gate stopped before the approval was decided")
        if not detail:
            detail = self._detail(result)
        result = ApprovalResult(req, result.outcome, result.approvers, result.denied_by, detail)
        self._emit(
            "resolved", key=req.key, session=session, outcome=result.outcome.value, approvers=list(result.approvers)
        )
        with anyio.CancelScope(shield=True):
            for a in self.approvers:
                try:
                    with anyio.move_on_after(5.0):
                        await a.resolved(result)
                except Exception:  # updating a message must not change the decision
                    log.exception("approver %s could not show the outcome", a.name)
        return result

    def _finish(self, p: _Pending, cancelled_detail: str) -> ApprovalResult:
        with self._lock:
            if p.outcome is None:
                p.outcome = Outcome.TIMED_OUT if self._clock() >= p.deadline else Outcome.CANCELLED
            self._pending.pop(p.request.nonce, None)
            self._closed[p.request.nonce] = p.outcome
            while len(self._closed) > _CLOSED_KEEP:
                self._closed.popitem(last=False)
            return ApprovalResult(
                p.request,
                p.outcome,
                tuple(p.approvals),
                p.denied_by,
                cancelled_detail if p.outcome is Outcome.CANCELLED else "",
            )

    def _detail(self, r: ApprovalResult) -> str:
        q = r.request.quorum if r.request else 1
        if r.outcome is Outcome.APPROVED:
            return f"approved by {', '.join(r.approvers)}"
        if r.outcome is Outcome.APPROVED_AUTOMATICALLY:
            return "approved automatically by the demo's auto approver (no human looked at it)"
        if r.outcome is Outcome.DENIED:
            return f"denied by {r.denied_by}"
        if r.outcome is Outcome.TIMED_OUT:
            got = len(r.approvers)
            if got:
                return f"quorum not met: {got} of {q} approvals before the {self.timeout:g}s timeout"
            return f"no answer within the {self.timeout:g}s approval timeout"
        return r.detail

    def cancel_all(self) -> int:
        """Deny every pending approval now (gate shutdown). Returns how many were pending."""
        with self._lock:
            ps = [p for p in self._pending.values() if p.outcome is None]
            for p in ps:
                p.outcome = Outcome.CANCELLED
        for p in ps:
            p.wake()
        return len(ps)

    # ---------------------------------------------------------------- answer
    def answer(self, ans: Answer) -> AnswerResult:
        """Apply one answer from a channel. Thread-safe; journals the answer or its refusal."""
        res, p = self._judge(ans)
        body: dict[str, Any] = {
            "nonce_digest": nonce_digest(ans.nonce),
            "user": ans.user_id,
            "user_name": ans.user_name,
            "via": ans.via,
            "approve": bool(ans.approve),
            "is_bot": bool(ans.is_bot),
            "code": res.code.value,
            "detail": res.detail,
        }
        if ans.automatic:
            body["automatic"] = True
        if res.accepted:
            body["outcome"] = res.outcome.value if res.outcome else None
        try:
            self._record("approval.answer" if res.accepted else "approval.refused", ans.session, body)
        except Exception:
            if p is not None and res.outcome is not None:
                # the answer could not be journaled: it must not approve anything
                with self._lock:
                    p.outcome = Outcome.DENIED
                    p.denied_by = None
                p.wake()
            raise
        finally:
            if p is not None and res.outcome is not None:
                p.settled.set()
                p.wake()
        return res

    def _judge(self, ans: Answer) -> tuple[AnswerResult, _Pending | None]:
        with self._lock:
            p = self._pending.get(ans.nonce) if isinstance(ans.nonce, str) else None
            if p is None:
                closed = self._closed.get(ans.nonce) if isinstance(ans.nonce, str) else None
                if closed is Outcome.TIMED_OUT:
                    return AnswerResult(AnswerCode.AFTER_TIMEOUT, "the approval had already timed out (deny)"), None
                if closed is not None:
                    return AnswerResult(
                        AnswerCode.REPLAYED_NONCE, f"the approval was already decided ({closed.value})"
                    ), None
                return AnswerResult(AnswerCode.UNKNOWN_NONCE, "no approval was issued with this nonce"), None
            req = p.request
            if ans.session != req.session:
                return AnswerResult(AnswerCode.WRONG_SESSION, "the nonce belongs to another session"), None
            if ans.call_digest is not None and ans.call_digest != req.call_digest:
                return AnswerResult(AnswerCode.WRONG_CALL, "the answer names another call"), None
            if p.outcome is not None:
                return AnswerResult(
                    AnswerCode.REPLAYED_NONCE, f"the approval was already decided ({p.outcome.value})"
                ), None
            if self._clock() >= p.deadline:
                return AnswerResult(AnswerCode.AFTER_TIMEOUT, "the approval had already timed out (deny)"), None
            if ans.automatic:
                if not self.allow_automatic:
                    return AnswerResult(AnswerCode.AUTOMATIC_NOT_ALLOWED, "automatic answers are off"), None
                p.outcome = Outcome.APPROVED_AUTOMATICALLY if ans.approve else Outcome.DENIED
                p.approvals[ans.user_id] = ans.via
                p.settled.clear()
                return AnswerResult(AnswerCode.DECIDED, "automatic", p.outcome), p
            if ans.is_bot:
                return AnswerResult(AnswerCode.BOT_USER, "bot users never approve or deny"), None
            if not ans.is_approver:
                return AnswerResult(
                    AnswerCode.NOT_APPROVER, f"{ans.user_id} is not one of the approvers for this call"
                ), None
            if not ans.approve:
                p.outcome = Outcome.DENIED
                p.denied_by = ans.user_id
                p.settled.clear()
                return AnswerResult(AnswerCode.DECIDED, f"denied by {ans.user_id}", Outcome.DENIED), p
            if ans.user_id in p.approvals:
                return AnswerResult(
                    AnswerCode.DUPLICATE_USER, f"{ans.user_id} already approved; the quorum counts distinct people"
                ), None
            p.approvals[ans.user_id] = ans.via
            if len(p.approvals) >= req.quorum:
                p.outcome = Outcome.APPROVED
                p.settled.clear()
                return AnswerResult(AnswerCode.DECIDED, f"quorum {req.quorum} met", Outcome.APPROVED), p
            return AnswerResult(AnswerCode.COUNTED, f"{len(p.approvals)} of {req.quorum} approvals"), None

"""What the gate decided about one call, as a value, and the journal it records decisions in.

:class:`GateDecision` carries a decision from where it is made (a session refusal, an
evaluation failure, the policy, an approval) to where it is journaled and answered, so the
gate states each outcome once instead of keeping parallel variables per branch. Only an
explicit allow allows: the constructors derive ``decision`` from the policy's effect and the
approval, and a ``decision`` other than ``allow`` or ``deny`` is refused.

:class:`JournalSink` is what the gate needs of a journal (:class:`agp.journal.Journal` is one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from agp.gate.approvals import ApprovalResult
    from agp.policy import Decision

__all__ = ("GateDecision", "JournalSink", "JournaledEntry")


class JournaledEntry(Protocol):
    """An appended entry, as far as the gate reads it."""

    @property
    def seq(self) -> int: ...


class JournalSink(Protocol):
    """The journal the gate writes: a durable ``append`` (raises ``JournalWriteError`` when it
    cannot record), the signed head, and ``close``."""

    def append(self, kind: str, session: str, body: Mapping[str, Any]) -> JournaledEntry: ...

    def write_head(self) -> object: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class GateDecision:
    """One call's outcome: the verdict and everything its journal entry records about it."""

    decision: Literal["allow", "deny"]
    effect: str
    reason: str
    rule: str | None = None
    matched: tuple[str, ...] = ()
    policy_digest: str | None = None
    statements: tuple[Mapping[str, Any], ...] = ()
    approval: ApprovalResult | None = None
    #: more fields for the journal entry (a refusal's reason, an evaluation error, what compaction left out)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.decision not in ("allow", "deny"):
            raise ValueError(f"a gate decision is allow or deny, not {self.decision!r}")

    @classmethod
    def denied(
        cls,
        reason: str,
        *,
        policy_digest: str | None = None,
        statements: Sequence[Mapping[str, Any]] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> GateDecision:
        """A deny the policy did not make (a refused session, a failed evaluation)."""
        return cls(
            "deny", "deny", reason, policy_digest=policy_digest, statements=tuple(statements), extra=dict(extra or {})
        )

    @classmethod
    def from_policy(
        cls,
        d: Decision,
        *,
        approval: ApprovalResult | None = None,
        reason: str | None = None,
        statements: Sequence[Mapping[str, Any]] | None = None,
    ) -> GateDecision:
        """The policy's decision ``d``; for a ``require``, ``approval`` decides (and ``reason`` says how).
        ``statements``: ``d``'s statements as JSON, when the caller already has them."""
        if d.effect == "require":
            if approval is None:
                raise ValueError("a require needs its approval result")
            decision: Literal["allow", "deny"] = "allow" if approval.allowed else "deny"
        else:
            decision = "allow" if d.effect == "allow" else "deny"
        return cls(
            decision,
            d.effect,
            reason if reason is not None else d.reason,
            d.rule,
            tuple(d.matched),
            d.policy_digest,
            tuple(statements if statements is not None else (s.to_json_dict() for s in d.statements)),
            approval,
        )

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"

    def journal_body(
        self, head: Mapping[str, Any], *, statements: Sequence[Mapping[str, Any]] | None = None
    ) -> dict[str, Any]:
        """The journal entry's body: ``head`` (the call, or the connection's detail), then the decision.
        ``statements`` replaces the decision's own (a compacted deny journals less)."""
        return {
            **head,
            "decision": self.decision,
            "effect": self.effect,
            "rule": self.rule,
            "matched": list(self.matched),
            "reason": self.reason,
            "policy_digest": self.policy_digest,
            "statements": list(self.statements if statements is None else statements),
            "approval": self.approval.to_json_dict() if self.approval is not None else None,
            **self.extra,
        }

"""Reconcile the harness's own transcript with the journal's gate decisions.

The harness records every tool call it made (its transcript); the gate records every
call it decided (``gate.decision`` entries, ``body.call.tool_use_id``). The two are
written by different processes on different sides of the sandbox wall, so comparing them
catches a call that bypassed the gate (a hook that did not fire, a tool the hooks do not
cover, a bridge that failed open).

Rules (``fail`` anomalies fail the bundle, ``warn`` ones are reported):

- ``transcript_missing`` (fail): no transcript file; nothing can be reconciled.
- ``transcript_unreadable`` (fail): a line that is not JSON, a call without an id, an id
  reused for another call.
- ``ungated_call`` (fail): a call in the transcript with no gate decision for its id.
- ``ran_despite_deny`` (fail): the gate denied the call but the harness recorded it as
  having run (Claude: a tool_result without ``is_error``; Codex: an output that does not
  say it was blocked; reference: outcome ``ran``).
- ``decision_mismatch`` (fail): the reference intendant says the gate answered otherwise.
- ``blocked_without_decision`` (warn): a call without a decision that the harness records as
  blocked by its PreToolUse hook: the bridge failed closed (gate down or unreachable)
  before the gate could decide, so nothing ran. A call with no decision and no result at
  all (a harness killed mid-call) stays ``ungated_call``: nothing shows it did not run.
- ``rejected_before_gate`` (warn): a call without a decision that the harness itself refused
  before its hooks could run, so nothing ran: Claude Code answers ``<tool_use_error>…`` for an
  unknown tool or input that fails validation (measured on 2.1.328: no PreToolUse hook
  fires for these; note that Edit's validation reads the target file first), Codex answers
  ``unsupported call: NAME`` for a tool it does not offer (measured on 0.169.0).
- ``exempt_call`` (warn): a call to a tool listed in :data:`EXEMPT_TOOLS` (empty by default).
- ``decision_without_call`` (warn): a decision whose id the transcript does not have (a
  transcript cut short by a kill, or a call the gate saw but the harness did not log).
- ``decision_without_id`` (warn): a decision that carries no tool_use_id.
- ``tool_name_mismatch`` (warn): same id, different tool names (Claude and reference only;
  Codex's hooks call its shell tool ``Bash`` whatever the model named it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agp.evidence.transcripts import Transcript

__all__ = ("EXEMPT_TOOLS", "Anomaly", "DecisionRef", "Reconciliation", "decision_ref", "reconcile")

#: tools a harness records that its PreToolUse hooks never see and that act on nothing
#: but the conversation itself. Empty: on Claude Code 2.1.328 and Codex 0.169.0 the hooks
#: fired for every tool measured except Codex's write_stdin (which acts on a running
#: process, so it must not be exempt; agp switches it off with ``features.unified_exec = false``,
#: and a transcript that shows it anyway fails). Every exempt call is still reported.
EXEMPT_TOOLS: Mapping[str, frozenset[str]] = {
    "claude-code": frozenset(),
    "codex": frozenset(),
    "reference": frozenset(),
}

_RAN = frozenset({"ran", "ok", "success", "executed", "completed"})


@dataclass(frozen=True)
class Anomaly:
    severity: str  # "fail" | "warn"
    code: str
    message: str
    tool_use_id: str | None = None
    source: str | None = None
    seq: int | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "tool_use_id": self.tool_use_id,
            "source": self.source,
            "seq": self.seq,
        }


@dataclass(frozen=True)
class DecisionRef:
    """The parts of a ``gate.decision`` entry the reconciliation needs."""

    seq: int
    ts: str
    session: str
    tool_use_id: str | None
    tool: str
    harness: str
    decision: str
    effect: str
    rule: str | None


def decision_ref(entry: Mapping[str, Any]) -> DecisionRef:
    """From one parsed journal line of kind ``gate.decision``."""
    body = unverified_body if isinstance(unverified_body := entry.get("body"), dict) else {}
    call = unverified_call if isinstance(unverified_call := body.get("call"), dict) else {}
    tid = call.get("tool_use_id")
    return DecisionRef(
        seq=entry.get("seq", -1),
        ts=entry.get("ts", ""),
        session=entry.get("session", ""),
        tool_use_id=tid if isinstance(tid, str) and tid else None,
        tool=str(call.get("tool", "")),
        harness=str(call.get("harness", "")),
        decision=str(body.get("decision", "")),
        effect=str(body.get("effect", "")),
        rule=body.get("rule") if isinstance(body.get("rule"), str) else None,
    )


@dataclass
class Reconciliation:
    harness: str
    transcript_files: list[str]
    calls: list[dict[str, Any]] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    gated: int = 0

    @property
    def failures(self) -> list[Anomaly]:
        return [a for a in self.anomalies if a.severity == "fail"]

    @property
    def ok(self) -> bool:
        return not self.failures

    def counts(self) -> dict[str, int]:
        out = {"transcript_calls": len(self.calls), "gated_decisions": self.gated}
        for status in ("matched", "ungated", "blocked", "rejected", "exempt"):
            out[status] = sum(1 for c in self.calls if c["status"] == status)
        out["fail_anomalies"] = len(self.failures)
        out["warn_anomalies"] = len(self.anomalies) - len(self.failures)
        return out

    def to_json_dict(self) -> dict[str, Any]:
        """Deterministic (no clock): ``agp verify`` recomputes it and compares."""
        return {
            "format": "agp-reconciliation/1",
            "ok": self.ok,
            "harness": self.harness,
            "transcript_files": self.transcript_files,
            "counts": self.counts(),
            "calls": self.calls,
            "anomalies": [a.to_json_dict() for a in self.anomalies],
        }


def _ran_although_denied(harness: str, result: Mapping[str, Any] | None) -> bool:
    if result is None:
        return False  # no result recorded: nothing says it ran
    if harness == "claude-code":
        return result.get("is_error") is not True
    if harness == "codex":
        return "blocked" not in str(result.get("text", "")).lower()
    if harness == "reference":
        outcome = result.get("outcome")
        return (isinstance(outcome, str) and outcome.lower() in _RAN) or result.get("exit_code") == 0
    return False


def _blocked_by_hook(harness: str, result: Mapping[str, Any] | None) -> str | None:
    """Why the harness says its PreToolUse hook blocked the call (so nothing ran), or None.

    A call with no gate decision that the hook blocked: the bridge failed closed (gate
    down, socket missing, timeout) before the gate could decide and journal anything.
    """
    if result is None:
        return None
    text = str(result.get("text", "")).lstrip()
    if harness == "claude-code" and result.get("is_error") is True and text.startswith("PreToolUse:"):
        return "Claude Code reports its PreToolUse hook blocked it"
    if harness == "codex" and text.startswith("Command blocked by PreToolUse hook"):
        return "Codex reports its PreToolUse hook blocked it"
    if harness == "reference" and result.get("outcome") == "blocked":
        return "the reference agent reports the bridge blocked it"
    return None


def _rejected_before_gate(harness: str, result: Mapping[str, Any] | None) -> str | None:
    """Why the harness refused the call itself before any hook (so nothing ran), or None."""
    if result is None:
        return None
    text = str(result.get("text", "")).lstrip()
    if harness == "claude-code" and result.get("is_error") is True and text.startswith("<tool_use_error>"):
        return "Claude Code rejected it before its hooks ran (unknown tool or invalid input)"
    if harness == "codex" and text.startswith("unsupported call: "):
        return "Codex does not offer this tool and ran nothing"
    return None


def reconcile(
    transcript: Transcript,
    decisions: Iterable[DecisionRef],
    *,
    exempt_tools: Mapping[str, frozenset[str]] = EXEMPT_TOOLS,
) -> Reconciliation:
    harness = transcript.harness
    decisions = list(decisions)
    rec = Reconciliation(harness=harness, transcript_files=list(transcript.files), gated=len(decisions))
    add = rec.anomalies.append
    if not transcript.files:
        add(
            Anomaly(
                "fail",
                "transcript_missing",
                f"no {harness} transcript in the run: the harness's own record of its tool calls is missing, "
                "so no call can be shown to have passed the gate",
            )
        )
    for p in transcript.problems:
        add(Anomaly("fail", "transcript_unreadable", f"transcript {p.source}: {p.reason}", source=p.source))

    by_id: dict[str, list[DecisionRef]] = {}
    for d in decisions:
        if d.tool_use_id is None:
            add(
                Anomaly(
                    "warn",
                    "decision_without_id",
                    f"gate decision at entry {d.seq} ({d.tool}) carries no tool_use_id and cannot be matched",
                    seq=d.seq,
                )
            )
            continue
        by_id.setdefault(d.tool_use_id, []).append(d)

    exempt = exempt_tools.get(harness, frozenset())
    seen: set[str] = set()
    for call in transcript.calls:
        seen.add(call.tool_use_id)
        ds = by_id.get(call.tool_use_id, [])
        row: dict[str, Any] = {
            "tool_use_id": call.tool_use_id,
            "tool": call.tool,
            "source": call.source,
            "decision_seqs": [d.seq for d in ds],
            "decision": ds[-1].decision if ds else None,
            "rule": ds[-1].rule if ds else None,
            "result": None
            if call.result is None
            else {"is_error": call.result.get("is_error"), "source": call.result.get("source")},
        }
        if not ds:
            rejected = _rejected_before_gate(harness, call.result)
            blocked = _blocked_by_hook(harness, call.result)
            if blocked is not None:
                row["status"] = "blocked"
                add(
                    Anomaly(
                        "warn",
                        "blocked_without_decision",
                        f"{call.tool} call {call.tool_use_id} has no gate decision: {blocked} (the bridge failed "
                        f"closed before the gate decided; result at {call.result.get('source') if call.result else '?'})",
                        call.tool_use_id,
                        call.source,
                    )
                )
            elif rejected is not None:
                row["status"] = "rejected"
                add(
                    Anomaly(
                        "warn",
                        "rejected_before_gate",
                        f"{call.tool} call {call.tool_use_id} has no gate decision: {rejected} "
                        f"(result at {call.result.get('source') if call.result else '?'})",
                        call.tool_use_id,
                        call.source,
                    )
                )
            elif call.tool in exempt:
                row["status"] = "exempt"
                add(
                    Anomaly(
                        "warn",
                        "exempt_call",
                        f"{call.tool} call {call.tool_use_id} has no gate decision; {harness} hooks do not see this "
                        "harness-internal tool (listed in EXEMPT_TOOLS)",
                        call.tool_use_id,
                        call.source,
                    )
                )
            else:
                row["status"] = "ungated"
                add(
                    Anomaly(
                        "fail",
                        "ungated_call",
                        f"{call.tool} call {call.tool_use_id} ran without a gate decision (transcript {call.source})",
                        call.tool_use_id,
                        call.source,
                    )
                )
            rec.calls.append(row)
            continue
        row["status"] = "matched"
        last = ds[-1]
        if last.decision != "allow" and _ran_although_denied(harness, call.result):
            add(
                Anomaly(
                    "fail",
                    "ran_despite_deny",
                    f"{call.tool} call {call.tool_use_id} was denied at entry {last.seq} but the transcript records "
                    f"it as run ({call.result.get('source') if call.result else call.source})",
                    call.tool_use_id,
                    call.source,
                    last.seq,
                )
            )
        if call.claimed_decision is not None and call.claimed_decision != last.decision:
            add(
                Anomaly(
                    "fail",
                    "decision_mismatch",
                    f"call {call.tool_use_id}: the transcript says the gate answered {call.claimed_decision!r}, "
                    f"the journal (entry {last.seq}) says {last.decision!r}",
                    call.tool_use_id,
                    call.source,
                    last.seq,
                )
            )
        if harness != "codex" and last.tool and call.tool and last.tool != call.tool:
            add(
                Anomaly(
                    "warn",
                    "tool_name_mismatch",
                    f"call {call.tool_use_id}: transcript tool {call.tool!r}, gate decision tool {last.tool!r}",
                    call.tool_use_id,
                    call.source,
                    last.seq,
                )
            )
        rec.calls.append(row)

    for tid, ds in by_id.items():
        if tid not in seen:
            for d in ds:
                add(
                    Anomaly(
                        "warn",
                        "decision_without_call",
                        f"gate decision at entry {d.seq} ({d.tool}, {d.decision}) for {tid}: the transcript has no such call",
                        tid,
                        None,
                        d.seq,
                    )
                )
    return rec

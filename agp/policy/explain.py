"""Explanations and example-based tests for policies (no printing here; the CLI renders).

- :func:`explain` evaluates one call and returns the decision with every statement and every
  rule that matched it, as JSON-able data.
- :func:`run_policy_tests` runs the ``[[test]]`` cases written beside the rules.
- :func:`replay_decisions` evaluates journaled ``gate.decision`` entries again and compares.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agp.policy.call import ToolCall
from agp.policy.classify.tools import classify
from agp.policy.engine import Decision, Policy, evaluate_classified
from agp.policy.model import TestCase, resolve_policy_file

__all__ = (
    "ReplayResult",
    "TestResult",
    "explain",
    "explain_json",
    "lint_policy",
    "replay_decisions",
    "run_policy_tests",
)


def explain(call: ToolCall, policy: Policy, now: _dt.datetime) -> Decision:
    return evaluate_classified(classify(call), policy, now)


def explain_json(decision: Decision, call: ToolCall) -> dict[str, Any]:
    """The ``agp policy explain --json`` document."""
    d = decision.to_json_dict()
    return {
        "decision": d["effect"],
        "rule": d["rule"],
        "matched": d["matched"],
        "statements": d["statements"],
        "reason": d["reason"],
        "policy_digest": d["policy_digest"],
        "approver_group": d["approver_group"],
        "quorum": d["quorum"],
        "call": {
            "harness": call.harness,
            "tool": call.tool,
            "input": dict(call.input),
            "cwd": call.cwd,
            "workspace": call.workspace,
            "workspace_mode": call.workspace_mode,
        },
    }


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # not a pytest class

    index: int
    case: TestCase
    decision: Decision
    ok: bool
    problem: str | None

    @property
    def label(self) -> str:
        if self.case.name:
            return self.case.name
        inp = self.case.input
        brief = inp.get("command") or inp.get("file_path") or inp.get("url") or inp.get("pattern") or ""
        return f"{self.case.tool} {brief}".strip()

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.label,
            "ok": self.ok,
            "problem": self.problem,
            "expect": self.case.expect,
            "expect_rule": self.case.rule,
            "got": self.decision.effect,
            "rule": self.decision.rule,
            "reason": self.decision.reason,
        }


def run_policy_tests(
    paths: str | Path | Sequence[str | Path], now: _dt.datetime | None = None, *, host_workspace: str | None = ""
) -> list[TestResult]:
    """Run every ``[[test]]`` of every file against the policy made of all the files (tiers).

    ``host_workspace=""`` (the default) resolves paths lexically: example cases do not depend on
    what happens to exist on this machine.
    """
    files = [paths] if isinstance(paths, (str, Path)) else list(paths)
    resolved = [resolve_policy_file(p) for p in files]
    policy = Policy(resolved, [str(p) for p in files])
    now = now or _dt.datetime.now(_dt.UTC)
    results = []
    i = 0
    for pf in resolved:
        for case in pf.test:
            i += 1
            call = ToolCall(
                harness=case.harness,
                tool=case.tool,
                input=case.input,
                cwd=case.cwd or case.workspace,
                workspace=case.workspace,
                session="policy-test",
                host_workspace=host_workspace,
                workspace_mode=case.workspace_mode,
            )
            d = evaluate_classified(classify(call), policy, case.now or now)
            problem = None
            if d.effect != case.expect:
                problem = f"expected {case.expect}, got {d.effect}: {d.reason}"
            elif case.rule is not None and d.rule != case.rule:
                problem = f"expected rule {case.rule}, got {d.rule}: {d.reason}"
            results.append(TestResult(i, case, d, problem is None, problem))
    return results


@dataclass(frozen=True)
class ReplayResult:
    """One journaled ``gate.decision`` evaluated again. ``status``:

    - under the same policy digest: ``same`` or ``differs`` (effect, rule, matched rules, digest);
    - under another policy (``--policy NEW``): ``unchanged`` or ``changed`` (the effect: would
      this call be decided differently now?);
    - ``not-evaluated`` (the gate refused the frame or could not evaluate: nothing to compare),
      ``input-omitted`` (a denied call whose input was too large to journal whole: only its digest,
      size and prefix are there, so it cannot be evaluated again), ``malformed``."""

    seq: int | None
    status: str
    journaled: dict[str, Any]
    replayed: dict[str, Any] | None
    differences: tuple[str, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "status": self.status,
            "differences": list(self.differences),
            "journaled": self.journaled,
            "replayed": self.replayed,
        }


_COMPARED = ("effect", "rule", "matched", "policy_digest")


def replay_decisions(
    entries: Sequence[Any],
    policy: Policy,
    *,
    workspace: str = "/workspace",
    host_workspace: str | None = "",
    workspace_mode: str | None = None,
) -> list[ReplayResult]:
    """Evaluate every journaled ``gate.decision`` again under ``policy``, at the entry's own time.

    ``entries`` are parsed journal lines (dicts). The journal is not verified here: run
    ``agp verify`` first. Paths are resolved lexically by default (symlinks as they were at the
    time of the call are gone), so a decision that turned on a symlink can differ.

    The workspace mode is the journaled call's own (``workspace_mode``, "mount" when absent)
    unless ``workspace_mode`` is given.
    """
    out: list[ReplayResult] = []
    for e in entries:
        if not isinstance(e, dict) or e.get("kind") != "gate.decision":
            continue
        seq = e.get("seq") if isinstance(e.get("seq"), int) else None
        body = e.get("body")
        call = body.get("call") if isinstance(body, dict) else None
        if not isinstance(call, dict) or not isinstance(body, dict):
            out.append(ReplayResult(seq, "malformed", {}, None, ("no call in the entry body",)))
            continue
        journaled = {k: body.get(k) for k in _COMPARED}
        if body.get("refusal") or body.get("error") or not body.get("policy_digest"):
            out.append(ReplayResult(seq, "not-evaluated", journaled, None))
            continue
        if "input" not in call and isinstance(call.get("input_omitted"), dict):
            out.append(ReplayResult(seq, "input-omitted", journaled, None))
            continue
        same_policy = body.get("policy_digest") == policy.digest
        try:
            now = _dt.datetime.fromisoformat(str(e.get("ts", "")).replace("Z", "+00:00"))
            if now.tzinfo is None:
                raise ValueError("no offset")
            inp = call.get("input")
            tc = ToolCall(
                harness=str(call.get("harness", "")),
                tool=str(call.get("tool", "")),
                input=inp if isinstance(inp, dict) else {},
                cwd=str(call.get("cwd") or workspace),
                workspace=workspace,
                session=str(e.get("session", "")),
                host_workspace=host_workspace,
                workspace_mode=workspace_mode or str(call.get("workspace_mode") or "mount"),
            )
        except (ValueError, TypeError) as exc:
            out.append(ReplayResult(seq, "malformed", journaled, None, (f"cannot rebuild the call: {exc}",)))
            continue
        d = evaluate_classified(classify(tc), policy, now).to_json_dict()
        replayed = {k: d[k] for k in _COMPARED}
        if same_policy:
            diffs = tuple(
                f"{k}: journaled {journaled[k]!r}, replayed {replayed[k]!r}"
                for k in _COMPARED
                if journaled[k] != replayed[k]
            )
            out.append(ReplayResult(seq, "differs" if diffs else "same", journaled, replayed, diffs))
        else:
            changed = journaled["effect"] != replayed["effect"]
            diffs = (
                (f"{journaled['effect']} (rule {journaled['rule']}) -> {replayed['effect']} (rule {replayed['rule']})",)
                if changed
                else ()
            )
            out.append(ReplayResult(seq, "changed" if changed else "unchanged", journaled, replayed, diffs))
    return out


# --------------------------------------------------------------------------- lint

#: names a catch-all glob matches; a pattern that matches every one of them is treated as "anything"
_PROBES = ("Bash", "Write", "mcp__srv__tool", "rm", "python3", "zz-unknown.9", "a")


def _catch_all(patterns: Sequence[str] | None) -> bool:
    from agp.policy._glob import compile_name

    if patterns is None:
        return True
    for p in patterns:
        rx = compile_name(p)
        if all(rx.match(x) for x in _PROBES):
            return True
    return False


def lint_policy(policy: Policy) -> list[str]:
    """Warnings about a valid policy that is probably not what its author meant.

    - an allow rule that matches every tool: no statement matcher and no tool matcher, or a
      catch-all tool glob (``tool = ["*"]`` allows ``rm -rf /``);
    - an allow rule that matches every program a shell runs: it can match exec statements and has
      no program matcher, or a catch-all program glob, and no subcommand or argument prefix;
    - an allow rule for unknown statements without a tool matcher, or with a catch-all one;
    - a policy with no rules at all, or with no allow rule (everything is denied).
    """
    from agp.policy.engine import _ALL_KINDS, _IMPLIED_KINDS
    from agp.policy.model import _STATEMENT_MATCHERS

    out: list[str] = []
    tighten = {i for i, pf in enumerate(policy.tiers) if pf.policy.tighten_only}
    if not any(pf.rule for pf in policy.tiers):
        out.append("the policy has no rules: every call is denied")
    elif len(tighten) < len(policy.tiers) and not any(
        r.effect == "allow" for t, pf in enumerate(policy.tiers) if t not in tighten for r in pf.rule
    ):
        out.append("the policy has no allow rule: every call is denied or asked")
    for t, (src, pf) in enumerate(zip(policy.sources, policy.tiers, strict=True)):
        for r in pf.rule:
            if r.effect != "allow":
                continue
            where = f"{src}: rule {r.id!r}"
            if t in tighten:
                if pf.policy.no_match != "deny":
                    out.append(
                        f"{where} has no effect: this tier can only tighten (a project policy), so its "
                        'allow rules count only with no_match = "deny", to narrow what the others allow'
                    )
                continue
            mode = f" (in {'/'.join(r.workspace_mode)} mode)" if r.workspace_mode else ""
            stmt = [k for k in _STATEMENT_MATCHERS if getattr(r, k) is not None]
            if r.unknown:
                if _catch_all(r.tool):
                    out.append(f"{where} allows statements no classifier could decide, for every tool{mode}")
                continue
            if not stmt and _catch_all(r.tool):
                out.append(f"{where} matches every tool{mode}: it allows any call, `rm -rf /` included")
                continue
            kinds = set(r.kind) if r.kind else set(_ALL_KINDS)
            for key, implied in _IMPLIED_KINDS.items():
                if getattr(r, key) is not None:
                    kinds &= implied
            if "exec" in kinds and _catch_all(r.program) and not r.subcommand and not r.args_prefix:
                out.append(
                    f"{where} matches every program{mode}: it allows whatever a shell runs"
                    + (" where its path matchers hold" if (r.location or r.path) else "")
                )
    return out

"""agp/gate/decision.py: one call's outcome as a value; only an explicit allow allows."""

import dataclasses
import datetime as dt

import pytest

from agp.gate.approvals import ApprovalResult, Outcome
from agp.gate.decision import GateDecision
from agp.paths import repo_root
from agp.policy import ToolCall, evaluate, load_policy

NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
WS = "/workspace"


def decide(tmp_path, effect, command="ls"):
    f = tmp_path / "p.toml"
    f.write_text(f'[policy]\nname = "t"\n\n[[rule]]\nid = "r"\neffect = "{effect}"\nkind = ["exec"]\n'
                 'program = ["ls"]\n')
    call = ToolCall("claude-code", "Bash", {"command": command}, WS, WS, "s", host_workspace="")
    return evaluate(call, load_policy(f), NOW)


def test_an_allow_from_the_policy_allows_and_keeps_what_the_journal_records(tmp_path):
    d = decide(tmp_path, "allow")
    gd = GateDecision.from_policy(d)
    assert (gd.decision, gd.effect, gd.rule, gd.reason) == ("allow", "allow", "r", d.reason)
    assert gd.policy_digest == d.policy_digest and gd.matched == tuple(d.matched)
    body = gd.journal_body({"call": {"tool": "Bash"}})
    assert body["call"] == {"tool": "Bash"} and body["decision"] == "allow" and body["approval"] is None
    assert body["statements"] == [s.to_json_dict() for s in d.statements]


def test_a_call_no_rule_allows_is_a_deny(tmp_path):
    gd = GateDecision.from_policy(decide(tmp_path, "allow", command="rm -rf /"))
    assert gd.decision == "deny" and not gd.allowed


def test_a_require_is_decided_by_its_approval_and_never_without_one(tmp_path):
    d = decide(tmp_path, "require")
    assert d.effect == "require"
    with pytest.raises(ValueError, match="approval"):
        GateDecision.from_policy(d)
    no = ApprovalResult(None, Outcome.NO_APPROVER, detail="nobody")
    gd = GateDecision.from_policy(d, approval=no, reason="denied: nobody")
    assert (gd.decision, gd.effect, gd.reason) == ("deny", "require", "denied: nobody")
    assert gd.journal_body({})["approval"]["outcome"] == Outcome.NO_APPROVER.value
    yes = ApprovalResult(None, Outcome.APPROVED, approvers=("ana",))
    assert GateDecision.from_policy(d, approval=yes, reason="approved").allowed


def test_only_allow_or_deny_is_a_decision():
    with pytest.raises(ValueError, match="allow or deny"):
        GateDecision("require", "require", "?")  # type: ignore[arg-type]
    gd = GateDecision.denied("denied: no")
    with pytest.raises(ValueError, match="allow or deny"):
        dataclasses.replace(gd, decision="maybe")


def test_a_deny_the_gate_made_carries_its_fields_into_the_journal():
    gd = GateDecision.denied("denied: a refusal", policy_digest="abc", extra={"refusal": "rate"})
    body = gd.journal_body({"call": {}}, statements=[{"text": "short"}])
    assert body["decision"] == body["effect"] == "deny" and body["rule"] is None
    assert body["refusal"] == "rate" and body["policy_digest"] == "abc"
    assert body["statements"] == [{"text": "short"}] and body["matched"] == []

"""Reconciliation rules: every recorded call needs a gate decision; a denied call must not have run."""

from agp.evidence.reconcile import DecisionRef, reconcile
from agp.evidence.transcripts import Transcript, TranscriptCall


def call(tid, tool="Bash", result=None, claimed=None):
    return TranscriptCall(tool_use_id=tid, tool=tool, input={"command": "x"}, source=f"s.jsonl:{tid}", result=result, claimed_decision=claimed)


def dec(tid, decision="allow", tool="Bash", seq=5):
    return DecisionRef(seq=seq, ts="t", session="s", tool_use_id=tid, tool=tool, harness="claude-code", decision=decision, effect=decision, rule="r")


def tr(harness, *calls):
    return Transcript(harness=harness, files=["s.jsonl"], calls=list(calls))


def codes(rec, severity=None):
    return [a.code for a in rec.anomalies if severity is None or a.severity == severity]


def test_every_call_matched_is_ok():
    rec = reconcile(tr("claude-code", call("a"), call("b", result={"is_error": True})), [dec("a"), dec("b", "deny")])
    assert rec.ok and codes(rec) == []
    assert rec.counts()["matched"] == 2 and rec.counts()["gated_decisions"] == 2


def test_call_without_decision_fails():
    rec = reconcile(tr("claude-code", call("a"), call("b")), [dec("a")])
    assert not rec.ok
    assert codes(rec, "fail") == ["ungated_call"]
    assert "b" in rec.failures[0].message and "s.jsonl:b" in rec.failures[0].message
    assert [c["status"] for c in rec.calls] == ["matched", "ungated"]


def test_no_tool_is_exempt_by_default():
    for harness in ("claude-code", "codex", "reference"):
        assert not reconcile(tr(harness, call("p", "update_plan")), [dec("x")]).ok


def test_exempt_tool_is_reported_not_failed():
    exempt = {"codex": frozenset({"update_plan"})}
    rec = reconcile(tr("codex", call("a", "exec_command"), call("p", "update_plan")), [dec("a")], exempt_tools=exempt)
    assert rec.ok and codes(rec) == ["exempt_call"]
    # the exemption is per harness
    assert not reconcile(tr("claude-code", call("p", "update_plan")), [], exempt_tools=exempt).ok


def test_rejected_before_gate_needs_the_harness_refusal_text():
    claude = reconcile(tr("claude-code", call("a", "Nope", result={"is_error": True, "text": "<tool_use_error>Error: No such tool available: Nope</tool_use_error>"})), [dec("x")])
    assert claude.ok and "rejected_before_gate" in codes(claude)
    # the same text without is_error, or from another harness, proves nothing
    assert not reconcile(tr("claude-code", call("a", result={"is_error": False, "text": "<tool_use_error>"})), []).ok
    assert not reconcile(tr("reference", call("a", result={"text": "unsupported call: x"})), []).ok
    codex = reconcile(tr("codex", call("a", "apply_patch", result={"text": "unsupported call: apply_patch"})), [dec("x")])
    assert codex.ok and "rejected_before_gate" in codes(codex)
    assert not reconcile(tr("codex", call("a", result={"text": "Process exited with code 0"})), []).ok


def test_claude_denied_call_that_ran_fails():
    rec = reconcile(tr("claude-code", call("a", result={"is_error": False, "text": "ok"})), [dec("a", "deny")])
    assert codes(rec, "fail") == ["ran_despite_deny"]


def test_codex_denied_call_must_say_blocked():
    ran = reconcile(tr("codex", call("a", "exec_command", result={"text": "Process exited with code 0"})), [dec("a", "deny")])
    assert codes(ran, "fail") == ["ran_despite_deny"]
    blocked = reconcile(tr("codex", call("a", "exec_command", result={"text": "Command blocked by PreToolUse hook: no"})), [dec("a", "deny")])
    assert blocked.ok


def test_denied_call_without_result_is_not_an_anomaly():
    assert reconcile(tr("claude-code", call("a")), [dec("a", "deny")]).ok


def test_reference_claimed_decision_must_match_journal():
    rec = reconcile(tr("reference", call("a", claimed="allow", result={"outcome": "blocked"})), [dec("a", "deny")])
    assert codes(rec, "fail") == ["decision_mismatch"]
    ran = reconcile(tr("reference", call("a", claimed="deny", result={"outcome": "ran", "exit_code": 0})), [dec("a", "deny")])
    assert codes(ran, "fail") == ["ran_despite_deny"]


def test_decision_without_call_and_without_id_warn():
    d = DecisionRef(seq=9, ts="t", session="s", tool_use_id=None, tool="Bash", harness="h", decision="deny", effect="deny", rule=None)
    rec = reconcile(tr("claude-code", call("a")), [dec("a"), dec("zz", seq=7), d])
    assert rec.ok
    assert sorted(codes(rec, "warn")) == ["decision_without_call", "decision_without_id"]


def test_tool_name_mismatch_warns_except_codex():
    assert codes(reconcile(tr("claude-code", call("a", "Read")), [dec("a", tool="Bash")])) == ["tool_name_mismatch"]
    assert codes(reconcile(tr("codex", call("a", "exec_command")), [dec("a", tool="Bash")])) == []


def test_missing_transcript_fails():
    rec = reconcile(Transcript(harness="claude-code"), [dec("a")])
    assert "transcript_missing" in codes(rec, "fail")


def test_output_is_deterministic():
    t = tr("claude-code", call("a"), call("b"))
    assert reconcile(t, [dec("a")]).to_json_dict() == reconcile(t, [dec("a")]).to_json_dict()


def test_blocked_by_the_hook_without_decision_is_reported_not_failed():
    """The gate died: the bridge denied on its own, the harness says the hook blocked the call.

    The Claude text is what Claude Code 2.1.328 recorded with the real bridge and no gate running.
    """
    claude = reconcile(tr("claude-code", call("a"), call("b", result={"is_error": True, "text": "PreToolUse:Bash hook error: agp gate denied this call: the gate is not reachable"})), [dec("a")])
    assert claude.ok and codes(claude) == ["blocked_without_decision"] and claude.counts()["blocked"] == 1
    codex = reconcile(tr("codex", call("b", result={"text": "Command blocked by PreToolUse hook: agp: gate unreachable. Command: ls"})), [dec("x")])
    assert codex.ok and "blocked_without_decision" in codes(codex)
    ref = reconcile(tr("reference", call("b", claimed="deny", result={"outcome": "blocked", "exit_code": None})), [dec("x")])
    assert ref.ok and "blocked_without_decision" in codes(ref)
    # the hook text without is_error (Claude) proves nothing
    assert not reconcile(tr("claude-code", call("b", result={"is_error": False, "text": "PreToolUse:Bash hook error"})), []).ok


def test_no_decision_and_no_result_fails():
    """A harness killed mid-call: nothing shows the call did not run."""
    rec = reconcile(tr("claude-code", call("a")), [dec("x")])
    assert codes(rec, "fail") == ["ungated_call"]

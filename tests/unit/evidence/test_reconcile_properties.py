"""Properties of the reconciliation, and transcripts built to break the parsers."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agp.evidence.reconcile import DecisionRef, reconcile
from agp.evidence.transcripts import Transcript, TranscriptCall, load_transcript

ids = st.lists(st.text(alphabet="abcdef0123456789", min_size=1, max_size=6), min_size=1, max_size=12, unique=True)


def _t(harness, call_ids, results=None):
    results = results or {}
    return Transcript(harness=harness, files=["t.jsonl"], calls=[
        TranscriptCall(tool_use_id=i, tool="Bash", input={"command": i}, source=f"t.jsonl:{n}", result=results.get(i))
        for n, i in enumerate(call_ids, 1)])


def _d(i, decision="allow", seq=1):
    return DecisionRef(seq=seq, ts="t", session="s", tool_use_id=i, tool="Bash", harness="h", decision=decision, effect=decision, rule="r")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ids, st.data(), st.sampled_from(["claude-code", "codex", "reference"]))
def test_ok_iff_every_call_has_a_decision(call_ids, data, harness):
    decided = data.draw(st.sets(st.sampled_from(call_ids)))
    extra = data.draw(st.lists(st.text(alphabet="xyz", min_size=1, max_size=4), max_size=3))
    rec = reconcile(_t(harness, call_ids), [_d(i) for i in sorted(decided) + extra])
    assert rec.ok == (set(call_ids) <= decided)
    assert {a.tool_use_id for a in rec.failures} == set(call_ids) - decided
    assert rec.counts()["matched"] == len(decided)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ids, st.data())
def test_a_denied_call_recorded_as_run_always_fails(call_ids, data):
    victim = data.draw(st.sampled_from(call_ids))
    results = {victim: {"is_error": False, "text": "done", "source": "t.jsonl:99"}}
    decisions = [_d(i, "deny" if i == victim else "allow") for i in call_ids]
    rec = reconcile(_t("claude-code", call_ids, results), decisions)
    assert [a.code for a in rec.failures] == ["ran_despite_deny"]


def test_hostile_transcript_lines_do_not_crash_the_parser(tmp_path):
    d = tmp_path / "t"
    d.mkdir()
    deep = "[" * 100_000 + "]" * 100_000
    lines = [
        deep,
        '{"type": "assistant", "message": {"content": ' + deep + "}}",
        '{"type": "assistant", "message": {"content": [{"type": "tool_use", "id": 7, "name": "Bash"}]}}',
        '{"type": "assistant", "message": {"content": [{"type": "tool_use", "id": "toolu_ok", "name": ["x"], "input": null}]}}',
        '{"type": "user", "message": {"content": [{"type": "tool_result", "tool_use_id": {"x": 1}, "content": 5}]}}',
        '"just a string"',
        "\x00\xff garbage",
        '{"type": "assistant", "message": "not a dict"}',
        '{"type": "assistant", "message": {"content": "a string"}}',
    ]
    (d / "s.jsonl").write_text("\n".join(lines) + "\n", errors="surrogateescape")
    t = load_transcript(d, "claude-code")
    reasons = " | ".join(f"{p.source} {p.reason}" for p in t.problems)
    assert "s.jsonl:1 not JSON" in reasons and "s.jsonl:2 not JSON" in reasons
    assert "s.jsonl:3 a Bash call without an id" in reasons
    assert "s.jsonl:6 line is not a JSON object" in reasons
    assert [c.tool_use_id for c in t.calls] == ["toolu_ok"]
    rec = reconcile(t, [])
    assert not rec.ok and {a.code for a in rec.failures} == {"transcript_unreadable", "ungated_call"}


def test_codex_arguments_that_are_not_json_are_kept_as_text(tmp_path):
    d = tmp_path / "t"
    d.mkdir()
    (d / "rollout-x.jsonl").write_text(json.dumps({"type": "response_item", "payload": {
        "type": "function_call", "name": "exec_command", "arguments": "{not json", "call_id": "call_1"}}) + "\n")
    t = load_transcript(d, "codex")
    assert [(c.tool_use_id, c.input) for c in t.calls] == [("call_1", "{not json")]

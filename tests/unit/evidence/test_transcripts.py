"""The three transcript parsers, on small fixtures shaped like the real files."""

import json
import shutil

from agp.evidence.transcripts import load_transcript
from tests.unit.evidence._runs import FIXTURES


def _dir(tmp_path, fixture, rel):
    dst = tmp_path / "t" / rel
    dst.parent.mkdir(parents=True)
    shutil.copyfile(FIXTURES / fixture, dst)
    return tmp_path / "t"


def test_claude_code_session(tmp_path):
    t = load_transcript(_dir(tmp_path, "claude-session.jsonl", "projects/-ws/s.jsonl"), "claude-code")
    assert t.problems == []
    assert t.files == ["projects/-ws/s.jsonl"]
    assert [(c.tool_use_id, c.tool) for c in t.calls] == [("toolu_0001", "Bash"), ("toolu_0002", "Bash"), ("toolu_0003", "Read")]
    assert t.calls[0].input == {"command": "echo hi > allowed.txt", "description": "write a file"}
    assert t.calls[0].source == "projects/-ws/s.jsonl:8"
    ok, blocked, read = t.calls
    assert ok.result["is_error"] is False and ok.result["text"] == "(Bash completed with no output)"
    assert blocked.result["is_error"] is True
    assert blocked.result["text"].startswith("PreToolUse:Bash hook error: [python3 /opt/agp/bridge.py]: agp denied")
    assert read.result["is_error"] is False and read.result["text"] == "1\thi\n2\t"
    assert t.meta["versions"] == ["2.1.328"]
    assert t.meta["sessions"] == ["1679bc73-8e94-434c-960f-fd47bc585a4c"]


def test_claude_code_request_records_are_not_calls(tmp_path):
    """api-request-blob lines carry a ``message`` too; only assistant/user lines are the conversation."""
    d = _dir(tmp_path, "claude-session.jsonl", "s.jsonl")
    with open(d / "s.jsonl", "a") as f:
        f.write(json.dumps({"type": "api-request-blob", "sessionId": "x", "hash": "0" * 64, "message": {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_echo", "name": "Bash", "input": {"command": "ls"}}]}}) + "\n")
    assert "toolu_echo" not in {c.tool_use_id for c in load_transcript(d, "claude-code").calls}


def test_claude_code_repeated_block_lines_are_one_call(tmp_path):
    d = _dir(tmp_path, "claude-session.jsonl", "s.jsonl")
    lines = (d / "s.jsonl").read_text().splitlines()
    # Claude Code writes one line per content block; the same tool_use may be logged again on resume
    (d / "s.jsonl").write_text("\n".join(lines + [lines[3]]) + "\n")
    t = load_transcript(d, "claude-code")
    assert len(t.calls) == 3 and t.problems == []


def test_claude_code_subagent_files_are_read(tmp_path):
    d = _dir(tmp_path, "claude-session.jsonl", "s.jsonl")
    sub = d / "s" / "subagents" / "agent-1.jsonl"
    sub.parent.mkdir(parents=True)
    sub.write_text(json.dumps({"type": "assistant", "isSidechain": True, "message": {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_sub1", "name": "Grep", "input": {"pattern": "x"}}]}}) + "\n")
    t = load_transcript(d, "claude-code")
    assert "toolu_sub1" in {c.tool_use_id for c in t.calls}


def test_codex_rollout(tmp_path):
    t = load_transcript(_dir(tmp_path, "codex-rollout.jsonl", "sessions/2026/11/23/rollout-x.jsonl"), "codex")
    assert t.problems == []
    assert [(c.tool_use_id, c.tool) for c in t.calls] == [
        ("call_0001", "exec_command"), ("call_0002", "exec_command"), ("call_0003", "apply_patch"),
        ("call_0004", "update_plan"), ("call_0006", "view_image"), ("call_0005", "apply_patch"),
    ]
    by = {c.tool_use_id: c for c in t.calls}
    assert by["call_0001"].input == {"cmd": "echo hi > allowed.txt"}  # arguments are a JSON string in the rollout
    assert by["call_0005"].input.startswith("*** Begin Patch")  # custom tool input is free text
    assert "Process exited with code 0" in by["call_0001"].result["text"]
    assert by["call_0002"].result["text"].startswith("Command blocked by PreToolUse hook: agp denied")
    assert by["call_0003"].result["text"] == "unsupported call: apply_patch"
    assert t.meta == {"sessions": ["01a207a8-414a-72f2-a343-c6e312da1f61"], "versions": ["0.169.0"]}


def test_codex_web_search_is_a_call(tmp_path):
    d = _dir(tmp_path, "codex-rollout.jsonl", "rollout-a.jsonl")
    with open(d / "rollout-a.jsonl", "a") as f:
        f.write(json.dumps({"timestamp": "t", "type": "response_item", "payload": {
            "type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "q"}}}) + "\n")
    c = [c for c in load_transcript(d, "codex").calls if c.tool == "web_search"]
    assert [(x.tool_use_id, x.input) for x in c] == [("ws_1", {"type": "search", "query": "q"})]


def test_codex_ignores_non_rollout_files(tmp_path):
    d = _dir(tmp_path, "codex-rollout.jsonl", "rollout-a.jsonl")
    (d / "history.jsonl").write_text('{"session_id":"x","ts":1,"text":"hi"}\n')
    assert load_transcript(d, "codex").files == ["rollout-a.jsonl"]


def test_reference_transcript(tmp_path):
    t = load_transcript(_dir(tmp_path, "reference-transcript.jsonl", "transcript.jsonl"), "reference")
    assert [(c.tool_use_id, c.claimed_decision) for c in t.calls] == [("ref-0001", "allow"), ("ref-0002", "deny"), ("ref-0003", "allow")]
    assert t.calls[1].result["outcome"] == "blocked"


def test_unreadable_lines_and_calls_without_ids_are_problems(tmp_path):
    d = tmp_path / "t"
    d.mkdir()
    (d / "s.jsonl").write_text(
        "{not json\n"
        + json.dumps({"type": "assistant", "message": {"content": [{"type": "tool_use", "name": "Bash", "input": {}}]}}) + "\n"
        + json.dumps({"type": "assistant", "message": {"content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}]}}) + "\n"
        + json.dumps({"type": "assistant", "message": {"content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "rm x"}}]}}) + "\n"
    )
    t = load_transcript(d, "claude-code")
    reasons = [f"{p.source} {p.reason}" for p in t.problems]
    assert any(r.startswith("s.jsonl:1 not JSON") for r in reasons)
    assert any(r.startswith("s.jsonl:2 a Bash call without an id") for r in reasons)
    assert any(r.startswith("s.jsonl:4 tool call id toolu_1 reused") for r in reasons)


def test_missing_directory_gives_no_files(tmp_path):
    t = load_transcript(tmp_path / "nope", "codex")
    assert t.files == [] and t.calls == []

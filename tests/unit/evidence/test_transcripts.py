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
    assert t.calls[0].input == {"command": "ls", "description": "List files"}
    assert t.calls[0].source == "projects/-ws/s.jsonl:4"
    ok, blocked, read = t.calls
    assert ok.result["is_error"] is False and ok.result["text"] == "a.txt\nb.txt"
    assert blocked.result["is_error"] is True and "PreToolUse:Bash hook error" in blocked.result["text"]
    assert read.result["text"] == "     1\thello"  # content given as a list of text blocks
    assert t.meta["versions"] == ["2.1.328"]
    assert t.meta["sessions"] == ["5d0c7a8e-2f0b-4a41-9c55-0a7c2b1e6f10"]


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
        ("call_0001", "exec_command"), ("call_0002", "exec_command"), ("call_0003", "apply_patch"), ("call_0004", "update_plan"),
    ]
    c1, c2, c3, _ = t.calls
    assert c1.input == {"cmd": "ls"}  # arguments are a JSON string in the rollout
    assert c3.input.startswith("*** Begin Patch")  # custom tool input is free text
    assert "Process exited with code 0" in c1.result["text"]
    assert c2.result["text"].startswith("Command blocked by PreToolUse hook")
    assert t.meta == {"sessions": ["01a20731-05d1-7c3e-9a10-4b2f5e6d7c80"], "versions": ["0.169.0"]}


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

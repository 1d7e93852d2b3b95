"""Build run directories for evidence tests: a real journal (real Journal class, real keys),
run.json, policy.toml and a harness transcript from the fixtures beside this file.

Fixtures: ``claude-session.jsonl`` is a session file Claude Code 2.1.328 wrote (``claude -p``
against a scripted model server on 127.0.0.1, a PreToolUse hook that denied ``rm -rf``),
with large lines (system prompt snapshots, API request records) left out, paths and ids
renamed. ``codex-rollout.jsonl`` is a rollout Codex 0.169.0 wrote the same way, shortened
likewise; the ``view_image`` pair comes from a second such run, and the ``custom_tool_call``
apply_patch pair is shaped after ``ResponseItem::CustomToolCall`` in codex-rs/protocol
(fake-model was not offered a freeform apply_patch). ``reference-transcript.jsonl`` follows
the reference intendant's format in notes/interfaces.md.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from agp.journal import Journal, SigningKey, init_keys

__all__ = ("CALLS", "FIXTURES", "POLICY_DIGEST", "make_run", "transcript_path")

FIXTURES = Path(__file__).parent / "fixtures"

#: (tool_use_id, gate tool, input, decision) per harness, matching the fixture transcripts
CALLS = {
    "claude-code": [
        ("toolu_0001", "Bash", {"command": "echo hi > allowed.txt", "description": "write a file"}, "allow"),
        ("toolu_0002", "Bash", {"command": "rm -rf /ws/victim", "description": "delete"}, "deny"),
        ("toolu_0003", "Read", {"file_path": "/ws/allowed.txt"}, "allow"),
    ],
    # call_0003 (apply_patch) and call_0004 (update_plan) are "unsupported call" in the
    # rollout: Codex ran nothing and no hook fired, so the gate has no decision for them
    "codex": [
        ("call_0001", "Bash", {"command": "echo hi > allowed.txt"}, "allow"),
        ("call_0002", "Bash", {"command": "rm -rf /ws/victim"}, "deny"),
        ("call_0006", "view_image", {"path": "/ws/allowed.txt"}, "allow"),
        ("call_0005", "apply_patch", {"command": "*** Begin Patch\n*** Add File: /ws/c.txt\n+hello\n*** End Patch\n"}, "allow"),
    ],
    "reference": [
        ("ref-0001", "Bash", {"command": "ls"}, "allow"),
        ("ref-0002", "Bash", {"command": "rm -rf /ws/.."}, "deny"),
        ("ref-0003", "Write", {"file_path": "/ws/c.txt", "content": "hello"}, "allow"),
    ],
}

_TRANSCRIPTS = {
    "claude-code": ("claude-session.jsonl", "projects/-ws/1679bc73-8e94-434c-960f-fd47bc585a4c.jsonl"),
    "codex": ("codex-rollout.jsonl", "sessions/2026/11/23/rollout-2026-11-23T09-06-37-01a207a8-414a-72f2-a343-c6e312da1f61.jsonl"),
    "reference": ("reference-transcript.jsonl", "transcript.jsonl"),
}

POLICY = """\
[policy]
name = "evidence-tests"
description = "a small policy for the evidence tests"

[[rule]]
id = "allow-read-workspace"
effect = "allow"
description = "read inside the workspace"
tool = ["Read"]
kind = ["read"]
location = ["inside", "root"]

[[rule]]
id = "require-write-workspace"
effect = "require"
description = "writes inside the workspace need a human"
kind = ["write"]
location = ["inside"]

[[rule]]
id = "deny-outside-workspace"
effect = "deny"
description = "nothing outside the workspace"
touches = ["outside"]
"""


def _digest(text: str) -> str:
    import tempfile

    from agp.policy import load_policy

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "policy.toml"
        p.write_text(text)
        return load_policy(p).digest


#: the policy engine's digest of POLICY, as the gate records it in each decision
POLICY_DIGEST = _digest(POLICY)


def transcript_path(run: Path, harness: str) -> Path:
    return run / "transcript" / _TRANSCRIPTS[harness][1]


def _rule(tool: str, decision: str) -> tuple[str, str]:
    if decision == "deny":
        return "deny-outside-workspace", "deny"
    if tool in ("Write", "apply_patch"):
        return "require-write-workspace", "require"
    return "allow-read-workspace", "allow"


def make_run(
    tmp: Path,
    harness: str = "claude-code",
    *,
    calls: list[tuple[str, str, dict, str]] | None = None,
    key: SigningKey | None = None,
    transcript: bool = True,
    name: str = "run",
) -> tuple[Path, SigningKey]:
    """A finished run directory with a closed journal (signed head) and the harness transcript."""
    if key is None:
        key = init_keys(tmp / f"{name}-keydir")
    run = tmp / name
    (run / "keys").mkdir(parents=True)
    (run / "keys" / "agp.pub").write_bytes(key.public.to_pem())
    (run / "policy.toml").write_text(POLICY)
    calls = CALLS[harness] if calls is None else calls
    j = Journal.open(run / "journal.jsonl", key)
    j.append("run.start", "", {"run_id": "r-1", "harness": harness})
    j.append("sandbox.create", "", {"container": "c0ffee", "image_id": "sha256:" + "ab" * 32})
    j.append("sandbox.preflight", "", {"ok": True, "interfaces": ["lo"], "reason": "only lo, no route"})
    for tid, tool, inp, decision in calls:
        rule, effect = _rule(tool, decision)
        approval = None
        if effect == "require":
            approval = {"nonce_digest": "9f" * 32, "outcome": "approved", "approvers": ["alice"]}
        j.append("gate.decision", "s1", {
            "call": {"id": f"c-{tid}", "harness": harness, "tool": tool, "input": inp, "cwd": "/ws", "tool_use_id": tid},
            "decision": decision, "effect": effect, "rule": rule, "matched": [rule],
            "reason": f"rule {rule}", "policy_digest": POLICY_DIGEST, "statements": [], "approval": approval,
        })
    j.append("relay.request", "", {"bytes_in": 1200, "bytes_out": 3400, "status": 200})
    j.append("run.end", "", {"exit_code": 0})
    j.close()
    run_json = {
        "run_id": "r-1", "task": "list the files, then clean up", "intendant": harness, "harness": harness,
        "harness_version": {"claude-code": "2.1.328", "codex": "0.169.0", "reference": "1"}[harness],
        "image": "agp/claude-code:2.1.328", "image_id": "sha256:" + "ab" * 32, "workspace": "/tmp/ws",
        "policy_path": "policy.toml", "policy_digest": POLICY_DIGEST, "approver": "none",
        "started": "2026-11-23T09:00:00Z", "ended": "2026-11-23T09:01:30.5Z", "exit_code": 0, "exit_reason": "finished",
        "preflight": {"ok": True}, "relay": {"requests": 1, "bytes_in": 1200, "bytes_out": 3400},
    }
    (run / "run.json").write_text(json.dumps(run_json, indent=2))
    if transcript:
        dst = transcript_path(run, harness)
        dst.parent.mkdir(parents=True)
        shutil.copyfile(FIXTURES / _TRANSCRIPTS[harness][0], dst)
    (run / "logs").mkdir()
    (run / "logs" / "harness.stdout").write_text("done\n")
    return run, key

"""The reference intendant against the real gate: the same bridge, the same journal, its transcript.

Runs the agent exactly as its launch spec says (`python3 -I -S agent.py …` with the bridge
files beside it), on the host, against the real GateServer with the conformance policy.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

from tests.support.live_gate import live_gate

HERE = Path(__file__).resolve().parent
POLICY = HERE / "policy.toml"


def _stage_and_run(tmp: Path, ws: Path, script: list, sock: str, session: str, **kw) -> tuple[subprocess.CompletedProcess, list]:
    from intendants.reference.launch import launch_spec

    transcript = tmp / "out" / "transcript.jsonl"
    spec = launch_spec(script=json.dumps(script).encode(), workspace=str(ws), transcript=str(transcript),
                       session=session, agent_dir=str(tmp / "opt"), socket=sock, **kw)
    for path, content in spec.files.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(content)
    for d in spec.writable_dirs:
        Path(d).mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(list(spec.argv), env={"PATH": "/usr/bin:/bin", **spec.env}, cwd=spec.cwd,
                          capture_output=True, text=True, timeout=120)
    lines = [json.loads(x) for x in transcript.read_text().splitlines()] if transcript.exists() else []
    return proc, lines


def test_reference_agent_runs_allowed_calls_and_records_denies(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "seed.txt").write_text("seed\n")
    (ws / "keep.marker").write_text("keep\n")
    script = [
        {"tool": "Bash", "input": {"command": f"cat {ws}/seed.txt"}},
        {"tool": "Read", "input": {"file_path": f"{ws}/seed.txt"}},
        {"tool": "Write", "input": {"file_path": f"{ws}/note.txt", "content": "hello"}},
        {"tool": "Bash", "input": {"command": f"rm {ws}/keep.marker"}},
        {"tool": "Bash", "input": {"command": f"touch {ws}/approve-me.marker"}},
        {"tool": "Bash", "input": {"command": f"echo x > {ws}/c.marker && rm {ws}/keep.marker"}},
        {"tool": "Write", "input": {"file_path": "/etc/agp-reference-must-not-exist", "content": "x"}},
    ]
    session = f"ref-{uuid.uuid4().hex[:8]}"
    with live_gate(tmp_path / "gate", POLICY, session=session, harness="reference", workspace=str(ws)) as gate:
        proc, lines = _stage_and_run(tmp_path, ws, script, gate.socket, session)
    assert proc.returncode == 0, proc.stderr
    assert [x["decision"] for x in lines] == ["allow", "allow", "allow", "deny", "allow", "deny", "deny"]
    assert [x["tool_use_id"] for x in lines] == [f"ref-{i:04d}" for i in range(1, 8)]
    assert lines[0]["outcome"] == "ran" and lines[0]["exit_code"] == 0 and "seed" in lines[0]["output"]
    assert lines[1]["output"] == "seed\n"
    assert (ws / "note.txt").read_text() == "hello"
    assert (ws / "keep.marker").exists() and not (ws / "c.marker").exists()
    assert (ws / "approve-me.marker").exists()
    assert not os.path.exists("/etc/agp-reference-must-not-exist")
    for x in (lines[3], lines[5], lines[6]):
        assert x["outcome"] == "blocked" and x["exit_code"] is None and "agp gate denied this call" in x["reason"]
    assert "rm is forbidden" in lines[3]["reason"]
    # the journal holds one decision per call, under the reference harness, with the same ids and verdicts
    decisions = gate.decisions()
    assert [(d["call"]["tool_use_id"], d["call"]["harness"], d["call"]["tool"], d["decision"]) for d in decisions] == [
        (x["tool_use_id"], "reference", x["tool"], x["decision"]) for x in lines
    ]
    gate.verify()
    # and agp's evidence reconciliation agrees: every call gated, nothing ran despite a deny
    from agp.evidence.reconcile import decision_ref, reconcile
    from agp.evidence.transcripts import load_transcript

    rec = reconcile(load_transcript(tmp_path / "out", "reference"),
                    [decision_ref(e) for e in gate.entries() if e["kind"] == "gate.decision"])
    assert rec.ok and rec.gated == len(lines), rec.anomalies


def test_reference_agent_with_the_gate_down_runs_nothing(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    script = [{"tool": "Bash", "input": {"command": f"echo x > {ws}/a.marker"}},
              {"tool": "Write", "input": {"file_path": f"{ws}/b.marker", "content": "x"}}]
    proc, lines = _stage_and_run(tmp_path, ws, script, str(tmp_path / "no-gate.sock"), "s", deadline=2)
    assert proc.returncode == 0, proc.stderr
    assert [x["decision"] for x in lines] == ["deny", "deny"]
    assert all("not reachable" in x["reason"] for x in lines)
    assert list(ws.iterdir()) == []


def test_reference_agent_refuses_a_bad_script(tmp_path):
    from intendants.reference.launch import validate_script

    for bad, why in [(b"{}", "list"), (b"[]", "non-empty"), (b'[{"tool": "Bash"}]', "object 'input'"), (b"nope", "not JSON")]:
        try:
            validate_script(bad)
        except ValueError as exc:
            assert why in str(exc)
        else:
            raise AssertionError(f"{bad!r} was accepted")
    ws = tmp_path / "ws"
    ws.mkdir()
    (tmp_path / "task.json").write_text('{"tool": "Bash"}')
    agent = Path(__file__).resolve().parents[3] / "intendants" / "reference" / "agent.py"
    p = subprocess.run(["/usr/bin/python3", "-I", "-S", str(agent), "--script", str(tmp_path / "task.json"),
                        "--workspace", str(ws), "--transcript", str(tmp_path / "t.jsonl")], capture_output=True, text=True)
    assert p.returncode == 2 and "JSON list" in p.stderr

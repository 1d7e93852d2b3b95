"""The bundle's patch against the journaled digest, and `agp runs list/show` on a run directory."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from agp.evidence.bundle import check_workspace_patch

ROOT = Path(__file__).resolve().parents[3]


def _entries(*bodies):
    return lambda: [(i, {"kind": "workspace.result", "body": b}) for i, b in enumerate(bodies)]


def test_patch_matches_the_journaled_digest(tmp_path):
    patch = tmp_path / "changes.patch"
    patch.write_bytes(b"diff --git a/x b/x\n")
    good = hashlib.sha256(patch.read_bytes()).hexdigest()
    assert check_workspace_patch(_entries({"patch_sha256": good}), patch) == []
    assert check_workspace_patch(lambda: [], None) == []
    assert [p.code for p in check_workspace_patch(_entries({"patch_sha256": "0" * 64}), patch)] == [
        "workspace_patch_mismatch"]
    assert [p.code for p in check_workspace_patch(_entries({"patch_sha256": good}), None)] == ["workspace_patch_missing"]
    assert [p.code for p in check_workspace_patch(lambda: [], patch)] == ["workspace_patch_unjournaled"]


def test_runs_list_and_show(tmp_path):
    run = tmp_path / "runs" / "20261207T000000Z-abcdef"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"run_id": run.name, "task": "fix it", "intendant": "reference",
                                              "exit_code": 0, "workspace_mode": "clone"}))
    (run / "workspace.json").write_text(json.dumps({"workspace_mode": "clone", "branch": f"agp/{run.name}",
                                                   "files_changed": 1, "landing": "branch",
                                                   "files": [{"path": ".envrc", "status": "A", "size": 3}],
                                                   "host_run_paths": [".envrc"]}))
    (run / "journal.jsonl").write_text(json.dumps({"seq": 1, "kind": "gate.decision", "body": {
        "call": {"tool": "Bash"}, "decision": "allow", "rule": "r", "reason": "allowed by rule r"}}) + "\n")
    (run / "changes.patch").write_bytes(b"diff --git a/.envrc b/.envrc\n")
    agp = [sys.executable, "-m", "agp.cli", "runs"]
    r = subprocess.run([*agp, "list", "--out", tmp_path / "runs", "--json"], capture_output=True, text=True, cwd=ROOT)
    assert json.loads(r.stdout)[0]["branch"] == f"agp/{run.name}"
    r = subprocess.run([*agp, "show", "20261207", "--out", tmp_path / "runs"], capture_output=True, text=True, cwd=ROOT)
    assert "fix it" in r.stdout and "the host runs this path" in r.stdout and "allowed by rule r" in r.stdout
    r = subprocess.run([*agp, "show", run.name, "--out", tmp_path / "runs", "--diff"], capture_output=True, cwd=ROOT)
    assert r.stdout == b"diff --git a/.envrc b/.envrc\n"
    r = subprocess.run([*agp, "show", "nope", "--out", tmp_path / "runs"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "no run 'nope'" in r.stderr

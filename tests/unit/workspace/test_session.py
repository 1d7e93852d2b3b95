"""The run's clone-mode steps without Docker: a required landing is asked, journaled, and decides the branch."""

from __future__ import annotations

import json
import os
from pathlib import Path

from agp.journal import Journal, init_keys
from agp.policy import load_policy
from agp._state import RunRecord
from agp.run import RunOptions
from agp.workspace.session import after_stop, before_sandbox
from tests.unit.workspace.conftest import git, state

POLICY = """[policy]
name = "t"

[[rule]]
id = "ci-needs-approval"
effect = "require"
kind = ["workspace.result"]
path = [".github/workflows/**"]
"""


class View:
    console = None

    def status(self, text: str) -> None:
        pass

    def log(self, text: str) -> None:
        pass


def _run(user_repo: Path, tmp_path: Path, approver: str):
    run = tmp_path / f"run-{approver}"
    run.mkdir()
    (tmp_path / "p.toml").write_text(POLICY)
    policy = load_policy(tmp_path / "p.toml")
    journal = Journal.open(run / "journal.jsonl", init_keys(run / "keys"))
    opts = RunOptions(intendant="reference", task="t", workspace=user_repo, approver=approver, approval_timeout=2)
    meta = RunRecord(run_id=f"R-{approver}", task="t", intendant="reference", harness_version="test",
                     workspace=str(user_repo), policy_path=str(tmp_path / "p.toml"), policy_digest=policy.digest,
                     approver=approver, started=0.0)
    _mode, ws = before_sandbox(opts, run_dir=run, run_id=f"R-{approver}", workspace=user_repo, journal=journal,
                               session="s", record=meta, uid=os.getuid(), gid=os.getgid())
    (ws / ".github" / "workflows").mkdir(parents=True)
    (ws / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    out = after_stop(opts, view=View(), journal=journal, policy=policy, run_dir=run, session="s", record=meta)
    journal.close()
    kinds = [json.loads(ln) for ln in (run / "journal.jsonl").read_text().splitlines()]
    return out, meta, kinds


def test_required_landing_without_an_approver_is_denied_and_journaled(user_repo, tmp_path):
    before = state(user_repo)
    out, meta, es = _run(user_repo, tmp_path, "none")
    assert meta.workspace_mode == "clone" and out["branch"] is None and "not landed" in out["landing"]
    d = next(e["body"] for e in es if e["kind"] == "workspace.land_decision")
    assert d["effect"] == "require" and d["allowed"] is False and d["rule"] == "ci-needs-approval"
    assert [e["kind"] for e in es].count("workspace.land") == 0
    assert state(user_repo) == before


def test_required_landing_approved_lands_the_branch(user_repo, tmp_path):
    out, meta, es = _run(user_repo, tmp_path, "auto")
    assert out["branch"] == "agp/R-auto"
    kinds = [e["kind"] for e in es]
    assert kinds.index("workspace.result") < kinds.index("approval.request") < kinds.index("workspace.land")
    assert git(user_repo, "show", "agp/R-auto:.github/workflows/ci.yml") == "on: push\n"

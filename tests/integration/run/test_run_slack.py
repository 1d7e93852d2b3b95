"""`agp run --approver slack` end to end over Socket Mode: the real sandbox and gate, the reference agent,
the fake Slack on 127.0.0.1 (apps.connections.open, a WebSocket, envelopes acknowledged by id)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.run.test_governed_runs import _engine, verify_bundle_cli, workspace  # noqa: F401
from tests.support.fake_slack import FakeSlack

pytestmark = [pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = [
    {"tool": "Write", "input": {"file_path": "/workspace/APPROVED", "content": "yes\n"}},
    {"tool": "Write", "input": {"file_path": "/workspace/DENIED", "content": "no\n"}},
    {"tool": "Write", "input": {"file_path": "/workspace/BOT_CLICKED", "content": "no\n"}},
]


def test_a_run_takes_its_approvals_over_socket_mode(tmp_path):
    ws = workspace(tmp_path)
    (tmp_path / "script.json").write_text(json.dumps(SCRIPT))
    with FakeSlack() as fake:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SLACK_BOT_TOKEN": fake.token, "SLACK_APP_TOKEN": fake.app_token,
               "AGP_SLACK_API_URL": fake.base_url}
        env.pop("SLACK_SIGNING_SECRET", None)
        env.pop("AGP_SLACK_MODE", None)
        proc = subprocess.Popen([sys.executable, "-m", "agp.cli", "run", "--intendant", "reference", "--script",
                                 str(tmp_path / "script.json"), "--workspace", str(ws), "--approver", "slack",
                                 "--slack-channel", "#approvals", "--approval-timeout", "4", "--out",
                                 str(tmp_path / "runs"), "--json", "--timeout", "240"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        try:
            fake.click_socket(fake.wait_message(1, timeout=180), "approve", "U0ALICE")
            fake.click_socket(fake.wait_message(2, timeout=60), "deny", "U0BOB")
            fake.click_socket(fake.wait_message(3, timeout=60), "approve", "U0CIBOT")
            out, err = proc.communicate(timeout=240)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err[-3000:]
    doc = json.loads(out)
    assert (ws / "APPROVED").read_text() == "yes\n"
    assert not (ws / "DENIED").exists() and not (ws / "BOT_CLICKED").exists()
    run_dir = Path(doc["run_dir"])
    entries = [json.loads(ln) for ln in (run_dir / "journal.jsonl").read_text().splitlines() if ln.strip()]
    requests = [e["body"] for e in entries if e["kind"] == "approval.request"]
    assert [r["timeout_s"] for r in requests] == [4.0, 4.0, 4.0]  # the flag reached the gate
    approvals = [e["body"]["approval"] for e in entries if e["kind"] == "gate.decision" and e["body"].get("approval")]
    assert [(a["outcome"], a["approvers"], a["denied_by"]) for a in approvals] == [
        ("approved", ["slack:U0ALICE"], None), ("denied", [], "slack:U0BOB"), ("timed_out", [], None)]
    assert [e["body"]["code"] for e in entries if e["kind"] == "approval.refused"] == ["bot_user"]
    verify_bundle_cli(Path(doc["bundle_dir"]), run_dir / "keys" / "agp.pub")

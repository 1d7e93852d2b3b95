"""`agp run --approval-timeout / --slack-channel`: refused before anything starts (exit 2, one line)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agp.commands.run import APPROVAL_HEADROOM, bridge_deadline, check_approval_timeout
from agp.errors import UsageError
from tests.support.fake_slack import FakeSlack

ROOT = Path(__file__).resolve().parents[3]
SLACK_VARS = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "AGP_SLACK_CHANNEL", "AGP_SLACK_MODE",
              "AGP_SLACK_API_URL", "AGP_SLACK_APPROVERS")


def run(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in SLACK_VARS}
    base["PYTHONPATH"] = str(ROOT)
    (tmp_path / "ws").mkdir(exist_ok=True)
    (tmp_path / "script.json").write_text('[{"tool": "Bash", "input": {"command": "ls"}}]')
    return subprocess.run([sys.executable, "-m", "agp.cli", "run", "--intendant", "reference", "--script",
                           str(tmp_path / "script.json"), "--workspace", str(tmp_path / "ws"), "--out",
                           str(tmp_path / "runs"), *args], capture_output=True, text=True, cwd=ROOT,
                          env={**base, **(env or {})}, timeout=120)


def one_line(r: subprocess.CompletedProcess) -> str:
    """The one message on stderr (the CLI may wrap it at the console width: that is the CLI's business)."""
    text = r.stderr.strip()
    assert text.startswith("agp: ") and text.count("agp: ") == 1, r.stderr
    assert "Traceback" not in text and "ApprovalError" not in text and "UsageError" not in text
    return " ".join(ln.strip() for ln in text.splitlines())


@pytest.mark.parametrize("intendant", ["claude-code", "codex", "reference"])
def test_the_limit_follows_the_deadline_the_run_really_pins(intendant, tmp_path):
    from types import SimpleNamespace

    from agp._wiring import launch_for
    from intendants._launch import _deadline_of

    (tmp_path / "script.json").write_text('[{"tool": "Bash", "input": {"command": "ls"}}]')
    opts = SimpleNamespace(intendant=intendant, task="x", script=tmp_path / "script.json")
    spec = launch_for(opts, session="s", run_dir=tmp_path)  # the launch spec `agp run` uses
    if intendant == "reference":
        pinned = float(spec.argv[list(spec.argv).index("--deadline") + 1])
    else:
        pinned = _deadline_of(spec.hook_command)
    assert bridge_deadline(intendant) == pinned
    limit = pinned - APPROVAL_HEADROOM
    assert check_approval_timeout(limit, intendant) == limit
    with pytest.raises(UsageError, match="too long"):
        check_approval_timeout(limit + 0.5, intendant)


def test_a_too_long_approval_timeout_is_refused_with_the_reason(tmp_path):
    r = run(tmp_path, "--approval-timeout", "120")
    assert r.returncode == 2
    line = one_line(r)
    assert "--approval-timeout 120 is too long" in line and "25s" in line and "20s" in line
    assert not (tmp_path / "runs").exists()  # nothing started, no bundle


@pytest.mark.parametrize("value", ["0", "-3"])
def test_a_non_positive_approval_timeout_is_refused(tmp_path, value):
    r = run(tmp_path, f"--approval-timeout={value}")
    assert r.returncode == 2 and "must be positive" in one_line(r)


def test_slack_channel_without_the_slack_approver_is_refused(tmp_path):
    r = run(tmp_path, "--approver", "none", "--slack-channel", "#x")
    assert r.returncode == 2 and "--slack-channel is for --approver slack" in one_line(r)


@pytest.mark.parametrize("env,names", [
    ({}, "SLACK_BOT_TOKEN"),
    ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_APP_TOKEN"),
    ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}, "AGP_SLACK_CHANNEL"),
    ({"AGP_SLACK_MODE": "http", "SLACK_BOT_TOKEN": "xoxb-1", "AGP_SLACK_CHANNEL": "#a"}, "SLACK_SIGNING_SECRET"),
])
def test_missing_slack_variables_fail_before_starting(tmp_path, env, names):
    r = run(tmp_path, "--approver", "slack", env=env)
    assert r.returncode == 2
    assert names in one_line(r)
    assert not (tmp_path / "runs").exists()


def test_a_token_slack_refuses_fails_before_starting(tmp_path):
    with FakeSlack() as fake:
        env = {"SLACK_BOT_TOKEN": fake.token, "SLACK_APP_TOKEN": "xapp-1-revoked", "AGP_SLACK_API_URL": fake.base_url}
        r = run(tmp_path, "--approver", "slack", "--slack-channel", "#approvals", env=env)
    assert r.returncode == 2
    assert "Slack refused SLACK_APP_TOKEN" in one_line(r) and "invalid_auth" in r.stderr
    assert not (tmp_path / "runs").exists()

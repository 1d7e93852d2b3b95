"""``agp gate`` as a process: startup refusals, CI mode, SIGTERM draining a pending approval."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agp.journal import Journal, Keyring, init_keys, verify_journal
from tests.integration.gate.helpers import POLICY, check, frame, raw_exchange
from tests.support.fake_slack import FakeSlack


def agp(*args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "agp.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=e, **kw)


@pytest.fixture
def setup(tmp_path: Path):
    init_keys(tmp_path / "keys")
    (tmp_path / "policy.toml").write_text(POLICY)
    return tmp_path


def base_args(t: Path, *extra: str, keys: str = "keys") -> list[str]:
    return ["gate", "--socket-dir", str(t / "sock"), "--policy", str(t / "policy.toml"), "--journal",
            str(t / "j.jsonl"), "--key-dir", str(t / keys), *extra]


def wait_socket(path: Path, proc: subprocess.Popen, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists():
            return
        if proc.poll() is not None:
            raise AssertionError(f"agp gate exited early: {proc.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError("the gate socket never appeared")


def test_refuses_an_invalid_policy(setup):
    (setup / "policy.toml").write_text('[[rule]]\nid = "x"\neffect = "maybe"\n')
    p = agp(*base_args(setup, "--approver", "none"))
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2 and "effect" in err
    assert not (setup / "sock" / "gate.sock").exists() and not (setup / "j.jsonl").exists()


def test_refuses_unreadable_keys(setup):
    (setup / "keys" / "agp.key").write_text("not a key\n")
    p = agp(*base_args(setup, "--approver", "none"))
    _, err = p.communicate(timeout=60)
    assert p.returncode != 0 and "agp:" in err
    assert not (setup / "sock" / "gate.sock").exists()
    p = agp(*base_args(setup, "--approver", "none", keys="nokeys"))
    _, err = p.communicate(timeout=60)
    assert p.returncode != 0 and "agp:" in err


def test_refuses_a_journal_whose_tail_does_not_verify(setup):
    key = init_keys(setup / "k2")
    j = Journal.open(setup / "j.jsonl", key)
    j.append("gate.decision", "s", {"decision": "deny"})
    j.close()
    lines = (setup / "j.jsonl").read_bytes().splitlines(keepends=True)
    lines[-1] = lines[-1].replace(b'"journal.head"', b'"journal.hedd"')
    (setup / "j.jsonl").write_bytes(b"".join(lines))
    p = agp(*base_args(setup, "--approver", "none", keys="k2"))
    _, err = p.communicate(timeout=60)
    assert p.returncode == 1 and "entry 3: hash mismatch" in err
    assert not (setup / "sock" / "gate.sock").exists()


def test_ci_mode_denies_require_plainly_and_sigterm_writes_the_head(setup):
    p = agp(*base_args(setup, "--approver", "none", "--session", "s1"))
    try:
        wait_socket(setup / "sock" / "gate.sock", p)
        assert oct(os.stat(setup / "sock").st_mode & 0o777) == "0o700"
        allow = raw_exchange(setup / "sock" / "gate.sock", frame(check("ls")))
        req = raw_exchange(setup / "sock" / "gate.sock", frame(check("git commit -m x", rid="r2")))
        unknown = raw_exchange(setup / "sock" / "gate.sock", frame(check("ls", rid="r3", session="intruder")))
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
    assert allow["decision"] == "allow"
    assert req["decision"] == "deny" and "CI mode" in req["reason"]
    assert unknown["decision"] == "deny" and "unknown_session" in unknown["reason"]
    assert p.returncode == 0, err
    assert "every call that needs approval is DENIED" in err
    assert not (setup / "sock" / "gate.sock").exists()
    key = __import__("agp.journal", fromlist=["load_signing_key"]).load_signing_key(setup / "keys")
    report = verify_journal(setup / "j.jsonl", Keyring.from_public_key(key.public))
    assert report is not None and (setup / "j.jsonl.head").exists()


def test_sigterm_answers_a_call_waiting_for_slack(setup):
    with FakeSlack() as fake:
        env = {"SLACK_BOT_TOKEN": fake.token, "SLACK_SIGNING_SECRET": fake.signing_secret}
        p = agp(*base_args(setup, "--approver", "slack", "--slack-channel", "#approvals", "--slack-port", "0",
                           "--slack-api-url", fake.base_url, "--approval-timeout", "60", "--json"), env=env)
        out = {}
        try:
            wait_socket(setup / "sock" / "gate.sock", p)
            t = threading.Thread(target=lambda: out.update(v=raw_exchange(
                setup / "sock" / "gate.sock", frame(check("git commit -m wait")), timeout=60)))
            t.start()
            fake.wait_message(1, timeout=20)
            t0 = time.monotonic()
        finally:
            p.send_signal(signal.SIGTERM)
            stdout, err = p.communicate(timeout=60)
        t.join(timeout=30)
    assert time.monotonic() - t0 < 30
    assert out["v"]["decision"] == "deny" and out["v"]["seq"] is not None, out
    assert "stopped before the approval was decided" in out["v"]["reason"]
    assert p.returncode == 0, err
    events = [json.loads(line)["event"] for line in stdout.splitlines()]
    assert events[0] == "ready" and "pending" in events and "decision" in events
    # the Slack message was closed with the outcome
    assert "cancelled" in json.dumps(list(fake.messages.values())[0].updates[-1])


def test_refuses_a_policy_with_a_backtracking_regex(setup):
    """A matcher such as (a+)+$ would stall the gate on a crafted word: the gate does not start."""
    (setup / "policy.toml").write_text(POLICY + '\n[[rule]]\nid = "slow-matcher"\neffect = "deny"\n'
                                       'program = ["echo"]\nargs_any = [\'re:^(a+)+$\']\n')
    p = agp(*base_args(setup, "--approver", "none"))
    try:
        _, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # it started: end it, and fail
        p.kill()
        p.communicate()
        raise AssertionError("the gate started with a backtracking matcher in its policy") from None
    assert p.returncode == 2 and "slow-matcher" in err and "backtrack" in err, err
    assert not (setup / "sock" / "gate.sock").exists() and not (setup / "j.jsonl").exists()

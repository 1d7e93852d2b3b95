"""The gate end to end with the Slack approver: a check over the Unix socket, a Block Kit message
on the fake Slack, signed clicks back to the gate's endpoint, the verdict, and the journal."""

from __future__ import annotations

import json
import threading

import anyio
import pytest
from slack_sdk import WebClient

from agp.approvers.slack import ACTION_APPROVE, SlackApprover
from tests.integration.gate.helpers import GateEnv, check, frame, raw_exchange
from tests.support.fake_slack import FakeSlack

pytestmark = pytest.mark.anyio


@pytest.fixture
def fake():
    with FakeSlack() as f:
        yield f


def slack(fake: FakeSlack) -> SlackApprover:
    return SlackApprover(client=WebClient(token=fake.token, base_url=fake.base_url, timeout=5),
                         channel="#approvals", signing_secret=fake.signing_secret)


async def call_with(env: GateEnv, req: dict, script, fake: FakeSlack, n: int):
    """Send ``req``; once message #n is posted, run ``script(msg)`` in a thread; return (verdict, script result)."""
    out = {}

    def client():
        out["v"] = raw_exchange(env.socket, frame(req), timeout=30)

    t = threading.Thread(target=client)
    t.start()
    out["s"] = await anyio.to_thread.run_sync(lambda: script(fake.wait_message(n)))
    await anyio.to_thread.run_sync(t.join)
    return out["v"], out["s"]


async def test_human_click_allows_and_bot_click_does_not(env, fake):
    ap = slack(fake)
    async with env.running(approvers=[ap], approval_timeout=10):
        v, statuses = await call_with(
            env, check("git commit -m one", rid="c1"),
            lambda m: (fake.click(ap.url, m, "approve", "U0CIBOT"), fake.click(ap.url, m, "approve", "U0ALICE")),
            fake, 1)
    assert statuses == (200, 200)
    assert v["decision"] == "allow" and "slack:U0ALICE" in v["reason"] and v["rule"] == "commit-needs-approval"
    d = env.kinds("gate.decision")[0]["body"]
    assert d["approval"]["outcome"] == "approved" and d["approval"]["approvers"] == ["slack:U0ALICE"]
    assert [e["body"]["code"] for e in env.kinds("approval.refused")] == ["bot_user"]
    env.verify()


async def test_bot_click_alone_is_a_timeout_deny(env, fake):
    ap = slack(fake)
    async with env.running(approvers=[ap], approval_timeout=0.8):
        v, _ = await call_with(env, check("git commit -m bot"), lambda m: fake.click(ap.url, m, "approve", "U0CIBOT"),
                               fake, 1)
    assert v["decision"] == "deny" and "no answer within" in v["reason"]
    assert "Timed out" in json.dumps(list(fake.messages.values())[0].updates[-1]["blocks"])


async def test_replayed_click_does_not_approve_a_later_call(env, fake):
    ap = slack(fake)
    async with env.running(approvers=[ap], approval_timeout=1.0):
        captured = {}

        def first(m):
            captured["payload"] = fake.payload(m, ACTION_APPROVE, "U0ALICE")
            return fake.send(ap.url, captured["payload"])

        v1, _ = await call_with(env, check("git commit -m a", rid="a"), first, fake, 1)
        # the same signed click, re-sent while the second call waits: its nonce is spent
        v2, status = await call_with(env, check("git commit -m a", rid="b"),
                                     lambda m: fake.send(ap.url, captured["payload"]), fake, 2)
    assert v1["decision"] == "allow"
    assert status == 200 and v2["decision"] == "deny"
    assert [e["body"]["code"] for e in env.kinds("approval.refused")] == ["replayed_nonce"]


async def test_wrong_session_nonce_is_refused(env, fake):
    ap = slack(fake)
    async with env.running(approvers=[ap], approval_timeout=1.0, register=("s1", "s2")):
        def script(m):
            v = json.loads(fake.payload(m, ACTION_APPROVE, "U0ALICE")["actions"][0]["value"])
            v["s"] = "s2"  # this call's nonce, presented for another session
            return fake.click(ap.url, m, "approve", "U0ALICE", value=json.dumps(v))

        v, status = await call_with(env, check("git commit -m s", session="s1"), script, fake, 1)
    assert status == 200 and v["decision"] == "deny"
    refused = env.kinds("approval.refused")
    assert [e["body"]["code"] for e in refused] == ["wrong_session"] and refused[0]["session"] == "s2"


async def test_answer_after_timeout_is_refused_and_journaled(env, fake):
    ap = slack(fake)
    async with env.running(approvers=[ap], approval_timeout=0.4):
        captured = {}

        def script(m):
            captured["p"] = fake.payload(m, ACTION_APPROVE, "U0ALICE")  # the human is too slow

        v, _ = await call_with(env, check("git commit -m late"), script, fake, 1)
        status = await anyio.to_thread.run_sync(fake.send, ap.url, captured["p"])
    assert v["decision"] == "deny" and status == 200
    assert [e["body"]["code"] for e in env.kinds("approval.refused")] == ["after_timeout"]


async def test_quorum_of_two_distinct_slack_humans(env, fake):
    ap = slack(fake)
    async with env.running(approvers=[ap], approval_timeout=0.8):
        short, _ = await call_with(env, check("make release", rid="q1"),
                                   lambda m: (fake.click(ap.url, m, "approve", "U0ALICE"),
                                              fake.click(ap.url, m, "approve", "U0ALICE")), fake, 1)
    assert short["decision"] == "deny" and "quorum not met: 1 of 2" in short["reason"]
    env2 = GateEnv(env.tmp / "two")
    ap2 = slack(fake)
    async with env2.running(approvers=[ap2], approval_timeout=10):
        full, _ = await call_with(env2, check("make release", rid="q2"),
                                  lambda m: (fake.click(ap2.url, m, "approve", "U0ALICE"),
                                             fake.click(ap2.url, m, "approve", "U0BOB")), fake, 2)
    assert full["decision"] == "allow"
    assert sorted(env2.kinds("gate.decision")[0]["body"]["approval"]["approvers"]) == ["slack:U0ALICE", "slack:U0BOB"]


async def test_slack_down_is_a_deny(env, fake):
    ap = SlackApprover(client=WebClient(token="x", base_url="http://127.0.0.1:9/api/", timeout=2),
                       channel="#a", signing_secret="s")
    async with env.running(approvers=[ap], approval_timeout=5):
        v = await anyio.to_thread.run_sync(raw_exchange, env.socket, frame(check("git commit -m x")))
    assert v["decision"] == "deny" and "unreachable" in v["reason"]
    assert env.kinds("gate.decision")[0]["body"]["approval"]["outcome"] == "approver_unreachable"

"""agp.approvers.slack against the fake Slack (real payload shapes, real signing, real HTTP on 127.0.0.1)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import anyio
import pytest
from slack_sdk import WebClient

from agp.approvers.slack import ACTION_APPROVE, SlackApprover, build_blocks
from agp.errors import ApprovalError
from agp.gate.approvals import ApprovalBroker, Outcome
from agp.gate.protocol import call_digest
from agp.journal import Journal, init_keys
from tests.support.fake_slack import FakeSlack

pytestmark = pytest.mark.anyio

CALL = {"id": "r1", "harness": "codex", "tool": "Bash", "input": {"command": "git commit -m x"}, "cwd": "/workspace"}
STATEMENTS = [{"kind": "exec", "text": "git commit -m x", "effect": "require", "rule": "commit-needs-approval"}]


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def fake():
    with FakeSlack() as f:
        yield f


@pytest.fixture
def journal(tmp_path: Path):
    j = Journal.open(tmp_path / "j.jsonl", init_keys(tmp_path / "keys"))
    yield j
    j.close()


def kinds(j: Journal, kind: str) -> list[dict]:
    return [e for e in map(json.loads, j.path.read_bytes().splitlines()) if e["kind"] == kind]


def make(fake: FakeSlack, **kw) -> SlackApprover:
    client = WebClient(token=fake.token, base_url=fake.base_url, timeout=5)
    return SlackApprover(client=client, channel="#approvals", signing_secret=fake.signing_secret, **kw)


async def pending(broker: ApprovalBroker, fake: FakeSlack, script, *, quorum: int = 1, session: str = "s1"):
    """Run a require while ``script(msg)`` (in a thread) clicks; return (result, script's return)."""
    out: dict = {}
    n = len(fake.messages) + 1

    async def waiter():
        out["r"] = await broker.require(session=session, call=CALL, call_digest=call_digest(CALL),
                                        statements=STATEMENTS, rule="commit-needs-approval",
                                        matched=["commit-needs-approval"], reason="approval required", quorum=quorum)

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        out["s"] = await anyio.to_thread.run_sync(lambda: script(fake.wait_message(n)))
    return out["r"], out["s"]


async def test_posts_block_kit_with_buttons_and_approves_on_a_signed_human_click(fake, journal):
    ap = make(fake)
    broker = ApprovalBroker([ap], record=journal.append, timeout=10)
    broker.start()
    try:
        r, status = await pending(broker, fake, lambda m: fake.click(ap.url, m, "approve", "U0ALICE"))
    finally:
        broker.close()
    assert status == 200 and r.outcome is Outcome.APPROVED and r.approvers == ("slack:U0ALICE",)
    msg = list(fake.messages.values())[0]
    posted = [p for m, p in fake.calls if m == "chat.postMessage"][0]
    text = json.dumps(posted["blocks"])
    for needle in ("codex", "s1", "Bash", "git commit -m x", "commit-needs-approval", call_digest(CALL)):
        assert needle in text
    # the message was updated with the outcome; the buttons are gone
    assert msg.updates and "Approved" in json.dumps(msg.updates[-1]["blocks"])
    assert not any(b["type"] == "actions" for b in msg.blocks)
    ans = kinds(journal, "approval.answer")
    assert ans[0]["body"]["user"] == "slack:U0ALICE" and ans[0]["body"]["via"] == "slack"


async def test_bot_click_never_approves_and_does_not_consume(fake, journal):
    ap = make(fake)
    broker = ApprovalBroker([ap], record=journal.append, timeout=10)
    broker.start()

    def script(m):
        s1 = fake.click(ap.url, m, "approve", "U0CIBOT")  # is_bot via users.info
        s2 = fake.click(ap.url, m, "approve", "USLACKBOT")
        s3 = fake.click(ap.url, m, "approve", "U0GONE")  # deleted user
        s4 = fake.click(ap.url, m, "approve", "U0NOBODY")  # users.info fails: counts as a bot
        s5 = fake.click(ap.url, m, "approve", "U0BOB")
        return s1, s2, s3, s4, s5

    try:
        r, statuses = await pending(broker, fake, script)
    finally:
        broker.close()
    assert statuses == (200,) * 5
    assert r.outcome is Outcome.APPROVED and r.approvers == ("slack:U0BOB",)
    codes = [e["body"]["code"] for e in kinds(journal, "approval.refused")]
    assert codes == ["bot_user"] * 4
    assert ap.stats["bot"] == 4


@pytest.mark.parametrize("how", ["unsigned", "stale", "future", "wrong_secret", "tampered", "bad_ts"])
async def test_unsigned_stale_or_forged_requests_are_rejected(fake, journal, how):
    ap = make(fake)
    broker = ApprovalBroker([ap], record=journal.append, timeout=0.6)
    broker.start()

    def script(m):
        payload = fake.payload(m, ACTION_APPROVE, "U0ALICE")
        if how == "unsigned":
            return fake.send(ap.url, payload, sign=False)
        if how == "stale":
            return fake.send(ap.url, payload, ts=time.time() - 301)
        if how == "future":
            return fake.send(ap.url, payload, ts=time.time() + 301)
        if how == "wrong_secret":
            return fake.send(ap.url, payload, secret="not-the-secret")
        if how == "tampered":
            p = fake.payload(m, "agp_deny", "U0CIBOT")
            return fake.send(ap.url, p, tamper=True)  # signed as the bot's deny, altered in flight
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        req = urllib.request.Request(ap.url, data=body, method="POST", headers={
            "X-Slack-Request-Timestamp": "yesterday", "X-Slack-Signature": fake.sign(body, "yesterday")})
        try:
            return urllib.request.urlopen(req, timeout=5).status
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        r, status = await pending(broker, fake, script)
    finally:
        broker.close()
    assert status == 401
    assert r.outcome is Outcome.TIMED_OUT and not r.allowed
    assert not kinds(journal, "approval.answer")
    assert ap.stats["bad_signature"] == 1


async def test_human_deny_updates_the_message(fake, journal):
    ap = make(fake)
    broker = ApprovalBroker([ap], record=journal.append, timeout=10)
    broker.start()
    try:
        r, _ = await pending(broker, fake, lambda m: fake.click(ap.url, m, "deny", "U0ALICE"))
    finally:
        broker.close()
    assert r.outcome is Outcome.DENIED and r.denied_by == "slack:U0ALICE"
    assert "Denied" in json.dumps(list(fake.messages.values())[0].updates[-1]["blocks"])


async def test_slack_unreachable_or_refusing_is_a_deny(fake, journal):
    ap = make(fake)
    fake.fail_methods["chat.postMessage"] = "channel_not_found"
    broker = ApprovalBroker([ap], record=journal.append, timeout=5)
    broker.start()
    try:
        r = await broker.require(session="s1", call=CALL, call_digest=call_digest(CALL), rule="x")
    finally:
        broker.close()
    assert r.outcome is Outcome.UNREACHABLE and "channel_not_found" in r.detail

    dead = SlackApprover(client=WebClient(token="x", base_url="http://127.0.0.1:9/api/", timeout=2),
                         channel="#a", signing_secret="s")
    broker = ApprovalBroker([dead], record=journal.append, timeout=5)
    broker.start()
    try:
        r = await broker.require(session="s1", call=CALL, call_digest=call_digest(CALL), rule="x")
    finally:
        broker.close()
    assert r.outcome is Outcome.UNREACHABLE and "unreachable" in r.detail


async def test_malformed_payloads_are_400_and_change_nothing(fake, journal):
    ap = make(fake)
    broker = ApprovalBroker([ap], record=journal.append, timeout=0.5)
    broker.start()

    def script(m):
        return [fake.send(ap.url, body) for body in (b"payload=notjson", b"nopayload=1", b"payload=%7B%7D", b"\xff\xfe")]

    try:
        r, statuses = await pending(broker, fake, script)
    finally:
        broker.close()
    # not JSON, no payload: 400; a payload of another type: ignored; a body that is not UTF-8 cannot verify: 401
    assert statuses == [400, 400, 200, 401] and r.outcome is Outcome.TIMED_OUT
    assert not kinds(journal, "approval.answer")


def test_refuses_non_loopback_and_missing_secret(fake):
    client = WebClient(token=fake.token, base_url=fake.base_url)
    with pytest.raises(ApprovalError, match="loopback"):
        SlackApprover(client=client, channel="#a", signing_secret="s", host="0.0.0.0")
    with pytest.raises(ApprovalError, match="signing secret"):
        SlackApprover(client=client, channel="#a", signing_secret=" ")


def test_blocks_escape_untrusted_text():
    from agp.gate.approvals import ApprovalRequest

    evil = {**CALL, "input": {"command": "echo <!channel> <@U0ALICE> &"}}
    req = ApprovalRequest(nonce="n" * 43, session="s1", call_digest=call_digest(evil), call=evil, harness="codex",
                          tool="Bash", statements=({"kind": "exec", "text": "echo <!channel> <@U0ALICE> &"},),
                          rule="r", matched=("r",), reason="x", quorum=1, approver_group=None, created=time.time(),
                          timeout=10)
    text = json.dumps(build_blocks(req))
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text


def test_from_env_names_what_is_missing_and_builds_otherwise(fake):
    from agp.approvers import make_approver

    with pytest.raises(ApprovalError, match="SLACK_SIGNING_SECRET"):
        SlackApprover.from_env(environ={"SLACK_BOT_TOKEN": "x", "AGP_SLACK_CHANNEL": "#a"})
    env = {"SLACK_BOT_TOKEN": fake.token, "SLACK_SIGNING_SECRET": fake.signing_secret, "AGP_SLACK_CHANNEL": "#a",
           "AGP_SLACK_API_URL": fake.base_url, "AGP_SLACK_PORT": "0"}
    ap = SlackApprover.from_env(environ=env)
    assert ap.channel == "#a" and ap.client.base_url == fake.base_url
    assert isinstance(make_approver("slack", client=ap.client, channel="#b", signing_secret="s"), SlackApprover)

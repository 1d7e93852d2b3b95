"""agp.approvers.slack_socket against the fake Slack speaking Socket Mode (apps.connections.open, a
WebSocket on 127.0.0.1, hello, interactive envelopes and their acknowledgements)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio
import pytest
from slack_sdk import WebClient

from agp.approvers import make_approver, slack_from_env, slack_mode
from agp.approvers.slack import SlackApprover, SlackSettings
from agp.approvers.slack_socket import SlackSocketApprover, check_socket_url
from agp.errors import ApprovalError
from agp.gate.approvals import ApprovalBroker, Outcome
from agp.gate.protocol import call_digest
from agp.journal import Journal, Keyring, init_keys, verify_journal
from tests.support.fake_slack import FakeSlack

pytestmark = pytest.mark.anyio

CALL = {"id": "r1", "harness": "codex", "tool": "Bash", "input": {"command": "git push"}, "cwd": "/workspace"}
STATEMENTS = [{"kind": "exec", "text": "git push", "effect": "require", "rule": "push-needs-approval"}]


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def fake():
    with FakeSlack() as f:
        yield f


@pytest.fixture
def keys(tmp_path: Path):
    return init_keys(tmp_path / "keys")


@pytest.fixture
def journal(tmp_path: Path, keys):
    j = Journal.open(tmp_path / "j.jsonl", keys)
    yield j
    j.close()


def kinds(j: Journal, kind: str) -> list[dict]:
    return [e for e in map(json.loads, j.path.read_bytes().splitlines()) if e["kind"] == kind]


def wait_refusals(j: Journal, n: int, timeout: float = 5) -> None:
    """Wait until ``n`` clicks were refused: two clicks in flight at once may be handled in either order,
    and one handled after the decision is refused as a replay instead of for its own reason."""
    deadline = time.monotonic() + timeout
    while len(kinds(j, "approval.refused")) < n and time.monotonic() < deadline:
        time.sleep(0.02)


def make(fake: FakeSlack, **kw) -> SlackSocketApprover:
    client = WebClient(token=fake.token, base_url=fake.base_url, timeout=5)
    kw.setdefault("ping_interval", 0.3)
    return SlackSocketApprover(client=client, app_token=fake.app_token, channel="#approvals", **kw)


async def pending(broker: ApprovalBroker, fake: FakeSlack, script, *, quorum: int = 1, session: str = "s1",
                  group: str | None = None):
    """Run a require while ``script(msg)`` (in a thread) clicks; return (result, script's return)."""
    out: dict = {}
    n = len(fake.messages) + 1

    async def waiter():
        out["r"] = await broker.require(session=session, call=CALL, call_digest=call_digest(CALL),
                                        statements=STATEMENTS, rule="push-needs-approval",
                                        matched=["push-needs-approval"], reason="approval required", quorum=quorum,
                                        approver_group=group)

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        out["s"] = await anyio.to_thread.run_sync(lambda: script(fake.wait_message(n)))
    return out["r"], out["s"]


def started(fake: FakeSlack, journal: Journal, timeout: float = 10, **kw) -> tuple[SlackSocketApprover, ApprovalBroker]:
    ap = make(fake, **kw)
    broker = ApprovalBroker([ap], record=journal.append, timeout=timeout)
    broker.start()
    return ap, broker


async def test_connects_with_the_app_token_gets_hello_and_approves_a_human_click(fake, journal, keys):
    ap, broker = started(fake, journal)
    try:
        assert ap.connected and ap.team_id == "T0AGPTEST" and ap.stats["hellos"] == 1
        opens = [p for m, p in fake.calls if m == "apps.connections.open"]
        assert len(opens) == 1
        r, env = await pending(broker, fake, lambda m: fake.click_socket(m, "approve", "U0ALICE"))
    finally:
        broker.close()
    assert r.outcome is Outcome.APPROVED and r.approvers == ("slack:U0ALICE",)
    # the envelope came back with its id, and nothing else was needed
    assert fake.sockets.acks == [{"envelope_id": env["envelope_id"]}]
    ans = kinds(journal, "approval.answer")
    assert [(a["body"]["user"], a["body"]["user_name"], a["body"]["via"]) for a in ans] == [
        ("slack:U0ALICE", "alice", "slack")]
    msg = list(fake.messages.values())[0]
    assert "Approved" in json.dumps(msg.updates[-1]["blocks"])
    journal.close()
    verify_journal(journal.path, Keyring.from_public_key(keys.public))


async def test_deny_click_denies_and_names_who(fake, journal):
    ap, broker = started(fake, journal)
    try:
        r, _ = await pending(broker, fake, lambda m: fake.click_socket(m, "deny", "U0BOB"))
    finally:
        broker.close()
    assert r.outcome is Outcome.DENIED and r.denied_by == "slack:U0BOB" and not r.allowed
    assert kinds(journal, "approval.answer")[0]["body"]["approve"] is False


async def test_bot_clicks_are_acknowledged_but_never_count(fake, journal):
    from tests.support.fake_slack import SlackUser

    # a person of another workspace (a shared channel): the workspace comes from auth.test at start
    fake.users["U0GUEST"] = SlackUser("U0GUEST", "guest", team_id="T0OTHERORG")
    ap, broker = started(fake, journal, timeout=3)

    def script(m):
        return [fake.click_socket(m, "approve", u) for u in ("U0CIBOT", "USLACKBOT", "U0GONE", "U0NOBODY", "U0GUEST")]

    try:
        r, envs = await pending(broker, fake, script)
    finally:
        broker.close()
    assert r.outcome is Outcome.TIMED_OUT and not r.allowed
    assert {a["envelope_id"] for a in fake.sockets.acks} == {e["envelope_id"] for e in envs}
    assert [e["body"]["code"] for e in kinds(journal, "approval.refused")] == ["bot_user"] * 5
    assert not kinds(journal, "approval.answer")


async def test_a_person_outside_the_approver_group_is_refused(fake, journal):
    settings = SlackSettings(groups={"maintainers": {"U0ALICE"}})
    ap, broker = started(fake, journal, settings=settings)

    def script(m):
        fake.click_socket(m, "approve", "U0BOB")  # a human of the workspace, not a maintainer
        fake.click_socket(m, "deny", "U0BOB")  # cannot deny either
        wait_refusals(journal, 2)
        return fake.click_socket(m, "approve", "U0ALICE")

    try:
        r, _ = await pending(broker, fake, script, group="maintainers")
    finally:
        broker.close()
    assert r.outcome is Outcome.APPROVED and r.approvers == ("slack:U0ALICE",)
    refused = kinds(journal, "approval.refused")
    assert [(e["body"]["code"], e["body"]["user"]) for e in refused] == [("not_approver", "slack:U0BOB")] * 2
    assert ap.stats["not_approver"] == 2


async def test_a_group_with_no_members_is_never_posted_and_denies_at_once(fake, journal):
    ap, broker = started(fake, journal, settings=SlackSettings(environ={}))
    try:
        r = await broker.require(session="s1", call=CALL, call_digest=call_digest(CALL), rule="push-needs-approval",
                                 approver_group="release managers")
    finally:
        broker.close()
    assert r.outcome is Outcome.UNREACHABLE and "AGP_SLACK_APPROVERS_RELEASE_MANAGERS" in r.detail
    assert not fake.messages


async def test_default_approvers_list_applies_when_the_rule_names_no_group(fake, journal):
    settings = SlackSettings.from_env({"AGP_SLACK_APPROVERS": "U0BOB, U0CAROL"})
    ap, broker = started(fake, journal, settings=settings)
    def clicks(m):
        fake.click_socket(m, "approve", "U0ALICE")
        wait_refusals(journal, 1)  # refused before Bob's click is delivered
        fake.click_socket(m, "approve", "U0BOB")

    try:
        r, _ = await pending(broker, fake, clicks)
    finally:
        broker.close()
    assert r.outcome is Outcome.APPROVED and r.approvers == ("slack:U0BOB",)
    assert [e["body"]["code"] for e in kinds(journal, "approval.refused")] == ["not_approver"]


async def test_a_replayed_envelope_is_acknowledged_and_refused(fake, journal):
    ap, broker = started(fake, journal)
    try:
        r, env = await pending(broker, fake, lambda m: fake.click_socket(m, "approve", "U0ALICE"))
        # the same envelope again (same id, same payload) after the decision
        fake.deliver(env)
        await anyio.to_thread.run_sync(lambda: fake.wait_ack(env["envelope_id"]))
        deadline = time.monotonic() + 5
        while not kinds(journal, "approval.refused") and time.monotonic() < deadline:
            await anyio.sleep(0.02)
    finally:
        broker.close()
    assert r.outcome is Outcome.APPROVED
    assert [a["envelope_id"] for a in fake.sockets.acks] == [env["envelope_id"]] * 2
    assert [e["body"]["code"] for e in kinds(journal, "approval.refused")] == ["replayed_nonce"]
    assert len(kinds(journal, "approval.answer")) == 1


async def test_a_click_carrying_another_sessions_nonce_is_refused(fake, journal):
    ap, broker = started(fake, journal, timeout=2)

    def script(m):
        button = next(el for b in m.blocks if b["type"] == "actions" for el in b["elements"])
        v = json.loads(button["value"])
        return fake.click_socket(m, "approve", "U0ALICE", value=json.dumps({**v, "s": "another-session"}))

    try:
        r, _ = await pending(broker, fake, script)
    finally:
        broker.close()
    assert r.outcome is Outcome.TIMED_OUT
    assert [e["body"]["code"] for e in kinds(journal, "approval.refused")] == ["wrong_session"]


async def test_no_click_within_the_timeout_is_a_deny(fake, journal):
    ap, broker = started(fake, journal, timeout=0.5)
    try:
        r = await broker.require(session="s1", call=CALL, call_digest=call_digest(CALL), rule="push-needs-approval")
    finally:
        broker.close()
    assert r.outcome is Outcome.TIMED_OUT and not r.allowed and fake.messages


@pytest.mark.parametrize("close_frame", [False, True], ids=["reset", "close-frame"])
async def test_the_socket_dropping_mid_approval_reconnects_and_a_later_click_counts(fake, journal, close_frame):
    ap, broker = started(fake, journal, timeout=15)

    def script(m):
        assert fake.drop_sockets(close_frame=close_frame) == 1
        fake.wait_connections(2)
        return fake.click_socket(m, "approve", "U0ALICE")

    try:
        r, _ = await pending(broker, fake, script)
    finally:
        broker.close()
    assert r.outcome is Outcome.APPROVED
    assert len([1 for m, _ in fake.calls if m == "apps.connections.open"]) >= 2


async def test_the_socket_dropping_for_good_mid_approval_is_a_deny(fake, journal):
    ap, broker = started(fake, journal, timeout=2.5)

    def script(m):
        fake.sockets.refuse_open = "invalid_auth"  # Slack will not hand out a new connection
        fake.drop_sockets()

    try:
        r, _ = await pending(broker, fake, script)
        # and while it stays down, the next approval is not posted at all: unreachable, deny
        n = len(fake.messages)
        r2 = await broker.require(session="s1", call=CALL, call_digest=call_digest(CALL), rule="x")
    finally:
        broker.close()
    assert r.outcome is Outcome.TIMED_OUT and not r.allowed
    assert r2.outcome is Outcome.UNREACHABLE and "connection is down" in r2.detail
    assert len(fake.messages) == n


async def test_envelopes_of_other_types_are_acknowledged_and_ignored(fake, journal):
    ap, broker = started(fake, journal, timeout=1)

    def script(m):
        e1 = fake.deliver(fake.envelope({"type": "event_callback", "event": {"type": "app_mention"}},
                                        type="events_api"))
        e2 = fake.deliver(fake.envelope({"type": "view_submission"}))
        return fake.wait_ack(e1), fake.wait_ack(e2)

    try:
        r, _ = await pending(broker, fake, script)
    finally:
        broker.close()
    assert r.outcome is Outcome.TIMED_OUT
    assert ap.envelopes == {"events_api": 1, "interactive": 1}


def test_start_fails_closed_on_bad_tokens_or_no_hello(fake):
    bad_bot = SlackSocketApprover(client=WebClient(token="xoxb-wrong", base_url=fake.base_url, timeout=5),
                                  app_token=fake.app_token, channel="#a")
    with pytest.raises(ApprovalError, match="SLACK_BOT_TOKEN: invalid_auth"):
        bad_bot.start()
    bad_app = SlackSocketApprover(client=WebClient(token=fake.token, base_url=fake.base_url, timeout=5),
                                  app_token="xapp-wrong", channel="#a")
    with pytest.raises(ApprovalError, match="SLACK_APP_TOKEN .*invalid_auth"):
        bad_app.start()
    with pytest.raises(ApprovalError, match="app-level token"):
        SlackSocketApprover(client=bad_app.client, app_token=fake.token, channel="#a")


def test_only_tls_to_port_443_or_loopback_websockets_are_used():
    assert check_socket_url("wss://wss-primary.slack.com/link/?ticket=x")
    assert check_socket_url("ws://127.0.0.1:1234/link/?ticket=x")
    for bad in ("ws://wss-primary.slack.com/link/", "wss://wss-primary.slack.com:8443/link/", "http://127.0.0.1/"):
        with pytest.raises(ApprovalError, match="refusing the Socket Mode URL"):
            check_socket_url(bad)


@pytest.mark.parametrize("env,missing", [
    ({}, "SLACK_BOT_TOKEN"),
    ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_APP_TOKEN"),
    ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}, "AGP_SLACK_CHANNEL"),
    ({"SLACK_BOT_TOKEN": "xapp-1", "SLACK_APP_TOKEN": "xapp-1", "AGP_SLACK_CHANNEL": "#a"}, "SLACK_BOT_TOKEN must"),
    ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-1", "AGP_SLACK_CHANNEL": "#a"}, "SLACK_APP_TOKEN must"),
    ({"AGP_SLACK_MODE": "http", "SLACK_BOT_TOKEN": "xoxb-1", "AGP_SLACK_CHANNEL": "#a"}, "SLACK_SIGNING_SECRET"),
    ({"AGP_SLACK_MODE": "webhook"}, "AGP_SLACK_MODE"),
])
def test_from_env_names_the_missing_or_malformed_variable(env, missing):
    with pytest.raises(ApprovalError, match=missing):
        slack_from_env(environ=env)


def test_from_env_picks_the_transport(fake):
    base = {"SLACK_BOT_TOKEN": "xoxb-1", "AGP_SLACK_CHANNEL": "#a", "AGP_SLACK_API_URL": fake.base_url}
    assert slack_mode(base) == "socket"
    assert isinstance(slack_from_env(environ={**base, "SLACK_APP_TOKEN": "xapp-1"}), SlackSocketApprover)
    http = slack_from_env(environ={**base, "SLACK_SIGNING_SECRET": "s", "AGP_SLACK_PORT": "0"})
    assert isinstance(http, SlackApprover)
    both = {**base, "SLACK_SIGNING_SECRET": "s", "SLACK_APP_TOKEN": "xapp-1"}
    assert isinstance(slack_from_env(environ=both), SlackSocketApprover)
    assert isinstance(slack_from_env(environ={**both, "AGP_SLACK_MODE": "http", "AGP_SLACK_PORT": "0"}), SlackApprover)
    ap = slack_from_env(channel="#b", environ={**base, "SLACK_APP_TOKEN": "xapp-1",
                                              "AGP_SLACK_APPROVERS_MAINTAINERS": "U1 U2"})
    assert ap.channel == "#b" and ap.settings.members("maintainers") == {"U1", "U2"}
    assert ap.settings.members(None) is None and ap.settings.members("ops") == frozenset()
    assert isinstance(make_approver("slack", client=ap.client, app_token="xapp-1", channel="#c"), SlackSocketApprover)

"""agp.gate.approvals: the broker's bindings (call digest, session, single-use nonce), quorum,
timeouts and refusals, journaled in a real journal."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import anyio
import pytest

from agp.errors import ApprovalError, JournalWriteError
from agp.gate.approvals import (
    Answer,
    AnswerCode,
    ApprovalBroker,
    ApprovalRequest,
    ApprovalResult,
    NoApprover,
    Outcome,
    UnsafeAutoApprover,
    nonce_digest,
)
from agp.gate.protocol import call_digest
from agp.journal import Journal, init_keys

pytestmark = pytest.mark.anyio

CALL = {"id": "r1", "harness": "claude-code", "tool": "Bash", "input": {"command": "git commit -m x"}, "cwd": "/ws"}
DIGEST = call_digest(CALL)


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def journal(tmp_path: Path):
    j = Journal.open(tmp_path / "j.jsonl", init_keys(tmp_path / "keys"))
    yield j
    j.close()


def entries(j: Journal) -> list[dict]:
    return [json.loads(line) for line in j.path.read_bytes().splitlines()]


class Channel:
    """A scripted approver channel: records what it was asked; the test answers through the broker."""

    name = "scripted"

    def __init__(self, fail: bool = False) -> None:
        self.asked: list[ApprovalRequest] = []
        self.results: list[ApprovalResult] = []
        self.fail = fail
        self.broker: ApprovalBroker | None = None
        self.asked_event = threading.Event()

    def bind(self, broker):
        self.broker = broker

    def start(self):
        pass

    def close(self):
        pass

    async def ask(self, request):
        if self.fail:
            raise ApprovalError("the channel is down")
        self.asked.append(request)
        self.asked_event.set()

    async def resolved(self, result):
        self.results.append(result)


def human(req: ApprovalRequest, user: str = "alice", approve: bool = True, **kw) -> Answer:
    fields = dict(nonce=req.nonce, session=req.session, approve=approve, user_id=f"test:{user}", via="test")
    fields.update(kw)
    return Answer(**fields)


async def require(broker: ApprovalBroker, *, quorum: int = 1, session: str = "s1") -> ApprovalResult:
    return await broker.require(session=session, call=CALL, call_digest=DIGEST, rule="commit-needs-approval",
                                quorum=quorum, reason="approval required")


async def run_with(broker: ApprovalBroker, chan: Channel, answer, *, quorum: int = 1) -> ApprovalResult:
    """Start a require, wait until the channel was asked, run ``answer(req)`` in a thread."""
    out: dict = {}
    before = len(chan.asked)

    async def waiter():
        out["r"] = await require(broker, quorum=quorum)

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        while len(chan.asked) == before:
            await anyio.sleep(0.005)
        out["answers"] = await anyio.to_thread.run_sync(answer, chan.asked[-1])
    return out["r"], out.get("answers")


async def test_one_human_approves(journal):
    chan = Channel()
    broker = ApprovalBroker([chan], record=journal.append, timeout=5)
    r, res = await run_with(broker, chan, lambda req: broker.answer(human(req)))
    assert r.outcome is Outcome.APPROVED and r.allowed and r.approvers == ("test:alice",)
    assert res.code is AnswerCode.DECIDED
    req = chan.asked[0]
    assert len(req.nonce) >= 22 and req.call_digest == DIGEST  # >= 128 bits of url-safe base64
    kinds = [e["kind"] for e in entries(journal)]
    assert kinds.count("approval.request") == 1 and kinds.count("approval.answer") == 1
    text = journal.path.read_text()
    assert req.nonce not in text and nonce_digest(req.nonce) in text  # only the digest is journaled
    assert chan.results and chan.results[0].outcome is Outcome.APPROVED


async def test_nonces_are_unique_and_random(journal):
    chan = Channel()
    broker = ApprovalBroker([chan], record=journal.append, timeout=0.05)
    for _ in range(3):
        await require(broker)
    nonces = {r.nonce for r in chan.asked}
    assert len(nonces) == 3


async def test_human_deny_decides(journal):
    chan = Channel()
    broker = ApprovalBroker([chan], record=journal.append, timeout=5)
    r, _ = await run_with(broker, chan, lambda req: broker.answer(human(req, approve=False)))
    assert r.outcome is Outcome.DENIED and not r.allowed and r.denied_by == "test:alice"


async def test_timeout_is_deny_and_late_answer_is_refused(journal):
    chan = Channel()
    broker = ApprovalBroker([chan], record=journal.append, timeout=0.1)
    r = await require(broker)
    assert r.outcome is Outcome.TIMED_OUT and not r.allowed
    assert "no answer within" in r.detail
    late = broker.answer(human(chan.asked[0]))
    assert late.code is AnswerCode.AFTER_TIMEOUT and not late.accepted
    refused = [e for e in entries(journal) if e["kind"] == "approval.refused"]
    assert refused and refused[-1]["body"]["code"] == "after_timeout"


async def test_replayed_nonce_is_refused(journal):
    chan = Channel()
    broker = ApprovalBroker([chan], record=journal.append, timeout=5)
    r, _ = await run_with(broker, chan, lambda req: broker.answer(human(req)))
    assert r.allowed
    again = broker.answer(human(chan.asked[0], user="bob"))
    assert again.code is AnswerCode.REPLAYED_NONCE
    # the nonce answers only its own call: a second require has a fresh nonce, the old one does nothing
    old = chan.asked[0]
    r2, (replay, fresh) = await run_with(broker, chan, lambda req: (broker.answer(human(old)), broker.answer(human(req))))
    assert replay.code is AnswerCode.REPLAYED_NONCE and fresh.code is AnswerCode.DECIDED
    assert chan.asked[1].nonce != old.nonce and r2.allowed


async def test_wrong_session_is_refused_and_does_not_consume(journal):
    chan = Channel()
    broker = ApprovalBroker([chan], record=journal.append, timeout=5)

    def answers(req):
        wrong = broker.answer(human(req, session="other-session"))
        right = broker.answer(human(req))
        return wrong, right

    r, (wrong, right) = await run_with(broker, chan, answers)
    assert wrong.code is AnswerCode.WRONG_SESSION and right.code is AnswerCode.DECIDED
    assert r.outcome is Outcome.APPROVED
    refused = [e for e in entries(journal) if e["kind"] == "approval.refused"]
    assert refused[0]["body"]["code"] == "wrong_session" and refused[0]["session"] == "other-session"


async def test_wrong_call_digest_is_refused(journal):
    chan = Channel()
    broker = ApprovalBroker([chan], record=journal.append, timeout=5)

    def answers(req):
        wrong = broker.answer(human(req, call_digest="0" * 64))
        right = broker.answer(human(req, call_digest=DIGEST))
        return wrong, right

    r, (wrong, right) = await run_with(broker, chan, answers)
    assert wrong.code is AnswerCode.WRONG_CALL and r.allowed


async def test_bot_never_approves_and_does_not_consume(journal):
    chan = Channel()
    broker = ApprovalBroker([chan], record=journal.append, timeout=5)

    def answers(req):
        bot = broker.answer(human(req, user="ci-bot", is_bot=True))
        bot_deny = broker.answer(human(req, user="ci-bot", is_bot=True, approve=False))
        return bot, bot_deny, broker.answer(human(req))

    r, (bot, bot_deny, h) = await run_with(broker, chan, answers)
    assert bot.code is AnswerCode.BOT_USER and bot_deny.code is AnswerCode.BOT_USER
    assert h.code is AnswerCode.DECIDED and r.approvers == ("test:alice",)


async def test_bot_alone_times_out(journal):
    chan = Channel()
    broker = ApprovalBroker([chan], record=journal.append, timeout=0.3)
    r, res = await run_with(broker, chan, lambda req: broker.answer(human(req, user="bot", is_bot=True)))
    assert res.code is AnswerCode.BOT_USER and r.outcome is Outcome.TIMED_OUT


async def test_quorum_counts_distinct_humans(journal):
    chan = Channel()
    broker = ApprovalBroker([chan], record=journal.append, timeout=5)

    def answers(req):
        a1 = broker.answer(human(req, user="alice"))
        a2 = broker.answer(human(req, user="alice"))
        b = broker.answer(human(req, user="bob"))
        return a1, a2, b

    r, (a1, a2, b) = await run_with(broker, chan, answers, quorum=2)
    assert a1.code is AnswerCode.COUNTED and a2.code is AnswerCode.DUPLICATE_USER and b.code is AnswerCode.DECIDED
    assert r.outcome is Outcome.APPROVED and set(r.approvers) == {"test:alice", "test:bob"}


async def test_quorum_not_met_is_deny(journal):
    chan = Channel()
    broker = ApprovalBroker([chan], record=journal.append, timeout=0.3)
    r, _ = await run_with(broker, chan, lambda req: (broker.answer(human(req)), broker.answer(human(req))), quorum=2)
    assert r.outcome is Outcome.TIMED_OUT and not r.allowed
    assert "quorum not met: 1 of 2" in r.detail


async def test_unreachable_approver_is_deny(journal):
    broker = ApprovalBroker([Channel(fail=True)], record=journal.append, timeout=5)
    r = await require(broker)
    assert r.outcome is Outcome.UNREACHABLE and "the channel is down" in r.detail and not r.allowed


async def test_no_approver_is_deny_and_says_so(journal):
    broker = ApprovalBroker([NoApprover()], record=journal.append, timeout=5)
    r = await require(broker)
    assert r.outcome is Outcome.NO_APPROVER and "CI mode" in r.detail and not r.allowed
    assert not any(e["kind"] == "approval.request" for e in entries(journal))


async def test_automatic_answers_need_demo_mode(journal):
    broker = ApprovalBroker([UnsafeAutoApprover()], record=journal.append, timeout=0.3)
    r = await require(broker)
    assert r.outcome is Outcome.TIMED_OUT
    refused = [e for e in entries(journal) if e["kind"] == "approval.refused"]
    assert refused[0]["body"]["code"] == "automatic_not_allowed"

    demo = ApprovalBroker([UnsafeAutoApprover()], record=journal.append, timeout=5, allow_automatic=True)
    r = await require(demo)
    assert r.outcome is Outcome.APPROVED_AUTOMATICALLY and r.allowed and "automatically" in r.detail
    answered = [e for e in entries(journal) if e["kind"] == "approval.answer"]
    assert answered[-1]["body"]["automatic"] is True and answered[-1]["body"]["via"] == "auto"


async def test_unknown_nonce(journal):
    broker = ApprovalBroker([Channel()], record=journal.append, timeout=5)
    res = broker.answer(Answer("made-up", "s1", True, "test:alice", "test"))
    assert res.code is AnswerCode.UNKNOWN_NONCE


async def test_cancel_all_denies_pending(journal):
    chan = Channel()
    broker = ApprovalBroker([chan], record=journal.append, timeout=30)
    out = {}

    async def waiter():
        out["r"] = await require(broker)

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        while not chan.asked:
            await anyio.sleep(0.005)
        assert broker.cancel_all() == 1
    assert out["r"].outcome is Outcome.CANCELLED and not out["r"].allowed
    assert broker.answer(human(chan.asked[0])).code is AnswerCode.REPLAYED_NONCE


async def test_answer_that_cannot_be_journaled_does_not_approve(tmp_path):
    j = Journal.open(tmp_path / "j.jsonl", init_keys(tmp_path / "keys"))
    chan = Channel()
    calls = {"n": 0}

    def record(kind, session, body):
        if kind == "approval.answer":
            raise JournalWriteError("disk full (injected at the sink)")
        return j.append(kind, session, body)

    broker = ApprovalBroker([chan], record=record, timeout=5)

    def answer(req):
        with pytest.raises(JournalWriteError):
            broker.answer(human(req))
        calls["n"] += 1

    r, _ = await run_with(broker, chan, answer)
    assert calls["n"] == 1 and r.outcome is Outcome.DENIED and not r.allowed
    j.close()

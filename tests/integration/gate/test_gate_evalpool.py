"""Policy evaluation in worker processes: same decisions, a deadline per call, crashes replaced."""

from __future__ import annotations

import os
import signal
import threading

import anyio
import pytest

from agp.errors import GateError
from agp.policy import load_policy
from tests.integration.gate.helpers import check, frame, raw_exchange

pytestmark = pytest.mark.anyio

#: a policy regex that backtracks polynomially (twelve adjacent a*: about 32^12/12! steps on this word,
#: minutes) meets a word it does not match; policies refuse the exponential kind ((a+)+) when they are
#: read, not this one, so the deadline is what bounds it. The comment pads the frame past
#: eval_inline_max (so it goes to a worker) while the command stays under the classifier's own size
#: and node bounds (which refuse the huge inputs that used to be slow)
SLOW = "grep " + "a" * 32 + "b # " + "x" * 9000
SLOW_RULE = """
[[rule]]
id = "slow-regex"
effect = "deny"
program = ["grep"]
args_any = ["re:^a*a*a*a*a*a*a*a*a*a*a*a*c$"]
"""


async def ask(env, req) -> dict:
    return await anyio.to_thread.run_sync(lambda: raw_exchange(env.socket, frame(req), timeout=60))


async def test_pool_decides_like_the_in_process_engine(env):
    cmds = ["ls -la", "rm -rf /", "curl x", "ls; rm x", "git commit -m x", "echo $(rm x)", "eval ls", "cat a | wc -l"]
    async with env.running() as inproc:
        assert inproc._pool is None
        expected = [await ask(env, check(c, rid=f"i{n}")) for n, c in enumerate(cmds)]
    env2 = type(env)(env.tmp / "pool")
    async with env2.running(eval_workers=2, eval_inline_max=-1) as server:
        assert server._pool is not None
        got = [await ask(env2, check(c, rid=f"i{n}")) for n, c in enumerate(cmds)]
    strip = [{k: v for k, v in x.items() if k != "seq"} for x in expected]
    assert [{k: v for k, v in x.items() if k != "seq"} for x in got] == strip
    a = [e["body"] for e in env.kinds("gate.decision")]
    b = [e["body"] for e in env2.kinds("gate.decision")]
    assert a == b  # statements, matched rules, digests: identical


async def test_an_overrunning_call_is_denied_and_does_not_stall_others(env):
    # SLOW is above eval_inline_max, so it goes to a worker; "ls" is classified inline
    env.policy_path.write_text(env.policy_path.read_text() + SLOW_RULE)
    async with env.running(eval_workers=2, eval_timeout=0.5) as server:
        order: list[str] = []
        out = {}

        def slow():
            out["slow"] = raw_exchange(env.socket, frame(check(SLOW, rid="slow")), timeout=60)
            order.append("slow")

        t = threading.Thread(target=slow)
        t.start()
        while not server._inflight:
            await anyio.sleep(0.01)
        fast = await ask(env, check("ls", rid="fast"))
        order.append("fast")
        await anyio.to_thread.run_sync(t.join)
        for _ in range(500):  # the killed worker is replaced in the background
            if server._pool.replaced == 1 and len(server._pool._live) == 2:
                break
            await anyio.sleep(0.02)
        assert server._pool.replaced == 1
        again = await ask(env, check("ls", rid="again"))
    assert order == ["fast", "slow"]
    assert fast["decision"] == "allow" and again["decision"] == "allow"
    assert out["slow"]["decision"] == "deny" and "longer than 0.5s" in out["slow"]["reason"]
    body = [e for e in env.kinds("gate.decision") if e["body"]["call"]["id"] == "slow"][0]["body"]
    assert body["error"].startswith("EvalTimeout")


async def test_a_dead_worker_is_a_deny_then_replaced(env):
    async with env.running(eval_workers=1, eval_inline_max=-1) as server:
        assert (await ask(env, check("ls", rid="a")))["decision"] == "allow"
        os.kill(server._pool._live[0].proc.pid, signal.SIGKILL)
        dead = await ask(env, check("ls", rid="b"))
        for _ in range(500):
            if server._pool.replaced == 1 and server._pool._live:
                break
            await anyio.sleep(0.02)
        after = await ask(env, check("ls", rid="c"))
    assert dead["decision"] == "deny" and "could not evaluate" in dead["reason"]
    assert after["decision"] == "allow"


async def test_workers_refuse_a_policy_whose_digest_differs(env):
    policy = load_policy(env.policy_path)
    policy.digest = "0" * 64  # what the gate believes is not what the workers would enforce
    from agp.gate import GateServer
    from agp.journal import Journal

    j = Journal.open(env.journal_path, env.key)
    server = GateServer(socket_dir=env.sock_dir, policy=policy, journal=j, eval_workers=1, own_journal=True)
    with pytest.raises(GateError, match="refused to start: policy digest"):
        await server.serve()
    assert not env.socket.exists()
    env.verify()  # the journal it owned was closed with its head

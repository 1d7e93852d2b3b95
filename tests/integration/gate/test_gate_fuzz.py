"""Fuzz the gate's frame handling with the real policy engine and a real journal:
no input crashes it, and nothing but a well-formed call the policy allows is ever allowed."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agp.gate import FrameRejected, GateServer, SessionTable, parse_request
from agp.journal import Journal, init_keys
from agp.policy import ToolCall, evaluate, load_policy
from tests.integration.gate.helpers import POLICY

pytestmark = pytest.mark.anyio

BASE = {"v": 1, "type": "check", "id": "f1", "session": "s1", "harness": "claude-code", "tool": "Bash",
        "input": {"command": "ls"}, "cwd": "/workspace", "tool_use_id": None}

json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_any = st.recursive(json_leaf, lambda ch: st.lists(ch, max_size=3) | st.dictionaries(st.text(max_size=6), ch, max_size=3),
                        max_leaves=10)
commands = st.sampled_from(["ls", "ls -la", "rm -rf /", "git commit -m x", "curl x", "ls; rm x", "echo $(rm x)",
                            "cat /etc/shadow", "ls && make release", "", "eval ls", "ls | sh"]) | st.text(max_size=40)
requests = st.fixed_dictionaries({
    "v": st.sampled_from([1, 1, 1, 2, "1", True, None]),
    "type": st.sampled_from(["check", "check", "check", "verdict", "allow", ""]),
    "id": st.sampled_from(["f1", "", "x" * 300]) | st.text(max_size=10),
    "session": st.sampled_from(["s1", "s1", "s1", "other"]),
    "harness": st.sampled_from(["claude-code", "codex", "reference", "nope", ""]),
    "tool": st.sampled_from(["Bash", "Read", "Write", "mcp__db__query", "Unknown"]),
    "input": st.one_of(st.fixed_dictionaries({"command": commands}), st.dictionaries(st.text(max_size=8), json_any,
                                                                                        max_size=3), json_any),
    "cwd": st.sampled_from(["/workspace", "/", "", "/workspace/sub"]) | json_leaf,
    "tool_use_id": st.none() | st.text(max_size=10),
}, optional={"extra": json_any, "decision": st.just("allow")})


@pytest.fixture(scope="module")
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    (tmp / "p.toml").write_text(POLICY)
    j = Journal.open(tmp / "j.jsonl", init_keys(tmp / "keys"))
    s = GateServer(socket_dir=tmp / "sock", policy=load_policy(tmp / "p.toml"), journal=j,
                   sessions=SessionTable(rate=10**9, window=1), own_journal=True)
    s.register_session("s1")
    yield s
    j.close()


def policy_allows(body: bytes, server: GateServer) -> bool:
    try:
        req = parse_request(body)
    except FrameRejected:
        return False
    if req.session != "s1":
        return False
    d = evaluate(ToolCall(harness=req.harness, tool=req.tool, input=req.input, cwd=req.cwd or "/workspace",
                          workspace="/workspace", session=req.session), server.policy, dt.datetime.now(dt.timezone.utc))
    return d.effect == "allow"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(obj=requests)
async def test_only_well_formed_allowed_calls_are_allowed(server, obj):
    body = json.dumps(obj).encode()
    v = await server.handle_frame(body)
    assert v is not None and v.decision in ("allow", "deny")
    if v.decision == "allow":
        assert policy_allows(body, server), obj
        assert v.seq is not None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=512) | st.builds(lambda b: json.dumps(BASE).encode()[: len(b)], st.binary(max_size=200)))
async def test_raw_bytes_never_allow(server, raw):
    v = await server.handle_frame(raw)
    assert v is None or v.decision == "deny" or policy_allows(raw, server)

"""The relay's allowlist is measured, not guessed: the real Claude Code and Codex, driven through a task with
reads, shell calls, an MCP tool and a subagent, send only requests the relay's default rules pass (the
endpoints in agp.sandbox.relay.ENDPOINTS, bodies with no server-side tool or fetch). A harness upgrade that
starts using another endpoint or a server tool fails here before it fails in a governed run."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from agp.sandbox.relay import ENDPOINTS, RelayRules, _Refuse, _QUERY_RE, inspect_body
from tests.support.harness_run import HARNESSES, Steps, run_harness
from tests.support.live_gate import live_gate

pytestmark = [pytest.mark.harness, pytest.mark.slow]

POLICY = Path(__file__).resolve().parent / "policy.toml"
PROVIDER = {"claude-code": "anthropic", "codex": "openai"}


@pytest.mark.parametrize("harness", HARNESSES)
def test_every_request_a_real_harness_sends_passes_the_default_rules(tmp_path, harness):
    ws = tmp_path / "ws"
    s, sub = Steps(harness), Steps(harness, prefix="s")
    spawn = s.subagent("sub")
    wait = s.wait_subagent(spawn)
    main = [s.read(f"{ws}/seed.txt"), s.shell(f"echo hi > {ws}/a.marker"),
            s.mcp("touch_marker", {"path": f"{ws}/mcp.marker", "text": "mcp"}), spawn] + ([wait] if wait else [])
    script = {"main": main + [s.done()], "sub": [sub.shell(f"echo sub > {ws}/sub.marker"), sub.done("sub done")]}
    session = f"relay-{uuid.uuid4().hex[:8]}"
    with live_gate(tmp_path / "gate", POLICY, session=session, harness=harness, workspace=str(ws)) as gate:
        run = run_harness(harness, script, tmp_path, socket=gate.socket, session=session, deadline=15,
                          prepare=lambda w: (w / "seed.txt").write_text("seed\n"))
    assert (ws / "sub.marker").exists() and (ws / "mcp.marker").exists(), run.diagnostics()
    rules = RelayRules.for_provider(PROVIDER[harness])
    seen = set()
    for req in run.model.requests:
        path, _, query = req["path"].partition("?")
        seen.add((req["method"], path))
        assert (req["method"], path) in ENDPOINTS[PROVIDER[harness]], req["path"]
        assert _QUERY_RE.fullmatch(query), req["path"]
        try:
            inspect_body(json.dumps(req.get("body") or {}).encode(), rules)
        except _Refuse as exc:
            pytest.fail(f"{harness} sent a body the relay refuses: {exc.reason}")
    # what was measured (adr/0005): Claude Code POST /v1/messages?beta=true, Codex POST /v1/responses
    assert seen == {("POST", "/v1/messages" if harness == "claude-code" else "/v1/responses")}, seen

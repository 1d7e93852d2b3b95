"""The real harness binaries, inside their hardened network-none sandboxes, reach a scripted model
only through the loopback forwarder and the host relay; the relay journals each request."""

from __future__ import annotations

import json

import pytest

from agp.sandbox.docker import DockerSandbox
from agp.sandbox.images import resolve_intendant_image
from agp.sandbox.relay import Credential, ModelRelay, RelayRules, RelayThread, Upstream
from tests.support.scripted_model import ScriptedModel

pytestmark = [pytest.mark.docker, pytest.mark.harness]
ANSWER = "hello from the scripted model via the relay"
PORT = "8788"


def _claude(base_url: str) -> tuple[list[str], dict[str, str]]:
    argv = ["claude", "-p", "AGP-SCRIPT:hello go", "--output-format", "text", "--model", "claude-sonnet-4-5"]
    env = {"ANTHROPIC_BASE_URL": base_url, "ANTHROPIC_API_KEY": "agp-relay-injects-the-key",
           "CLAUDE_CONFIG_DIR": "/home/agent/.claude", "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1",
           "DISABLE_ERROR_REPORTING": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
    return argv, env


def _codex(base_url: str) -> tuple[list[str], dict[str, str]]:
    from intendants.codex.launch import config_overrides

    argv = ["codex", "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox"]
    for kv in config_overrides(base_url=base_url + "/v1", model="agp-model"):
        argv += ["-c", kv]
    argv += ["-C", "/workspace", "AGP-SCRIPT:hello go"]
    return argv, {"CODEX_HOME": "/home/agent/.codex", "AGP_MODEL_KEY": "agp-relay-injects-the-key"}


@pytest.mark.parametrize("name,dialect,make,path", [
    ("claude-code", "anthropic", _claude, "/v1/messages"),
    ("codex", "responses", _codex, "/v1/responses"),
])
def test_harness_reaches_its_model_only_through_the_relay(docker_client, spec_for, run_dirs, name, dialect, make,
                                                          path):
    ws, sock = run_dirs
    log = []
    image = resolve_intendant_image(name, client=docker_client)
    with ScriptedModel(dialect, {"hello": [{"text": ANSWER}]}) as model:
        relay = ModelRelay(sock / "relay.sock", Upstream.parse(f"http://127.0.0.1:{model.port}"),
                           Credential("x-api-key" if dialect == "anthropic" else "authorization",
                                      "host-key-material-0001"),
                           rules=RelayRules.for_provider("anthropic" if dialect == "anthropic" else "openai"),
                           on_request=log.append)
        with RelayThread(relay), DockerSandbox(spec_for(image=image.id), client=docker_client) as sb:
            sb.preflight()
            fwd = sb.start_forwarder(int(PORT))
            argv, env = make(f"http://127.0.0.1:{PORT}")
            assert sb.exec(["mkdir", "-p", "/home/agent/.codex"]).exit_code == 0
            r = sb.exec(argv, env=env, timeout=180)
            fwd.kill()
    assert r.exit_code == 0, (r.stdout[-2000:], r.stderr[-2000:])
    assert ANSWER in r.stdout.decode()
    ok = [m for m in log if m["path"] == path and m["status"] == 200]
    assert ok, json.dumps(log)
    assert all("host-key-material" not in json.dumps(m) for m in log)

"""Launch specs: what each intendant installs for its harness, and the refusal of unsafe specs."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from agp.errors import IntendantError
from intendants._launch import LaunchSpec, bridge_files, check_spec, hook_command
from intendants.claude_code.launch import MANAGED_SETTINGS_PATH
from intendants.claude_code.launch import launch_spec as claude_spec
from intendants.codex.launch import REQUIREMENTS_PATH, config_overrides
from intendants.codex.launch import launch_spec as codex_spec
from intendants.codex.trust import require_gate_hook, trust_entries
from intendants.reference.launch import launch_spec as reference_spec

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def _claude(**kw):
    return claude_spec(prompt="do it", workspace="/workspace", base_url="http://127.0.0.1:8787",
                       config_dir="/home/agent/.claude", session="run-1", **kw)


def _codex(**kw):
    return codex_spec(prompt="do it", workspace="/workspace", base_url="http://127.0.0.1:8787/v1",
                      codex_home="/home/agent/.codex", session="run-1", **kw)


def test_claude_managed_settings_gate_every_tool_and_block_on_failure():
    spec = _claude()
    st = json.loads(spec.files[MANAGED_SETTINGS_PATH])
    assert st["allowManagedHooksOnly"] is True
    (group,) = st["hooks"]["PreToolUse"]
    assert group["matcher"] == "*"
    (h,) = group["hooks"]
    assert h == {"type": "command", "command": spec.hook_command, "timeout": 30, "onFailure": "block"}
    argv = shlex.split(spec.hook_command.split(" || ")[0])
    assert argv[:4] == ["/usr/bin/python3", "-I", "-S", "/opt/agp/claude-code/bridge.py"]
    assert argv[4:] == ["--socket", "/run/agp/gate.sock", "--deadline", "25", "--session", "run-1"]
    assert "--dangerously-skip-permissions" in spec.argv and "IS_SANDBOX" not in spec.env
    assert set(spec.files) == {MANAGED_SETTINGS_PATH, "/opt/agp/claude-code/bridge.py", "/opt/agp/claude-code/_agp_bridge.py",
                               f"/opt/agp/claude-code/__pycache__/_agp_bridge.{sys.implementation.cache_tag}.pyc"}
    assert spec.writable_dirs == ("/home/agent/.claude",)
    assert not any(p.startswith("/home/agent") or p.startswith("/workspace") for p in spec.files)


def test_codex_requirements_and_config_keep_everything_local():
    spec = _codex(mcp_servers={"db": {"command": "/usr/bin/db-mcp", "args": ["--ro"]}})
    req = tomllib.loads(spec.files[REQUIREMENTS_PATH].decode())
    assert req["allow_managed_hooks_only"] is True
    assert req["features"] == {"hooks": True, "plugins": False, "remote_plugin": False, "apps": False,
                               "unified_exec": False}  # unified exec offers write_stdin, which no hook sees
    (group,) = req["hooks"]["PreToolUse"]
    assert group["matcher"] == "*"
    assert group["hooks"] == [{"type": "command", "command": spec.hook_command, "timeout": 55}]
    cfg = tomllib.loads(spec.files["/home/agent/.codex/config.toml"].decode())
    assert cfg["analytics"] == {"enabled": False}
    assert cfg["features"]["plugins"] is False and cfg["features"]["apps"] is False
    assert cfg["model_providers"]["agp"]["base_url"] == "http://127.0.0.1:8787/v1"
    assert cfg["mcp_servers"]["db"] == {"command": "/usr/bin/db-mcp", "args": ["--ro"]}
    # every -c override is a valid TOML assignment
    overrides = [spec.argv[i + 1] for i, a in enumerate(spec.argv) if a == "-c"]
    parsed = tomllib.loads("\n".join(kv.replace("=", " = ", 1) for kv in overrides))
    assert parsed["analytics"]["enabled"] is False and parsed["features"]["remote_plugin"] is False
    assert parsed["features"]["unified_exec"] is False and cfg["features"]["unified_exec"] is False
    assert parsed["web_search"] == "disabled" and cfg["web_search"] == "disabled"
    assert req["allowed_web_search_modes"] == ["disabled"] and req["allow_remote_control"] is False
    assert overrides == config_overrides(base_url="http://127.0.0.1:8787/v1", model="agp-model")
    assert spec.env["AGP_MODEL_KEY"] and "OPENAI_API_KEY" not in spec.env


def test_reference_spec_ships_agent_bridge_and_script():
    spec = reference_spec(script=b'[{"tool":"Bash","input":{"command":"ls"}}]', workspace="/workspace",
                          transcript="/home/agent/.agp/transcript.jsonl", session="run-1")
    assert {"/opt/agp/reference/agent.py", "/opt/agp/reference/bridge.py", "/opt/agp/reference/_agp_bridge.py",
            "/opt/agp/reference/task.json"} <= set(spec.files)
    assert spec.writable_dirs == ("/home/agent/.agp",)
    assert spec.argv[:4] == ("/usr/bin/python3", "-I", "-S", "/opt/agp/reference/agent.py")
    with pytest.raises(ValueError):
        reference_spec(script=b"[]", workspace="/w", transcript="/t/x")


# ------------------------------------------------------------------ refusals


def _with_file(spec: LaunchSpec, path: str, content: bytes) -> LaunchSpec:
    return dataclasses.replace(spec, files={**spec.files, path: content})


def _claude_mutated(fn) -> LaunchSpec:
    spec = _claude()
    st = json.loads(spec.files[MANAGED_SETTINGS_PATH])
    fn(st, spec)
    return _with_file(spec, MANAGED_SETTINGS_PATH, json.dumps(st).encode())


@pytest.mark.parametrize(
    "mutate, why",
    [
        (lambda st, s: st.pop("allowManagedHooksOnly"), "allowManagedHooksOnly"),
        (lambda st, s: st.update(disableAllHooks=True), "disable all hooks"),
        (lambda st, s: st["hooks"]["PreToolUse"][0]["hooks"][0].pop("onFailure"), "onFailure"),
        (lambda st, s: st["hooks"]["PreToolUse"][0].update(matcher="Bash"), "every tool"),
        (lambda st, s: st["hooks"]["PreToolUse"][0]["hooks"][0].update(timeout=25), "timeout"),
        (lambda st, s: st["hooks"]["PreToolUse"][0]["hooks"][0].update(command="true"), "agp's hook"),
        (lambda st, s: st["hooks"]["PreToolUse"][0]["hooks"][0].update(**{"async": True}), "onFailure"),
        (lambda st, s: st.pop("hooks"), "onFailure"),
    ],
)
def test_claude_spec_without_the_safe_settings_is_refused(mutate, why):
    with pytest.raises(IntendantError, match="refusing to launch claude-code"):
        check_spec(_claude_mutated(mutate))


def test_claude_spec_without_managed_settings_is_refused():
    spec = _claude()
    files = {k: v for k, v in spec.files.items() if k != MANAGED_SETTINGS_PATH}
    with pytest.raises(IntendantError, match="no managed settings"):
        check_spec(dataclasses.replace(spec, files=files))


@pytest.mark.parametrize(
    "old, new, why",
    [
        ("allow_managed_hooks_only = true", "allow_managed_hooks_only = false", "allow_managed_hooks_only"),
        ("plugins = false", "plugins = true", "plugins"),
        ("apps = false", "", "plugins"),
        ("hooks = true", "hooks = false", "plugins"),
        ("timeout = 55", "timeout = 30", "timeout"),
        ('matcher = "*"', 'matcher = "Bash"', "every tool"),
        ('allowed_web_search_modes = ["disabled"]', 'allowed_web_search_modes = ["live"]', "web_search"),
        ('allowed_web_search_modes = ["disabled"]', "", "web_search"),
    ],
)
def test_codex_spec_without_the_safe_settings_is_refused(old, new, why):
    spec = _codex()
    text = spec.files[REQUIREMENTS_PATH].decode()
    assert old in text
    with pytest.raises(IntendantError, match=why):
        check_spec(_with_file(spec, REQUIREMENTS_PATH, text.replace(old, new, 1).encode()))


def test_codex_spec_with_analytics_on_is_refused():
    spec = _codex()
    argv = tuple(a for a in spec.argv if a != "analytics.enabled=false")
    with pytest.raises(IntendantError, match="analytics"):
        check_spec(dataclasses.replace(spec, argv=argv))


@pytest.mark.parametrize("harness", ["claude-code", "codex"])
def test_unpinned_or_unwrapped_hook_command_is_refused(harness):
    spec = _claude() if harness == "claude-code" else _codex()
    bare = spec.hook_command.split(" || ")[0]
    with pytest.raises(IntendantError, match="block"):
        check_spec(dataclasses.replace(spec, hook_command=bare))
    unpinned = spec.hook_command.replace("--socket /run/agp/gate.sock ", "")
    with pytest.raises(IntendantError, match="pin"):
        check_spec(dataclasses.replace(spec, hook_command=unpinned))


# ------------------------------------------------------------------ the hook command


def test_hook_command_quotes_odd_paths(tmp_path):
    """A bridge and socket under paths with spaces and quotes still run (the command goes through /bin/sh)."""
    odd = tmp_path / "it's a dir" / "bridge dir"
    bridge = odd / "bridge.py"
    for path, content in bridge_files("codex", str(bridge)).items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(content)
    sock_path = tmp_path / "it's a dir" / "gate sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(sock_path))
    srv.listen(1)
    cmd = hook_command(python=PY, bridge=str(bridge), socket=str(sock_path), deadline=5, session="s 'x'")
    hook = {"session_id": "h", "cwd": "/w", "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}}
    proc = subprocess.Popen(["/bin/sh", "-c", cmd], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(json.dumps(hook).encode())
    proc.stdin.close()
    conn, _ = srv.accept()
    n = int.from_bytes(conn.recv(4, socket.MSG_WAITALL), "big")
    req = json.loads(conn.recv(n, socket.MSG_WAITALL))
    reply = json.dumps({"v": 1, "type": "verdict", "id": req["id"], "decision": "allow", "reason": "", "rule": None,
                        "seq": 1}).encode()
    conn.sendall(len(reply).to_bytes(4, "big") + reply)
    conn.close()
    srv.close()
    assert proc.wait(timeout=20) == 0, proc.stderr.read()
    assert req["session"] == "s 'x'" and req["harness"] == "codex"


# ------------------------------------------------------------------ Codex trust entries


HOOKS = [
    {"key": "/h/config.toml:pre_tool_use:0:0", "eventName": "preToolUse", "command": "agp-cmd", "matcher": "*",
     "enabled": True, "isManaged": False, "currentHash": "sha256:ab12", "trustStatus": "untrusted"},
    {"key": "/etc/codex/requirements.toml:pre_tool_use:0:0", "eventName": "preToolUse", "command": "other",
     "matcher": "*", "enabled": True, "isManaged": True, "currentHash": "sha256:cd34", "trustStatus": "managed"},
]


def test_trust_entries_are_valid_toml_for_non_managed_hooks_only():
    text = trust_entries(HOOKS)
    parsed = tomllib.loads(text)
    assert parsed == {"hooks": {"state": {"/h/config.toml:pre_tool_use:0:0": {"trusted_hash": "sha256:ab12"}}}}
    assert trust_entries(HOOKS, only_commands=["nothing"]) == ""


def test_require_gate_hook_refuses_untrusted_missing_or_narrow_hooks():
    with pytest.raises(IntendantError, match="not active"):
        require_gate_hook(HOOKS, "agp-cmd")
    with pytest.raises(IntendantError, match="does not list"):
        require_gate_hook(HOOKS, "absent")
    assert require_gate_hook(HOOKS, "other")["isManaged"] is True
    narrow = [dict(HOOKS[1], matcher="Bash")]
    with pytest.raises(IntendantError, match="not active"):
        require_gate_hook(narrow, "other")
    disabled = [dict(HOOKS[1], enabled=False)]
    with pytest.raises(IntendantError, match="not active"):
        require_gate_hook(disabled, "other")


def test_claude_spec_loading_agent_writable_settings_is_refused():
    spec = _claude()
    i = spec.argv.index("--setting-sources")
    assert spec.argv[i + 1] == ""
    argv = spec.argv[:i] + spec.argv[i + 2:]
    with pytest.raises(IntendantError, match="setting-sources"):
        check_spec(dataclasses.replace(spec, argv=argv))
    with pytest.raises(IntendantError, match="setting-sources"):
        check_spec(dataclasses.replace(spec, argv=spec.argv[:i + 1] + ("user,project",) + spec.argv[i + 2:]))


def test_codex_spec_without_a_pinned_empty_dotenv_is_refused():
    spec = _codex()
    assert spec.files["/home/agent/.codex/.env"] == b""
    files = {k: v for k, v in spec.files.items() if not k.endswith("/.env")}
    with pytest.raises(IntendantError, match=r"\.env"):
        check_spec(dataclasses.replace(spec, files=files))
    with pytest.raises(IntendantError, match=r"\.env"):
        check_spec(_with_file(spec, "/home/agent/.codex/.env", b"LD_PRELOAD=/workspace/x.so\n"))

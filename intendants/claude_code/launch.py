"""Claude Code launch spec: managed settings that install the gate hook, and the command line.

The hook lives in Claude Code's managed (policy) settings, read on Linux from
/etc/claude-code/managed-settings.json (fixed in 2.1.328; no variable moves
it), which the sandbox mounts read-only. `allowManagedHooksOnly` makes Claude
ignore hooks from user, project, local and flag settings, and non-managed
`disableAllHooks` cannot switch managed hooks off. The handler matches every
tool ("*": built-ins, the subagent tool, MCP tools) and has
`"onFailure": "block"`, which turns a crash, a timeout or a missing command
into a block. The harness's own permission prompts are bypassed so the gate
is the one authority, and `--setting-sources ""` loads no user, project or
local settings (all agent-writable; their `env` would reach the hook's
environment).
"""

from __future__ import annotations

import json

from intendants import registry
from intendants._launch import LaunchSpec, bridge_files, check_spec, hook_command

__all__ = ["MANAGED_SETTINGS_PATH", "launch_spec", "managed_settings"]

_HARNESS = registry.get("claude-code")
MANAGED_SETTINGS_PATH: str = _HARNESS.admin_config or ""
BRIDGE_PATH = _HARNESS.bridge_path
HOOK_TIMEOUT_MARGIN = 5  # seconds the harness waits beyond the bridge's own deadline


def managed_settings(*, command: str, hook_timeout: int, socket: str) -> dict:
    return {
        "allowManagedHooksOnly": True,
        "hooks": {
            "PreToolUse": [
                {
                    "matcher": "*",
                    "hooks": [{"type": "command", "command": command, "timeout": hook_timeout, "onFailure": "block"}],
                }
            ]
        },
        "env": {"AGP_GATE_SOCKET": socket},
    }


def launch_spec(
    *,
    prompt: str,
    workspace: str,
    base_url: str,
    config_dir: str,
    claude: str = "claude",
    python: str = "/usr/bin/python3",
    bridge_path: str = BRIDGE_PATH,
    socket: str = "/run/agp/gate.sock",
    deadline: float = 25.0,
    session: str | None = None,
    api_key: str = "agp-relay-injects-the-key",
    mcp_config: dict | None = None,
    as_root: bool = False,
    ship_bridge: bool = True,
    extra_env: dict[str, str] | None = None,
) -> LaunchSpec:
    cmd = hook_command(python=python, bridge=bridge_path, socket=socket, deadline=deadline, session=session)
    settings = managed_settings(command=cmd, hook_timeout=int(deadline) + HOOK_TIMEOUT_MARGIN, socket=socket)
    files = {MANAGED_SETTINGS_PATH: (json.dumps(settings, indent=2) + "\n").encode()}
    if ship_bridge:
        files.update(bridge_files(_HARNESS.name, bridge_path))
    argv = [
        claude,
        "-p",
        prompt,
        "--output-format",
        "stream-json",
        "--verbose",
        "--include-hook-events",
        "--dangerously-skip-permissions",
        # load no user, project or local settings: the agent can write all three (its home and
        # the workspace), and their `env` reaches hook processes (measured on 2.1.328 for user
        # settings). Managed settings still apply.
        "--setting-sources",
        "",
        "--model",
        "claude-sonnet-4-5",
    ]
    if mcp_config is not None:
        argv += ["--strict-mcp-config", "--mcp-config", json.dumps(mcp_config)]
    env = {
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": api_key,
        "CLAUDE_CONFIG_DIR": config_dir,
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "AGP_GATE_SOCKET": socket,
    }
    if as_root:
        env["IS_SANDBOX"] = "1"  # Claude refuses to bypass permissions as root otherwise
    env.update(extra_env or {})
    return check_spec(LaunchSpec(_HARNESS.name, tuple(argv), env, workspace, files, (config_dir,), cmd))

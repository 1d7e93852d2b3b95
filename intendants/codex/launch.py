"""Codex launch spec: managed hooks in requirements.toml, config pinned on the command line.

Codex 0.169.0 reads admin requirements from /etc/codex/requirements.toml (a
fixed path), which the sandbox mounts read-only. agp puts its PreToolUse hook
there: requirement hooks are *managed* hooks, trusted by policy (no
`[hooks.state]` trust entry needed, and no edit of a user file can void that
trust), and `allow_managed_hooks_only = true` makes Codex ignore hooks from
user, project and session configuration. `[features]` in the same file pins
hooks on and plugins, remote plugins, apps and unified exec (the `write_stdin`
tool, which no hook sees) off, so no config layer the agent can write may turn
them back; `allowed_web_search_modes = ["disabled"]` removes
the web_search tool (the model provider runs it, so no hook could ever see it),
and remote control and browser/computer use are not allowed. The same settings are also given as `-c`
overrides (the highest non-admin layer) and in a read-only
$CODEX_HOME/config.toml, with analytics off and the model provider set; an
empty read-only $CODEX_HOME/.env keeps the agent from adding variables to the
environment Codex (and so the hook) starts with.

Codex has no fail-closed option for a hook that crashes, cannot start or times
out (it runs the tool). agp closes the first two in the hook command itself
(intendants._launch.hook_command turns any non-zero, non-2 exit into exit 2
with a reason); the third by the bridge's own deadline, well below the hook
timeout. Before the task starts, `intendants.codex.trust.hook_inventory` asks
`codex app-server` (hooks/list) whether the hook is present, managed, enabled
and trusted; agp refuses to launch otherwise. For a configuration without
requirements (hooks in config.toml), `trust.trust_entries` computes the
`[hooks.state."<key>"] trusted_hash` values from the same listing.
"""

from __future__ import annotations

import json

from intendants import registry
from intendants._launch import LaunchSpec, bridge_files, check_spec, hook_command

__all__ = ["REQUIREMENTS_PATH", "config_toml", "launch_spec", "requirements_toml", "toml_str"]

_HARNESS = registry.get("codex")
REQUIREMENTS_PATH: str = _HARNESS.admin_config or ""
BRIDGE_PATH = _HARNESS.bridge_path
HOOK_TIMEOUT_MARGIN = 30  # Codex fails OPEN on a hook timeout: keep the bridge deadline far below it

#: Pinned in requirements.toml (no layer the agent can write overrides them), in config.toml and
#: as ``-c`` overrides. ``unified_exec`` off: with it on (Codex 0.169.0's default), Codex offers
#: ``write_stdin``, which types into a process an earlier ``exec_command`` started and fires no
#: PreToolUse hook (measured). Off, ``write_stdin`` is neither offered nor served ("unsupported
#: call") and ``exec_command`` runs each command to completion with no stdin, so every command
#: that runs is a command the hook saw (tests/integration/conformance: ``write_stdin`` cases).
FEATURES = {"hooks": True, "plugins": False, "remote_plugin": False, "apps": False, "unified_exec": False}


def toml_str(s: str) -> str:
    """A TOML basic string (JSON string escapes are valid TOML escapes for these characters)."""
    return json.dumps(s, ensure_ascii=False)


def _hooks_toml(command: str, hook_timeout: int) -> str:
    return (
        "[[hooks.PreToolUse]]\n"
        'matcher = "*"\n'
        "[[hooks.PreToolUse.hooks]]\n"
        'type = "command"\n'
        f"command = {toml_str(command)}\n"
        f"timeout = {hook_timeout}\n"
    )


def requirements_toml(*, command: str, hook_timeout: int) -> str:
    feats = "".join(f"{k} = {'true' if v else 'false'}\n" for k, v in FEATURES.items())
    return (
        "# agp: admin requirements for Codex (mounted read-only). Managed hooks only.\n"
        "allow_managed_hooks_only = true\n"
        "# web search is a tool the model provider runs: no PreToolUse hook ever sees it\n"
        'allowed_web_search_modes = ["disabled"]\n'
        "allow_remote_control = false\n"
        "allow_browser_and_computer_use = false\n\n"
        f"[features]\n{feats}\n" + _hooks_toml(command, hook_timeout)
    )


def config_overrides(*, base_url: str, model: str) -> list[str]:
    """`-c key=value` pairs for the command line (TOML values)."""
    pairs = [
        ("model", toml_str(model)),
        ("model_provider", '"agp"'),
        ("approval_policy", '"never"'),
        ("sandbox_mode", '"danger-full-access"'),
        ("model_providers.agp.name", '"agp relay"'),
        ("model_providers.agp.base_url", toml_str(base_url)),
        ("model_providers.agp.wire_api", '"responses"'),
        ("model_providers.agp.env_key", '"AGP_MODEL_KEY"'),
        ("model_providers.agp.request_max_retries", "0"),
        ("model_providers.agp.stream_max_retries", "0"),
        ("analytics.enabled", "false"),
        ("web_search", '"disabled"'),
        ("check_for_update_on_startup", "false"),
    ] + [(f"features.{k}", "true" if v else "false") for k, v in FEATURES.items()]
    return [f"{k}={v}" for k, v in pairs]


def config_toml(*, base_url: str, model: str, mcp_servers: dict | None = None) -> str:
    feats = "".join(f"{k} = {'true' if v else 'false'}\n" for k, v in FEATURES.items())
    out = (
        "# agp: Codex user config (mounted read-only). The hook itself is in requirements.toml.\n"
        f"model = {toml_str(model)}\n"
        'model_provider = "agp"\n'
        'approval_policy = "never"\n'
        'sandbox_mode = "danger-full-access"\n'
        'web_search = "disabled"\n'
        "check_for_update_on_startup = false\n\n"
        f"[features]\n{feats}\n"
        "[analytics]\nenabled = false\n\n"
        "[model_providers.agp]\n"
        'name = "agp relay"\n'
        f"base_url = {toml_str(base_url)}\n"
        'wire_api = "responses"\n'
        'env_key = "AGP_MODEL_KEY"\n'
        "request_max_retries = 0\n"
        "stream_max_retries = 0\n"
    )
    for name, srv in (mcp_servers or {}).items():
        out += f"\n[mcp_servers.{name}]\ncommand = {toml_str(srv['command'])}\n"
        out += "args = [" + ", ".join(toml_str(a) for a in srv.get("args", [])) + "]\n"
    return out


def launch_spec(
    *,
    prompt: str,
    workspace: str,
    base_url: str,
    codex_home: str,
    codex: str = "codex",
    python: str = "/usr/bin/python3",
    bridge_path: str = BRIDGE_PATH,
    socket: str = "/run/agp/gate.sock",
    deadline: float = 25.0,
    session: str | None = None,
    model: str = "agp-model",
    api_key: str = "agp-relay-injects-the-key",
    mcp_servers: dict | None = None,
    ship_bridge: bool = True,
    extra_env: dict[str, str] | None = None,
) -> LaunchSpec:
    cmd = hook_command(python=python, bridge=bridge_path, socket=socket, deadline=deadline, session=session)
    files = {
        REQUIREMENTS_PATH: requirements_toml(command=cmd, hook_timeout=int(deadline) + HOOK_TIMEOUT_MARGIN).encode(),
        f"{codex_home}/config.toml": config_toml(base_url=base_url, model=model, mcp_servers=mcp_servers).encode(),
        # Codex loads $CODEX_HOME/.env into its own environment, which its hooks inherit
        # (measured on 0.169.0): an empty read-only file keeps the agent from planting
        # LD_PRELOAD or AGP_* there for the next session.
        f"{codex_home}/.env": b"",
    }
    if ship_bridge:
        files.update(bridge_files(_HARNESS.name, bridge_path))
    argv = [codex, "exec", "--skip-git-repo-check", "--json", "--dangerously-bypass-approvals-and-sandbox"]
    for kv in config_overrides(base_url=base_url, model=model):
        argv += ["-c", kv]
    argv += ["-C", workspace, prompt]
    env = {"CODEX_HOME": codex_home, "AGP_MODEL_KEY": api_key, "AGP_GATE_SOCKET": socket}
    env.update(extra_env or {})
    return check_spec(LaunchSpec(_HARNESS.name, tuple(argv), env, workspace, files, (codex_home,), cmd))

"""What an intendant needs to start its harness: argv, environment and the read-only files.

A LaunchSpec is data, not a process: the sandbox driver (or the host
conformance suite) realises `files` as read-only mounts at those absolute
paths and runs `argv` with `env` in `cwd`. Nothing the agent can write
(workspace, home, the harness's own state directory) appears in `files`.
"""

from __future__ import annotations

import os
import py_compile
import shlex
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from intendants import registry

__all__ = ["LaunchSpec", "bridge_files", "bridge_source", "check_spec", "hook_command"]

CORE = "_agp_bridge.py"

_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class LaunchSpec:
    harness: str
    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: str
    files: dict[str, bytes] = field(default_factory=dict)  # absolute path -> content, mounted read-only
    writable_dirs: tuple[str, ...] = ()  # the harness's own state (must exist, writable by the agent user)
    hook_command: str = ""  # the exact hook command installed (Codex: checked against `hooks/list`)


def bridge_source(harness: str) -> bytes:
    """The bridge stub for a harness, as shipped in this package."""
    sub = registry.get(harness).package.rpartition(".")[2]
    return (_HERE / sub / "bridge.py").read_bytes()


def _compiled_core() -> tuple[str, bytes]:
    """The core compiled by this interpreter as an unchecked-hash pyc, and its __pycache__ name.

    An interpreter with another cache tag (another Python version) never looks at the
    file and compiles the source beside it instead, so the pyc only ever saves time."""
    tag = sys.implementation.cache_tag
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "core.pyc")
        py_compile.compile(
            str(_HERE / CORE), cfile=out, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
        )
        return f"__pycache__/_agp_bridge.{tag}.pyc", Path(out).read_bytes()


def bridge_files(harness: str, bridge_path: str) -> dict[str, bytes]:
    """What the sandbox mounts read-only for the bridge: the harness's stub at `bridge_path`, the
    core beside it, and the core's compiled form (so no tool call pays to compile it)."""
    d = os.path.dirname(bridge_path)
    pyc_name, pyc = _compiled_core()
    return {
        bridge_path: bridge_source(harness),
        f"{d}/{CORE}": (_HERE / CORE).read_bytes(),
        f"{d}/{pyc_name}": pyc,
    }


def hook_command(*, python: str, bridge: str, socket: str, deadline: float, session: str | None = None) -> str:
    """The hook command line. It pins the gate socket and the deadline on argv, runs
    the interpreter isolated (-I: no PYTHON* variables, no user site; -S: no site),
    and turns any bridge failure that is not its own deny (a missing file, a crash,
    a signal) into exit 2 with a reason on stderr, which both harnesses treat as a block."""
    args = [python, "-I", "-S", bridge, "--socket", socket, "--deadline", f"{deadline:g}"]
    if session:
        args += ["--session", session]
    core = " ".join(shlex.quote(a) for a in args)
    return (
        f"{core} || {{ r=$?; [ $r -eq 2 ] && exit 2; "
        f'echo "agp: the hook bridge failed (exit $r); the call is denied" >&2; exit 2; }}'
    )


def _deadline_of(command: str) -> float:
    parts = shlex.split(command.split(" || ", 1)[0])
    return float(parts[parts.index("--deadline") + 1])


def check_spec(spec: LaunchSpec) -> LaunchSpec:
    """Refuse (IntendantError) a launch spec without the settings that make its harness fail closed.

    Claude Code: the managed settings allow managed hooks only, and the PreToolUse
    handler matches every tool, runs agp's hook command, blocks on failure
    (`onFailure: block`) and waits longer than the bridge's own deadline.
    Codex (no fail-closed option): the requirements allow managed hooks only, pin
    hooks on and plugins, remote plugins and apps off, run agp's hook command
    (whose wrapper turns a crash or a missing bridge into a block) for every tool,
    with a hook timeout at least 10 s beyond the bridge deadline (Codex runs the
    tool when a hook times out); analytics are off on the command line; an empty
    read-only $CODEX_HOME/.env. Claude Code also loads no user/project/local
    settings (`--setting-sources ""`).
    Every harness: the hook command pins the gate socket and the deadline.
    """
    import json
    import tomllib

    from agp.errors import IntendantError

    def refuse(why: str) -> NoReturn:
        raise IntendantError(f"refusing to launch {spec.harness}: {why}")

    if spec.harness == "reference":
        if "--socket" not in spec.argv:
            refuse("the reference agent's bridge is not pinned to a gate socket")
        return spec
    cmd = spec.hook_command
    if "--socket" not in cmd or "--deadline" not in cmd or " -I -S " not in cmd:
        refuse("the hook command does not pin the gate socket and deadline, or runs the bridge unisolated")
    if "exit 2" not in cmd.split(" || ", 1)[-1]:
        refuse("the hook command does not turn a bridge failure into a block")
    deadline = _deadline_of(cmd)
    known = registry.HARNESSES.get(spec.harness)
    admin_config = (known.admin_config if known is not None else None) or ""  # the file that installs the hook
    if spec.harness == "claude-code":
        raw = spec.files.get(admin_config)
        if raw is None:
            refuse(f"no managed settings at {admin_config}")
        st = json.loads(raw)
        if st.get("allowManagedHooksOnly") is not True:
            refuse("managed settings do not set allowManagedHooksOnly")
        if st.get("disableAllHooks"):
            refuse("managed settings disable all hooks")
        groups = st.get("hooks", {}).get("PreToolUse", [])
        ok = [
            h
            for g in groups
            if g.get("matcher") in ("*", "", None)
            for h in g.get("hooks", [])
            if h.get("command") == cmd
            and h.get("onFailure") == "block"
            and not h.get("async")
            and float(h.get("timeout", 0)) > deadline
        ]
        if not ok:
            refuse(
                "no PreToolUse handler runs agp's hook for every tool with onFailure=block "
                "and a timeout beyond the bridge deadline"
            )
        argv = list(spec.argv)
        if "--setting-sources" not in argv or argv[argv.index("--setting-sources") + 1] != "":
            refuse(
                'user, project and local settings are loaded (need --setting-sources ""): '
                "their env would reach the hook"
            )
        return spec
    if spec.harness == "codex":
        raw = spec.files.get(admin_config)
        if raw is None:
            refuse(f"no requirements at {admin_config}")
        req = tomllib.loads(raw.decode())
        if req.get("allow_managed_hooks_only") is not True:
            refuse("requirements.toml does not set allow_managed_hooks_only")
        if req.get("allowed_web_search_modes") != ["disabled"]:
            refuse("requirements.toml must allow only web_search disabled (the provider runs it; no hook sees it)")
        feats = req.get("features", {})
        if feats.get("hooks") is not True or any(
            feats.get(k) is not False for k in ("plugins", "remote_plugin", "apps")
        ):
            refuse("requirements.toml must pin hooks on and plugins, remote_plugin and apps off")
        groups = req.get("hooks", {}).get("PreToolUse", [])
        ok = [
            h
            for g in groups
            if g.get("matcher") in ("*", "", None)
            for h in g.get("hooks", [])
            if h.get("command") == cmd
            and not h.get("async")
            and float(h.get("timeout", h.get("timeoutSec", 600))) >= deadline + 10
        ]
        if not ok:
            refuse(
                "no PreToolUse hook runs agp's hook for every tool with a timeout at least 10 s "
                "beyond the bridge deadline (Codex runs the tool when a hook times out)"
            )
        if "analytics.enabled=false" not in spec.argv:
            refuse("analytics are not turned off on the command line")
        home = spec.env.get("CODEX_HOME", "")
        if not home or spec.files.get(f"{home}/.env") != b"":
            refuse("$CODEX_HOME/.env is not pinned empty and read-only: its variables would reach the hook")
        return spec
    refuse("unknown harness")
    return spec

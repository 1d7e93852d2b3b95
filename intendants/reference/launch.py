"""Reference intendant launch spec: the scripted agent, its bridge and its task script, read-only."""

from __future__ import annotations

import json
import os
from pathlib import Path

from intendants import registry
from intendants._launch import LaunchSpec, bridge_files, check_spec

__all__ = ["AGENT_DIR", "launch_spec", "validate_script"]

_HARNESS = registry.get("reference")
AGENT_DIR = os.path.dirname(_HARNESS.bridge_path)  # the agent, its bridge and its task script
_HERE = Path(__file__).resolve().parent


def validate_script(script: bytes) -> list:
    """Parse a task script (JSON list of {tool, input}); raises ValueError with the reason."""
    try:
        calls = json.loads(script)
    except ValueError as exc:
        raise ValueError(f"the task script is not JSON: {exc}") from exc
    if not isinstance(calls, list) or not calls:
        raise ValueError("the task script must be a non-empty JSON list of tool calls")
    for i, c in enumerate(calls, 1):
        if not isinstance(c, dict) or not isinstance(c.get("tool"), str) or not isinstance(c.get("input"), dict):
            raise ValueError(f"call {i} needs a string 'tool' and an object 'input'")
    return calls


def launch_spec(
    *,
    script: bytes,
    workspace: str,
    transcript: str = "",
    session: str | None = None,
    python: str = "/usr/bin/python3",
    agent_dir: str = AGENT_DIR,
    socket: str = "/run/agp/gate.sock",
    deadline: float = 25.0,
) -> LaunchSpec:
    validate_script(script)
    agent, bridge, task = f"{agent_dir}/agent.py", f"{agent_dir}/bridge.py", f"{agent_dir}/task.json"
    transcript = transcript or _HARNESS.transcripts[0]
    files = {
        agent: (_HERE / "agent.py").read_bytes(),
        task: script,
        **bridge_files(_HARNESS.name, bridge),
    }
    argv = [
        python,
        "-I",
        "-S",
        agent,
        "--script",
        task,
        "--workspace",
        workspace,
        "--transcript",
        transcript,
        "--bridge",
        bridge,
        "--socket",
        socket,
        "--deadline",
        f"{deadline:g}",
        "--python",
        python,
    ]
    if session:
        argv += ["--session", session]
    return check_spec(
        LaunchSpec(
            _HARNESS.name, tuple(argv), {"AGP_GATE_SOCKET": socket}, workspace, files, (os.path.dirname(transcript),)
        )
    )

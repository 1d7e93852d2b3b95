"""What an intendant needs to start its harness: argv, environment and the read-only files.

A LaunchSpec is data, not a process: the sandbox driver (or the host
conformance suite) realises `files` as read-only mounts at those absolute
paths and runs `argv` with `env` in `cwd`. Nothing the agent can write
(workspace, home, the harness's own state directory) appears in `files`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LaunchSpec", "bridge_source", "hook_command"]

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
    """The bridge file for a harness, as shipped in this package."""
    sub = {"claude-code": "claude_code", "codex": "codex", "reference": "reference"}[harness]
    return (_HERE / sub / "bridge.py").read_bytes()


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
        f"echo \"agp: the hook bridge failed (exit $r); the call is denied\" >&2; exit 2; }}"
    )

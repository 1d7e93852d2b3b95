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

__all__ = ["LaunchSpec", "bridge_files", "bridge_source", "hook_command"]

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
    sub = {"claude-code": "claude_code", "codex": "codex", "reference": "reference"}[harness]
    return (_HERE / sub / "bridge.py").read_bytes()


def _compiled_core() -> tuple[str, bytes]:
    """The core compiled by this interpreter as an unchecked-hash pyc, and its __pycache__ name.

    An interpreter with another cache tag (another Python version) never looks at the
    file and compiles the source beside it instead, so the pyc only ever saves time."""
    tag = sys.implementation.cache_tag
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "core.pyc")
        py_compile.compile(str(_HERE / CORE), cfile=out, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
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
        f"echo \"agp: the hook bridge failed (exit $r); the call is denied\" >&2; exit 2; }}"
    )

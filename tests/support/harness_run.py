"""Drive the real Claude Code / Codex binaries through one scripted task, harness-neutrally.

A test writes its task once with :class:`Steps` (shell, read, mcp, subagent) and
runs it against either harness with :func:`run_harness`; the adapter maps each
step onto that harness's own tool (Claude: Bash, Read, mcp__srv__tool, Agent;
Codex: exec_command, exec_command `cat`, the MCP namespace, spawn_agent) and
starts the harness with agp's launch spec from ``intendants.<harness>.launch``,
its managed files put in place read-only by ``tests.support.harness_host``.

Everything lives in a temporary directory: the workspace, the harness's home,
the bridge copy, the socket. Nothing is sent anywhere but 127.0.0.1 and Unix
sockets: the model is a :class:`tests.support.scripted_model.ScriptedModel`,
Codex runs with plugins, remote plugins, apps and analytics off.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tests.support.harness_host import HostRun, harness_binary, run_with_managed_files
from tests.support.scripted_model import ScriptedModel

__all__ = ["HARNESSES", "HarnessRun", "Steps", "harness_available", "run_harness", "PY"]

HARNESSES = ("claude-code", "codex")
ROOT = Path(__file__).resolve().parents[2]
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
MCP_SERVER = ROOT / "tests" / "support" / "mcp_marker.py"


def harness_available(name: str) -> None:
    """Fail (not skip) when the binary is missing, unless AGP_SKIP_HARNESS=1."""
    import pytest

    try:
        harness_binary(name)
    except FileNotFoundError as exc:
        if os.environ.get("AGP_SKIP_HARNESS") == "1":
            pytest.skip(f"AGP_SKIP_HARNESS=1: {exc}")
        raise


class Steps:
    """Harness-neutral steps; every call gets an id the harness passes to the hook as tool_use_id."""

    def __init__(self, harness: str, prefix: str = ""):
        self.harness = harness
        self.prefix = prefix
        self._n = 0

    def _id(self) -> str:
        self._n += 1
        return ("toolu_agp_" if self.harness == "claude-code" else "call_agp_") + f"{self.prefix}{self._n:03d}"

    def shell(self, cmd: str) -> dict[str, Any]:
        if self.harness == "claude-code":
            return {"tool": "Bash", "input": {"command": cmd, "description": "conformance step"}, "id": self._id()}
        return {"tool": "exec_command", "input": {"cmd": cmd}, "id": self._id()}

    def read(self, path: str) -> dict[str, Any]:
        """Claude's Read tool; Codex has no file-read tool, so it reads with its shell tool."""
        if self.harness == "claude-code":
            return {"tool": "Read", "input": {"file_path": path}, "id": self._id()}
        return self.shell(f"cat {path}")

    def mcp(self, tool: str, args: dict[str, Any], server: str = "agpmarker") -> dict[str, Any]:
        if self.harness == "claude-code":
            return {"tool": f"mcp__{server}__{tool}", "input": args, "id": self._id()}
        return {"tool": tool, "namespace": f"mcp__{server}", "input": args, "id": self._id()}

    def subagent(self, tag: str) -> dict[str, Any]:
        if self.harness == "claude-code":
            return {
                "tool": "Agent",
                "input": {"description": "conformance subagent", "prompt": f"AGP-SCRIPT:{tag} go", "subagent_type": "general-purpose"},
                "id": self._id(),
            }
        return {"tool": "spawn_agent", "namespace": "multi_agent_v1", "input": {"message": f"AGP-SCRIPT:{tag} go"}, "id": self._id()}

    def wait_subagent(self, spawn: dict[str, Any]) -> dict[str, Any] | None:
        """Codex: wait for the agent `spawn` started (its id comes from the spawn result). Claude's
        -p mode waits for background agents by itself: None."""
        if self.harness == "claude-code":
            return None
        import json as _json

        def targets(results: dict[str, Any]) -> dict[str, Any]:
            r = results.get(spawn["id"])
            try:
                aid = _json.loads(r.text)["agent_id"] if r is not None else ""
            except (ValueError, KeyError, TypeError):
                aid = ""
            return {"targets": [aid], "timeout_ms": 60000}

        return {"tool": "wait_agent", "namespace": "multi_agent_v1", "input_fn": targets, "id": self._id()}

    def write(self, path: str, content: str) -> dict[str, Any]:
        if self.harness == "claude-code":
            return {"tool": "Write", "input": {"file_path": path, "content": content}, "id": self._id()}
        return self.shell(f"printf %s {_sh(content)} > {path}")

    @staticmethod
    def done(text: str = "done") -> dict[str, Any]:
        return {"text": text}

    @staticmethod
    def hook_tool(step: dict[str, Any]) -> str:
        """The tool name the harness reports to its hooks for this step (measured: Codex shows its
        shell as Bash, MCP tools as mcp__srv__tool)."""
        if step["tool"] == "exec_command":
            return "Bash"
        if step.get("namespace", "").startswith("mcp__"):
            return f"{step['namespace']}__{step['tool']}"
        if step.get("namespace") == "multi_agent_v1" and step["tool"] != "spawn_agent":
            return f"multi_agent_v1{step['tool']}"  # measured on Codex 0.169.0: the namespace is glued on
        return step["tool"]


def _sh(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


@dataclass
class HarnessRun:
    harness: str
    host: HostRun
    model: ScriptedModel
    workspace: Path
    tmp: Path
    hook_command: str
    script: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def calls(self) -> list[dict[str, Any]]:
        """Every tool step the model actually served, across conversations."""
        by_id = {s["id"]: s for steps in self.script.values() for s in steps if "id" in s}
        return [by_id[i] for _c, _n, i in self.model.served if i in by_id]

    def result(self, step: dict[str, Any]) -> str:
        r = self.model.results.get(step["id"])
        assert r is not None, f"the model never got a result for {step['id']} ({step['tool']})"
        return r.text

    def blocked(self, step: dict[str, Any]) -> bool:
        r = self.model.results.get(step["id"])
        assert r is not None, f"the model never got a result for {step['id']}"
        if self.harness == "claude-code":
            return r.is_error and "hook" in r.text
        return r.text.startswith("Command blocked by PreToolUse hook") or "blocked by PreToolUse hook" in r.text

    def diagnostics(self) -> str:
        return f"rc={self.host.returncode}\nstdout tail:\n{self.host.stdout[-3000:]}\nstderr tail:\n{self.host.stderr[-3000:]}"


def run_harness(
    harness: str,
    script: dict[str, list[dict[str, Any]]],
    tmp: Path,
    *,
    socket: str,
    session: str | None = None,
    deadline: float = 10.0,
    bridge_source: bytes | None = None,
    bridge_missing: bool = False,
    managed_override: Callable[[str, bytes], bytes] | None = None,
    on_step: Callable[[str, int], None] | None = None,
    mcp: bool = True,
    timeout: float = 180.0,
    prepare: Callable[[Path], None] | None = None,
) -> HarnessRun:
    """Run `harness` on `script` (conversation tag -> steps; the main one is "main").

    The bridge (stub, core, compiled core: the launch spec's files) is put in
    tmp/agp-bridge, mounted read-only; `bridge_source` replaces the stub, and
    `bridge_missing` leaves the directory empty. `managed_override`
    may rewrite a managed file ((path, content) -> content) to measure raw dialects.
    """
    harness_available(harness)
    exe = str(harness_binary(harness))
    ws = tmp / "ws"
    ws.mkdir(parents=True, exist_ok=True)
    bdir = tmp / "agp-bridge"
    bdir.mkdir(exist_ok=True)
    bridge_path = bdir / "bridge.py"
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    (tmp / "tmp").mkdir(exist_ok=True)
    if prepare is not None:
        prepare(ws)
    model = ScriptedModel("anthropic" if harness == "claude-code" else "responses", script)
    if on_step is not None:
        model.on_step = on_step
    model.start()
    try:
        base_env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(tmp / "tmp"), "LANG": "C.UTF-8"}
        if harness == "claude-code":
            from intendants.claude_code.launch import launch_spec

            mcp_cfg = {"mcpServers": {"agpmarker": {"command": PY, "args": [str(MCP_SERVER)]}}} if mcp else None
            spec = launch_spec(
                prompt="AGP-SCRIPT:main go", workspace=str(ws), base_url=model.base_url, config_dir=str(home / ".claude"),
                claude=exe, python=PY, bridge_path=str(bridge_path), socket=socket, deadline=deadline, session=session,
                api_key="conformance", mcp_config=mcp_cfg, as_root=os.geteuid() == 0,
                extra_env={"CLAUDE_CODE_TMPDIR": str(tmp / "tmp")},
            )
        else:
            from intendants.codex.launch import launch_spec

            servers = {"agpmarker": {"command": PY, "args": [str(MCP_SERVER)]}} if mcp else None
            spec = launch_spec(
                prompt="AGP-SCRIPT:main go", workspace=str(ws), base_url=model.base_url, codex_home=str(home / ".codex"),
                codex=exe, python=PY, bridge_path=str(bridge_path), socket=socket, deadline=deadline, session=session,
                api_key="conformance", mcp_servers=servers,
            )
        for d in spec.writable_dirs:
            Path(d).mkdir(parents=True, exist_ok=True)
        etc: dict[str, bytes] = {}
        ro: list[Path] = [bdir]
        for path, content in spec.files.items():
            if managed_override is not None:
                content = managed_override(path, content)
            if path.startswith("/etc/"):
                etc[path] = content
            elif path.startswith(str(bdir) + "/"):
                if bridge_missing:
                    continue  # the whole bridge directory stays empty
                if path == str(bridge_path) and bridge_source is not None:
                    content = bridge_source
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                Path(path).write_bytes(content)
            else:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                Path(path).write_bytes(content)
                ro.append(Path(path))
        host = run_with_managed_files(list(spec.argv), etc_files=etc, ro_paths=ro, env={**base_env, **spec.env},
                                      cwd=ws, timeout=timeout)
    finally:
        model.stop()
    return HarnessRun(harness, host, model, ws, tmp, spec.hook_command, script)


def cleanup(tmp: Path) -> None:
    shutil.rmtree(tmp, ignore_errors=True)

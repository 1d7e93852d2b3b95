"""Codex hook inventory and trust entries, from Codex itself (`codex app-server`, hooks/list).

Codex 0.169.0 silently skips a non-managed hook that is not trusted, and an edit
of the hook's command silently voids its trust. agp therefore never guesses:

- :func:`hook_inventory` starts ``codex app-server`` (JSON-RPC over stdio) with
  the same CODEX_HOME and /etc/codex the run will use and asks ``hooks/list``
  for the working directory. Each hook comes back with its ``key``
  (``<source file>:pre_tool_use:<group>:<handler>``), ``command``, ``enabled``,
  ``isManaged``, ``trustStatus`` (managed | trusted | untrusted | …) and
  ``currentHash`` (``sha256:…``).
- :func:`require_gate_hook` refuses (IntendantError) unless a PreToolUse hook
  with exactly agp's command, matching every tool, is enabled and trusted
  (managed counts as trusted). agp calls it before the task starts.
- :func:`trust_entries` writes the ``[hooks.state."<key>"] trusted_hash`` TOML
  for hooks that sit in a user config (the fallback when requirements.toml
  cannot be used), from the hashes Codex reported.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from agp.errors import IntendantError
from intendants.codex.launch import toml_str

__all__ = [
    "hook_inventory",
    "hook_inventory_in",
    "require_gate_hook",
    "trust_entries",
    "verify_hook_active",
    "verify_hook_active_in",
]

TRUSTED = ("managed", "trusted")


def _pipe_chunks(proc: subprocess.Popen[bytes], deadline: float) -> Iterator[bytes]:
    """What a local process writes on stdout, as it arrives, until ``deadline`` (monotonic)."""
    if proc.stdout is None:
        raise RuntimeError("internal error: proc.stdout is not set")
    fd = proc.stdout.fileno()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        yield chunk


def _hooks_list(send: Callable[[bytes], None], stdout: Iterator[bytes], cwd: str) -> dict[str, Any]:
    """The JSON-RPC dialogue with ``codex app-server`` (initialize, initialized, hooks/list for ``cwd``)
    over any transport: ``send`` writes to its stdin, ``stdout`` yields what it prints (raising
    TimeoutError at the caller's deadline). Returns the hooks/list result."""
    buf = b""

    def rpc(msg: Mapping[str, Any]) -> None:
        send((json.dumps(msg) + "\n").encode())

    def answer(want: int) -> dict[str, Any]:
        nonlocal buf
        try:
            while True:
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    try:
                        msg = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(msg, dict) and msg.get("id") == want:
                        if "error" in msg:
                            raise IntendantError(f"codex app-server refused request {want}: {msg['error']}")
                        return msg.get("result") or {}
                chunk = next(stdout, b"")
                if not chunk:
                    raise IntendantError("codex app-server exited before answering hooks/list")
                buf += chunk
        except TimeoutError:
            raise IntendantError("codex app-server did not answer hooks/list in time") from None

    rpc({"id": 1, "method": "initialize", "params": {"clientInfo": {"name": "agp", "version": "0.1.0"}}})
    answer(1)
    rpc({"method": "initialized"})
    rpc({"id": 2, "method": "hooks/list", "params": {"cwds": [cwd]}})
    return answer(2)


def _hooks_of(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    hooks: list[dict[str, Any]] = []
    for entry in result.get("data") or []:
        if entry.get("errors"):
            raise IntendantError(f"codex reports hook configuration errors: {entry['errors']}")
        hooks.extend(entry.get("hooks") or [])
    return hooks


def hook_inventory(
    argv_prefix: Sequence[str], *, env: Mapping[str, str], cwd: str, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """The hooks Codex would run in `cwd`: `argv_prefix` is how to start codex on this host (e.g.
    ["codex"] or a namespace wrapper + codex); `env` must carry the run's CODEX_HOME. For the Codex
    inside a sandbox, use :func:`hook_inventory_in`."""
    proc = subprocess.Popen(
        [*argv_prefix, "app-server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=dict(env),
        cwd=cwd,
    )
    stdin = proc.stdin
    if stdin is None:
        raise RuntimeError("internal error: stdin is not set")

    def send(data: bytes) -> None:
        stdin.write(data)
        stdin.flush()

    try:
        result = _hooks_list(send, _pipe_chunks(proc, time.monotonic() + timeout), cwd)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    return _hooks_of(result)


class _Process(Protocol):  # what a sandbox driver's exec_stream returns (agp.sandbox.driver.ExecHandle)
    def write(self, data: bytes) -> None: ...

    def frames(self, timeout: float | None = None) -> Iterator[tuple[int, bytes]]: ...

    def kill(self) -> None: ...


def hook_inventory_in(
    start: Callable[[list[str], Mapping[str, str], str], _Process],
    codex: str,
    *,
    env: Mapping[str, str],
    cwd: str,
    timeout: float = 30.0,
) -> list[dict[str, Any]]:
    """Like :func:`hook_inventory`, for the Codex inside a sandbox: ``start(argv, env, cwd)`` starts a
    process there with its stdin kept open (a sandbox driver's ``exec_stream``)."""
    proc = start([codex, "app-server"], dict(env), cwd)
    try:
        stdout = (data for stream, data in proc.frames(timeout=timeout) if stream == 1 and data)
        result = _hooks_list(proc.write, stdout, cwd)
    finally:
        proc.kill()
    return _hooks_of(result)


def require_gate_hook(hooks: Sequence[Mapping[str, Any]], command: str) -> Mapping[str, Any]:
    """The hook entry that runs agp's bridge; IntendantError unless it is enabled, trusted and matches all tools."""
    ours = [h for h in hooks if h.get("eventName") == "preToolUse" and h.get("command") == command]
    if not ours:
        raise IntendantError("Codex does not list agp's PreToolUse hook: the gate would not see its tool calls")
    for h in ours:
        if h.get("enabled") is True and h.get("trustStatus") in TRUSTED and h.get("matcher") in ("*", None, ""):
            return h
    h = ours[0]
    raise IntendantError(
        "agp's Codex hook is not active (enabled={}, trust={}, matcher={!r}): Codex would skip it".format(
            h.get("enabled"), h.get("trustStatus"), h.get("matcher")
        )
    )


def trust_entries(hooks: Sequence[Mapping[str, Any]], *, only_commands: Sequence[str] | None = None) -> str:
    """`[hooks.state."<key>"] trusted_hash = "sha256:…"` for each non-managed hook (optionally only those
    whose command is in `only_commands`), using the hash Codex itself computed."""
    out = []
    for h in hooks:
        if h.get("isManaged") or not h.get("key") or not h.get("currentHash"):
            continue
        if only_commands is not None and h.get("command") not in only_commands:
            continue
        out.append(f"[hooks.state.{toml_str(h['key'])}]\ntrusted_hash = {toml_str(h['currentHash'])}\n")
    return "\n".join(out)


def verify_hook_active(
    spec: Any, *, argv_prefix: Sequence[str] = (), env: Mapping[str, str] | None = None, timeout: float = 30.0
) -> Mapping[str, Any]:
    """Before the task: ask the Codex that will run (`argv_prefix` + the spec's codex binary, e.g.
    ``["docker", "exec", "-i", "-e", "CODEX_HOME=…", cid]``) whether agp's hook from `spec` is listed,
    enabled, trusted and matching every tool. Returns its listing entry; raises IntendantError."""
    hooks = hook_inventory(
        [*argv_prefix, spec.argv[0]], env=dict(env if env is not None else spec.env), cwd=spec.cwd, timeout=timeout
    )
    return require_gate_hook(hooks, spec.hook_command)


def verify_hook_active_in(
    spec: Any, start: Callable[[list[str], Mapping[str, str], str], _Process], *, timeout: float = 30.0
) -> Mapping[str, Any]:
    """Before the task: ask the Codex inside the sandbox (started through ``start(argv, env, cwd)``, the
    driver's exec) with the spec's environment and working directory whether agp's hook from `spec`
    is listed, enabled, trusted and matching every tool. Returns its listing entry; raises IntendantError."""
    hooks = hook_inventory_in(start, spec.argv[0], env=spec.env, cwd=spec.cwd, timeout=timeout)
    return require_gate_hook(hooks, spec.hook_command)

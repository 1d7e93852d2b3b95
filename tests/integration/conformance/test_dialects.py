"""Re-measure the PreToolUse hook dialects of the pinned harness binaries (adr/0007).

Each case installs a probe hook (in the managed configuration, as agp does) that
behaves one way, lets the scripted model ask for `echo PROBE > out.txt`, and
records whether the command ran. The expected table is what was measured on
Claude Code 2.1.328 and Codex 0.169.0; a new harness version that changes any
row fails here, before agp relies on it. Rows marked GAP are fail-open
behaviours agp must close itself (and does: see the last rows, and the
conformance suite).
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from tests.support.harness_run import PY, Steps, run_harness

pytestmark = [pytest.mark.harness]

PROBE = textwrap.dedent(
    """
    import json, sys, time
    mode = sys.argv[1]
    sys.stdin.read()
    deny = {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                   "permissionDecisionReason": "PROBE_JSON_DENY"}}
    allow = {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow",
                                    "permissionDecisionReason": "PROBE_JSON_ALLOW"}}
    if mode == "exit0":
        sys.exit(0)
    if mode == "exit2":
        sys.stderr.write("PROBE_DENY_REASON\\n"); sys.exit(2)
    if mode == "exit2-silent":
        sys.exit(2)
    if mode == "json-deny":
        print(json.dumps(deny)); sys.exit(0)
    if mode == "agp-deny":
        print(json.dumps(deny)); sys.stderr.write("PROBE_DENY_REASON\\n"); sys.exit(2)
    if mode == "json-allow":
        print(json.dumps(allow)); sys.exit(0)
    if mode == "exit1":
        sys.stderr.write("PROBE_CRASH\\n"); sys.exit(1)
    if mode == "sleep":
        time.sleep(8); sys.exit(0)
    sys.exit(3)
    """
)

# (mode, on_failure_block) -> outcome; "ran" or "blocked"
CLAUDE = {
    ("exit0", False): "ran",
    ("exit2", False): "blocked",
    ("exit2-silent", False): "blocked",
    ("json-deny", False): "blocked",
    ("agp-deny", False): "blocked",
    ("json-allow", False): "ran",
    ("exit1", False): "ran",  # GAP (closed by onFailure=block)
    ("sleep", False): "ran",  # GAP (closed by onFailure=block)
    ("missing", False): "ran",  # GAP (closed by onFailure=block)
    ("exit1", True): "blocked",
    ("sleep", True): "blocked",
    ("missing", True): "blocked",
    ("wrapped-missing", False): "blocked",
}
CODEX = {
    ("exit0", False): "ran",
    ("exit2", False): "blocked",
    ("exit2-silent", False): "ran",  # GAP: the bridge always writes a reason to stderr
    ("json-deny", False): "blocked",
    ("agp-deny", False): "blocked",
    ("json-allow", False): "ran",  # Codex rejects an explicit allow (logs it) and runs the tool
    ("exit1", False): "ran",  # GAP: closed by agp's hook command wrapper (exit 2 + reason)
    ("sleep", False): "ran",  # GAP: closed by the bridge deadline, far below the hook timeout
    ("missing", False): "ran",  # GAP: closed by agp's hook command wrapper
    ("wrapped-missing", False): "blocked",
}
CASES = [("claude-code", m, b, out) for (m, b), out in CLAUDE.items()] + [("codex", m, b, out) for (m, b), out in CODEX.items()]


def _command(tmp: Path, mode: str) -> str:
    probe = tmp / "probe_hook.py"
    probe.write_text(PROBE)
    if mode == "missing":
        return f"{tmp / 'no-such-hook'} x"  # the command cannot start (sh: not found, 127)
    if mode == "wrapped-missing":
        from intendants._launch import hook_command

        return hook_command(python=PY, bridge=str(tmp / "no-such-bridge.py"), socket=str(tmp / "none.sock"), deadline=5)
    return f"{PY} {probe} {mode}"


@pytest.mark.parametrize("harness, mode, block, expected", CASES, ids=[f"{h}-{m}{'-onFailure' if b else ''}" for h, m, b, _ in CASES])
def test_measured_dialect(tmp_path, harness, mode, block, expected):
    cmd = _command(tmp_path, mode)
    timeout = 2

    def override(path: str, content: bytes) -> bytes:
        if path.endswith("managed-settings.json"):
            settings = json.loads(content)
            handler = {"type": "command", "command": cmd, "timeout": timeout}
            if block:
                handler["onFailure"] = "block"
            settings["hooks"]["PreToolUse"][0]["hooks"] = [handler]
            return json.dumps(settings).encode()
        if path.endswith("requirements.toml"):
            text = content.decode()
            text = re.sub(r"(?m)^command = .*$", "command = " + json.dumps(cmd), text)
            text = re.sub(r"(?m)^timeout = .*$", f"timeout = {timeout}", text)
            return text.encode()
        return content

    s = Steps(harness)
    probe = s.shell(f"echo PROBE > {tmp_path / 'ws' / 'out.txt'}")
    run = run_harness(harness, {"main": [probe, s.done()]}, tmp_path, socket=str(tmp_path / "none.sock"),
                      managed_override=override, mcp=False)
    ran = (tmp_path / "ws" / "out.txt").exists()
    assert ("ran" if ran else "blocked") == expected, run.diagnostics()
    text = run.result(probe)
    if expected == "blocked":
        assert run.blocked(probe), text
        if mode in ("exit2", "agp-deny"):
            assert "PROBE_DENY_REASON" in text or "PROBE_JSON_DENY" in text, text
        if mode == "json-deny":
            assert "PROBE_JSON_DENY" in text, text
    else:
        assert not run.blocked(probe), text

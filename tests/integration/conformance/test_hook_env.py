"""Environment the agent plants in files it can write must not reach the hook process.

A hook inherits the harness's environment. Measured: Claude Code 2.1.328 applies the
`env` of user settings ($CLAUDE_CONFIG_DIR/settings.json) to hook processes, and Codex
0.169.0 loads $CODEX_HOME/.env into its own environment. Both files are writable by the
agent (its home), so a variable such as LD_PRELOAD planted there in one session would run
the agent's code inside the next session's bridge. agp's launch specs load no
user/project/local Claude settings (`--setting-sources ""`) and pin an empty read-only
$CODEX_HOME/.env. The probe hook here records its environment; the variables the agent
planted must be absent while the launch spec's own are present.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.harness_run import HARNESSES, PY, Steps, run_harness

pytestmark = [pytest.mark.harness]

PROBE = """import json, os, sys
sys.stdin.read()
open({out!r}, "w").write(json.dumps(dict(os.environ)))
"""


def _plant(harness: str, tmp: Path) -> None:
    ws, home = tmp / "ws", tmp / "home"
    planted = {"AGP_PLANTED": "1", "LD_PRELOAD": "/nonexistent/agp-planted.so"}
    if harness == "claude-code":
        for f in (home / ".claude" / "settings.json", ws / ".claude" / "settings.json",
                  ws / ".claude" / "settings.local.json"):
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps({"env": planted}))
    else:
        f = home / ".codex" / ".env"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("".join(f"{k}={v}\n" for k, v in planted.items()))


@pytest.mark.parametrize("harness", HARNESSES)
def test_planted_environment_does_not_reach_the_hook(tmp_path, harness):
    out = tmp_path / "hook-env.json"
    probe = tmp_path / "probe_hook.py"
    probe.write_text(PROBE.format(out=str(out)))
    cmd = f"{PY} {probe}"
    (tmp_path / "ws").mkdir()
    _plant(harness, tmp_path)

    def override(path: str, content: bytes) -> bytes:
        if path.endswith("managed-settings.json"):
            st = json.loads(content)
            st["hooks"]["PreToolUse"][0]["hooks"][0]["command"] = cmd
            return json.dumps(st).encode()
        if path.endswith("requirements.toml"):
            return re.sub(r"(?m)^command = .*$", "command = " + json.dumps(cmd), content.decode()).encode()
        return content

    s = Steps(harness)
    step = s.shell("true")
    run = run_harness(harness, {"main": [step, s.done()]}, tmp_path, socket="/run/agp/gate.sock",
                      managed_override=override, mcp=False)
    assert out.exists(), "the probe hook did not run\n" + run.diagnostics()
    env = json.loads(out.read_text())
    assert "AGP_PLANTED" not in env and "LD_PRELOAD" not in env, {k: env[k] for k in env if k in ("AGP_PLANTED", "LD_PRELOAD")}
    assert env.get("AGP_GATE_SOCKET") == "/run/agp/gate.sock"  # the launch spec's own environment does arrive

"""Codex hook trust, measured with the real binary (`codex app-server` hooks/list and real runs).

agp installs its Codex hook in /etc/codex/requirements.toml: a managed hook, trusted by
policy. The fallback, a hook in $CODEX_HOME/config.toml, is silently skipped unless a
`[hooks.state."<key>"] trusted_hash` entry matches, and an edit of the command voids that
trust without a word. These tests show all three, and that agp's pre-launch check
(`require_gate_hook` over Codex's own listing) tells them apart.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from agp.errors import IntendantError
from intendants._launch import hook_command
from intendants.codex.launch import FEATURES, _hooks_toml, launch_spec
from intendants.codex.trust import hook_inventory, require_gate_hook, trust_entries, verify_hook_active
from tests.support.harness_host import harness_binary, namespace_prefix
from tests.support.harness_run import PY, Steps, harness_available, run_harness
from tests.support.live_gate import live_gate

pytestmark = [pytest.mark.harness]

HERE = Path(__file__).resolve().parent
FEATURES_ONLY = ("[features]\n" + "".join(f"{k} = {'true' if v else 'false'}\n" for k, v in FEATURES.items())).encode()


def _inventory(tmp: Path, etc: dict[str, bytes], config: bytes) -> list[dict]:
    home = tmp / "home" / ".codex"
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_bytes(config)
    (tmp / "ws").mkdir(exist_ok=True)
    prefix, scratch = namespace_prefix(etc, [])
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp / "home"), "CODEX_HOME": str(home)}
    try:
        return hook_inventory([*prefix, str(harness_binary("codex"))], env=env, cwd=str(tmp / "ws"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _spec(tmp: Path, sock: str, session: str):
    return launch_spec(prompt="AGP-SCRIPT:main go", workspace=str(tmp / "ws"), base_url="http://127.0.0.1:9/v1",
                       codex_home=str(tmp / "home" / ".codex"), python=PY,
                       bridge_path=str(tmp / "agp-bridge" / "bridge.py"), socket=sock, deadline=10, session=session)


def test_agp_hook_is_managed_and_trusted_by_policy(tmp_path):
    harness_available("codex")
    spec = _spec(tmp_path, "/run/agp/gate.sock", "s")
    etc = {p: c for p, c in spec.files.items() if p.startswith("/etc/")}
    hooks = _inventory(tmp_path, etc, spec.files[f"{tmp_path}/home/.codex/config.toml"])
    h = require_gate_hook(hooks, spec.hook_command)
    assert h["isManaged"] is True and h["trustStatus"] == "managed" and h["source"] == "system"
    assert h["key"].startswith("/etc/codex/requirements.toml:pre_tool_use:")
    assert h["timeoutSec"] > 10
    # the same check as agp runs it before a task: through a command prefix, with the spec's own environment
    prefix, scratch = namespace_prefix(etc, [])
    spec2 = launch_spec(prompt="p", workspace=str(tmp_path / "ws"), base_url="http://127.0.0.1:9/v1",
                        codex_home=str(tmp_path / "home" / ".codex"), codex=str(harness_binary("codex")), python=PY,
                        bridge_path=str(tmp_path / "agp-bridge" / "bridge.py"), socket="/run/agp/gate.sock",
                        deadline=10, session="s")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"), **spec2.env}
    try:
        assert verify_hook_active(spec2, argv_prefix=prefix, env=env)["trustStatus"] == "managed"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_user_config_hook_needs_trust_and_an_edit_voids_it(tmp_path):
    harness_available("codex")
    ws = tmp_path / "ws"
    session = f"trust-{uuid.uuid4().hex[:8]}"
    with live_gate(tmp_path / "gate", HERE / "policy.toml", session=session, harness="codex", workspace=str(ws)) as gate:
        spec = _spec(tmp_path, gate.socket, session)
        cmd = spec.hook_command
        base_cfg = spec.files[f"{tmp_path}/home/.codex/config.toml"]
        etc = {"/etc/codex/requirements.toml": FEATURES_ONLY}

        def cfg(command: str, trust: str = "") -> bytes:
            return base_cfg + b"\n" + _hooks_toml(command, 55).encode() + b"\n" + trust.encode()

        # 1. a hook in the user config, without trust: listed, untrusted, agp refuses to launch
        hooks = _inventory(tmp_path, etc, cfg(cmd))
        with pytest.raises(IntendantError, match="not active"):
            require_gate_hook(hooks, cmd)
        entries = trust_entries(hooks, only_commands=[cmd])
        assert f'[hooks.state."{tmp_path}/home/.codex/config.toml:pre_tool_use:0:0"]' in entries

        # ... and Codex really skips it: a call the policy denies runs
        def run(config: bytes, marker: str):
            s = Steps("codex", prefix=marker)
            step = s.shell(f"rm {ws}/{marker}.keep")

            def override(path: str, content: bytes) -> bytes:
                if path.endswith("requirements.toml"):
                    return FEATURES_ONLY
                if path.endswith("/.codex/config.toml"):
                    return config
                return content

            def prepare(w: Path) -> None:
                (w / f"{marker}.keep").write_text("x")

            r = run_harness("codex", {"main": [step, s.done()]}, tmp_path, socket=gate.socket, session=session,
                            deadline=10, managed_override=override, mcp=False, prepare=prepare)
            return r, step, (ws / f"{marker}.keep").exists()

        r, step, kept = run(cfg(cmd), "untrusted")
        assert not kept, "GAP re-measured: an untrusted hook is skipped silently and the call runs"

        # 2. with the trust entry Codex computed: trusted, the hook runs, the call is denied
        hooks = _inventory(tmp_path, etc, cfg(cmd, entries))
        assert require_gate_hook(hooks, cmd)["trustStatus"] == "trusted"
        r, step, kept = run(cfg(cmd, entries), "trusted")
        assert kept and r.blocked(step), r.diagnostics()

        # 3. the command edited (one trailing space) under the old entry: trust is void, agp refuses
        hooks = _inventory(tmp_path, etc, cfg(cmd + " ", entries))
        with pytest.raises(IntendantError, match="not active"):
            require_gate_hook(hooks, cmd + " ")
    denied = [d for d in gate.decisions() if d["decision"] == "deny"]
    assert len(denied) == 1  # only the trusted run reached the gate

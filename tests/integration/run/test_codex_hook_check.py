"""Before a Codex task starts, agp asks the Codex in the sandbox whether agp's hook is live;
anything else (a hook that is missing, untrusted or not the one agp installed) refuses the launch."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from agp._live import LiveView
from agp.errors import IntendantError

pytestmark = [pytest.mark.docker, pytest.mark.harness]


def _journal(tmp_path):
    from agp.journal import Journal, init_keys

    return Journal.open(tmp_path / "j.jsonl", init_keys(tmp_path / "k"))


def _kinds(j):
    return [e.split('"kind":"')[1].split('"')[0] for e in (j.path.read_text().splitlines())]


@pytest.fixture
def codex_box(tmp_path):
    from agp import _wiring
    from agp.sandbox import SandboxSpec, resolve_intendant_image
    from agp.sandbox.docker import DockerSandbox

    ws = tmp_path / "ws"
    ws.mkdir()
    os.chown(ws, 10001, 10001)
    (tmp_path / "sock").mkdir(mode=0o700)
    os.chown(tmp_path / "sock", 10001, 10001)
    (tmp_path / "mounts").mkdir()
    opts = SimpleNamespace(intendant="codex", task="AGP-SCRIPT:none check")
    spec_l = _wiring.launch_for(opts, session="s-hook", run_dir=tmp_path)
    image = resolve_intendant_image("codex")
    spec = SandboxSpec(image=image.id, run_id=f"hookcheck-{os.getpid()}", workspace=ws, socket_dir=tmp_path / "sock",
                       config_mounts=_wiring._materialize(spec_l.files, tmp_path))
    box = DockerSandbox(spec)
    box.create()
    for d in spec_l.writable_dirs:
        box.exec(["mkdir", "-p", d], timeout=30)
    try:
        yield box, spec_l
    finally:
        box.teardown()


def test_the_installed_hook_is_confirmed_live(codex_box, tmp_path):
    from agp._wiring import _confirm_codex_hook

    box, spec_l = codex_box
    j = _journal(tmp_path)
    _confirm_codex_hook(box, spec_l, view=LiveView(), journal=j, session="s-hook")
    j.close()
    assert "intendant.hook_check" in _kinds(j)


def test_a_hook_that_is_not_agps_refuses_the_launch(codex_box, tmp_path):
    from agp._wiring import _confirm_codex_hook

    box, spec_l = codex_box
    edited = replace(spec_l, hook_command=spec_l.hook_command + " ")  # one space: Codex would void its trust
    j = _journal(tmp_path)
    with pytest.raises(IntendantError):
        _confirm_codex_hook(box, edited, view=LiveView(), journal=j, session="s-hook")
    j.close()
    assert "intendant.hook_check" not in _kinds(j)

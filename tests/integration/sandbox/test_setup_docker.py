"""scripts/setup.d/30-docker.sh: starts a routeless engine when none answers; warns (or refuses) on bridges."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "setup.d" / "30-docker.sh"


def _shims(tmp_path: Path) -> dict[str, str]:
    """A `docker` that answers only after `dockerd` ran, and a `dockerd` that records its arguments."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "docker").write_text(f"""#!/bin/sh
case "$1" in
  info) test -e {tmp_path}/started ;;
  version) echo shim-engine ;;
  network) cat {tmp_path}/bridges 2>/dev/null; true ;;
  *) exit 3 ;;
esac
""")
    (bin_ / "dockerd").write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/dockerd-args\ntouch {tmp_path}/started\n")
    for f in bin_.iterdir():
        f.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_}:/usr/bin:/bin", "AGP_DOCKERD_LOG": str(tmp_path / "dockerd.log")}


def test_starts_a_routeless_dockerd_when_none_answers(tmp_path):
    r = subprocess.run(["bash", str(SCRIPT)], env=_shims(tmp_path), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "dockerd-args").read_text().split() == ["--iptables=false", "--ip-forward=false",
                                                               "--bridge=none"]
    assert "no Docker engine answers: starting dockerd" in r.stdout
    assert "dockerd answers: shim-engine" in r.stdout


def test_bridge_networks_warn_and_can_refuse(tmp_path):
    env = _shims(tmp_path)
    (tmp_path / "started").touch()
    (tmp_path / "bridges").write_text("bridge\n")
    r = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "WARNING" in r.stderr and "bridge" in r.stderr
    assert not (tmp_path / "dockerd-args").exists(), "an answering engine is used as is"
    r = subprocess.run(["bash", str(SCRIPT)], env={**env, "AGP_REQUIRE_ROUTELESS_ENGINE": "1"},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "refusing" in r.stderr


@pytest.mark.docker
def test_real_engine_with_an_internal_bridge_network_is_reported(docker_client):
    name = "agp-test-setup-" + uuid.uuid4().hex[:8]
    net = docker_client.networks.create(name, driver="bridge", internal=True)
    try:
        r = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60)
    finally:
        net.remove()
    assert r.returncode == 0
    assert "a Docker engine answers" in r.stdout
    assert name in r.stderr

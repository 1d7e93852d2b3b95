"""Fixtures for the sandbox integration tests: the real Docker engine, the pinned images, run dirs.

Docker tests FAIL (not skip) when the engine or the images are missing, unless
AGP_SKIP_DOCKER=1. Every test gets a fresh run id and, afterwards, a check that
no container labelled with it is left behind.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from agp.errors import AgpError


def _skip_or_fail(msg: str) -> None:
    if os.environ.get("AGP_SKIP_DOCKER") == "1":
        pytest.skip(msg + " (AGP_SKIP_DOCKER=1)")
    pytest.fail(msg, pytrace=False)


@pytest.fixture(scope="session")
def docker_client():
    from agp.sandbox.docker import docker_client as make

    try:
        return make()
    except AgpError as exc:
        _skip_or_fail(f"no Docker engine: {exc}")


@pytest.fixture(scope="session")
def reference_image(docker_client):
    from agp.sandbox.images import resolve_intendant_image

    try:
        return resolve_intendant_image("reference", client=docker_client)
    except AgpError as exc:
        _skip_or_fail(f"reference image not built: {exc} (run `agp images build`)")


@pytest.fixture
def run_id():
    return "test-" + uuid.uuid4().hex[:12]


@pytest.fixture
def run_dirs(tmp_path):
    """A workspace writable by the agent uid, and a socket directory (0711, as agp run makes it)."""
    ws = tmp_path / "ws"
    sock = tmp_path / "sock"
    ws.mkdir()
    sock.mkdir()
    os.chown(ws, 10001, 10001)
    os.chmod(sock, 0o777)
    return ws, sock


@pytest.fixture
def spec_for(reference_image, run_id, run_dirs):
    from agp.sandbox import SandboxSpec

    def make(**kw) -> SandboxSpec:
        ws, sock = run_dirs
        base = dict(image=reference_image.id, run_id=run_id, workspace=ws, socket_dir=sock)
        base.update(kw)
        return SandboxSpec(**base)

    return make


@pytest.fixture(autouse=True)
def no_leftover_containers(request, run_id):
    yield
    if "docker_client" not in request.fixturenames:
        return
    client = request.getfixturevalue("docker_client")
    from agp.sandbox.docker import list_run_containers

    left = list_run_containers(client, run_id)
    for c in left:
        c.remove(force=True)
    assert not left, f"containers left behind for run {run_id}: {[c.id[:12] for c in left]}"

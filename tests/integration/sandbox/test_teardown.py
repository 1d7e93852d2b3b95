"""Teardown always happens: normal end, error, Ctrl-C (SIGINT) and SIGTERM to a child mid-run, timeout, SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agp.errors import SandboxError
from agp.sandbox.docker import DockerSandbox, ExecTimeoutError, list_run_containers, reap_orphans

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[3]


def test_teardown_on_normal_end_and_idempotent(docker_client, spec_for, run_id):
    sb = DockerSandbox(spec_for(), client=docker_client)
    with sb:
        assert len(list_run_containers(docker_client, run_id)) == 1
    assert not list_run_containers(docker_client, run_id)
    sb.teardown()  # again: no error


def test_teardown_on_error(docker_client, spec_for, run_id):
    with pytest.raises(RuntimeError, match="boom"):
        with DockerSandbox(spec_for(), client=docker_client):
            assert list_run_containers(docker_client, run_id)
            raise RuntimeError("boom")
    assert not list_run_containers(docker_client, run_id)


def test_exec_timeout_kills_and_raises(docker_client, spec_for, run_id):
    with DockerSandbox(spec_for(), client=docker_client) as sb:
        t0 = time.monotonic()
        with pytest.raises(ExecTimeoutError):
            sb.exec(["sleep", "30"], timeout=0.5)
        assert time.monotonic() - t0 < 10
        # the sandbox is still usable, and the sleeper is gone
        r = sb.exec(["sh", "-c", "ls /proc | grep -E '^[0-9]+$' | xargs -I{} cat /proc/{}/cmdline 2>/dev/null "
                                 "| tr '\\0' ' '; echo"])
        assert "sleep 30" not in r.stdout.decode()
    assert not list_run_containers(docker_client, run_id)


CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from agp.sandbox import SandboxSpec
    from agp.sandbox.docker import DockerSandbox, interrupt_on_terminate
    image, run_id, ws, sock = sys.argv[1:5]
    spec = SandboxSpec(image=image, run_id=run_id, workspace=Path(ws), socket_dir=Path(sock))
    with interrupt_on_terminate():
        with DockerSandbox(spec) as sb:
            proc = sb.exec_stream(["sleep", "300"])
            print("ready", sb.container_id, flush=True)
            for _ in proc.frames():
                pass
            time.sleep(300)
""")


def _child(reference_image, run_id, run_dirs):
    ws, sock = run_dirs
    p = subprocess.Popen([sys.executable, "-c", CHILD, reference_image.id, run_id, str(ws), str(sock)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    line = p.stdout.readline()
    assert line.startswith("ready"), (line, p.stderr.read() if p.poll() is not None else "")
    return p


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_to_child_mid_run_tears_down(docker_client, reference_image, run_id, run_dirs, sig):
    p = _child(reference_image, run_id, run_dirs)
    assert len(list_run_containers(docker_client, run_id)) == 1
    p.send_signal(sig)
    try:
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode != 0
    assert not list_run_containers(docker_client, run_id), p.stderr.read()


def test_sigkilled_owner_is_reaped(docker_client, reference_image, run_id, run_dirs):
    p = _child(reference_image, run_id, run_dirs)
    p.kill()  # no chance to clean up
    p.wait(timeout=10)
    assert len(list_run_containers(docker_client, run_id)) == 1
    removed = reap_orphans(docker_client)
    assert len(removed) >= 1
    assert not list_run_containers(docker_client, run_id)


def test_exec_after_teardown_is_refused(docker_client, spec_for):
    sb = DockerSandbox(spec_for(), client=docker_client)
    with sb:
        pass
    with pytest.raises(SandboxError, match="not running"):
        sb.exec(["true"])


def test_interrupt_during_create_leaves_nothing(docker_client, spec_for, run_id):
    """Ctrl-C arriving while the engine creates the container: it is found by label and removed."""

    class _Interrupting:
        def __init__(self, real):
            self._real = real

        def create(self, **kw):
            self._real.create(**kw)  # the engine made it ...
            raise KeyboardInterrupt  # ... and the interrupt lands before the id reaches the driver

        def __getattr__(self, name):
            return getattr(self._real, name)

    class Client:
        def __init__(self, real):
            self.api = real.api
            self.images = real.images
            self.containers = _Interrupting(real.containers)

    with pytest.raises(KeyboardInterrupt):
        DockerSandbox(spec_for(), client=Client(docker_client)).create()
    assert not list_run_containers(docker_client, run_id)

"""Nothing is read out of a live sandbox: stop() kills and confirms, the harness state comes back
through a mounted host directory read by agp's own reader, and the workspace is nosuid,nodev with
the host-run paths read-only."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from agp.errors import HardeningError, SandboxError
from agp.sandbox import StateDir
from agp.sandbox.collect import collect, strip_setid
from agp.sandbox.docker import DockerSandbox, check_hardening

pytestmark = pytest.mark.docker

AGENT = 10001


def _state(tmp_path):
    d = tmp_path / "box" / "claude"
    d.mkdir(parents=True)
    os.chown(d, AGENT, AGENT)
    os.chmod(d, 0o700)
    return d


def test_stop_confirms_no_process_is_left_and_exec_is_refused_after(docker_client, spec_for, tmp_path):
    with DockerSandbox(spec_for(), client=docker_client) as sb:
        # a daemon that ignores SIGTERM and double-forks away from the exec
        sb.exec(["sh", "-c", "(trap '' TERM HUP; setsid sh -c 'while :; do sleep 1; done' </dev/null "
                             ">/dev/null 2>&1 &) ; echo started"], timeout=10)
        assert len(docker_client.api.top(sb.container_id)["Processes"]) >= 2
        sb.stop()
        st = docker_client.api.inspect_container(sb.container_id)["State"]
        assert st["Running"] is False and st["Pid"] == 0
        assert sb.stopped
        sb.stop()  # idempotent
        with pytest.raises(Exception):
            docker_client.api.top(sb.container_id)  # the engine has no process to list


def test_harness_state_comes_back_through_the_mounted_directory_after_stop(docker_client, spec_for, tmp_path):
    host = _state(tmp_path)
    spec = spec_for(state_dirs=(StateDir(host, "/home/agent/.claude"),))
    with DockerSandbox(spec, client=docker_client) as sb:
        r = sb.exec(["sh", "-c",
                     "id -u; stat -c %u:%a /home/agent/.claude; "
                     "mkdir -p $HOME/.claude/projects/-workspace && "
                     "echo '{\"type\":\"assistant\"}' > $HOME/.claude/projects/-workspace/s.jsonl && "
                     "ln -s /etc/passwd $HOME/.claude/projects/-workspace/evil && "
                     "ln -s ../../../../../../etc $HOME/.claude/projects/up && "
                     "mkfifo $HOME/.claude/projects/fifo && "
                     "ln $HOME/.claude/projects/-workspace/s.jsonl $HOME/.claude/projects/hard && "
                     "chmod u+s $HOME/.claude/projects/-workspace/s.jsonl"], timeout=10)
        assert r.exit_code == 0, r.stderr
        assert r.stdout.decode().split() == ["10001", "10001:700"]
        sb.stop()
        dest = tmp_path / "transcript"
        dest.mkdir()
        rep = collect(host, "projects", dest)
    got = dest / "projects" / "-workspace" / "s.jsonl"
    assert got.read_text() == '{"type":"assistant"}\n'
    assert not got.stat().st_mode & 0o6000 and got.stat().st_uid == 0
    assert not (dest / "projects" / "-workspace" / "evil").is_symlink()
    assert not (dest / "projects" / "up").exists() and not (dest / "projects" / "fifo").exists()
    what = {p.path: p.what for p in rep.problems}
    assert "symlink" in what["projects/-workspace/evil"] and "symlink" in what["projects/up"]
    assert "fifo" in what["projects/fifo"] and "hard links" in what["projects/hard"]


def test_workspace_is_nosuid_nodev_and_host_run_paths_are_read_only(docker_client, spec_for, run_dirs, tmp_path):
    ws, _ = run_dirs
    (ws / ".git" / "hooks").mkdir(parents=True)
    (ws / ".git" / "config").write_text("[core]\n")
    for p in [ws / ".git", ws / ".git" / "hooks", ws / ".git" / "config"]:
        os.chown(p, AGENT, AGENT)
    spec = spec_for(workspace_readonly=(".git/hooks", ".git/config"))
    with DockerSandbox(spec, client=docker_client) as sb:
        r = sb.exec(["sh", "-c",
                     "grep ' /workspace ' /proc/self/mountinfo; "
                     "echo x > /workspace/.git/hooks/pre-commit 2>/dev/null && echo HOOK_WRITTEN; "
                     "echo x >> /workspace/.git/config 2>/dev/null && echo CONFIG_WRITTEN; "
                     "cp /bin/true /workspace/suid && chmod 4755 /workspace/suid && echo SUID_SET; "
                     "echo ok > /workspace/normal"], timeout=10)
        out = r.stdout.decode()
        assert any(" /workspace " in ln for ln in out.splitlines()), out
        # The volume asks for nosuid,nodev; Docker 20.10's local driver drops both on a bind (measured:
        # the mount shows rw,relatime). Inside, no-new-privileges and cap-drop ALL (no mknod) carry the
        # same guarantees; on the host, set-id bits are stripped after the run (below).
        vol = docker_client.api.inspect_volume(f"agp-ws-{spec.run_id}")
        assert vol["Options"] == {"type": "none", "o": "bind,nosuid,nodev", "device": str(ws)}
        assert "HOOK_WRITTEN" not in out and "CONFIG_WRITTEN" not in out
        assert "SUID_SET" in out
        sb.stop()
    assert not (ws / ".git" / "hooks" / "pre-commit").exists()
    assert (ws / ".git" / "config").read_text() == "[core]\n"
    assert (ws / "normal").read_text() == "ok\n"  # the workspace volume is gone, the files are not
    assert (ws / "suid").stat().st_mode & 0o4000
    cleared, problems = strip_setid(ws)
    assert [c["path"] for c in cleared] == ["suid"] and not problems
    assert not (ws / "suid").stat().st_mode & 0o6000
    assert docker_client.volumes.list(filters={"label": f"agp.run={spec.run_id}"}) == []


def test_hardening_refuses_a_plain_bind_at_workspace(docker_client, spec_for):
    class PlainBind(DockerSandbox):
        def _engine_mounts(self):
            from docker.types import Mount

            return [Mount(target=t, source=str(s), type="bind", read_only=ro) for s, t, ro in self._mounts]

    sb = PlainBind(spec_for(), client=docker_client)
    with pytest.raises(HardeningError, match="workspace mount"):
        sb.create()
    assert sb.container_id is None or not docker_client.containers.list(
        all=True, filters={"id": sb.container_id})

"""Every hardened flag is present after create, and a create that drops one is refused before start."""

from __future__ import annotations

import json

import pytest

from agp.errors import HardeningError, SandboxError
from agp.sandbox.docker import DockerSandbox, list_run_containers

pytestmark = pytest.mark.docker


def test_every_hardened_flag_is_present_after_create(docker_client, spec_for, run_id):
    events = []
    spec = spec_for(pids_limit=256, mem_limit=512 * 1024**2)
    with DockerSandbox(spec, client=docker_client, events=lambda k, b: events.append((k, b))) as sb:
        attrs = docker_client.api.inspect_container(sb.container_id)
        hc = attrs["HostConfig"]
        # the engine's own view, asserted independently of check_hardening
        assert hc["NetworkMode"] == "none"
        assert list(attrs["NetworkSettings"]["Networks"]) in ([], ["none"])
        assert hc["CapDrop"] == ["ALL"] and not hc["CapAdd"]
        assert "no-new-privileges" in hc["SecurityOpt"]
        assert hc["PidsLimit"] == 256
        assert hc["Memory"] == 512 * 1024**2
        assert hc["ReadonlyRootfs"] is True
        assert set(hc["Tmpfs"]) == {"/tmp", "/home/agent"}
        assert hc["Privileged"] is False and hc["Init"] is True
        assert attrs["Config"]["User"] == "10001:10001"
        assert attrs["Config"]["Labels"]["agp.run"] == run_id
        mounts = {m["Destination"]: m for m in attrs["Mounts"]}
        assert set(mounts) == {"/workspace", "/run/agp"}
        assert mounts["/workspace"]["Type"] == "volume" and mounts["/workspace"]["Name"] == f"agp-ws-{run_id}"
        assert mounts["/workspace"]["RW"] is True and mounts["/run/agp"]["RW"] is False
        assert mounts["/run/agp"]["Source"] == str(spec.socket_dir.resolve())  # the directory, not a socket
        # and from the inside: non-root, no capabilities, no new privileges, read-only root
        r = sb.exec(["sh", "-c", "id -u; grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs)' /proc/self/status; "
                                 "touch /etc/x 2>&1; touch /tmp/ok && echo tmp-ok; touch /workspace/ok && echo ws-ok; "
                                 "test -d /run/agp && echo sockdir-ok; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null "
                                 "|| cat /sys/fs/cgroup/pids.max"])
        out = r.stdout.decode()
        assert out.splitlines()[0] == "10001"
        assert "CapEff:\t0000000000000000" in out and "CapBnd:\t0000000000000000" in out
        assert "NoNewPrivs:\t1" in out
        assert "Read-only file system" in out
        assert "tmp-ok" in out and "ws-ok" in out and "sockdir-ok" in out
        assert out.strip().splitlines()[-1] == "256"
    kinds = [k for k, _ in events]
    assert kinds == ["sandbox.create", "sandbox.inspect", "sandbox.teardown"]
    assert events[1][1]["ok"] is True
    assert not list_run_containers(docker_client, run_id)


def test_the_agent_cannot_put_its_own_gate_in_place_of_the_real_one(docker_client, spec_for):
    """The socket directory is read-only inside: the agent can connect to the gate, but it cannot
    unlink gate.sock and bind an allow-everything gate of its own at that path."""
    import socket as _socket

    spec = spec_for()
    host_sock = spec.socket_dir / "gate.sock"
    srv = _socket.socket(_socket.AF_UNIX)
    srv.bind(str(host_sock))
    host_sock.chmod(0o666)
    srv.listen(1)
    try:
        with DockerSandbox(spec, client=docker_client) as sb:
            r = sb.exec(["python3", "-c", (
                "import os, socket\n"
                "c = socket.socket(socket.AF_UNIX); c.connect('/run/agp/gate.sock'); print('connect-ok')\n"
                "for what, f in (('unlink', lambda: os.unlink('/run/agp/gate.sock')),\n"
                "                ('rename', lambda: os.rename('/run/agp/gate.sock', '/run/agp/old.sock')),\n"
                "                ('bind', lambda: socket.socket(socket.AF_UNIX).bind('/run/agp/evil.sock'))):\n"
                "    try:\n"
                "        f(); print(what, 'WORKED')\n"
                "    except OSError as e:\n"
                "        print(what, 'refused', e.errno)\n")])
            out = r.stdout.decode()
            assert "connect-ok" in out, out + r.stderr.decode()
            assert "WORKED" not in out, out
            assert out.count("refused 30") == 3, out  # EROFS for each
        assert host_sock.exists()
    finally:
        srv.close()


class _DropOne(DockerSandbox):
    """Fault injection: the create arguments lose (or weaken) one hardened setting."""

    fault: tuple[str, object] = ("", None)
    started_at: str | None = None

    def _create_kwargs(self):
        kw = super()._create_kwargs()
        key, value = self.fault
        if value is _DROP:
            kw.pop(key)
            if key == "mem_limit":
                kw.pop("memswap_limit")
        else:
            kw[key] = value
        return kw

    def teardown(self):
        if self.container_id and self.started_at is None:
            try:
                self.started_at = self.client.api.inspect_container(self.container_id)["State"]["StartedAt"]
            except Exception:  # noqa: BLE001
                pass
        super().teardown()


_DROP = object()

FAULTS = [
    ("cap_drop", _DROP, "cap_drop"),
    ("security_opt", _DROP, "no_new_privileges"),
    ("security_opt", ["no-new-privileges", "seccomp=unconfined"], "seccomp .*found unconfined"),
    ("security_opt", ["no-new-privileges"], "seccomp .*found none"),
    ("security_opt", ["no-new-privileges", "seccomp=" + json.dumps(
        {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []})], "seccomp .*found a different profile"),
    ("nano_cpus", _DROP, "nano_cpus"),
    ("nano_cpus", 2_000_000_000, "nano_cpus"),
    ("pids_limit", _DROP, "pids_limit"),
    ("mem_limit", _DROP, "mem_limit"),
    ("memswap_limit", -1, "memswap_limit"),
    ("read_only", _DROP, "read_only"),
    ("tmpfs", _DROP, "tmpfs"),
    ("user", "0:0", "user"),
    ("network_mode", "host", "network_mode"),
    ("cap_add", ["NET_RAW"], "cap_add"),
    ("privileged", True, "privileged"),
    ("init", _DROP, "init"),
    ("pid_mode", "host", "pid_mode"),
]


@pytest.mark.parametrize("key,value,named", FAULTS, ids=[f"{k}-{n}" for k, _, n in FAULTS])
def test_create_missing_a_flag_is_refused_before_start(docker_client, spec_for, run_id, key, value, named):
    sb = _DropOne(spec_for(), client=docker_client)
    sb.fault = (key, value)
    with pytest.raises(HardeningError, match=named):
        sb.create()
    assert sb.started_at == "0001-01-01T00:00:00Z", "the refused container must never have started"
    assert not list_run_containers(docker_client, run_id)


def test_extra_mount_injected_is_refused(docker_client, spec_for, run_id, tmp_path):
    from docker.types import Mount

    class ExtraMount(DockerSandbox):
        def _create_kwargs(self):
            kw = super()._create_kwargs()
            kw["mounts"] = [*kw["mounts"], Mount(target="/mnt/extra", source=str(tmp_path), type="bind")]
            return kw

    with pytest.raises(HardeningError, match="mounts"):
        ExtraMount(spec_for(), client=docker_client).create()
    assert not list_run_containers(docker_client, run_id)


def test_socket_file_instead_of_directory_is_refused(docker_client, spec_for, run_dirs, run_id):
    import socket

    ws, sock = run_dirs
    path = sock / "gate.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    try:
        with pytest.raises(SandboxError, match="must be a directory"):
            DockerSandbox(spec_for(socket_dir=path), client=docker_client).create()
    finally:
        s.close()
    assert not list_run_containers(docker_client, run_id)


def test_root_user_and_root_exec_are_refused(docker_client, spec_for, run_id):
    with pytest.raises(HardeningError, match="root"):
        DockerSandbox(spec_for(uid=0, gid=0), client=docker_client).create()
    with DockerSandbox(spec_for(), client=docker_client) as sb:
        with pytest.raises(HardeningError, match="root"):
            sb.exec(["id"], user="0")
        with pytest.raises(HardeningError, match="root"):
            sb.exec(["id"], user="root")

"""The Docker sandbox driver: hardened create, inspect-before-start, preflight, exec, teardown.

Every container agp starts is created with::

    network_mode=none  cap_drop=[ALL]  security_opt=[no-new-privileges, seccomp=<agp's profile>]
    nano_cpus  pids_limit  mem_limit (= memswap)
    user=10001:10001   read_only root  tmpfs /tmp and $HOME   init  private ipc and cgroup namespaces
    /workspace (rw: a per-run local volume binding the workspace with nosuid,nodev)
    the workspace's host-run paths (.git/hooks, .git/config, .vscode, ...: ro binds over it)
    /run/agp (the socket DIRECTORY, ro bind)  /opt/agp/intendants (ro)  config files (ro)
    the harness's state directories (rw binds of <run>/box/<name>, read back only after stop())

and then inspected *before it is started*: :func:`check_hardening` compares
the engine's own view of the container with what was asked for, and any
missing or different setting raises :class:`agp.errors.HardeningError` naming
it; the container is removed, never started, and nothing falls back to the
host. Every mount source passes the deny-list (:mod:`agp.sandbox.mounts`)
before create and again in the inspect data.

Execs never carry values in their argv or environment as the engine records
them: the command is a fixed launcher (``python3 -I -S -c``) and the real
argv and environment travel on the exec's stdin as one length-prefixed JSON
header (see :data:`LAUNCHER_SOURCE`). That is how resolved
``{{secret:NAME}}`` values reach a process without showing up in ``docker
inspect``, the exec's inspect data, or any host process's arguments.

Nothing is read out of a live container: :meth:`DockerSandbox.stop` kills the
container (its init, and with it the whole pid namespace) and confirms from the
engine that it is no longer running and has no pid before anything the sandbox
wrote is read (by :mod:`agp.sandbox.collect`, on the host). There is no copy-out.

Teardown is idempotent, runs from ``__exit__`` (normal end, error, Ctrl-C),
from an ``atexit`` hook, and defers SIGINT/SIGTERM while it removes the
container; :func:`interrupt_on_terminate` turns SIGTERM/SIGHUP into
``KeyboardInterrupt`` so a killed ``agp run`` still tears down, and
:func:`reap_orphans` removes containers whose owning process died without
(SIGKILL). Every container carries the label ``agp.run=<run id>``.

The sandbox is namespaces, cgroups and seccomp around a shared kernel, not a
VM: a kernel exploit defeats it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import socket
import stat
import struct
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from agp.errors import HardeningError, SandboxError, SecretError
from agp.sandbox.driver import (
    AGENT_HOME,
    CONTAINER_INTENDANTS,
    CONTAINER_SOCKET_DIR,
    CONTAINER_WORKSPACE,
    EGRESS_PORT,
    FORWARDER_PORT,
    EventSink,
    ExecResult,
    PreflightResult,
    SandboxSpec,
)
from agp.sandbox.engine import docker_client
from agp.sandbox.images import ImageRef, resolve_image
from agp.sandbox.mounts import check_mount_source
from agp.sandbox.preflight import PROBE_ARGV, PreflightFailed, evaluate_probe
from agp.sandbox.seccomp import profile_digest, seccomp_problem
from agp.sandbox.seccomp import security_opt as seccomp_security_opt
from agp.sandbox.secrets import SecretResolver, contains_placeholder

__all__ = (
    "EGRESS_PORT",
    "FORWARDER_PATH",
    "FORWARDER_PORT",
    "LABEL_HOST",
    "LABEL_PID",
    "LABEL_RUN",
    "LAUNCHER_SOURCE",
    "WORKSPACE_VOLUME_OPTS",
    "DockerSandbox",
    "ExecProcess",
    "ExecTimeoutError",
    "check_hardening",
    "check_workspace_volume",
    "docker_client",
    "interrupt_on_terminate",
    "list_run_containers",
    "reap_orphans",
)

LABEL_RUN = "agp.run"
LABEL_PID = "agp.pid"
LABEL_HOST = "agp.host"
LABEL_MANAGED = "agp.managed"
_BOX_TMP = "/tmp"  # noqa: S108 - the box's own tmpfs (mounted below), never a path on the host

#: runs inside the container as ``python3 -I -S -c LAUNCHER_SOURCE``; reads a 4-byte
#: big-endian length and that many bytes of JSON {argv, env, cwd} from stdin, then
#: execs argv with env. What follows the header on stdin is the process's stdin.
LAUNCHER_SOURCE = r"""
import os, sys, json
def rd(n):
    b = b""
    while len(b) < n:
        c = os.read(0, n - len(b))
        if not c:
            sys.stderr.write("agp-exec: stdin closed before the header\n"); os._exit(125)
        b += c
    return b
h = json.loads(rd(int.from_bytes(rd(4), "big")).decode("utf-8"))
env = dict(os.environ)
env.update(h.get("env") or {})
if h.get("cwd"):
    os.chdir(h["cwd"])
argv = h["argv"]
try:
    os.execvpe(argv[0], argv, env)
except OSError as e:
    sys.stderr.write("agp-exec: cannot run %s: %s\n" % (argv[0], e.strerror)); os._exit(127)
""".strip()
_LAUNCHER_ARGV = ["python3", "-I", "-S", "-c", LAUNCHER_SOURCE]


#: the stdlib forwarder every agp image carries (images/common/agp-forward.py); its default port is
#: the driver contract's :data:`agp.sandbox.driver.FORWARDER_PORT`
FORWARDER_PATH = "/opt/agp/bin/agp-forward.py"


class ExecTimeoutError(SandboxError):
    """An exec did not finish within its timeout (the process was killed)."""


# --------------------------------------------------------------------------- hardening


def _expected_mounts(spec: SandboxSpec) -> list[tuple[Path, str, bool]]:
    """(resolved host source, container target, read_only) for every mount, deny-list checked."""
    denied = tuple(spec.denied)
    ws = check_mount_source(spec.workspace, denied)
    if not ws.is_dir():
        raise SandboxError(f"workspace {spec.workspace} is not a directory")
    sock = check_mount_source(spec.socket_dir, denied)
    st = os.stat(sock)
    if not stat.S_ISDIR(st.st_mode):
        raise SandboxError(f"socket_dir {spec.socket_dir} must be a directory (a bind-mounted socket file goes stale)")
    # the socket directory is read-only inside: connect() works on a read-only mount, but the agent
    # cannot unlink gate.sock and bind a gate of its own in its place
    out = [(ws, CONTAINER_WORKSPACE, False), (sock, CONTAINER_SOCKET_DIR, True)]
    if spec.intendant_dir is not None:
        out.append((check_mount_source(spec.intendant_dir, denied), CONTAINER_INTENDANTS, True))
    for m in spec.config_mounts:
        if not m.target.startswith("/") or m.target in {t for _, t, _ in out}:
            raise SandboxError(f"bad config mount target {m.target!r}")
        out.append((check_mount_source(m.source, denied), m.target, True))
    for d in spec.state_dirs:
        if not d.target.startswith(AGENT_HOME + "/") or d.target in {t for _, t, _ in out}:
            raise SandboxError(f"bad state directory target {d.target!r} (must be a directory under {AGENT_HOME})")
        src = check_mount_source(d.source, denied)
        if not src.is_dir() or src.is_symlink():
            raise SandboxError(f"state directory {d.source} must be a directory")
        out.append((src, d.target, False))
    for rel in spec.workspace_readonly:
        parts = rel.split("/")
        if not rel or rel.startswith("/") or ".." in parts or "" in parts:
            raise SandboxError(f"bad read-only workspace path {rel!r}")
        host = ws / rel
        if host.is_symlink() or os.path.realpath(host) != str(host):
            raise SandboxError(f"read-only workspace path {rel!r} goes through a symlink; refusing to mount it")
        out.append((check_mount_source(host, denied), f"{CONTAINER_WORKSPACE}/{rel}", True))
    return out


#: the options of the per-run workspace volume: a bind of the workspace that carries no set-id
#: bits and no device nodes into the sandbox (``local`` driver, ``type=none``)
WORKSPACE_VOLUME_OPTS = "bind,nosuid,nodev"


def workspace_volume_name(run_id: str) -> str:
    return f"agp-ws-{run_id}"


def check_workspace_volume(
    mount: Mapping[str, Any], volume: Mapping[str, Any] | None, *, spec: SandboxSpec, workspace: Path
) -> list[str]:
    """The /workspace mount must be exactly agp's per-run volume: the ``local`` driver binding the
    resolved workspace with ``nosuid,nodev``, labelled with this run. Pure over the container's mount
    entry and the volume's inspect data; returns the problems (empty = ok)."""
    problems: list[str] = []
    name = workspace_volume_name(spec.run_id)
    if mount.get("Type") != "volume" or mount.get("Name") != name:
        problems.append(
            f"workspace mount (expected the volume {name!r}, found {mount.get('Type')} "
            f"{mount.get('Name') or mount.get('Source')!r})"
        )
        return problems
    if not mount.get("RW", False):
        problems.append("workspace mount (expected read-write, found read-only)")
    if volume is None:
        problems.append(f"workspace volume {name!r} (no inspect data)")
        return problems
    opts = dict(volume.get("Options") or {})
    flags = set(str(opts.get("o", "")).split(","))
    want = {"type": "none", "o": WORKSPACE_VOLUME_OPTS, "device": str(workspace)}
    if (
        volume.get("Driver") != "local"
        or opts.get("type") != "none"
        or not {"bind", "nosuid", "nodev"} <= flags
        or opts.get("device") != str(workspace)
    ):
        problems.append(f"workspace volume options (expected local {want}, found {volume.get('Driver')} {opts})")
    labels = volume.get("Labels") or {}
    if labels.get(LABEL_RUN) != spec.run_id:
        problems.append(
            f"workspace volume label {LABEL_RUN} (expected {spec.run_id!r}, found {labels.get(LABEL_RUN)!r})"
        )
    return problems


def check_hardening(
    attrs: Mapping[str, Any],
    *,
    image_id: str,
    spec: SandboxSpec,
    mounts: list[tuple[Path, str, bool]],
    volume: Mapping[str, Any] | None = None,
) -> list[str]:
    """Compare the engine's inspect data with the hardened settings; return the problems (empty = ok).

    Pure over ``attrs`` (the dict from ``GET /containers/{id}/json``), so each
    check is unit-testable; the driver runs it against the real engine.
    """
    problems: list[str] = []
    hc = attrs.get("HostConfig") or {}
    cfg = attrs.get("Config") or {}

    def bad(name: str, expected: Any, found: Any) -> None:
        problems.append(f"{name} (expected {expected!r}, found {found!r})")

    if hc.get("NetworkMode") != "none":
        bad("network_mode", "none", hc.get("NetworkMode"))
    nets = sorted(((attrs.get("NetworkSettings") or {}).get("Networks") or {}).keys())
    if nets not in ([], ["none"]):
        bad("networks", ["none"], nets)
    cap_drop = [c.upper().removeprefix("CAP_") for c in (hc.get("CapDrop") or [])]
    if "ALL" not in cap_drop:
        bad("cap_drop", ["ALL"], hc.get("CapDrop"))
    if hc.get("CapAdd"):
        bad("cap_add", None, hc.get("CapAdd"))
    if hc.get("Privileged"):
        bad("privileged", False, True)
    security_opts = [str(s) for s in (hc.get("SecurityOpt") or [])]
    # the seccomp entry carries the whole profile text: compared by digest, kept out of the messages
    seccomp_opts = [s for s in security_opts if s.startswith(("seccomp=", "seccomp:"))]
    others = [s for s in security_opts if s not in seccomp_opts]
    sec = [s.lower().replace("=", ":") for s in others]
    if not any(s in ("no-new-privileges", "no-new-privileges:true") for s in sec):
        bad("no_new_privileges", ["no-new-privileges"], others)
    if any("unconfined" in s or s == "label:disable" or s.endswith("no-new-privileges:false") for s in sec):
        bad("security_opt", "no unconfined profiles", others)
    seccomp = seccomp_problem(seccomp_opts)
    if seccomp:
        problems.append(seccomp)
    if hc.get("NanoCpus") != spec.nano_cpus:
        bad("nano_cpus", spec.nano_cpus, hc.get("NanoCpus"))
    for key in ("CpuQuota", "CpuPeriod", "CpuShares", "CpusetCpus"):
        if hc.get(key):  # a second CPU setting next to NanoCpus would make the quota something else
            bad(key.lower(), None, hc.get(key))
    if hc.get("PidsLimit") != spec.pids_limit:
        bad("pids_limit", spec.pids_limit, hc.get("PidsLimit"))
    if hc.get("Memory") != spec.mem_limit:
        bad("mem_limit", spec.mem_limit, hc.get("Memory"))
    if hc.get("MemorySwap") != spec.mem_limit:
        bad("memswap_limit", spec.mem_limit, hc.get("MemorySwap"))
    if hc.get("ReadonlyRootfs") is not True:
        bad("read_only", True, hc.get("ReadonlyRootfs"))
    tmpfs = hc.get("Tmpfs") or {}
    for path in (_BOX_TMP, AGENT_HOME):
        if path not in tmpfs:
            bad("tmpfs", [_BOX_TMP, AGENT_HOME], sorted(tmpfs))
            break
    user = str(cfg.get("User") or "")
    if user != f"{spec.uid}:{spec.gid}" or spec.uid == 0 or spec.gid == 0 or user.split(":")[0] in ("", "0", "root"):
        bad("user", f"{spec.uid}:{spec.gid} (non-root)", user)
    for key, name in (
        ("PidMode", "pid_mode"),
        ("IpcMode", "ipc_mode"),
        ("UTSMode", "uts_mode"),
        ("UsernsMode", "userns_mode"),
        ("CgroupnsMode", "cgroupns_mode"),
    ):
        v = str(hc.get(key) or "")
        if v == "host" or v.startswith("container:"):
            bad(name, "private", v)
    if hc.get("Devices"):
        bad("devices", [], hc.get("Devices"))
    if hc.get("VolumesFrom"):
        bad("volumes_from", [], hc.get("VolumesFrom"))
    if hc.get("Binds"):
        bad("binds", [], hc.get("Binds"))
    if hc.get("Init") is not True:
        bad("init", True, hc.get("Init"))
    if attrs.get("Image") != image_id:
        bad("image", image_id, attrs.get("Image"))
    want = {(str(src), tgt, ro) for src, tgt, ro in mounts}
    found = set()
    for m in attrs.get("Mounts") or []:
        if m.get("Type") == "tmpfs" and m.get("Destination") in tmpfs:
            continue
        if m.get("Destination") == CONTAINER_WORKSPACE:  # agp's nosuid,nodev volume, checked on its own
            ws = next((src for src, tgt, _ in mounts if tgt == CONTAINER_WORKSPACE), Path(spec.workspace))
            problems.extend(check_workspace_volume(m, volume, spec=spec, workspace=ws))
            found.add((str(ws), CONTAINER_WORKSPACE, not m.get("RW", True)))
            continue
        found.add((str(m.get("Source")), str(m.get("Destination")), not m.get("RW", True)))
        if m.get("Type") != "bind":
            bad("mounts", "bind mounts only", f"{m.get('Type')} at {m.get('Destination')}")
    if found != want:
        bad("mounts", sorted(want), sorted(found))
    for src, tgt, _ in found:
        if tgt == CONTAINER_SOCKET_DIR and not os.path.isdir(src):
            bad("socket_dir", "a directory", src)
        try:
            check_mount_source(src, spec.denied)
        except SandboxError as exc:
            problems.append(f"mount {tgt}: {exc}")
    return problems


# --------------------------------------------------------------------------- signals and reaping

_LIVE: set[DockerSandbox] = set()
_LIVE_LOCK = threading.Lock()


@atexit.register
def _teardown_all_at_exit() -> None:  # pragma: no cover - exercised by the SIGINT subprocess test
    with _LIVE_LOCK:
        live = list(_LIVE)
    for sb in live:
        with contextlib.suppress(Exception):
            sb.teardown()


@contextlib.contextmanager
def _signals_deferred() -> Iterator[list[int]]:
    """Hold SIGINT/SIGTERM/SIGHUP while a teardown runs (main thread only), then re-deliver."""
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    pending: list[int] = []
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {}
    for s in sigs:
        with contextlib.suppress(ValueError, OSError):
            old[s] = signal.signal(s, lambda n, _f: pending.append(n))
    try:
        yield pending
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        for n in pending[:1]:
            os.kill(os.getpid(), n)


@contextlib.contextmanager
def interrupt_on_terminate() -> Iterator[None]:
    """Within this block SIGTERM and SIGHUP raise KeyboardInterrupt, so ``with`` teardown runs."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def _raise(_n: int, _f: Any) -> None:
        raise KeyboardInterrupt

    old = {s: signal.signal(s, _raise) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def list_run_containers(client: Any, run_id: str | None = None) -> list[Any]:
    """Containers agp made (all states), optionally for one run: the leak check."""
    label = f"{LABEL_RUN}={run_id}" if run_id else LABEL_RUN
    return client.containers.list(all=True, filters={"label": label})


def reap_orphans(client: Any | None = None) -> list[str]:
    """Remove agp containers made on this host by a process that no longer exists."""
    client = client or docker_client()
    host = socket.gethostname()
    removed = []
    for c in list_run_containers(client):
        labels = c.labels or {}
        if labels.get(LABEL_HOST) != host:
            continue
        try:
            pid = int(labels.get(LABEL_PID, "0"))
            os.kill(pid, 0)
            continue  # owner alive
        except ProcessLookupError:
            pass
        except (ValueError, PermissionError):
            continue
        with contextlib.suppress(Exception):
            c.remove(force=True)
            removed.append(c.id)
    # the per-run workspace volumes of dead processes (only once their container is gone)
    with contextlib.suppress(Exception):
        for v in client.api.volumes(filters={"label": LABEL_RUN}).get("Volumes") or []:
            labels = v.get("Labels") or {}
            if labels.get(LABEL_HOST) != host:
                continue
            try:
                os.kill(int(labels.get(LABEL_PID, "0")), 0)
                continue
            except ProcessLookupError:
                pass
            except (ValueError, PermissionError):
                continue
            with contextlib.suppress(Exception):
                client.api.remove_volume(v["Name"])
    return removed


# --------------------------------------------------------------------------- exec


class ExecProcess:
    """A running exec: write to stdin, iterate (stream, bytes) output frames, wait for the exit code.

    ``stream`` is 1 for stdout and 2 for stderr (Docker's multiplexing).
    """

    def __init__(self, api: Any, exec_id: str, sock: Any) -> None:
        self._api = api
        self.id = exec_id
        self._wrapper = sock
        self._sock: socket.socket = getattr(sock, "_sock", sock)
        self._buf = b""
        self._eof = False
        self._stdin_closed = False

    def write(self, data: bytes) -> None:
        if data:
            self._sock.sendall(data)

    def close_stdin(self) -> None:
        if not self._stdin_closed:
            self._stdin_closed = True
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_WR)

    def _fill(self, deadline: float | None) -> bool:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            r, _, _ = select.select([self._sock], [], [], left)
            if not r:
                raise TimeoutError
        chunk = self._sock.recv(65536)
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    def frames(self, timeout: float | None = None) -> Iterator[tuple[int, bytes]]:
        """Output frames as they arrive; raises TimeoutError when ``timeout`` (total) passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            while len(self._buf) < 8:
                if self._eof or not self._fill(deadline):
                    return
            stream, size = struct.unpack(">BxxxL", self._buf[:8])
            while len(self._buf) < 8 + size:
                if self._eof or not self._fill(deadline):
                    return
            data, self._buf = self._buf[8 : 8 + size], self._buf[8 + size :]
            yield stream, data

    __iter__ = frames

    def wait(self, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while True:
            info = self._api.exec_inspect(self.id)
            if not info.get("Running"):
                code = info.get("ExitCode")
                return -1 if code is None else int(code)
            if time.monotonic() > deadline:
                raise ExecTimeoutError(f"exec {self.id[:12]} still running after its output ended")
            time.sleep(0.01)

    def kill(self) -> None:
        """Kill the exec'd process (its host pid, when the engine is local and we may)."""
        with contextlib.suppress(Exception):
            pid = int(self._api.exec_inspect(self.id).get("Pid") or 0)
            if pid > 0:
                os.kill(pid, signal.SIGKILL)
        self.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._wrapper.close()
        with contextlib.suppress(Exception):
            self._sock.close()


# --------------------------------------------------------------------------- the driver


class DockerSandbox:
    """One hardened container for one run. See the module docstring for the guarantees.

    ``events(kind, body)`` receives ``sandbox.create``, ``sandbox.inspect``,
    ``sandbox.preflight`` and ``sandbox.teardown`` (wire it to the journal).
    ``secrets`` resolves ``{{secret:NAME}}`` in exec environments and stdin.
    """

    def __init__(
        self,
        spec: SandboxSpec,
        *,
        client: Any | None = None,
        events: EventSink | None = None,
        secrets: SecretResolver | None = None,
    ) -> None:
        self.spec = spec
        self._client = client
        self._events = events
        self.secrets = secrets
        self.container_id: str | None = None
        self.image: ImageRef | None = None
        self._mounts: list[tuple[Path, str, bool]] = []
        self._torn_down = False
        self._lock = threading.Lock()
        self._stopped = False
        self._volume: str | None = None

    # -- plumbing
    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = docker_client()
        return self._client

    def _emit(self, kind: str, body: dict[str, Any]) -> None:
        if self._events is not None:
            self._events(kind, body)

    def _create_kwargs(self) -> dict[str, Any]:
        """The hardened create arguments. Tests override this to inject a missing flag."""

        spec = self.spec
        if self.image is None:
            raise RuntimeError("internal error: self.image is not set")
        for k, v in spec.env.items():
            if contains_placeholder(k) or contains_placeholder(v):
                raise SecretError(
                    f"container environment {k} holds a secret placeholder; the container "
                    "environment is visible in docker inspect: pass secrets to exec() instead"
                )
        env = {"HOME": AGENT_HOME, "TMPDIR": _BOX_TMP, **dict(spec.env)}
        labels = {  # agp's own labels last: a caller's label cannot override them
            **dict(spec.labels),
            LABEL_RUN: spec.run_id,
            LABEL_PID: str(os.getpid()),
            LABEL_HOST: socket.gethostname(),
            LABEL_MANAGED: "1",
        }
        return {
            "image": self.image.id,
            "command": list(spec.command),
            "user": f"{spec.uid}:{spec.gid}",
            "working_dir": CONTAINER_WORKSPACE,
            "environment": env,
            "network_mode": "none",
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges", seccomp_security_opt()],
            "nano_cpus": spec.nano_cpus,
            "pids_limit": spec.pids_limit,
            "mem_limit": spec.mem_limit,
            "memswap_limit": spec.mem_limit,
            "read_only": True,
            "tmpfs": {
                _BOX_TMP: f"rw,nosuid,nodev,size={spec.tmp_size},mode=1777",
                AGENT_HOME: f"rw,nosuid,nodev,size={spec.home_size},uid={spec.uid},gid={spec.gid},mode=0700",
            },
            "mounts": self._engine_mounts(),
            "init": True,
            "ipc_mode": "private",
            "cgroupns": "private",
            "labels": labels,
            "hostname": "agp-sandbox",
            "detach": True,
        }

    def _engine_mounts(self) -> list[Any]:
        """The engine's mount list: /workspace through the per-run volume, everything else a bind."""
        from docker.types import Mount

        out = []
        for src, tgt, ro in self._mounts:
            if tgt == CONTAINER_WORKSPACE:
                # no_copy: the engine must never copy the image's /workspace into the user's directory
                out.append(Mount(target=tgt, source=self._volume, type="volume", read_only=False, no_copy=True))
            else:
                out.append(Mount(target=tgt, source=str(src), type="bind", read_only=ro))
        return out

    def _create_volume(self) -> None:
        """The workspace as a ``local`` volume binding it with nosuid,nodev (a plain bind cannot carry
        those flags). Labelled like the container; removed at teardown."""
        from docker.errors import DockerException

        ws = next(src for src, tgt, _ in self._mounts if tgt == CONTAINER_WORKSPACE)
        name = workspace_volume_name(self.spec.run_id)
        labels = {
            LABEL_RUN: self.spec.run_id,
            LABEL_PID: str(os.getpid()),
            LABEL_HOST: socket.gethostname(),
            LABEL_MANAGED: "1",
        }
        try:
            self.client.api.create_volume(
                name=name,
                driver="local",
                labels=labels,
                driver_opts={"type": "none", "o": WORKSPACE_VOLUME_OPTS, "device": str(ws)},
            )
        except DockerException as exc:
            raise SandboxError(f"cannot create the workspace volume: {exc}") from exc
        self._volume = name

    def _remove_volume(self) -> str:
        from docker.errors import DockerException, NotFound

        if self._volume is None:
            return ""
        for attempt in range(3):
            try:
                self.client.api.remove_volume(self._volume)
                break
            except NotFound:
                break
            except DockerException as exc:
                if attempt == 2:
                    return f"workspace volume {self._volume} not removed: {exc}"
                time.sleep(0.2 * (attempt + 1))
        self._volume = None
        return ""

    # -- lifecycle
    def create(self) -> str:
        """Resolve the image, check mounts, create, inspect (refuse on any gap), start."""
        from docker.errors import DockerException

        if self.container_id is not None:
            raise SandboxError("this sandbox was already created")
        if self.spec.uid == 0 or self.spec.gid == 0:
            raise HardeningError("a sandbox never runs as root (uid/gid 0)")
        t0 = time.monotonic()
        self.image = resolve_image(self.spec.image, client=self.client)
        self._mounts = _expected_mounts(self.spec)
        with _LIVE_LOCK:
            _LIVE.add(self)
        try:
            self._create_volume()
            kwargs = self._create_kwargs()
            container = self.client.containers.create(**kwargs)
        except BaseException as exc:
            # interrupted or failed mid-create: the engine may have made it anyway; find it by label
            with contextlib.suppress(Exception):
                for c in self.client.containers.list(
                    all=True, filters={"label": [f"{LABEL_RUN}={self.spec.run_id}", f"{LABEL_PID}={os.getpid()}"]}
                ):
                    c.remove(force=True)
            with contextlib.suppress(Exception):
                self._remove_volume()
            with _LIVE_LOCK:
                _LIVE.discard(self)
            self._torn_down = True
            if isinstance(exc, DockerException):
                raise SandboxError(f"container create failed: {exc}") from exc
            raise
        self.container_id = container.id
        self._emit(
            "sandbox.create",
            {
                "container": container.id,
                "run": self.spec.run_id,
                "image": self.spec.image,
                "image_id": self.image.id,
                "image_warning": self.image.warning,
                "mounts": [[str(s), t, "ro" if r else "rw"] for s, t, r in self._mounts],
            },
        )
        try:
            self.inspect_hardening()
            container.start()
            running = self.client.api.inspect_container(container.id)
            if not (running.get("State") or {}).get("Running"):
                raise SandboxError(f"container {container.id[:12]} did not start: {running.get('State')}")
            nets = sorted(((running.get("NetworkSettings") or {}).get("Networks") or {}).keys())
            if nets not in ([], ["none"]):
                raise HardeningError(f"container {container.id[:12]} joined networks {nets} after start")
        except BaseException:
            self.teardown()
            raise
        self.create_ms = (time.monotonic() - t0) * 1000
        return container.id

    def inspect_hardening(self) -> dict[str, Any]:
        """Inspect the container and raise HardeningError naming every missing or different flag."""
        if self.container_id is None or self.image is None:
            raise SandboxError("inspect_hardening() before create()")
        attrs = self.client.api.inspect_container(self.container_id)
        volume = None
        if self._volume is not None:
            from docker.errors import DockerException

            with contextlib.suppress(DockerException):
                volume = self.client.api.inspect_volume(self._volume)
        problems = check_hardening(attrs, image_id=self.image.id, spec=self.spec, mounts=self._mounts, volume=volume)
        hc = attrs.get("HostConfig") or {}
        body = {
            "container": self.container_id,
            "ok": not problems,
            "problems": problems,
            "seen": {
                "network_mode": hc.get("NetworkMode"),
                "cap_drop": hc.get("CapDrop"),
                "security_opt": [
                    o
                    if not o.startswith(("seccomp=", "seccomp:"))
                    else "seccomp=" + profile_digest(o.split("=", 1)[1] if "=" in o else o.split(":", 1)[1])
                    for o in hc.get("SecurityOpt") or []
                ],
                "nano_cpus": hc.get("NanoCpus"),
                "pids_limit": hc.get("PidsLimit"),
                "memory": hc.get("Memory"),
                "read_only": hc.get("ReadonlyRootfs"),
                "tmpfs": sorted((hc.get("Tmpfs") or {}).keys()),
                "user": (attrs.get("Config") or {}).get("User"),
                "image": attrs.get("Image"),
            },
        }
        self._emit("sandbox.inspect", body)
        if problems:
            raise HardeningError(
                f"container {self.container_id[:12]} is not hardened; refusing to start it: " + "; ".join(problems)
            )
        return body

    def preflight(self) -> PreflightResult:
        """Run the egress probe inside; on anything but a clean result, tear down and raise PreflightFailed."""
        if self.container_id is None:
            raise SandboxError("preflight() before create()")
        try:
            res = self.exec(list(PROBE_ARGV), timeout=10.0, _launcher=False)
            result = evaluate_probe(res.stdout, container=self.container_id, exit_code=res.exit_code)
        except ExecTimeoutError:
            result = PreflightResult(
                False, "probe did not finish within 10 s", (), (), {"outcome": "hang"}, 10000.0, self.container_id
            )
        except SandboxError as exc:
            result = PreflightResult(False, f"probe could not run: {exc}", (), (), {}, 0.0, self.container_id)
        self._emit("sandbox.preflight", result.to_json_dict())
        if not result.ok:
            self.teardown()
            raise PreflightFailed(result)
        return result

    def _start_exec(
        self,
        argv: list[str],
        *,
        env: Mapping[str, str] | None,
        stdin: bytes | str | None,
        user: str | None,
        workdir: str | None,
        launcher: bool = True,
    ) -> ExecProcess:
        from docker.errors import DockerException

        if self.container_id is None or self._torn_down:
            raise SandboxError("exec on a sandbox that is not running")
        if not argv or not all(isinstance(a, str) for a in argv):
            raise SandboxError("exec needs a non-empty argv of strings")
        if user is not None and user.split(":")[0].strip() in ("", "0", "root"):
            raise HardeningError(f"refusing to exec as {user!r}: a sandbox never runs anything as root")
        for a in argv:
            if contains_placeholder(a):
                raise SecretError(
                    "a {{secret:NAME}} placeholder in argv would put the value in the process table; "
                    "pass it through env or stdin"
                )
        payload = stdin.encode("utf-8") if isinstance(stdin, str) else (stdin or b"")
        resolved_env = dict(env or {})
        if self.secrets is not None:
            resolved_env = self.secrets.resolve(resolved_env)
            if payload:
                payload = self.secrets.resolve_text(payload.decode("utf-8")).encode("utf-8")
        else:
            for k, v in resolved_env.items():
                if contains_placeholder(v) or contains_placeholder(k):
                    raise SecretError(f"env {k} holds a secret placeholder but this sandbox has no secret resolver")
            if payload and contains_placeholder(payload.decode("utf-8", "replace")):
                raise SecretError("stdin holds a secret placeholder but this sandbox has no secret resolver")
        if launcher:
            header = json.dumps({"argv": argv, "env": resolved_env, "cwd": workdir}).encode("utf-8")
            cmd = _LAUNCHER_ARGV
            prefix = struct.pack(">I", len(header)) + header
        else:
            if resolved_env:
                raise SandboxError("an exec without the launcher cannot carry an environment")
            cmd, prefix = argv, b""
        try:
            exec_id = self.client.api.exec_create(
                self.container_id,
                cmd,
                stdout=True,
                stderr=True,
                stdin=True,
                tty=False,
                user=user or f"{self.spec.uid}:{self.spec.gid}",
                workdir=workdir if not launcher else None,
            )["Id"]
            sock = self.client.api.exec_start(exec_id, socket=True)
        except DockerException as exc:
            raise SandboxError(f"exec failed to start: {exc}") from exc
        proc = ExecProcess(self.client.api, exec_id, sock)
        try:
            proc.write(prefix + payload)
        except OSError as exc:
            proc.close()
            raise SandboxError(f"exec stdin write failed: {exc}") from exc
        return proc

    def exec(
        self,
        argv: list[str],
        *,
        env: Mapping[str, str] | None = None,
        stdin: bytes | str | None = None,
        user: str | None = None,
        workdir: str | None = None,
        timeout: float | None = None,
        _launcher: bool = True,
    ) -> ExecResult:
        """Run argv to completion inside; stdin (if any) is sent then closed."""
        proc = self._start_exec(argv, env=env, stdin=stdin, user=user, workdir=workdir, launcher=_launcher)
        proc.close_stdin()
        out, err = bytearray(), bytearray()
        try:
            for stream, data in proc.frames(timeout=timeout):
                (err if stream == 2 else out).extend(data)
            code = proc.wait(timeout=5.0 if timeout is None else max(timeout, 1.0))
        except TimeoutError as exc:
            proc.kill()
            raise ExecTimeoutError(f"exec {argv[0]} did not finish within {timeout} s; killed") from exc
        finally:
            proc.close()
        return ExecResult(code, bytes(out), bytes(err))

    def exec_stream(
        self,
        argv: list[str],
        *,
        env: Mapping[str, str] | None = None,
        stdin: bytes | str | None = None,
        user: str | None = None,
        workdir: str | None = None,
        keep_stdin_open: bool = False,
    ) -> ExecProcess:
        """Start argv inside and return the ExecProcess to stream from (the harness)."""
        proc = self._start_exec(argv, env=env, stdin=stdin, user=user, workdir=workdir)
        if not keep_stdin_open:
            proc.close_stdin()
        return proc

    def start_forwarder(
        self, port: int = FORWARDER_PORT, *, timeout: float = 10.0, socket: str = "relay.sock"
    ) -> ExecProcess:
        """Start the in-sandbox loopback forwarder to /run/agp/<socket> (the model relay by default, or the
        egress door's ``egress.sock``); returns once it listens.

        Point the harness at ``http://127.0.0.1:<port>`` (Claude: ANTHROPIC_BASE_URL; Codex: the
        provider base_url + ``/v1``). Kill the returned process (or tear down) to stop it.
        """
        if "/" in socket or socket.startswith("."):
            raise SandboxError(f"forwarder socket must be a name in {CONTAINER_SOCKET_DIR}, not {socket!r}")
        proc = self.exec_stream(
            [
                "python3",
                "-I",
                "-S",
                FORWARDER_PATH,
                "--port",
                str(int(port)),
                "--socket",
                f"{CONTAINER_SOCKET_DIR}/{socket}",
            ]
        )
        seen = b""
        try:
            for _stream, data in proc.frames(timeout=timeout):
                seen += data
                if b"listening on 127.0.0.1:" in seen:
                    return proc
        except TimeoutError:
            pass
        proc.kill()
        what = "model" if socket == "relay.sock" else socket.removesuffix(".sock")
        raise SandboxError(f"the {what} forwarder did not start: {seen[-300:].decode(errors='replace')!r}")

    def stop(self, *, timeout: float = 30.0) -> None:
        """Kill every process in the sandbox and confirm from the engine that none is left.

        SIGKILL goes to the container's init; the kernel then kills every process in its pid
        namespace. The engine must then report the container as neither running, paused nor
        restarting, with no pid; until then nothing the sandbox wrote may be read. Raises
        SandboxError when that cannot be confirmed within ``timeout``. Idempotent."""
        from docker.errors import APIError, NotFound

        if self._stopped or self.container_id is None:
            self._stopped = True
            return
        t0 = time.monotonic()
        state: dict[str, Any] = {}
        try:
            self.client.api.kill(self.container_id)
        except NotFound:
            state = {"gone": True}
        except APIError as exc:
            if "is not running" not in str(exc):
                raise SandboxError(f"cannot stop {self.container_id[:12]}: {exc}") from exc
        deadline = time.monotonic() + timeout
        while not state.get("gone"):
            try:
                state = dict(self.client.api.inspect_container(self.container_id).get("State") or {})
            except NotFound:
                state = {"gone": True}
                break
            if not (state.get("Running") or state.get("Paused") or state.get("Restarting")) and not state.get("Pid"):
                break
            if time.monotonic() > deadline:
                raise SandboxError(
                    f"container {self.container_id[:12]} still has processes {timeout:g}s after "
                    f"it was killed (state {state}); nothing it wrote is read"
                )
            time.sleep(0.05)
        self._stopped = True
        self._emit(
            "sandbox.stop",
            {
                "container": self.container_id,
                "confirmed": True,
                "state": "removed" if state.get("gone") else state.get("Status", "exited"),
                "elapsed_ms": round((time.monotonic() - t0) * 1000, 1),
            },
        )

    @property
    def stopped(self) -> bool:
        """True once stop() (or teardown) confirmed that no process of the sandbox is left."""
        return self._stopped

    def teardown(self) -> None:
        """Remove the container (force). Idempotent; signals are deferred while it runs."""
        from docker.errors import DockerException, NotFound

        with self._lock:
            if self._torn_down:
                return
            self._torn_down = True
        with _signals_deferred():
            t0 = time.monotonic()
            outcome = "removed"
            if self.container_id is not None:
                for attempt in range(3):
                    try:
                        self.client.api.remove_container(self.container_id, force=True, v=True)
                        break
                    except NotFound:
                        outcome = "already gone"
                        break
                    except DockerException as exc:
                        outcome = f"remove failed: {exc}"
                        time.sleep(0.2 * (attempt + 1))
                if not outcome.startswith("remove failed"):
                    self._stopped = True  # the engine removed it: no process of it is left
                    vol = self._remove_volume()  # only once the container is gone: it holds the mount
                    if vol:
                        outcome += f"; {vol}"
                with _LIVE_LOCK:
                    _LIVE.discard(self)
                with contextlib.suppress(Exception):
                    self._emit(
                        "sandbox.teardown",
                        {
                            "container": self.container_id,
                            "outcome": outcome,
                            "elapsed_ms": round((time.monotonic() - t0) * 1000, 1),
                        },
                    )
            else:
                with _LIVE_LOCK:
                    _LIVE.discard(self)
        if outcome.startswith("remove failed"):
            raise SandboxError(f"teardown of {self.container_id}: {outcome}")

    def __enter__(self) -> DockerSandbox:
        if self.container_id is None:
            self.create()
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()

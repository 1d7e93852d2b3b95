"""The sandbox plug point: what a driver must do, and the data it trades in.

``agp run`` talks to a sandbox only through :class:`SandboxDriver`;
:class:`agp.sandbox.docker.DockerSandbox` is the implementation (a Kubernetes
or VM driver can follow). The order of a governed run is fixed::

    create()  ->  inspect_hardening()  ->  preflight()  ->  [start_forwarder()]
              ->  exec(...) / exec_stream(...)*  ->  stop()  ->  teardown()

and a driver fails closed at every step: a missing hardened flag, an
interface or route seen by the preflight, an unresolved secret or a denied
mount raises (:mod:`agp.errors`) and the sandbox is torn down. Teardown is
idempotent and always runs (context manager).

Nothing is ever read out of a live sandbox. What agp needs after a run (the
harness's transcript) is written by the harness into host directories the
driver mounts for it (``SandboxSpec.state_dirs``), and agp reads them with its
own reader (:mod:`agp.sandbox.collect`) only after :meth:`SandboxDriver.stop`
has returned, i.e. after the driver confirmed from its engine that no process of
the sandbox is left (:attr:`SandboxDriver.stopped`).

Drivers are built by :func:`agp.sandbox.backends.open_sandbox`, the one place
that names a backend: ``agp run`` imports no driver module. A Kubernetes driver implements ``stop`` as deleting the pod
with a zero grace period and waiting until the API server no longer lists it
(or its containers report terminated), and ``state_dirs`` as volumes that
outlive the pod (a hostPath on the node agp runs on, or a PVC agp reads after).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = (
    "AGENT_GID",
    "AGENT_HOME",
    "AGENT_UID",
    "CONTAINER_INTENDANTS",
    "CONTAINER_SOCKET_DIR",
    "CONTAINER_WORKSPACE",
    "EGRESS_PORT",
    "FORWARDER_PORT",
    "EventSink",
    "ExecHandle",
    "ExecResult",
    "ExtraMount",
    "PreflightResult",
    "SandboxDriver",
    "SandboxSpec",
    "StateDir",
)

#: the non-root user every agp image defines and every sandbox runs as
AGENT_UID = 10001
AGENT_GID = 10001
AGENT_HOME = "/home/agent"
CONTAINER_WORKSPACE = "/workspace"
CONTAINER_SOCKET_DIR = "/run/agp"
CONTAINER_INTENDANTS = "/opt/agp/intendants"
#: the loopback port inside the sandbox where :meth:`SandboxDriver.start_forwarder` listens for the
#: harness's model requests (Claude: ANTHROPIC_BASE_URL; Codex: the provider base_url + ``/v1``)
FORWARDER_PORT = 8788
#: the loopback port inside the sandbox of the forwarder to the egress door (the box's HTTP(S)_PROXY)
EGRESS_PORT = 8789

#: ``events(kind, body)``: the orchestrator wires this to ``journal.append(kind, session, body)``.
#: Kinds: sandbox.create, sandbox.inspect, sandbox.preflight, sandbox.teardown.
EventSink = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class ExtraMount:
    """A host file or directory mounted read-only (config files: managed settings, hooks)."""

    source: Path
    target: str


@dataclass(frozen=True)
class StateDir:
    """A host directory mounted read-write at ``target`` for the harness's own state (its transcript).

    The host directory is agp's (``<run>/box/<name>``), owned by the sandbox user; agp reads it with
    :mod:`agp.sandbox.collect` only after :meth:`SandboxDriver.stop`. Mount whole directories the
    harness owns (its config or state home): a mount whose parent does not exist in a tmpfs makes the
    engine create that parent, owned by root."""

    source: Path
    target: str


@dataclass(frozen=True)
class SandboxSpec:
    """Everything a driver needs to create one hardened sandbox.

    ``socket_dir`` is the run's socket *directory* (gate.sock, relay.sock live
    in it); it is mounted at /run/agp. Mounting a socket file instead is the
    classic ENOENT trap (the file is re-created by the server, the bind keeps
    the old inode), so the driver refuses anything but a directory.
    ``denied`` adds host paths to the mount deny-list (agp adds its key
    directory and data directory on its own; pass the run's journal here).
    """

    image: str
    run_id: str
    workspace: Path
    socket_dir: Path
    intendant_dir: Path | None = None
    config_mounts: tuple[ExtraMount, ...] = ()
    #: the harness's state directories (read-write host directories, read back after stop())
    state_dirs: tuple[StateDir, ...] = ()
    #: workspace-relative paths mounted read-only over the workspace (the paths the host runs without
    #: the user reading them; see :data:`agp.sandbox.mounts.HOST_RUN_PATHS`)
    workspace_readonly: tuple[str, ...] = ()
    denied: tuple[Path, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    #: uid/gid the sandbox runs as: never 0. The workspace must be writable by it (agp run uses
    #: the agent uid 10001 by default, or the workspace owner's uid when that is not root).
    uid: int = AGENT_UID
    gid: int = AGENT_GID
    mem_limit: int = 2 * 1024**3
    pids_limit: int = 512
    #: CPU quota in cores (nano_cpus); by default all host cores but half of one, kept for the gate
    cpus: float = field(default_factory=lambda: default_cpus())  # noqa: PLW0108 - defined below the class
    tmp_size: str = "512m"
    home_size: str = "512m"
    command: tuple[str, ...] = ("sleep", "infinity")
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        host = host_cpus()
        if not (0.01 <= self.cpus <= host):
            from agp.errors import SandboxError

            raise SandboxError(f"cpus={self.cpus}: the CPU quota must be between 0.01 and the host's {host} cores")

    @property
    def nano_cpus(self) -> int:
        return round(self.cpus * 1e9)


def host_cpus() -> int:
    """The cores this process may run on (what the engine counts when it checks a CPU quota)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_cpus() -> float:
    """All host cores but half of one (at least half a core): a box that spins on every core
    must not starve the gate, relay and journal that answer its calls on the same host."""
    return max(0.5, host_cpus() - 0.5)


@dataclass(frozen=True)
class PreflightResult:
    """What the in-container egress probe saw. ``ok`` only when the only interface is
    ``lo``, there is no route, the TEST-NET-1 connect failed at once with ENETUNREACH, and
    AF_VSOCK and AF_NETLINK sockets could not be created under a seccomp filter."""

    ok: bool
    reason: str
    interfaces: tuple[str, ...]
    routes: tuple[str, ...]
    connect: Mapping[str, Any]
    elapsed_ms: float
    container: str = ""
    #: the socket families the probe tried to create ({"AF_VSOCK": {"created": False, "errno": "EPERM"}, ...})
    families: Mapping[str, Any] = field(default_factory=dict)
    #: the probe's own ``Seccomp:`` mode from /proc/self/status ("2": a filter applies)
    seccomp: str = ""

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "families": {k: dict(v) if isinstance(v, Mapping) else v for k, v in self.families.items()},
            "seccomp": self.seccomp,
            "ok": self.ok,
            "reason": self.reason,
            "interfaces": list(self.interfaces),
            "routes": list(self.routes),
            "connect": dict(self.connect),
            "elapsed_ms": round(self.elapsed_ms, 1),
            "container": self.container,
        }


@dataclass(frozen=True)
class ExecResult:
    """A finished exec: its exit status and everything it wrote (stdout and stderr apart)."""

    exit_code: int
    stdout: bytes
    stderr: bytes


@runtime_checkable
class ExecHandle(Protocol):
    """A process running inside the sandbox (:meth:`SandboxDriver.exec_stream`)."""

    def write(self, data: bytes) -> None:
        """Send bytes to its stdin (only when started with ``keep_stdin_open``)."""
        ...

    def close_stdin(self) -> None:
        """End its stdin (EOF). Idempotent."""
        ...

    def frames(self, timeout: float | None = None) -> Iterator[tuple[int, bytes]]:
        """Its output as ``(stream, bytes)`` frames as they arrive (stream 1 stdout, 2 stderr), until
        it closes its output; raises TimeoutError once ``timeout`` seconds (in total) have passed."""
        ...

    def wait(self, timeout: float = 10.0) -> int:
        """Its exit status once it ended (SandboxError when it still runs after ``timeout``)."""
        ...

    def kill(self) -> None:
        """Kill it (best effort; :meth:`SandboxDriver.stop` is what confirms) and release the handle."""
        ...

    def close(self) -> None:
        """Release the handle (the process may go on running until the sandbox stops)."""
        ...


@runtime_checkable
class SandboxDriver(Protocol):
    """One sandbox for one run. Every method raises an :class:`agp.errors.SandboxError`
    subclass on failure; none falls back to running anything on the host.

    ``container_id`` is the engine's id for the sandbox once created (a container id; a pod's
    uid for a Kubernetes driver), None before. The driver journals through the ``events`` sink it
    was built with: sandbox.create, sandbox.inspect, sandbox.preflight, sandbox.stop,
    sandbox.teardown."""

    container_id: str | None

    def create(self) -> str:
        """Create the sandbox from its :class:`SandboxSpec`, inspect it and refuse (HardeningError,
        torn down) before starting it unless every hardened setting is there; start it. Returns its id."""
        ...

    def inspect_hardening(self) -> dict[str, Any]:
        """The engine's view of the hardened settings; raises HardeningError naming what is missing."""
        ...

    def preflight(self) -> PreflightResult:
        """The egress probe inside; anything but a clean result tears down and raises PreflightFailed."""
        ...

    def exec(
        self,
        argv: list[str],
        *,
        env: Mapping[str, str] | None = None,
        stdin: bytes | str | None = None,
        user: str | None = None,
        workdir: str | None = None,
        timeout: float | None = None,
    ) -> ExecResult:
        """Run argv inside to completion (stdin, if any, sent then closed) and return what it wrote;
        ExecTimeoutError (a SandboxError) and the process killed when ``timeout`` passes. ``user`` is
        never root; ``{{secret:NAME}}`` in env or stdin is resolved here, after the gate; never in argv."""
        ...

    def exec_stream(
        self,
        argv: list[str],
        *,
        env: Mapping[str, str] | None = None,
        stdin: bytes | str | None = None,
        user: str | None = None,
        workdir: str | None = None,
        keep_stdin_open: bool = False,
    ) -> ExecHandle:
        """Start argv inside (as the sandbox user unless ``user``; never root) and return its handle.
        ``{{secret:NAME}}`` in env or stdin is resolved here, after the gate; never in argv."""
        ...

    def start_forwarder(
        self, port: int = FORWARDER_PORT, *, timeout: float = 10.0, socket: str = "relay.sock"
    ) -> ExecHandle:
        """Start the in-sandbox loopback forwarder (127.0.0.1:``port`` to ``socket`` in the socket
        directory: the model relay by default, or the egress door's ``egress.sock``) and return once it
        listens; SandboxError when it does not within ``timeout``."""
        ...

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` (or teardown) confirmed that no process of the sandbox is left."""
        ...

    def stop(self, *, timeout: float = 30.0) -> None:
        """Kill every process in the sandbox and confirm from the engine that none is left (raises
        SandboxError when it cannot confirm). Idempotent. Only after it returns may agp read anything the
        sandbox wrote (state_dirs, the workspace); there is no way to copy files out of a live sandbox."""
        ...

    def teardown(self) -> None:
        """Remove the sandbox (and what the driver made for it). Idempotent; never raises for an
        already-gone sandbox; SandboxError when the engine refuses."""
        ...

    def __enter__(self) -> SandboxDriver: ...

    def __exit__(self, *exc: object) -> None: ...

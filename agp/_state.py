"""The typed state of one governed run: what the caller asked (:class:`RunOptions`, frozen), what
the run derived before it started (:class:`RunContext`, frozen), what it recorded for run.json
(:class:`RunRecord`) and what the sandbox phase hands to teardown and collection (:class:`BoxState`).

:mod:`agp.run` and :mod:`agp._wiring` pass these instead of dicts, so every piece of run state
has one name and one type.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agp.gate.approvals import Approver
    from agp.sandbox.driver import SandboxDriver, StateDir
    from agp.sandbox.watchdog import WriteWatchdog

__all__ = ("BoxState", "RunContext", "RunOptions", "RunRecord")


@dataclass(frozen=True)
class RunOptions:
    """What the caller asks of one governed run (``agp run``'s flags, the demo's choices)."""

    intendant: str
    task: str
    workspace: Path
    policy: Path | list[Path] | None = None  # several: tiers, strictest wins
    approver: str = "terminal"  # terminal | slack | none | auto (demo only)
    approval_timeout: float = 20.0  # seconds; kept below the hook bridge's deadline by the caller
    model_upstream: str | None = None
    model_key_env: str | None = None
    timeout: float = 600.0
    out: Path | None = None
    key_dir: Path | None = None
    script: Path | None = None  # the reference intendant's task script
    skip_doctor: bool = False
    #: how much the sandbox may add to the workspace and its state directories before it is stopped
    max_write_mb: float = 4096.0
    #: curl-style HOST:PORT:ADDRESS pins for the egress door (mirrors, tests)
    resolve: tuple[str, ...] = ()
    #: a pinned image built on the intendant's own (agp.sandbox.images.TOOLCHAINS); None: its own image
    image: str | None = None
    #: clone | mount, or None: clone for a git repository's top level, else mount
    workspace_mode: str | None = None
    #: clone mode: land the result as a branch (``branch``) or apply it to the working tree (``apply``)
    land: str = "branch"
    #: clone mode: the largest file carried back (None: the default)
    result_max_file: int | None = None
    #: an approver channel built and connected before the run started (``agp run --approver slack``);
    #: None: the run builds the one ``approver`` names
    approver_channel: Approver | None = None


@dataclass(frozen=True)
class RunContext:
    """What the run derived before the gate started: who the sandbox runs as and where."""

    run_id: str
    run_dir: Path
    session: str
    #: the workspace, resolved (symlinks followed: where the gate resolves paths against)
    workspace: Path
    #: the uid/gid the sandbox (and the gate socket's owner) runs as
    uid: int
    gid: int
    #: clone (``workspace`` is the clone in the run directory) or mount (the user's directory)
    workspace_mode: str = "mount"


@dataclass
class RunRecord:
    """run.json: what the run was and how it ended, rewritten atomically at its start and its end."""

    run_id: str
    task: str
    intendant: str
    harness_version: str
    workspace: str
    policy_path: str
    policy_digest: str | None
    approver: str
    started: float
    ended: float | None = None
    exit_code: int | None = None
    exit_reason: str | None = None
    #: set as the run reaches them (absent from run.json until then)
    image: str | None = None
    image_id: str | None = None
    preflight: dict[str, Any] | None = None
    write_watchdog: dict[str, Any] | None = None
    harness_log: dict[str, Any] | None = None
    relay: dict[str, Any] | None = None
    policy_tiers: list[str] | None = None
    workspace_mode: str | None = None
    clone: dict[str, Any] | None = None
    workspace_result: dict[str, Any] | None = None
    egress: dict[str, Any] | None = None
    egress_inspecting: bool | None = None
    egress_limits: dict[str, Any] | None = None

    _OPTIONAL = (
        "image",
        "image_id",
        "preflight",
        "write_watchdog",
        "harness_log",
        "relay",
        "policy_tiers",
        "workspace_mode",
        "clone",
        "workspace_result",
        "egress",
        "egress_inspecting",
        "egress_limits",
    )

    def to_json_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "run_id": self.run_id,
            "task": self.task,
            "intendant": self.intendant,
            "harness": self.intendant,
            "harness_version": self.harness_version,
            "workspace": self.workspace,
            "policy_path": self.policy_path,
            "policy_digest": self.policy_digest,
            "approver": self.approver,
            "started": self.started,
            "ended": self.ended,
            "exit_code": self.exit_code,
            "exit_reason": self.exit_reason,
        }
        for k in self._OPTIONAL:
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        return d

    def start_body(self) -> dict[str, Any]:
        """The run.start journal entry's body."""
        return {
            "run_id": self.run_id,
            "task": self.task,
            "intendant": self.intendant,
            "workspace": self.workspace,
            "policy_digest": self.policy_digest,
            "approver": self.approver,
        }


@dataclass
class BoxState:
    """What the sandbox phase (a worker thread) shares with the run's teardown and collection."""

    #: set when the worker ends, however it ends; teardown waits for it
    done: threading.Event = field(default_factory=threading.Event)
    #: the worker started (so ``done`` will be set)
    started: bool = False
    #: the sandbox, once built (stopped and torn down on every path)
    box: SandboxDriver | None = None
    #: called with the created sandbox, before the preflight: starts the write watchdog
    start_watchdog: Callable[[SandboxDriver], None] | None = None
    watchdog: WriteWatchdog | None = None
    #: the harness's state directories (host side), read after stop()
    state_dirs: tuple[StateDir, ...] = ()
    #: the workspace's host-run paths, and their snapshot before the run
    ws_rels: tuple[str, ...] = ()
    ws_before: Any = None
    #: collection after stop() ran (it runs once)
    collected: bool = False
    #: how the harness ended: its exit status (None: it did not), the run's timeout, the write limit
    exit_code: int | None = None
    timed_out: bool = False
    write_limit: str | None = None
    #: inspecting egress: the run's CA certificate (PEM), which the box trusts; never its key
    egress_ca_pem: bytes | None = None

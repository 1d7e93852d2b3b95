"""One governed run, start to verified evidence. The only module that wires everything.

Order (each step fails closed; teardown and the bundle happen on every path)::

    doctor checks -> run dir (sock/ 0700) -> policy -> keys -> journal (run.start)
    -> gate (+ model relay) on Unix sockets in sock/
    -> sandbox: create -> inspect hardening -> preflight (journaled)
    -> harness launched inside with its hooks, under a hard timeout and a write watchdog
    -> every process stopped and confirmed gone (finish, error, timeout, Ctrl-C, gate death)
    -> transcript read from the host state directory, workspace checked -> teardown -> run.end -> head
    -> evidence bundle (verified; gated > 0)

``run_governed`` returns a :class:`RunResult`; it never prints (the caller
renders), except through the :class:`agp._live.LiveView` it is given.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from agp._live import LiveView
from agp._state import BoxState, RunContext, RunOptions, RunRecord
from agp.errors import AgpError, EvidenceError, UsageError
from agp.journal import Journal, SigningKey, init_keys, load_signing_key
from agp.paths import data_dir, default_key_dir, default_policy, intendant_pins
from intendants import registry

__all__ = ("INTENDANTS", "RunContext", "RunOptions", "RunRecord", "RunResult", "new_run_dir", "run_governed")

INTENDANTS = registry.NAMES


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    bundle_dir: Path | None
    exit_code: int
    reason: str
    counts: dict[str, int]
    bundle_ok: bool
    bundle_report: Any = None

    def to_json_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["run_dir"] = str(self.run_dir)
        d["bundle_dir"] = str(self.bundle_dir) if self.bundle_dir else None
        d.pop("bundle_report", None)
        return d


def new_run_dir(out: Path | None) -> tuple[str, Path]:
    run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)
    base = out if out is not None else data_dir() / "runs"
    run_dir = base / run_id
    run_dir.mkdir(parents=True, mode=0o700)  # the engine resolves bind mounts as root: nothing inside
    os.chmod(run_dir, 0o700)  # the sandbox needs to traverse the host path
    (run_dir / "sock").mkdir(mode=0o700)
    for sub in ("keys", "transcript", "logs", "mounts"):
        (run_dir / sub).mkdir(mode=0o755)
    return run_id, run_dir


def sandbox_user(workspace: Path) -> tuple[int, int]:
    """Who the sandbox runs as: the workspace owner when that is not root (so the agent can
    write the user's files), else agp's agent user, which must then be able to write it."""
    from agp.sandbox.driver import AGENT_GID, AGENT_UID

    st = workspace.stat()
    if st.st_uid != 0:
        return st.st_uid, st.st_gid
    if st.st_mode & 0o002 or (st.st_gid == AGENT_GID and st.st_mode & 0o020):
        return AGENT_UID, AGENT_GID
    raise UsageError(
        f"workspace {workspace} is owned by root; the sandbox never runs as root, so the agent could not write "
        f"there. Use a workspace owned by a regular user (or chown -R {AGENT_UID}:{AGENT_GID} {workspace})"
    )


def _harness_version(intendant: str) -> str:
    """The validated version the image was built with (doctor checked the image matches the pin)."""
    pins_key = registry.get(intendant).pins_key
    if pins_key is None:
        from agp import __version__

        return f"agp-reference {__version__}"
    pins = json.loads(intendant_pins().read_text())
    return pins[pins_key]["version"]


def _reap_orphans(view: LiveView) -> None:
    """Remove sandboxes left by agp processes that died without tearing down (e.g. SIGKILL)."""
    from agp.sandbox.backends import reap_orphans

    removed = reap_orphans()  # SandboxError when the engine cannot be asked (the doctor proved it answers)
    if removed:
        view.log(
            f"removed {len(removed)} sandbox(es) left behind by a dead agp process: "
            + ", ".join(c[:12] for c in removed)
        )


def _key(key_dir: Path) -> SigningKey:
    if not (key_dir / "agp.key").exists():
        return init_keys(key_dir)
    return load_signing_key(key_dir)


def _write_run_json(run_dir: Path, record: RunRecord) -> None:
    tmp = run_dir / "run.json.tmp"
    tmp.write_text(json.dumps(record.to_json_dict(), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, run_dir / "run.json")


def run_governed(opts: RunOptions, view: LiveView) -> RunResult:  # the one wiring function
    from agp.doctor import run_checks
    from agp.evidence import build_bundle
    from agp.policy import load_policy
    from agp.policy.engine import write_run_policy
    from agp.policy.project import read_project_policy

    if opts.intendant not in INTENDANTS:
        raise UsageError(f"unknown intendant {opts.intendant!r}; choose one of {', '.join(INTENDANTS)}")
    workspace = opts.workspace.resolve()
    if not workspace.is_dir():
        raise UsageError(f"workspace {workspace} is not a directory")
    key_dir = opts.key_dir or default_key_dir()
    given = opts.policy if isinstance(opts.policy, list) else [opts.policy] if opts.policy else []
    policy_paths = [p.resolve() for p in given] or [default_policy().resolve()]
    policy_path = policy_paths[0]

    if not opts.skip_doctor:
        view.status("checking readiness (agp doctor)")
        failed = [
            c
            for c in run_checks(
                key_dir=key_dir,
                policy=policy_path,
                intendants=[opts.intendant],
                harness=opts.intendant in registry.REAL,
            )
            if c.status == "fail" and not (c.name == "signing key" and not (key_dir / "agp.key").exists())
        ]
        if failed:
            raise AgpError(
                "refusing to start: "
                + "; ".join(f"{c.name}: {c.detail}" for c in failed)
                + " (run `agp doctor` for the fixes)"
            )

    uid, gid = sandbox_user(workspace)
    project = read_project_policy(workspace)  # committed at the user's HEAD; can only tighten
    policy = load_policy(policy_paths, project=project)
    if project.policy is not None:
        view.log(project.note)
    _reap_orphans(view)
    run_id, run_dir = new_run_dir(opts.out)
    write_run_policy(policy, run_dir / "policy.toml", policy_paths)  # one file, the digest journaled
    key = _key(key_dir)
    (run_dir / "keys" / "agp.pub").write_bytes(key.public.to_pem())
    ctx = RunContext(run_id=run_id, run_dir=run_dir, session=f"run-{run_id}", workspace=workspace, uid=uid, gid=gid)
    session = ctx.session
    started = time.time()
    record = RunRecord(
        run_id=run_id,
        task=opts.task,
        intendant=opts.intendant,
        harness_version=_harness_version(opts.intendant),
        workspace=str(workspace),
        policy_path=str(policy_path),
        policy_digest=policy.digest,
        approver=opts.approver,
        started=started,
        policy_tiers=list(policy.sources),
    )
    _write_run_json(run_dir, record)
    journal = Journal.open(
        run_dir / "journal.jsonl", key, head_every=1.0, on_append=getattr(view, "journal_entry", None)
    )  # the view shows what is journaled
    exit_code, reason = 1, "the run did not start"
    try:
        journal.append("run.start", session, record.start_body())
        # clone mode: the sandbox mounts a clone in the run directory, never the user's directory
        from agp.workspace.session import before_sandbox

        mode, box_workspace = before_sandbox(
            opts,
            run_dir=run_dir,
            run_id=run_id,
            workspace=workspace,
            journal=journal,
            session=session,
            record=record,
            uid=uid,
            gid=gid,
        )
        ctx = replace(ctx, workspace=box_workspace, workspace_mode=mode)
        exit_code, reason = _run_phases(opts, ctx, view, journal, policy, record)
    except KeyboardInterrupt:
        exit_code, reason = 130, "interrupted (Ctrl-C); the sandbox was torn down"
    except AgpError as exc:
        exit_code, reason = exc.exit_code or 1, exc.diagnostics()
    except Exception as exc:  # noqa: BLE001 - a bug must still end the run cleanly, with its bundle
        exit_code, reason = 1, f"internal error: {type(exc).__name__}: {exc}"
    finally:
        record.ended, record.exit_code, record.exit_reason = time.time(), exit_code, reason
        _write_run_json(run_dir, record)
        with contextlib.suppress(AgpError):  # a poisoned journal: the bundle will say so
            journal.append(
                "run.end",
                session,
                {"exit_code": exit_code, "reason": reason, "duration_s": round(record.ended - started, 3)},
            )
        journal.close()
        for sock in (run_dir / "sock").glob("*.sock"):
            sock.unlink(missing_ok=True)

    view.status("building the evidence bundle")
    bundle_dir = run_dir / "bundle"
    bundle_ok, report = False, None
    try:
        report = build_bundle(run_dir, bundle_dir, key, redactor=journal.redactor)
        bundle_ok = True
    except EvidenceError as exc:
        if exit_code == 0:
            exit_code, reason = 1, f"the evidence bundle failed: {exc}"
        else:
            reason += f"; the evidence bundle failed: {exc}"
    return RunResult(run_id, run_dir, bundle_dir, exit_code, reason, view.counts, bundle_ok, report)


def _run_phases(
    opts: RunOptions, ctx: RunContext, view: LiveView, journal: Journal, policy: Any, record: RunRecord
) -> tuple[int, str]:
    """Gate and relay up, the sandbox lifecycle in a worker thread, everything down again."""
    import anyio

    from agp import _wiring

    session, run_dir, workspace = ctx.session, ctx.run_dir, ctx.workspace
    state = BoxState()

    def start_watchdog(box) -> None:
        from agp.sandbox.watchdog import WriteWatchdog

        def on_limit(reason: str) -> None:
            state.write_limit = reason
            view.log(reason)
            try:
                box.stop()
            except AgpError as exc:
                state.write_limit = f"{reason} (stopping it failed: {exc})"

        wd = WriteWatchdog({"workspace": workspace, "state": run_dir / "box"}, int(opts.max_write_mb * 1e6), on_limit)
        state.watchdog = wd.start()
        record.write_watchdog = {"limit_bytes": wd.limit}

    state.start_watchdog = start_watchdog

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            gate = await _wiring.start_gate(tg, opts=opts, ctx=ctx, view=view, journal=journal, policy=policy)
            door = await _wiring.start_egress(tg, gate=gate, opts=opts, run_dir=run_dir, session=session, record=record)
            state.egress_ca_pem = door.ca.cert_pem if door.ca is not None else None
            if registry.get(opts.intendant).upstream is not None:
                await _wiring.start_relay(tg, opts=opts, ctx=ctx, journal=journal, record=record)
            try:
                with anyio.move_on_after(opts.timeout) as scope:
                    state.exit_code = await anyio.to_thread.run_sync(
                        lambda: _wiring.sandbox_phase(
                            opts=opts, ctx=ctx, view=view, journal=journal, record=record, state=state
                        ),
                        abandon_on_cancel=True,
                    )
                if scope.cancelled_caught:
                    state.timed_out = True
            finally:
                box = state.box
                if box is not None:
                    # every exit path: kill every process in the box and confirm it from the engine
                    with anyio.CancelScope(shield=True):
                        # retried below, and the box is removed before anything is read
                        with contextlib.suppress(AgpError):
                            await anyio.to_thread.run_sync(box.stop)
                tg.cancel_scope.cancel()

    try:
        anyio.run(main)
    except BaseExceptionGroup as eg:  # a task group wraps what failed in it: report the failure itself
        raise _first_cause(eg) from None
    finally:
        wd = state.watchdog
        if wd is not None:
            wd.stop()
            record.write_watchdog = wd.to_json_dict()
        box = state.box
        if box is not None:
            try:
                box.stop()  # idempotent; covers Ctrl-C and errors
            except AgpError as exc:
                journal.append(
                    "run.anomaly",
                    session,
                    {
                        "what": "the sandbox could not be confirmed stopped; it is removed before anything is read",
                        "error": str(exc),
                    },
                )
                box.teardown()  # removed by the engine: then nothing of it runs
        # a timeout abandons the worker thread; with the sandbox stopped it ends at once. Wait for it, so
        # nothing it does (journaling) can overlap the journal's close or the bundle
        if state.started and not state.done.wait(60):
            journal.append("run.anomaly", session, {"what": "the sandbox worker did not stop within 60s of teardown"})
        if box is not None:
            try:
                _wiring.collect_after_stop(box, opts=opts, ctx=ctx, journal=journal, state=state)
            except Exception as exc:  # noqa: BLE001 - what could not be read is reported; the bundle is still written
                journal.append(
                    "run.anomaly",
                    session,
                    {"what": "collecting after the run failed", "error": f"{type(exc).__name__}: {exc}"},
                )
            box.teardown()
            # clone mode: the result, computed and landed with nothing of the sandbox left
            from agp.workspace.session import after_stop

            try:
                after_stop(
                    opts, view=view, journal=journal, policy=policy, run_dir=run_dir, session=session, record=record
                )
            except Exception as exc:  # noqa: BLE001 - reported; the bundle is still written
                journal.append(
                    "run.anomaly",
                    session,
                    {"what": "the workspace result step failed", "error": f"{type(exc).__name__}: {exc}"},
                )
    if state.write_limit:
        return 1, state.write_limit
    if state.timed_out:
        return 124, f"the run hit its {opts.timeout:g}s timeout; the harness was stopped and the sandbox torn down"
    code = 1 if state.exit_code is None else state.exit_code
    if code != 0:
        return 1, f"the harness exited with status {code}"
    return 0, "the run finished"


def _first_cause(eg: BaseExceptionGroup) -> BaseException:
    """The exception to report from a task group's group: Ctrl-C first, then agp's own errors."""
    leaves: list[BaseException] = []

    def walk(e: BaseException) -> None:
        if isinstance(e, BaseExceptionGroup):
            for sub in e.exceptions:
                walk(sub)
        else:
            leaves.append(e)

    walk(eg)
    for kind in (KeyboardInterrupt, AgpError):
        for e in leaves:
            if isinstance(e, kind):
                return e
    return leaves[0] if leaves else eg

"""Clone mode in a governed run: the two steps ``agp.run`` calls.

- :func:`before_sandbox`: choose the mode; in clone mode make the clone in the run directory
  and return it (the sandbox mounts it at /workspace; the user's directory is never mounted).
- :func:`after_stop`: once every process of the sandbox is gone, compute the result, journal it
  (``workspace.result``) before the bundle is built, decide the landing of paths the host runs
  (the policy, approvals through the gate's broker; journaled as ``workspace.land_decision``)
  and land it (``workspace.land``). What it finds goes to ``run_dir/workspace.json`` and
  the run record's ``workspace_result``; no failure here stops the bundle from being written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agp.workspace._git import Git, WorkspaceError
from agp.workspace.clone import Clone, detect_mode, make_clone
from agp.workspace.result import DEFAULT_MAX_FILE, compute_result

__all__ = ("after_stop", "before_sandbox", "summary")


def before_sandbox(
    opts, *, run_dir: Path, run_id: str, workspace: Path, journal, session: str, record, uid: int, gid: int
) -> tuple[str, Path]:
    """The workspace mode, and the directory the sandbox mounts at /workspace: the user's (mount mode)
    or a clone (clone mode)."""
    mode = detect_mode(workspace, opts.workspace_mode, Git(run_dir / "git-home"))
    record.workspace_mode = mode
    if mode == "mount":
        journal.append("workspace.mode", session, {"mode": "mount", "workspace": str(workspace)})
        return mode, workspace
    c = make_clone(workspace, run_dir, run_id, uid=uid, gid=gid)
    journal.append(
        "workspace.mode",
        session,
        {
            "mode": "clone",
            "workspace": str(workspace),
            "head": c.head,
            "head_ref": c.head_ref,
            "base": c.base,
            "base_tree": c.base_tree,
            "includes_uncommitted": c.includes_uncommitted,
        },
    )
    record.clone = {"path": c.path, "base": c.base, "head": c.head, "includes_uncommitted": c.includes_uncommitted}
    return mode, Path(c.path)


def _approve(opts, view, journal, session: str, decision, flagged: list[str]) -> tuple[bool, str]:
    """A ``require`` on landing, asked through the gate's approval broker and the run's approver."""
    import anyio

    from agp.approvers import make_approver
    from agp.gate.approvals import ApprovalBroker
    from agp.journal.canonical import canonicalize

    try:  # the run's approver channel, as the gate has it
        if opts.approver == "terminal":
            approvers = [make_approver("terminal", console=view.console)]
        elif opts.approver_channel is not None:  # built and connected before the run (slack)
            approvers = [opts.approver_channel]
        else:
            approvers = [make_approver(opts.approver)]
    except Exception as exc:  # noqa: BLE001 - no approver: the require is a deny
        return False, f"no approver ({exc})"
    broker = ApprovalBroker(
        approvers,
        record=lambda kind, s, body: journal.append(kind, s, dict(body)),
        timeout=opts.approval_timeout,
        allow_automatic=opts.approver == "auto",
    )
    call = {
        "harness": opts.intendant,
        "tool": "workspace.result",
        "input": {"paths": flagged},
        "id": "workspace.result",
    }
    import hashlib

    digest = hashlib.sha256(canonicalize(call)).hexdigest()

    async def ask():
        return await broker.require(
            session=session,
            call=call,
            call_digest=digest,
            statements=[s.to_json_dict() for s in decision.statements],
            rule=decision.rule,
            matched=decision.matched,
            reason=decision.reason,
            quorum=decision.quorum,
            approver_group=decision.approver_group,
        )

    res = anyio.run(ask)
    return res.allowed, res.detail or res.outcome.value


def after_stop(opts, *, view, journal, policy, run_dir: Path, session: str, record) -> dict[str, Any] | None:
    """Compute, journal and land the result of a clone-mode run (see the module doc). Call only after
    the sandbox is confirmed stopped (or removed)."""
    if not (run_dir / "clone.json").is_file() or (run_dir / "workspace.json").exists():
        return None
    from agp.workspace.door import decide_landing, host_run_changes
    from agp.workspace.land import apply_result, branch_name, land_branch

    c = Clone.load(run_dir)
    out: dict[str, Any] = {
        "workspace_mode": "clone",
        "branch": None,
        "applied": False,
        "patch": None,
        "patch_sha256": None,
        "files_changed": 0,
        "files": [],
        "host_run_paths": [],
        "landing": None,
    }
    try:
        view.status("computing the workspace result (agp's own git directory; nothing of the clone is run)")
        r = compute_result(c, run_dir / "changes.patch", max_file=int(opts.result_max_file or DEFAULT_MAX_FILE))
    except Exception as exc:  # noqa: BLE001 - reported; the bundle is still written
        journal.append(
            "run.anomaly",
            session,
            {"what": "the workspace result could not be computed", "error": f"{type(exc).__name__}: {exc}"},
        )
        out["landing"] = f"not computed: {exc}"
        _save(run_dir, record, out)
        return out
    flagged = host_run_changes(r.files)
    if r.refused:
        journal.append(
            "run.anomaly",
            session,
            {"what": "workspace entries not carried back", "count": len(r.refused), "refused": r.refused[:200]},
        )
    journal.append("workspace.result", session, {**r.to_journal(), "host_run_paths": flagged})
    out.update(
        patch=str(r.patch),
        patch_sha256=r.patch_sha256,
        files_changed=len(r.files),
        files=r.files,
        host_run_paths=flagged,
        refused=r.refused,
    )
    how = opts.land or "branch"
    if not r.files:
        out["landing"] = "nothing changed"
        _save(run_dir, record, out)
        return out
    if flagged:
        d = decide_landing(policy, opts.intendant, flagged)
        allowed, detail = d.effect == "allow", d.reason
        if d.effect == "require" and getattr(policy, "approvals", True) is False:
            allowed, detail = False, f"{d.reason}; the policy turns approvals off, so a require is a deny"
        elif d.effect == "require":
            allowed, detail = _approve(opts, view, journal, session, d, flagged)
        journal.append(
            "workspace.land_decision",
            session,
            {
                "paths": flagged,
                "effect": d.effect,
                "rule": d.rule,
                "matched": list(d.matched),
                "reason": d.reason,
                "policy_digest": d.policy_digest,
                "allowed": allowed,
                "detail": detail,
            },
        )
        if not allowed:
            out["landing"] = f"not landed: {detail}; the patch is kept in {r.patch}"
            view.log(f"result not landed ({', '.join(flagged[:3])}): {detail}")
            _save(run_dir, record, out)
            return out
    try:
        if how == "apply":
            touched = apply_result(c, r)
            out.update(applied=True, landing=f"applied to {c.repo} ({len(touched)} path(s))")
            journal.append("workspace.land", session, {"how": "apply", "repo": c.repo, "paths": touched[:2000]})
        else:
            branch = land_branch(c, r)
            commit = Git(Path(c.git_home)).out(["--git-dir", c.base_git, "rev-parse", "refs/heads/result"])
            out.update(branch=branch, landing=f"branch {branch} in {c.repo}")
            journal.append(
                "workspace.land",
                session,
                {"how": "branch", "repo": c.repo, "branch": branch, "commit": commit, "base": c.base},
            )
    except WorkspaceError as exc:
        journal.append(
            "run.anomaly",
            session,
            {
                "what": "the workspace result was not landed",
                "error": str(exc),
                "branch": branch_name(c.run_id) if how != "apply" else None,
            },
        )
        out["landing"] = f"not landed: {exc}"
    _save(run_dir, record, out)
    return out


def _save(run_dir: Path, record, out: dict[str, Any]) -> None:
    record.workspace_result = summary(out)
    (run_dir / "workspace.json").write_text(json.dumps(out, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def summary(out: dict[str, Any]) -> dict[str, Any]:
    """The fields ``agp run --json`` carries."""
    return {
        k: out.get(k)
        for k in (
            "workspace_mode",
            "branch",
            "applied",
            "patch",
            "patch_sha256",
            "files_changed",
            "host_run_paths",
            "landing",
        )
    }

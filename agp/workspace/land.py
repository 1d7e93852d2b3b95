"""Clone mode, landing: the result as a branch ``agp/<run-id>`` in the user's repository, or applied.

The branch is built in agp's own git directory (``base.git``): the result commit "agp: the
changes of run X" on top of the base (itself "agp: the working tree at the start of run X" on
top of HEAD when the user had uncommitted changes). It reaches the user's repository with one
``git fetch`` run there with agp's environment (no hooks, no fsmonitor, no maintenance, no
FETCH_HEAD): objects and the new ref are written; the user's working tree, index, current branch,
hooks and configuration are not. An existing branch of that name is never overwritten.

``apply_result`` applies the patch to the user's working tree (``git apply``, agp's environment),
refusing when a path it touches differs now from what it was at the start of the run: it would
overwrite the user's uncommitted work.
"""

from __future__ import annotations

import time
from pathlib import Path

from agp.workspace._git import WorkspaceError
from agp.workspace.clone import COMMIT_IDENT, Clone, stage_worktree
from agp.workspace.result import WorkspaceResult

__all__ = ("RESULT_MESSAGE", "apply_result", "branch_name", "land_branch")

RESULT_MESSAGE = "agp: the changes of run {run_id}"


def branch_name(run_id: str) -> str:
    return f"agp/{run_id}"


def land_branch(clone: Clone, result: WorkspaceResult) -> str | None:
    """Create ``agp/<run-id>`` in the user's repository; return its name (None: nothing changed)."""
    if result.tree == clone.base_tree:
        return None
    git = clone.git()
    repo = Path(clone.repo)
    bg = ["--git-dir", clone.base_git]
    now = f"{int(time.time())} +0000"
    env = {**COMMIT_IDENT, "GIT_AUTHOR_DATE": now, "GIT_COMMITTER_DATE": now}
    commit = git.out(
        [*bg, "commit-tree", result.tree, "-p", clone.base, "-m", RESULT_MESSAGE.format(run_id=clone.run_id)], env=env
    )
    git.run([*bg, "update-ref", "refs/heads/result", commit])
    branch = branch_name(clone.run_id)
    if git.run(["rev-parse", "-q", "--verify", f"refs/heads/{branch}"], cwd=repo, check=False).returncode == 0:
        raise WorkspaceError(
            f"the branch {branch} already exists in {repo}; it was not changed (the result is in {result.patch})"
        )
    git.run(
        [
            "fetch",
            "-q",
            "--no-tags",
            "--no-write-fetch-head",
            "--no-recurse-submodules",
            "--no-auto-gc",
            "--no-auto-maintenance",
            clone.base_git,
            f"refs/heads/result:refs/heads/{branch}",
        ],
        cwd=repo,
    )
    got = git.out(["rev-parse", "--verify", f"refs/heads/{branch}^{{commit}}"], cwd=repo)
    if got != commit:
        raise WorkspaceError(f"the branch {branch} points at {got}, not at the result commit {commit}")
    return branch


def apply_result(clone: Clone, result: WorkspaceResult) -> list[str]:
    """Apply the patch to the user's working tree; return the paths it touched. Refuses (WorkspaceError)
    when one of them differs now from the base: that would overwrite uncommitted work."""
    if result.tree == clone.base_tree:
        return []
    git = clone.git()
    repo = Path(clone.repo)
    base_git = Path(clone.base_git)
    head = git.run(["rev-parse", "-q", "--verify", "HEAD^{commit}"], cwd=repo, check=False)
    current = stage_worktree(
        git,
        repo,
        base_git,
        Path(clone.git_home) / "apply.index",
        head.stdout.decode().strip() if head.returncode == 0 else None,
    )
    raw = git.run(
        ["--git-dir", str(base_git), "diff-tree", "-r", "-z", "--name-only", "--no-renames", clone.base_tree, current]
    ).stdout
    moved = {p for p in raw.decode("utf-8", "surrogateescape").split("\0") if p}
    raw = git.run(
        [
            "--git-dir",
            str(base_git),
            "diff-tree",
            "-r",
            "-z",
            "--name-only",
            "--no-renames",
            clone.base_tree,
            result.tree,
        ]
    ).stdout
    touched = [p for p in raw.decode("utf-8", "surrogateescape").split("\0") if p]
    clash = sorted(moved & set(touched))
    if clash:
        raise WorkspaceError(
            f"not applied: {len(clash)} path(s) the result changes were changed in {repo} since the "
            f"run started ({', '.join(map(repr, clash[:5]))}); the result is kept in {result.patch} "
            f"(land it as a branch instead)"
        )
    git.run(["apply", "--whitespace=nowarn", str(result.patch)], cwd=repo)
    return touched

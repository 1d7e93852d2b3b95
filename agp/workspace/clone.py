"""Clone mode, the start: the user's working tree as a base commit, and a clone of it for the sandbox.

``make_clone(repo, run_dir, run_id)``

1. ``run_dir/base.git``: a bare git directory of agp's own (no template, no hooks) that borrows
   the user's objects through ``objects/info/alternates`` (read only; new objects go here).
2. The working tree as the user sees it (HEAD, plus uncommitted and untracked-but-not-ignored
   files) is staged into an index file of agp's (``git add -A`` under ``GIT_INDEX_FILE`` and
   ``GIT_OBJECT_DIRECTORY`` of agp's): the user's index and objects are not written. When it
   differs from HEAD it becomes a commit "agp: the working tree at the start of run X" on top of
   HEAD; otherwise the base is HEAD itself.
3. ``run_dir/workspace``: ``git clone --no-hardlinks --no-checkout --template=`` of the user's
   repository (no hooks; no object file shared with the user's repository, so nothing the agent
   does to it reaches the user's), the base fetched into it from ``base.git`` and checked out
   with every attribute unset (``.git/info/attributes``: the files are the base's bytes).

The user's own configuration is read by the git commands that run in the user's repository
(it is the user's); everything else is agp's (see ``_git.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from agp.workspace._git import Git, WorkspaceError

__all__ = ("BASE_MESSAGE", "Clone", "detect_mode", "make_clone", "stage_worktree")

BASE_MESSAGE = "agp: the working tree at the start of run {run_id}"
COMMIT_IDENT = {
    "GIT_AUTHOR_NAME": "agp",
    "GIT_AUTHOR_EMAIL": "agp@localhost",
    "GIT_COMMITTER_NAME": "agp",
    "GIT_COMMITTER_EMAIL": "agp@localhost",
}
#: checked out with no conversion at all: the clone's files are the blobs' bytes
NO_ATTRIBUTES = "* -text -eol -filter -ident -diff -merge -working-tree-encoding\n"


@dataclass(frozen=True)
class Clone:
    """Where a clone-mode run started from. Saved as ``run_dir/clone.json``."""

    repo: str  # the user's repository (its top level)
    path: str  # the clone the sandbox mounts at /workspace
    base_git: str  # agp's own git directory
    git_home: str  # the empty HOME every git command gets
    run_id: str
    head: str | None  # the user's HEAD commit (None: no commit yet)
    head_ref: str | None  # the user's current branch (None: detached)
    base: str  # the base commit (HEAD, or the working-tree commit on top of it)
    base_tree: str
    includes_uncommitted: bool

    def git(self) -> Git:
        return Git(Path(self.git_home))

    def save(self, run_dir: Path) -> None:
        (run_dir / "clone.json").write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, run_dir: Path) -> Clone:
        return cls(**json.loads((run_dir / "clone.json").read_text()))


def _toplevel(git: Git, directory: Path) -> Path | None:
    p = git.run(["rev-parse", "--show-toplevel"], cwd=directory, check=False)
    if p.returncode != 0:
        return None
    return Path(p.stdout.decode("utf-8", "surrogateescape").strip())


def detect_mode(workspace: Path, asked: str | None, git: Git) -> str:
    """``clone`` for the top level of a git work tree (unless ``mount`` was asked), ``mount`` for a
    directory that is not in a git repository. Clone asked for a non-repository, or a subdirectory
    of a repository, is a WorkspaceError naming the way out."""
    if asked not in (None, "clone", "mount"):
        raise WorkspaceError(f"unknown workspace mode {asked!r}; choose clone or mount")
    if asked == "mount":
        return "mount"
    top = _toplevel(git, workspace)
    if top is None:
        if asked == "clone":
            raise WorkspaceError(
                f"{workspace} is not in a git repository: clone mode needs one (use --workspace-mode mount)"
            )
        return "mount"
    if top.resolve() != workspace.resolve():
        raise WorkspaceError(
            f"{workspace} is inside the git repository {top}, not its top level: pass "
            f"--workspace {top} for clone mode, or --workspace-mode mount"
        )
    return "clone"


def _git_common_dir(git: Git, repo: Path) -> Path:
    d = Path(git.out(["rev-parse", "--git-common-dir"], cwd=repo))
    return d if d.is_absolute() else (repo / d).resolve()


def stage_worktree(git: Git, repo: Path, base_git: Path, index: Path, head: str | None) -> str:
    """The tree of ``repo``'s working tree as the user sees it (tracked files as they are on disk,
    deletions, untracked files that are not ignored), written into ``base_git``'s objects through
    an index file of agp's. The user's index and object store are not written."""
    user_objects = _git_common_dir(git, repo) / "objects"
    env = {
        "GIT_INDEX_FILE": str(index),
        "GIT_OBJECT_DIRECTORY": str(base_git / "objects"),
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": str(user_objects),
    }
    index.unlink(missing_ok=True)
    user_index = Path(git.out(["rev-parse", "--path-format=absolute", "--git-path", "index"], cwd=repo))
    shared = list(user_index.parent.glob("sharedindex.*"))
    if head is not None and user_index.is_file() and not shared:
        shutil.copyfile(user_index, index)  # its stat data spares rehashing unchanged files
    elif head is not None:
        git.run(["read-tree", head], cwd=repo, env=env)
    else:
        git.run(["read-tree", "--empty"], cwd=repo, env=env)
    git.run(["add", "-A", "--", "."], cwd=repo, env=env)
    return git.out(["write-tree"], cwd=repo, env=env)


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.lchown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root):  # agp's own fresh clone: nothing to distrust yet
        for n in (*dirnames, *filenames):
            os.lchown(os.path.join(dirpath, n), uid, gid)


def make_clone(repo: Path, run_dir: Path, run_id: str, *, uid: int | None = None, gid: int | None = None) -> Clone:
    """Record the user's working tree as the base and make the sandbox's clone of it (see module doc)."""
    repo = repo.resolve()
    git = Git(run_dir / "git-home")
    base_git = run_dir / "base.git"
    clone = run_dir / "workspace"
    git.run(["init", "-q", "--bare", "--template=", str(base_git)])
    user_objects = _git_common_dir(git, repo) / "objects"
    (base_git / "objects" / "info").mkdir(parents=True, exist_ok=True)
    (base_git / "objects" / "info" / "alternates").write_text(f"{user_objects}\n")

    p = git.run(["rev-parse", "-q", "--verify", "HEAD^{commit}"], cwd=repo, check=False)
    head = p.stdout.decode().strip() if p.returncode == 0 else None
    p = git.run(["symbolic-ref", "-q", "--short", "HEAD"], cwd=repo, check=False)
    head_ref = p.stdout.decode("utf-8", "surrogateescape").strip() if p.returncode == 0 else None

    tree = stage_worktree(git, repo, base_git, run_dir / "git-home" / "base.index", head)
    bg = ["--git-dir", str(base_git)]
    head_tree = git.out([*bg, "rev-parse", f"{head}^{{tree}}"]) if head else None
    if head is not None and tree == head_tree:
        base, uncommitted = head, False
    else:
        now = f"{int(time.time())} +0000"
        env = {**COMMIT_IDENT, "GIT_AUTHOR_DATE": now, "GIT_COMMITTER_DATE": now}
        parents = ["-p", head] if head else []
        base = git.out([*bg, "commit-tree", tree, *parents, "-m", BASE_MESSAGE.format(run_id=run_id)], env=env)
        uncommitted = True
    git.run([*bg, "update-ref", "refs/heads/base", base])

    # the sandbox's clone: no hooks (empty template), no hard link into the user's objects
    if head is not None:
        git.run(["clone", "-q", "--no-hardlinks", "--no-checkout", "--template=", "--", str(repo), str(clone)])
    else:
        git.run(["init", "-q", "--template=", str(clone)])
    cg = ["--git-dir", str(clone / ".git"), "--work-tree", str(clone)]
    if base != head:
        git.run(
            [*cg, "fetch", "-q", "--no-tags", "--no-write-fetch-head", str(base_git), "refs/heads/base:refs/agp/base"]
        )
    (clone / ".git" / "info").mkdir(exist_ok=True)
    (clone / ".git" / "info" / "attributes").write_text(NO_ATTRIBUTES)
    git.run([*cg, "checkout", "-q", "-f", "-B", head_ref or "agp-work", base])
    if uid is not None and gid is not None and os.geteuid() == 0:
        _chown_tree(clone, uid, gid)
    os.chmod(clone, stat.S_IMODE(os.stat(repo).st_mode) | 0o700)
    info = Clone(
        repo=str(repo),
        path=str(clone),
        base_git=str(base_git),
        git_home=str(run_dir / "git-home"),
        run_id=run_id,
        head=head,
        head_ref=head_ref,
        base=base,
        base_tree=tree,
        includes_uncommitted=uncommitted,
    )
    info.save(run_dir)
    return info

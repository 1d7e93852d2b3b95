"""Landing a clone-mode result: the branch, --apply, and the door for paths the host runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agp.policy import load_policy
from agp.workspace import WorkspaceError, compute_result, make_clone
from agp.workspace.door import decide_landing, host_run_changes
from agp.workspace.land import apply_result, land_branch
from tests.unit.workspace.conftest import git, state
from tests.unit.workspace.test_clone_result import _hostile

ROOT = Path(__file__).resolve().parents[3]


def _run(user_repo: Path, tmp_path: Path, edit) -> tuple:
    run = tmp_path / "run"
    run.mkdir()
    c = make_clone(user_repo, run, "RUN1")
    edit(Path(c.path))
    return c, compute_result(c, run / "changes.patch")


def test_branch_has_two_commits_and_the_user_tree_is_untouched(user_repo, tmp_path):
    before = state(user_repo)
    marker = tmp_path / "MARK"

    def edit(ws: Path) -> None:
        _hostile(ws, marker)
        (ws / "src" / "app.py").write_text("print('edited')\n")
        (ws / "gone.txt").unlink()
        os.symlink("/etc/passwd", ws / "passwd-link")

    c, r = _run(user_repo, tmp_path, edit)
    branch = land_branch(c, r)
    assert branch == "agp/RUN1"
    log = git(user_repo, "log", "--format=%s", "-3", branch).splitlines()
    assert log == ["agp: the changes of run RUN1", "agp: the working tree at the start of run RUN1", "first"]
    assert git(user_repo, "rev-parse", f"{branch}^{{tree}}").strip() == r.tree
    assert git(user_repo, "show", f"{branch}:passwd-link") == "/etc/passwd"
    names = git(user_repo, "diff", "--name-status", "--no-renames", f"{branch}~1", branch).split()
    assert names == ["A", ".gitattributes", "D", "gone.txt", "A", "passwd-link", "M", "src/app.py"]
    assert git(user_repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert state(user_repo) == before
    assert not list(tmp_path.glob("MARK*")) and not (tmp_path / "USER-HOOK-RAN").exists()
    with pytest.raises(WorkspaceError, match="already exists"):
        land_branch(c, r)


def test_clean_base_gives_one_commit(user_repo, tmp_path):
    git(user_repo, "add", "-A")
    git(user_repo, "commit", "-q", "-m", "wip")
    c, r = _run(user_repo, tmp_path, lambda ws: (ws / "new.txt").write_text("n\n"))
    branch = land_branch(c, r)
    assert git(user_repo, "log", "--format=%s", "-2", branch).splitlines() == ["agp: the changes of run RUN1", "wip"]


def test_no_change_no_branch(user_repo, tmp_path):
    c, r = _run(user_repo, tmp_path, lambda ws: None)
    assert land_branch(c, r) is None
    assert "agp/RUN1" not in git(user_repo, "branch", "--list")


def test_apply_to_the_working_tree(user_repo, tmp_path):
    def edit(ws: Path) -> None:
        (ws / "src" / "app.py").write_text("print('edited')\n")
        (ws / "run.sh").chmod(0o755)
        (ws / "bin.dat").write_bytes(b"\0\1\2\xff")

    c, r = _run(user_repo, tmp_path, edit)
    index = (user_repo / ".git" / "index").read_bytes()
    touched = apply_result(c, r)
    assert sorted(touched) == ["bin.dat", "run.sh", "src/app.py"]
    assert (user_repo / "src" / "app.py").read_text() == "print('edited')\n"
    assert os.access(user_repo / "run.sh", os.X_OK)
    assert (user_repo / "bin.dat").read_bytes() == b"\0\1\2\xff"
    assert (user_repo / "README.md").read_text() == "# project\n\nwork in progress\n"  # the user's own change kept
    assert (user_repo / ".git" / "index").read_bytes() == index


def test_apply_refuses_to_overwrite_work_done_since(user_repo, tmp_path):
    c, r = _run(user_repo, tmp_path, lambda ws: (ws / "src" / "app.py").write_text("print('agent')\n"))
    (user_repo / "src" / "app.py").write_text("print('user, meanwhile')\n")
    with pytest.raises(WorkspaceError, match="src/app.py"):
        apply_result(c, r)
    assert (user_repo / "src" / "app.py").read_text() == "print('user, meanwhile')\n"


def _policy(tmp_path: Path, body: str):
    p = tmp_path / "p.toml"
    p.write_text('[policy]\nname = "t"\n\n' + body)
    return load_policy(p)


def test_host_run_changes_are_flagged():
    files = [{"path": p} for p in ("src/a.py", ".github/workflows/ci.yml", "docs/.gitattributes", ".envrc",
                                   ".vscode/tasks.json", "README.md", ".github/CODEOWNERS")]
    assert host_run_changes(files) == [".github/workflows/ci.yml", "docs/.gitattributes", ".envrc",
                                       ".vscode/tasks.json"]


def test_the_door_is_decided_by_the_policy(tmp_path):
    pol = _policy(tmp_path, '[[rule]]\nid = "ci-needs-approval"\neffect = "require"\nkind = ["workspace.result"]\n'
                            'path = [".github/workflows/**"]\n\n'
                            '[[rule]]\nid = "editor-ok"\neffect = "allow"\nkind = ["workspace.result"]\n'
                            'path = [".vscode/**"]\n')
    assert decide_landing(pol, "reference", [".vscode/settings.json"]).effect == "allow"
    d = decide_landing(pol, "reference", [".vscode/settings.json", ".github/workflows/ci.yml"])
    assert d.effect == "require" and d.rule == "ci-needs-approval"
    d = decide_landing(pol, "reference", [".envrc"])
    assert d.effect == "deny" and d.rule is None  # no rule names it: default deny
    # a rule that does not name the kind never lands anything
    pol = _policy(tmp_path, '[[rule]]\nid = "all"\neffect = "allow"\nlocation = ["inside"]\n')
    assert decide_landing(pol, "reference", [".envrc"]).effect == "deny"


def test_default_policy_asks_before_landing_host_run_paths():
    pol = load_policy(ROOT / "policies" / "default.toml")
    d = decide_landing(pol, "claude-code", [".github/workflows/ci.yml"])
    assert d.effect == "require" and d.rule == "land-host-run-paths"

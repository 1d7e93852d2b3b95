"""Clone mode without Docker: the base, the clone, and a result computed from a hostile clone."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from agp.workspace import WorkspaceError, compute_result, detect_mode, make_clone
from agp.workspace._git import Git
from tests.unit.workspace.conftest import git, state


def _clone(user_repo: Path, tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    return make_clone(user_repo, run, "RUN1"), run


def test_mode_detection(user_repo, tmp_path):
    g = Git(tmp_path / "h")
    assert detect_mode(user_repo, None, g) == "clone"
    assert detect_mode(user_repo, "mount", g) == "mount"
    plain = tmp_path / "plain"
    plain.mkdir()
    assert detect_mode(plain, None, g) == "mount"
    with pytest.raises(WorkspaceError, match="not in a git repository"):
        detect_mode(plain, "clone", g)
    with pytest.raises(WorkspaceError, match="not its top level"):
        detect_mode(user_repo / "src", None, g)


def test_clone_starts_from_the_working_tree_as_the_user_sees_it(user_repo, tmp_path):
    before = state(user_repo)
    c, run = _clone(user_repo, tmp_path)
    ws = Path(c.path)
    assert (ws / "README.md").read_text() == "# project\n\nwork in progress\n"
    assert (ws / "notes.txt").read_text() == "untracked\n"
    assert not (ws / "debug.log").exists()
    assert os.access(ws / "run.sh", os.X_OK) is False or True
    assert c.includes_uncommitted and c.head != c.base
    assert git(ws, "log", "-1", "--format=%s").strip() == "agp: the working tree at the start of run RUN1"
    assert git(ws, "rev-parse", "HEAD").strip() == c.base
    assert not (ws / ".git" / "hooks").exists()  # no hooks in the clone
    assert not (tmp_path / "USER-HOOK-RAN").exists()
    assert state(user_repo) == before
    # the clone shares no object file with the user's repository
    user_inodes = {os.stat(p).st_ino for p in (user_repo / ".git" / "objects").rglob("*") if p.is_file()}
    assert not user_inodes & {os.stat(p).st_ino for p in (ws / ".git" / "objects").rglob("*") if p.is_file()}


def test_clean_tree_base_is_head(user_repo, tmp_path):
    git(user_repo, "add", "-A")
    git(user_repo, "commit", "-q", "-m", "wip")
    c, _ = _clone(user_repo, tmp_path)
    assert not c.includes_uncommitted and c.base == c.head


def test_no_change_no_patch(user_repo, tmp_path):
    c, run = _clone(user_repo, tmp_path)
    r = compute_result(c, run / "changes.patch")
    assert r.files == [] and r.patch.read_bytes() == b"" and r.tree == c.base_tree


def _hostile(ws: Path, marker: Path) -> None:
    """Everything a clone can carry to make git run something on the host."""
    m = str(marker)
    cfg = ws / ".git" / "config"
    cfg.write_text(cfg.read_text() + f"""
[core]
    fsmonitor = "touch {m}-fsmonitor; false"
    hooksPath = {ws}/.git/evilhooks
[diff]
    external = "touch {m}-diffexternal"
[diff "evil"]
    textconv = "touch {m}-textconv; cat"
    command = "touch {m}-diffdriver"
[filter "evil"]
    clean = "touch {m}-clean; cat"
    smudge = "touch {m}-smudge; cat"
    process = "touch {m}-process"
    required = true
""")
    (ws / ".gitattributes").write_text("* diff=evil filter=evil\n")
    (ws / ".git" / "info" / "attributes").write_text("* diff=evil filter=evil\n")
    for d in ("hooks", "evilhooks"):
        (ws / ".git" / d).mkdir(exist_ok=True)
        for h in ("pre-commit", "post-checkout", "reference-transaction", "post-index-change", "fsmonitor-watchman"):
            p = ws / ".git" / d / h
            p.write_text(f"#!/bin/sh\ntouch {m}-hook-{h}\n")
            p.chmod(0o755)


def test_result_from_a_hostile_clone(user_repo, tmp_path):
    before = state(user_repo)
    c, run = _clone(user_repo, tmp_path)
    ws = Path(c.path)
    marker = tmp_path / "MARK"
    _hostile(ws, marker)
    (ws / "src" / "app.py").write_text("print('edited')\n")       # edit
    (ws / "new.txt").write_text("written\n")                        # write
    (ws / "gone.txt").unlink()                                     # delete
    os.rename(ws / "old.txt", ws / "renamed.txt")                  # rename
    (ws / "blob.bin").write_bytes(bytes(range(256)) * 4)            # binary
    os.chmod(ws / "run.sh", 0o4755)                                 # exec bit (+ setuid, which never travels)
    os.symlink("/etc/passwd", ws / "passwd-link")                   # a link, carried as its text
    (ws / "new\nline.txt").write_text("newline\n")
    (ws / "naïve-文件.txt").write_text("unicode\n")
    (ws / "big.bin").write_bytes(b"x" * 4096)                       # over the cap below
    os.mkfifo(ws / "a-fifo")
    (ws / "sub").mkdir()
    (ws / "sub" / ".git").mkdir()
    (ws / "sub" / ".git" / "config").write_text("[core]\n")
    r = compute_result(c, run / "changes.patch", max_file=1024)
    got = {f["path"]: (f["status"], f["mode"]) for f in r.files}
    assert got == {
        "src/app.py": ("M", "100644"), "new.txt": ("A", "100644"), "gone.txt": ("D", "100644"),
        "old.txt": ("D", "100644"), "renamed.txt": ("A", "100644"), "blob.bin": ("A", "100644"),
        "run.sh": ("M", "100755"), "passwd-link": ("A", "120000"), "new\nline.txt": ("A", "100644"),
        "naïve-文件.txt": ("A", "100644"), ".gitattributes": ("A", "100644"),
    }
    refused = {f["path"]: f["what"] for f in r.refused}
    assert "too big" in refused["big.bin"] and "fifo" in refused["a-fifo"] and ".git" in refused["sub/.git"]
    assert not list(tmp_path.glob("MARK*")), "git ran something the clone configured"
    # the patch applies to the base and gives exactly the result tree; the link is a link
    check = tmp_path / "check"
    git(tmp_path, "clone", "-q", str(user_repo), str(check))
    git(check, "fetch", "-q", c.base_git, "refs/heads/base")
    git(check, "checkout", "-q", "FETCH_HEAD")
    git(check, "apply", "--index", str(r.patch))
    assert git(check, "write-tree").strip() == r.tree
    assert os.readlink(check / "passwd-link") == "/etc/passwd"
    assert (check / "blob.bin").read_bytes() == bytes(range(256)) * 4
    assert "rename from old.txt" in r.patch.read_text("utf-8", "replace")
    assert state(user_repo) == before
    assert not list(tmp_path.glob("MARK*"))


def test_result_never_follows_a_symlinked_directory(user_repo, tmp_path):
    c, run = _clone(user_repo, tmp_path)
    ws = Path(c.path)
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key").write_text("host secret\n")
    os.symlink(secret, ws / "linkdir")
    r = compute_result(c, run / "changes.patch")
    assert [f["path"] for f in r.files] == ["linkdir"]
    assert b"host secret" not in r.patch.read_bytes()


def test_the_hostile_clone_does_run_code_under_a_plain_git(user_repo, tmp_path):
    """Control for the test above: the planted configuration is live, so its markers would show a slip."""
    c, run = _clone(user_repo, tmp_path)
    ws = Path(c.path)
    marker = tmp_path / "MARK"
    _hostile(ws, marker)
    (ws / "src" / "app.py").write_text("print('edited')\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "-c", "safe.directory=*", "-C", str(ws), "diff"], env=env, capture_output=True)
    subprocess.run(["git", "-c", "safe.directory=*", "-C", str(ws), "add", "-A"], env=env, capture_output=True)
    assert {p.name for p in tmp_path.glob("MARK*")} >= {"MARK-fsmonitor", "MARK-process"}


def test_changed_files_over_the_total_cap_are_refused_not_deleted(user_repo, tmp_path):
    from agp.sandbox.collect import Limits

    c, run = _clone(user_repo, tmp_path)
    ws = Path(c.path)
    (ws / "a.bin").write_bytes(b"a" * 600)
    (ws / "b.bin").write_bytes(b"b" * 600)
    (ws / "src" / "app.py").write_bytes(b"c" * 600)
    r = compute_result(c, run / "changes.patch", limits=Limits(max_total=1000))
    assert [f["path"] for f in r.files] == ["a.bin"]
    assert {f["path"] for f in r.refused} == {"b.bin", "src/app.py"}  # app.py keeps its base version

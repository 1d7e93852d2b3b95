from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": "u",
           "GIT_AUTHOR_EMAIL": "u@example.invalid", "GIT_COMMITTER_NAME": "u", "GIT_COMMITTER_EMAIL": "u@example.invalid"}


def git(repo: Path, *args: str, input: bytes | None = None) -> str:
    env = {**os.environ, **GIT_ENV}
    p = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(repo), *args], capture_output=True, env=env,
                       input=input, check=True)
    return p.stdout.decode("utf-8", "surrogateescape")


def state(repo: Path) -> dict:
    """What must not change in the user's repository: working tree files, index, HEAD, hooks, config."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(repo):
        rel = os.path.relpath(dirpath, repo)
        if rel == ".git" or rel.startswith(".git/") and not rel.startswith(".git/hooks"):
            continue
        for n in filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            out[os.path.relpath(p, repo)] = (st.st_mode, os.readlink(p) if os.path.islink(p) else open(p, "rb").read())
    for f in ("index", "HEAD", "config"):
        out[".git/" + f] = (repo / ".git" / f).read_bytes()
    return out


@pytest.fixture
def user_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "user"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# project\n")
    (repo / "src").mkdir()
    (repo / "src" / "app.py").write_text("print('hi')\n")
    (repo / "old.txt").write_text("to be renamed, a text long enough for rename detection to see it\n" * 3)
    (repo / "gone.txt").write_text("to be deleted\n")
    (repo / "run.sh").write_text("#!/bin/sh\necho run\n")
    (repo / ".gitignore").write_text("*.log\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    # the user's uncommitted state: a modification, an untracked file, an ignored file
    (repo / "README.md").write_text("# project\n\nwork in progress\n")
    (repo / "notes.txt").write_text("untracked\n")
    (repo / "debug.log").write_text("ignored\n")
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {tmp_path}/USER-HOOK-RAN\n")
    hook.chmod(0o755)
    return repo

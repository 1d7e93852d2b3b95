"""The host-path deny-list: what may never be mounted into a sandbox.

A source path is refused (:class:`agp.errors.MountDeniedError`, naming the
path) when, after resolving every symlink, it

- is, or lies inside, a denied path (the Docker socket, ~/.ssh, ~/.aws,
  ~/.config/gcloud, ~/.docker, ~/.kube, ~/.gnupg, /etc/shadow, agp's key
  directory, and whatever the caller adds: the run's journal and key
  directory), or
- contains a denied path (mounting ``~`` or ``/`` would expose ~/.ssh).

Denied paths are compared both as written and resolved, so a symlinked
``~/.ssh`` is caught too. The driver mounts the *resolved* path, never the
symlink, and re-checks every mount source in the created container's
inspect data, so a link swapped after the check does not slip through.
"""

from __future__ import annotations

import contextlib
import os
import pwd
from collections.abc import Iterable
from pathlib import Path

from agp.errors import MountDeniedError

__all__ = (
    "HOME_DENIED",
    "HOST_RUN_PATHS",
    "SYSTEM_DENIED",
    "check_mount_source",
    "default_denied",
    "host_run_paths_present",
)

#: relative to each home directory agp knows about
HOME_DENIED = (
    ".ssh",
    ".aws",
    ".config/gcloud",
    ".docker",
    ".kube",
    ".gnupg",
    ".netrc",
    ".git-credentials",
    ".config/gh",
    ".azure",
    ".npmrc",
    ".pypirc",
)

SYSTEM_DENIED = (
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd",
    "/var/lib/docker",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
)


def _homes() -> list[Path]:
    homes = {Path(os.path.expanduser("~"))}
    for user in {os.environ.get("SUDO_USER"), os.environ.get("USER")}:
        if user:
            with contextlib.suppress(KeyError):
                homes.add(Path(pwd.getpwnam(user).pw_dir))
    with contextlib.suppress(KeyError):
        homes.add(Path(pwd.getpwuid(os.getuid()).pw_dir))
    return sorted(homes)


def default_denied() -> list[Path]:
    """The built-in deny-list for this host and user (agp's own state included)."""
    from agp.paths import default_key_dir

    out = [Path(p) for p in SYSTEM_DENIED]
    docker_host = os.environ.get("DOCKER_HOST", "")
    if docker_host.startswith("unix://"):
        out.append(Path(docker_host[len("unix://") :]))
    for home in _homes():
        out.extend(home / rel for rel in HOME_DENIED)
    out.append(default_key_dir())
    return out


def _variants(p: Path) -> set[Path]:
    p = Path(os.path.abspath(os.path.expanduser(str(p))))
    out = {p}
    with contextlib.suppress(OSError):
        out.add(Path(os.path.realpath(p)))
    return out


def _within(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_mount_source(source: Path | str, extra_denied: Iterable[Path | str] = ()) -> Path:
    """Return the resolved ``source`` if it may be mounted; raise MountDeniedError otherwise."""
    raw = Path(os.path.abspath(os.path.expanduser(str(source))))
    try:
        resolved = Path(os.path.realpath(raw, strict=True))
    except (OSError, RuntimeError) as exc:
        raise MountDeniedError(f"mount source {raw} does not resolve to an existing path ({exc})") from exc
    denied: set[Path] = set()
    for d in [*default_denied(), *(Path(x) for x in extra_denied)]:
        denied |= _variants(d)
    for cand in {raw, resolved}:
        for d in sorted(denied):
            if _within(cand, d):
                via = "" if cand == raw else f" (it resolves to {resolved})"
                raise MountDeniedError(f"refusing to mount {raw}{via}: it is inside the denied path {d}")
            if _within(d, cand):
                via = "" if cand == raw else f" (it resolves to {resolved})"
                raise MountDeniedError(f"refusing to mount {raw}{via}: it contains the denied path {d}")
    return resolved


#: Paths in a workspace that the host runs without the user reading them (git runs hooks and
#: honours config and attributes; CI, editors, direnv and package managers run the rest). In mount
#: mode those that exist are mounted read-only over the workspace; every one of them, present or not,
#: is snapshotted before and after the run, and any change (a creation included) is an anomaly.
HOST_RUN_PATHS = (
    ".git/hooks",
    ".git/config",
    ".git/info",
    ".git/modules",
    ".gitattributes",
    ".gitmodules",
    ".github/workflows",
    ".gitlab-ci.yml",
    ".circleci",
    ".envrc",
    ".vscode",
    ".idea",
    ".devcontainer",
    ".claude",
    ".codex",
    ".mcp.json",
    ".npmrc",
    ".pypirc",
    ".cargo/config",
    ".cargo/config.toml",
    ".pre-commit-config.yaml",
)


def host_run_paths_present(workspace: Path) -> list[str]:
    """The :data:`HOST_RUN_PATHS` (plus ``.git`` when it is a file: a gitdir pointer) that exist in
    ``workspace`` as a regular file or a directory, reached without following a link at any
    component; a link there is left out (not mounted) and still snapshotted by the caller."""
    import stat as _stat

    from agp.sandbox.collect import open_dir_nofollow

    out: list[str] = []
    root = open_dir_nofollow(workspace)
    try:
        cands = list(HOST_RUN_PATHS)
        try:
            if _stat.S_ISREG(os.stat(".git", dir_fd=root, follow_symlinks=False).st_mode):
                cands.insert(0, ".git")
        except OSError:
            pass
        for rel in cands:
            parent, name = os.path.split(rel)
            try:
                pfd = open_dir_nofollow(parent, start=root) if parent else os.dup(root)
            except OSError:
                continue
            try:
                st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
            except OSError:
                continue
            finally:
                os.close(pfd)
            if _stat.S_ISREG(st.st_mode) or _stat.S_ISDIR(st.st_mode):
                out.append(rel)
    finally:
        os.close(root)
    return out

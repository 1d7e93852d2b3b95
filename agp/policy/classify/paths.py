"""Path normalization for policy matching: is this path inside the workspace?

`normalize_path(p, cwd, workspace)` resolves a path the way the kernel would, one component at a
time, so that `..` is applied *after* the symlink before it is followed (`ws/link/../x` where
`link -> /etc/ssl` is `/etc/x`, not `ws/x`).

Which filesystem is looked at: the tool call names paths as the sandbox sees them (the workspace
is mounted at `workspace`). Symlinks are read only inside the workspace, from the host directory
that backs it (`host_root`, default: the workspace path itself on this host). A symlink's target
is interpreted in the sandbox's namespace (an absolute target `/etc` means the sandbox's /etc).
Outside the workspace nothing is read: the host's /etc is not the sandbox's /etc. Once a path
leaves the workspace through a component that could not be inspected, the result is outside,
whatever follows (`/tmp/x/../ws/f` stays outside: `/tmp/x` might be a symlink).

Limits, stated honestly:
- TOCTOU: the answer is true of the filesystem at the moment of the call. A symlink created
  after classification (by a later or concurrent command) is not seen. The default policy asks
  for approval before anything writes inside the workspace (which includes `ln -s`), and denies
  writes outside it, which is what keeps this window closed in practice; the sandbox mounts
  only the workspace, so a link to the host's files resolves to the sandbox's own files.
- Hard links and bind mounts inside the workspace are not detected.
- `~` and `~user` are never inside (the sandbox home is not the workspace).
"""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass

__all__ = ("ResolvedPath", "is_inside", "normalize_path")

_MAX_LINKS = 40  # as the kernel's MAXSYMLINKS


@dataclass(frozen=True, slots=True)
class ResolvedPath:
    """path: absolute, normalized (symlinks inside the workspace resolved where they exist);
    inside_workspace: the path is the workspace or below it; is_workspace_root: it is the root;
    resolved_links: how many symlinks were followed; note: why a path is outside when not obvious."""

    path: str
    inside_workspace: bool
    is_workspace_root: bool = False
    resolved_links: int = 0
    note: str = ""


def is_inside(path: str, workspace: str) -> bool:
    """Pure string test on normalized absolute paths."""
    return path == workspace or path.startswith(workspace.rstrip("/") + "/")


def _clean_abs(p: str) -> str:
    p = posixpath.normpath(p)
    if p.startswith("//"):  # POSIX keeps a leading '//'; Linux treats it as '/'
        p = "/" + p.lstrip("/")
    return p


def normalize_path(p: str, cwd: str, workspace: str, *, host_root: str | None = None) -> ResolvedPath:
    """Resolve `p` (relative to `cwd`) and say whether it lies inside `workspace`.

    host_root: the host directory that backs `workspace` (symlinks are read there). None means
    the workspace path is the same on this host. Pass host_root="" to never touch the filesystem
    (pure string normalization).
    """
    if not isinstance(p, str) or p == "" or "\x00" in p:
        return ResolvedPath(path=str(p), inside_workspace=False, note="empty or invalid path")
    ws = _clean_abs(workspace) if workspace.startswith("/") else ""
    if not ws:
        return ResolvedPath(path=p, inside_workspace=False, note="workspace is not absolute")
    if p.startswith("~"):
        return ResolvedPath(path=p, inside_workspace=False, note="home directory is not the workspace")
    if not p.startswith("/"):
        if not cwd or not cwd.startswith("/"):
            return ResolvedPath(path=p, inside_workspace=False, note="relative path with unknown cwd")
        p = cwd.rstrip("/") + "/" + p
    root = ws if host_root is None else host_root

    # Ancestors of the workspace ('/', '/home', ...) are trusted to be plain directories: the
    # sandbox mounts the workspace there. Any other directory outside the workspace cannot be
    # inspected; after one of those, the answer is 'outside'.
    ancestors = {"/"}
    a = ws
    while a != "/":
        ancestors.add(a)
        a = posixpath.dirname(a)

    todo = [c for c in p.split("/") if c not in ("", ".")]
    todo.reverse()  # a stack: pop() gives the next component
    cur = "/"
    links = 0
    left_uninspectable = False
    while todo:
        comp = todo.pop()
        if comp == ".":
            continue
        if comp == "..":
            if left_uninspectable:
                # `..` out of a directory we could not inspect: cannot know where it leads (the path
                # given is the lexical guess)
                guess = _clean_abs(cur + "/" + "/".join([".."] + todo[::-1]))
                return ResolvedPath(
                    path=guess,
                    inside_workspace=False,
                    resolved_links=links,
                    note="'..' after a directory outside the workspace",
                )
            cur = posixpath.dirname(cur) if cur != "/" else "/"
            continue
        nxt = cur.rstrip("/") + "/" + comp
        if is_inside(nxt, ws) and root:
            host = root.rstrip("/") + nxt[len(ws) :]
            try:
                st = os.lstat(host)
            except OSError:
                st = None
            if st is not None and stat.S_ISLNK(st.st_mode):
                links += 1
                if links > _MAX_LINKS:
                    return ResolvedPath(
                        path=nxt, inside_workspace=False, resolved_links=links, note="too many symlinks"
                    )
                try:
                    target = os.readlink(host)
                except OSError:
                    return ResolvedPath(
                        path=nxt, inside_workspace=False, resolved_links=links, note="unreadable symlink"
                    )
                parts = [c for c in target.split("/") if c not in ("", ".")]
                todo.extend(reversed(parts))
                if target.startswith("/"):
                    cur = "/"
                    left_uninspectable = False
                continue
            cur = nxt
        else:
            cur = nxt
            if not is_inside(cur, ws) and cur not in ancestors:
                left_uninspectable = True
    inside = (not left_uninspectable) and is_inside(cur, ws)
    return ResolvedPath(path=cur, inside_workspace=inside, is_workspace_root=inside and cur == ws, resolved_links=links)

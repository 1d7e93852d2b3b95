"""Clone mode, the end: the agent's change as a binary-safe git patch, computed without trusting the clone.

Nothing in the clone's ``.git`` is read by git, and nothing the agent wrote is run: the clone's
files are walked with agp's reader rules (every component opened ``O_NOFOLLOW`` relative to
its parent's fd; regular files confirmed by ``fstat`` on the opened fd; links read as links,
never followed; fifos, sockets, devices, anything under a ``.git`` directory and files over the
size cap are left behind and reported). Each file's blob id is computed here; only files that
differ from the base are copied into agp's own temporary files and written into agp's git
directory (``base.git``) with ``git hash-object -w --no-filters --stdin-paths``; the new tree is
built in an index file of agp's (``read-tree`` of the base, ``update-index -z --index-info``,
``write-tree``), and the patch is ``git diff --binary --no-ext-diff --no-textconv`` between the
two trees in that git directory (a bare directory with agp's configuration: the agent's
``.gitattributes``, filters, drivers and hooks are never consulted).

Modes travel as 644 or 755 only (755 when any execute bit is set); setuid/setgid/sticky bits
never travel; symlinks are carried as links (mode 120000, their text).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agp.sandbox.collect import Limits, open_dir_nofollow
from agp.workspace._git import Git
from agp.workspace.clone import Clone

__all__ = ("DEFAULT_MAX_FILE", "WorkspaceResult", "compute_result")

DEFAULT_MAX_FILE = 50 * 1024**2
DEFAULT_LIMITS = Limits(max_entries=1_000_000, max_depth=128, max_total=4 * 1024**3)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CHUNK = 1024 * 1024


@dataclass
class WorkspaceResult:
    base: str
    base_tree: str
    tree: str
    patch: Path
    patch_sha256: str
    patch_bytes: int
    #: {path, status (A|M|D|T), size (bytes after the change; 0 for a deletion), mode}
    files: list[dict[str, Any]] = field(default_factory=list)
    #: {path, what}: entries not carried back
    refused: list[dict[str, str]] = field(default_factory=list)

    def to_journal(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "base_tree": self.base_tree,
            "tree": self.tree,
            "patch": self.patch.name,
            "patch_sha256": self.patch_sha256,
            "patch_bytes": self.patch_bytes,
            "files_changed": len(self.files),
            "files": self.files[:2000],
            "refused": self.refused[:500],
        }


def _name(raw: bytes) -> str:
    """A path for JSON: UTF-8 when it is, else with surrogate escapes shown as \\x.. (never lossy to git)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace")


def _errname(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, str(exc.errno))


class _Walker:
    def __init__(self, algo: str, max_file: int, limits: Limits) -> None:
        self.algo = algo
        self.max_file = max_file
        self.limits = limits
        self.entries: dict[bytes, tuple[str, str, int]] = {}  # path -> (mode, oid, size)
        self.refused: dict[bytes, str] = {}
        self.count = 0

    def _oid(self, header_size: int, chunks) -> str:
        h = hashlib.new(self.algo)
        h.update(b"blob %d\0" % header_size)
        for c in chunks:
            h.update(c)
        return h.hexdigest()

    def walk(self, dir_fd: int, prefix: bytes, depth: int) -> None:
        try:
            names = sorted(os.listdir(dir_fd))
        except OSError as exc:
            self.refused[prefix.rstrip(b"/") or b"."] = f"cannot list directory ({_errname(exc)})"
            return
        for name in names:
            bname = os.fsencode(name)
            rel = prefix + bname
            if bname == b".git":
                if prefix:
                    self.refused[rel] = "a .git directory below the top level is never carried back"
                continue  # the clone's own .git: never read
            self.count += 1
            if self.count > self.limits.max_entries:
                self.refused[rel] = f"more than {self.limits.max_entries} entries; the rest was not read"
                return
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError as exc:
                self.refused[rel] = f"cannot stat ({_errname(exc)})"
                continue
            if stat.S_ISDIR(st.st_mode):
                if depth >= self.limits.max_depth:
                    self.refused[rel] = f"nested deeper than {self.limits.max_depth} directories"
                    continue
                try:
                    sub = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
                except OSError as exc:
                    self.refused[rel] = f"cannot open directory ({_errname(exc)})"
                    continue
                try:
                    self.walk(sub, rel + b"/", depth + 1)
                finally:
                    os.close(sub)
            elif stat.S_ISLNK(st.st_mode):
                try:
                    target = os.readlink(bname, dir_fd=dir_fd)
                except OSError as exc:
                    self.refused[rel] = f"link unreadable ({_errname(exc)})"
                    continue
                self.entries[rel] = ("120000", self._oid(len(target), [target]), len(target))
            elif stat.S_ISREG(st.st_mode):
                self._file(dir_fd, name, rel)
            else:
                kind = (
                    "fifo"
                    if stat.S_ISFIFO(st.st_mode)
                    else "socket"
                    if stat.S_ISSOCK(st.st_mode)
                    else "device"
                    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                    else "unknown type"
                )
                self.refused[rel] = f"not a regular file or a link ({kind})"

    def _file(self, dir_fd: int, name: str, rel: bytes) -> None:
        try:
            fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            self.refused[rel] = f"cannot open ({_errname(exc)})"
            return
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                self.refused[rel] = "not a regular file when opened"
                return
            if st.st_size > self.max_file:
                self.refused[rel] = f"too big ({st.st_size} bytes > the cap of {self.max_file})"
                return
            h = hashlib.new(self.algo)
            h.update(b"blob %d\0" % st.st_size)
            n = 0
            while chunk := os.read(fd, _CHUNK):
                n += len(chunk)
                if n > st.st_size:
                    break
                h.update(chunk)
            if n != st.st_size:
                self.refused[rel] = "changed size while read"
                return
            mode = "100755" if st.st_mode & 0o111 else "100644"
            self.entries[rel] = (mode, h.hexdigest(), n)
        except OSError as exc:
            self.refused[rel] = f"read failed ({_errname(exc)})"
        finally:
            os.close(fd)


def _read_at(root_fd: int, rel: bytes, link: bool) -> bytes:
    """The content of ``rel`` (a file, or a link's text) below ``root_fd``, walked without following."""
    parent, _, name = rel.rpartition(b"/")
    pfd = open_dir_nofollow(os.fsdecode(parent), start=root_fd) if parent else os.dup(root_fd)
    try:
        if link:
            return os.readlink(name, dir_fd=pfd)
        fd = os.open(name, _FILE_FLAGS, dir_fd=pfd)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            out = bytearray()
            while chunk := os.read(fd, _CHUNK):
                out += chunk
            return bytes(out)
        finally:
            os.close(fd)
    finally:
        os.close(pfd)


def _base_entries(git: Git, base_git: Path, tree: str) -> dict[bytes, tuple[str, str]]:
    raw = git.run(["--git-dir", str(base_git), "ls-tree", "-r", "-z", "--full-tree", tree]).stdout
    out = {}
    for rec in raw.split(b"\0"):
        if not rec:
            continue
        meta, _, path = rec.partition(b"\t")
        mode, _typ, oid = meta.decode().split(" ")
        out[path] = (mode, oid)
    return out


def compute_result(
    clone: Clone, out_patch: Path, *, max_file: int = DEFAULT_MAX_FILE, limits: Limits = DEFAULT_LIMITS
) -> WorkspaceResult:
    """Compute the change from the base to the clone's working tree (see the module doc).

    Call only when nothing of the sandbox runs any more."""
    git = clone.git()
    base_git = Path(clone.base_git)
    bg = ["--git-dir", str(base_git)]
    algo = git.out([*bg, "rev-parse", "--show-object-format"]) or "sha1"
    base = _base_entries(git, base_git, clone.base_tree)
    walker = _Walker(algo, max_file, limits)
    root_fd = open_dir_nofollow(clone.path)
    try:
        walker.walk(root_fd, b"", 0)
        now = walker.entries
        # gitlinks (submodules) are not walked into: kept as in the base
        for path, (mode, oid) in base.items():
            if mode == "160000":
                now[path] = (mode, oid, 0)
                for p in [p for p in now if p.startswith(path + b"/")]:
                    del now[p]
        # what could not be read keeps its base entry (the change is refused, not turned into a deletion)
        for path in walker.refused:
            for bp, (mode, oid) in base.items():
                if bp == path or bp.startswith(path + b"/"):
                    now.setdefault(bp, (mode, oid, -1))
        changed = [p for p, (mode, oid, _n) in now.items() if base.get(p) != (mode, oid)]
        total = 0
        for p in sorted(changed):  # what is copied into agp's git directory is capped as a whole too
            total += max(now[p][2], 0)
            if total > limits.max_total:
                walker.refused[p] = f"over the total cap of {limits.max_total} bytes of changed files"
                if p in base:
                    now[p] = (*base[p], -1)
                else:
                    del now[p]
        changed = [p for p, (mode, oid, _n) in now.items() if base.get(p) != (mode, oid)]
        removed = [p for p in base if p not in now]
        # write the changed objects from agp's own copies
        tmp = Path(clone.git_home) / "result-objects"
        tmp.mkdir(exist_ok=True)
        for f in tmp.iterdir():
            f.unlink()
        paths = []
        for i, p in enumerate(sorted(changed)):
            mode, oid, _ = now[p]
            data = _read_at(root_fd, p, mode == "120000")
            dest = tmp / f"{i:08d}"
            with open(dest, "wb") as fh:
                fh.write(data)
            paths.append((p, dest, oid))
    finally:
        os.close(root_fd)
    if paths:
        out = (
            git.run(
                [*bg, "hash-object", "-w", "--no-filters", "--stdin-paths"],
                input=b"".join(os.fsencode(str(d)) + b"\n" for _, d, _ in paths),
            )
            .stdout.decode()
            .split()
        )
        for (p, _d, oid), got in zip(paths, out, strict=True):  # one object id per path, or a bug
            if oid != got:  # the file changed between the two reads: nothing of the box runs, so a bug
                raise OSError(f"{_name(p)}: blob id {got} written, {oid} computed")
        for _, d, _ in paths:
            d.unlink()
    index = Path(clone.git_home) / "result.index"
    index.unlink(missing_ok=True)
    env = {"GIT_INDEX_FILE": str(index)}
    git.run([*bg, "read-tree", clone.base_tree], env=env)
    if removed:
        git.run(
            [*bg, "update-index", "-z", "--index-info"],
            env=env,
            input=b"".join(b"0 " + b"0" * len(base[p][1]) + b"\t" + p + b"\0" for p in sorted(removed)),
        )
    if changed:
        git.run(
            [*bg, "update-index", "-z", "--index-info"],
            env=env,
            input=b"".join(
                f"{now[p][0]} {'blob' if now[p][0] != '160000' else 'commit'} {now[p][1]}\t".encode() + p + b"\0"
                for p in sorted(changed)
            ),
        )
    tree = git.out([*bg, "write-tree"], env=env)
    patch = git.run(
        [
            *bg,
            "diff",
            "--binary",
            "--no-ext-diff",
            "--no-textconv",
            "--full-index",
            "--no-color",
            "-M",
            clone.base_tree,
            tree,
        ]
    ).stdout
    out_patch.write_bytes(patch)
    files = []
    for p in sorted(set(changed) | set(removed)):
        if p in removed:
            status, size, mode = "D", 0, base[p][0]
        else:
            status = (
                "A"
                if p not in base
                else ("T" if base[p][0] == "120000" or (now[p][0] == "120000" and base[p][0] != now[p][0]) else "M")
            )
            size, mode = now[p][2], now[p][0]
        files.append({"path": _name(p), "status": status, "size": size, "mode": mode})
    refused = [{"path": _name(p), "what": w} for p, w in sorted(walker.refused.items())]
    return WorkspaceResult(
        base=clone.base,
        base_tree=clone.base_tree,
        tree=tree,
        patch=out_patch,
        patch_sha256=hashlib.sha256(patch).hexdigest(),
        patch_bytes=len(patch),
        files=files,
        refused=refused,
    )

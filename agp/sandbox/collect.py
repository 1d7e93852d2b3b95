"""agp's own reader for what a sandbox left on the host: no link followed, regular files only, capped.

Everything a sandbox wrote is hostile input. The directories the harness writes
into (its state directory, mounted from ``<run>/box/``) and the workspace are read
here, on the host, only after every process in the sandbox is gone
(:meth:`agp.sandbox.driver.SandboxDriver.stop`), and only with these rules:

- every path component is opened with ``O_NOFOLLOW`` relative to the directory
  fd above it (``openat``): a symlink anywhere is reported, never followed, and
  no absolute or ``..`` path is ever built from a name the sandbox chose;
- only regular files are read (confirmed by ``fstat`` on the opened fd, so a
  swap between listing and opening is caught); fifos, sockets, devices and
  links are reported and left behind;
- caps on bytes per file, bytes in total, entries and depth;
- nothing the sandbox produced is ever unpacked with ``tarfile`` or ``zipfile``.

Errors (ENAMETOOLONG, ELOOP, EMFILE, EACCES, a file too big, not regular) are
data: each becomes a :class:`Problem` in the returned report, which the caller
journals as a ``run.anomaly``; the reader itself raises only when its own
destination cannot be written.

The same walking rules serve :func:`snapshot` (the paths the host runs without
the user reading them, before and after a run), :func:`strip_setid` (set-id bits
left in the workspace) and :func:`tree_bytes` (the write watchdog's sampler).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = (
    "CollectReport",
    "Limits",
    "Problem",
    "collect",
    "diff_snapshots",
    "open_dir_nofollow",
    "snapshot",
    "strip_setid",
    "tree_bytes",
)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Caps for one collection. Defaults fit a long harness session with room to spare."""

    max_file: int = 256 * 1024**2
    max_total: int = 1024**3
    max_entries: int = 200_000
    max_depth: int = 48


@dataclass(frozen=True)
class Problem:
    """One thing the reader left behind, and why (``what``: a short reason; ``error``: the errno name)."""

    path: str
    what: str
    error: str = ""

    def to_json_dict(self) -> dict[str, str]:
        d = {"path": self.path, "what": self.what}
        if self.error:
            d["error"] = self.error
        return d


@dataclass
class CollectReport:
    copied: list[str] = field(default_factory=list)
    bytes: int = 0
    entries: int = 0
    problems: list[Problem] = field(default_factory=list)


def _errname(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, str(exc.errno))


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "symlink"),
        (stat.S_ISFIFO, "fifo"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISDIR, "directory"),
        (stat.S_ISREG, "regular file"),
    ):
        if test(mode):
            return name
    return "unknown file type"


def open_dir_nofollow(path: Path | str, *, start: int | None = None) -> int:
    """Open a directory walking from ``/`` (or the fd ``start`` for a relative path) one component at a
    time with ``O_NOFOLLOW``: a symlink at any component raises OSError (ELOOP or ENOTDIR)."""
    p = str(path)
    if start is None:
        if not p.startswith("/"):
            raise ValueError(f"open_dir_nofollow needs an absolute path or a start fd, not {p!r}")
        fd = os.open("/", _DIR_FLAGS)
    else:
        fd = os.dup(start)
    try:
        for part in p.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                raise OSError(errno.EPERM, "a '..' component is never walked", p)
            nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def _entries(dir_fd: int) -> list[str]:
    return sorted(os.listdir(dir_fd))


# --------------------------------------------------------------------------- collect


class _Budget:
    def __init__(self, limits: Limits, report: CollectReport) -> None:
        self.limits = limits
        self.report = report

    def entry(self, rel: str) -> bool:
        self.report.entries += 1
        if self.report.entries > self.limits.max_entries:
            if self.report.entries == self.limits.max_entries + 1:
                self.report.problems.append(
                    Problem(rel, f"more than {self.limits.max_entries} entries; the rest was left behind")
                )
            return False
        return True


def collect(src_root: Path, rel: str, dest_root: Path, *, limits: Limits = Limits()) -> CollectReport:
    """Copy ``src_root/rel`` (a file or a directory tree) to ``dest_root/rel`` under the reader's rules.

    ``src_root`` and ``dest_root`` are agp's own directories (walked with ``O_NOFOLLOW`` all the same);
    ``rel`` is a relative path agp chose. A missing ``rel`` is a problem (``ENOENT``), not an error.
    """
    report = CollectReport()
    budget = _Budget(limits, report)
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ValueError(f"collect needs a relative path below the root, not {rel!r}")
    try:
        src_fd = open_dir_nofollow(src_root)
    except OSError as exc:
        report.problems.append(Problem(str(src_root), "cannot open the collection root", _errname(exc)))
        return report
    dest_fd = open_dir_nofollow(dest_root)  # agp's own directory: failing here is agp's error, raised
    try:
        # walk to the parent of the last component on both sides
        for i, part in enumerate(parts[:-1]):
            where = "/".join(parts[: i + 1])
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=src_fd)
            except OSError as exc:
                report.problems.append(Problem(where, "cannot open", _errname(exc)))
                return report
            os.close(src_fd)
            src_fd = nxt
            dnext = _mkdir_open(dest_fd, part)
            os.close(dest_fd)
            dest_fd = dnext
        _copy_entry(src_fd, dest_fd, parts[-1], rel.strip("/"), 0, budget)
    finally:
        os.close(src_fd)
        os.close(dest_fd)
    return report


def _mkdir_open(dir_fd: int, name: str) -> int:
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o755, dir_fd=dir_fd)
    return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)


def _copy_entry(src_dir: int, dest_dir: int, name: str, rel: str, depth: int, budget: _Budget) -> None:
    report, limits = budget.report, budget.limits
    if not budget.entry(rel):
        return
    try:
        st = os.stat(name, dir_fd=src_dir, follow_symlinks=False)
    except OSError as exc:
        report.problems.append(Problem(rel, "cannot stat", _errname(exc)))
        return
    if stat.S_ISDIR(st.st_mode):
        if depth >= limits.max_depth:
            report.problems.append(Problem(rel, f"nested deeper than {limits.max_depth} directories; left behind"))
            return
        try:
            sub = os.open(name, _DIR_FLAGS, dir_fd=src_dir)
        except OSError as exc:
            report.problems.append(Problem(rel, "cannot open directory", _errname(exc)))
            return
        try:
            try:
                dsub = _mkdir_open(dest_dir, name)
            except OSError as exc:
                report.problems.append(Problem(rel, "cannot create the directory on the host", _errname(exc)))
                return
            try:
                try:
                    names = _entries(sub)
                except OSError as exc:
                    report.problems.append(Problem(rel, "cannot list directory", _errname(exc)))
                    return
                for child in names:
                    _copy_entry(sub, dsub, child, f"{rel}/{child}", depth + 1, budget)
            finally:
                os.close(dsub)
        finally:
            os.close(sub)
        return
    if not stat.S_ISREG(st.st_mode):
        report.problems.append(Problem(rel, f"not a regular file ({_kind(st.st_mode)}); left behind"))
        return
    _copy_file(src_dir, dest_dir, name, rel, budget)


def _copy_file(src_dir: int, dest_dir: int, name: str, rel: str, budget: _Budget) -> None:
    report, limits = budget.report, budget.limits
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=src_dir)
    except OSError as exc:
        report.problems.append(Problem(rel, "cannot open", _errname(exc)))
        return
    out = -1
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped between the listing and the open
            report.problems.append(Problem(rel, f"not a regular file ({_kind(st.st_mode)}); left behind"))
            return
        if st.st_size > limits.max_file:
            report.problems.append(Problem(rel, f"too big ({st.st_size} bytes > {limits.max_file}); left behind"))
            return
        if report.bytes + st.st_size > limits.max_total:
            report.problems.append(Problem(rel, f"over the total cap of {limits.max_total} bytes; left behind"))
            return
        try:
            out = os.open(
                name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dest_dir
            )
        except OSError as exc:
            report.problems.append(Problem(rel, "cannot create the copy on the host", _errname(exc)))
            return
        cap = min(limits.max_file, limits.max_total - report.bytes)
        n = 0
        want = min(_CHUNK, st.st_size + 1)  # small files (most transcripts) in one read
        while True:
            chunk = os.read(fd, want)
            if not chunk:
                break
            want = _CHUNK
            n += len(chunk)
            if n > cap:  # it grew after the fstat: the copy is not kept
                os.close(out)
                out = -1
                os.unlink(name, dir_fd=dest_dir)
                report.problems.append(Problem(rel, f"grew past the cap of {cap} bytes while read; left behind"))
                return
            os.write(out, chunk)
        report.bytes += n
        report.copied.append(rel)
        if st.st_nlink > 1:
            report.problems.append(Problem(rel, f"has {st.st_nlink} hard links (copied as a plain file)"))
    except OSError as exc:
        report.problems.append(Problem(rel, "read failed", _errname(exc)))
    finally:
        os.close(fd)
        if out >= 0:
            os.close(out)


# --------------------------------------------------------------------------- walking the workspace


def _walk(
    root_fd: int,
    limits: Limits,
    problems: list[Problem],
    prefix: str = "",
    depth: int = 0,
    counter: list[int] | None = None,
) -> Iterator[tuple[int, str, str, os.stat_result]]:
    """(dir fd, name, relative path, lstat) for every entry below ``root_fd``; never follows a link."""
    counter = counter if counter is not None else [0]
    try:
        names = _entries(root_fd)
    except OSError as exc:
        problems.append(Problem(prefix or ".", "cannot list directory", _errname(exc)))
        return
    for name in names:
        rel = f"{prefix}{name}"
        counter[0] += 1
        if counter[0] > limits.max_entries:
            if counter[0] == limits.max_entries + 1:
                problems.append(Problem(rel, f"more than {limits.max_entries} entries; the rest was not walked"))
            return
        try:
            st = os.stat(name, dir_fd=root_fd, follow_symlinks=False)
        except OSError as exc:
            problems.append(Problem(rel, "cannot stat", _errname(exc)))
            continue
        yield root_fd, name, rel, st
        if stat.S_ISDIR(st.st_mode):
            if depth >= limits.max_depth:
                problems.append(Problem(rel, f"nested deeper than {limits.max_depth} directories; not walked"))
                continue
            try:
                sub = os.open(name, _DIR_FLAGS, dir_fd=root_fd)
            except OSError as exc:
                problems.append(Problem(rel, "cannot open directory", _errname(exc)))
                continue
            try:
                yield from _walk(sub, limits, problems, rel + "/", depth + 1, counter)
            finally:
                os.close(sub)


def _digest(dir_fd: int, name: str, max_bytes: int) -> str:
    fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "not-regular"
        h = hashlib.sha256()
        n = 0
        while chunk := os.read(fd, _CHUNK):
            n += len(chunk)
            if n > max_bytes:
                return "too-big"
            h.update(chunk)
        return h.hexdigest()
    finally:
        os.close(fd)


def snapshot(
    root: Path, rels: Iterable[str], *, limits: Limits = Limits(max_entries=20_000)
) -> tuple[dict[str, tuple], list[Problem]]:
    """What is at each of ``rels`` below ``root`` (recursively): path -> (kind, mode, size, digest or link).

    A missing path is recorded as absent, so creating it shows up in :func:`diff_snapshots`."""
    out: dict[str, tuple] = {}
    problems: list[Problem] = []
    root_fd = open_dir_nofollow(root)
    try:
        for rel in rels:
            parts = [p for p in rel.split("/") if p]
            parent = os.path.dirname(rel)
            try:
                pfd = open_dir_nofollow(parent, start=root_fd) if parent else os.dup(root_fd)
            except OSError as exc:
                out[rel] = ("unreachable", _errname(exc))
                continue
            try:
                name = parts[-1]
                try:
                    st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
                except FileNotFoundError:
                    out[rel] = ("absent",)
                    continue
                except OSError as exc:
                    out[rel] = ("unreachable", _errname(exc))
                    continue
                out[rel] = _describe(pfd, name, st, limits)
                if stat.S_ISDIR(st.st_mode):
                    try:
                        sub = os.open(name, _DIR_FLAGS, dir_fd=pfd)
                    except OSError as exc:
                        problems.append(Problem(rel, "cannot open directory", _errname(exc)))
                        continue
                    try:
                        for dfd, n, r, s in _walk(sub, limits, problems, rel + "/"):
                            out[r] = _describe(dfd, n, s, limits)
                    finally:
                        os.close(sub)
            finally:
                os.close(pfd)
    finally:
        os.close(root_fd)
    return out, problems


def _describe(dir_fd: int, name: str, st: os.stat_result, limits: Limits) -> tuple:
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISREG(st.st_mode):
        try:
            digest = _digest(dir_fd, name, limits.max_file)
        except OSError as exc:
            digest = f"unreadable:{_errname(exc)}"
        return ("file", mode, st.st_size, digest)
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(name, dir_fd=dir_fd)
        except OSError as exc:
            target = f"unreadable:{_errname(exc)}"
        return ("symlink", target)
    if stat.S_ISDIR(st.st_mode):
        return ("directory", mode)
    return (_kind(st.st_mode), mode)


def diff_snapshots(before: dict[str, tuple], after: dict[str, tuple]) -> list[dict[str, str]]:
    """Every path whose entry differs: created, removed or changed (kind, mode, content, link target)."""
    changes = []
    for path in sorted(set(before) | set(after)):
        b, a = before.get(path, ("absent",)), after.get(path, ("absent",))
        if b == a:
            continue
        if b[0] == "absent":
            how = "created"
        elif a[0] == "absent":
            how = "removed"
        else:
            how = "changed"
        changes.append({"path": path, "change": how, "before": b[0], "after": a[0]})
    return changes


def strip_setid(root: Path, *, limits: Limits = Limits()) -> tuple[list[dict[str, str]], list[Problem]]:
    """Clear setuid/setgid on every regular file below ``root`` (never following a link); return what was
    cleared (path, old and new mode) and what could not be walked."""
    cleared: list[dict[str, str]] = []
    problems: list[Problem] = []
    root_fd = open_dir_nofollow(root)
    try:
        for dfd, name, rel, st in _walk(root_fd, limits, problems):
            if not stat.S_ISREG(st.st_mode) or not st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                continue
            try:
                fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
            except OSError as exc:
                problems.append(Problem(rel, "setuid/setgid file could not be opened to clear it", _errname(exc)))
                continue
            try:
                cur = os.fstat(fd)
                if not stat.S_ISREG(cur.st_mode):
                    continue
                new = stat.S_IMODE(cur.st_mode) & ~(stat.S_ISUID | stat.S_ISGID)
                os.chmod(f"/proc/self/fd/{fd}", new)  # Linux has no lchmod: chmod the O_PATH fd's inode
                cleared.append({"path": rel, "mode_before": oct(stat.S_IMODE(cur.st_mode)), "mode_after": oct(new)})
            except OSError as exc:
                problems.append(Problem(rel, "setuid/setgid bit could not be cleared", _errname(exc)))
            finally:
                os.close(fd)
    finally:
        os.close(root_fd)
    return cleared, problems


def tree_bytes(
    root: Path,
    *,
    limits: Limits = Limits(max_entries=2_000_000, max_depth=256),
    on_problem: Callable[[Problem], None] | None = None,
) -> int:
    """Bytes allocated below ``root`` (each inode once, links not followed): the watchdog's sample."""
    problems: list[Problem] = []
    seen: set[tuple[int, int]] = set()
    total = 0
    try:
        root_fd = open_dir_nofollow(root)
    except OSError:
        return 0
    try:
        for _dfd, _name, _rel, st in _walk(root_fd, limits, problems):
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            total += max(st.st_blocks * 512, 0)
    finally:
        os.close(root_fd)
    if on_problem is not None:
        for p in problems:
            on_problem(p)
    return total

"""Where a bundle's files come from: a directory, a ``.zip`` or a ``.tar.gz``, read in place.

:func:`open_bundle` finds the bundle (a bundle directory, a run directory's ``bundle/``, a
demo's ``--out`` with one run, or an archive that holds one bundle, at its top or under one
directory, as a GitHub Actions artifact does) and returns a :class:`BundleSource`, through
which :func:`agp.evidence.check_bundle` reads every file.

Archives are never extracted to disk and never with ``extractall``: members are read as
streams. What needs a file path (the journal, for the parallel verifier) is copied into an
anonymous memory file (``memfd_create``). An archive is refused as a whole, before anything
in it is checked, when any member is a link (a zip symlink entry, a tar symlink or hardlink),
a device, a FIFO or a sparse file, when a name is absolute, has a ``..`` component, a
backslash or a NUL, when two members have the same name, and past the size caps
(:class:`ArchiveLimits`: per member, in total, and the member count). A member's data is read
up to its declared size and must be exactly that long (a zip bomb's declared size is a cap).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Protocol, cast

from agp.errors import EvidenceError, UsageError

__all__ = (
    "ArchiveError",
    "ArchiveLimits",
    "BundleSource",
    "DirectorySource",
    "find_bundle",
    "open_bundle",
)

MANIFEST = "manifest.json"
_CHUNK = 1 << 20
#: a pax or GNU long-name header larger than this is refused before tarfile reads it into memory
_MAX_TAR_HEADER = 1 << 20


class ArchiveError(EvidenceError):
    """An archive that cannot be read safely. ``code`` names what was refused."""

    def __init__(self, code: str, message: str, where: str) -> None:
        super().__init__(f"{where}: {message}")
        self.code = code
        self.message = message
        self.where = where


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps on what an archive may hold (declared and actually read)."""

    member_bytes: int = 2 << 30
    total_bytes: int = 8 << 30
    members: int = 100_000


class BundleSource(Protocol):
    """Read access to one bundle's files, by posix path relative to the bundle's root."""

    location: str

    def files(self) -> tuple[dict[str, int], list[str]]:
        """(regular files and their sizes, paths of anything else: links, devices, ...)."""
        ...

    def is_file(self, rel: str) -> bool: ...

    def open(self, rel: str) -> IO[bytes]:
        """A stream of the file's bytes; raise FileNotFoundError when it is not a regular file."""
        ...

    def read_bytes(self, rel: str, cap: int) -> bytes:
        """The whole file, refused (EvidenceError) when larger than ``cap``."""
        ...

    def digest(self, rel: str) -> tuple[str, int]:
        """(sha256 hex, size) of the file, streamed."""
        ...

    def local_path(self, rel: str) -> Path:
        """A path the file can be opened at (an anonymous memory file for an archive member)."""
        ...

    def absent_path(self, rel: str) -> Path:
        """A path that names ``rel`` in messages and does not exist (for a file the bundle lacks)."""
        ...

    def close(self) -> None: ...


def _hash_stream(f: IO[bytes]) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    while block := f.read(_CHUNK):
        h.update(block)
        n += len(block)
    return h.hexdigest(), n


def _read_capped(f: IO[bytes], cap: int, where: str) -> bytes:
    data = f.read(cap + 1)
    if len(data) > cap:
        raise EvidenceError(f"{where}: larger than {cap} bytes; refusing to read it whole")
    return data


# -------------------------------------------------------------------- directory
class DirectorySource:
    """A bundle directory on disk. Files are opened without following a final symlink."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)

    def files(self) -> tuple[dict[str, int], list[str]]:
        regular: dict[str, int] = {}
        odd: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            d = Path(dirpath)
            for name in list(dirnames):
                if (d / name).is_symlink():
                    odd.append((d / name).relative_to(self.root).as_posix())
                    dirnames.remove(name)
            for name in filenames:
                p = d / name
                rel = p.relative_to(self.root).as_posix()
                st = p.lstat()
                if stat.S_ISREG(st.st_mode):
                    regular[rel] = st.st_size
                else:
                    odd.append(rel)
        return dict(sorted(regular.items())), sorted(odd)

    def _path(self, rel: str) -> Path:
        pp = PurePosixPath(rel)
        if pp.is_absolute() or ".." in pp.parts:
            raise FileNotFoundError(rel)
        return self.root / pp

    def is_file(self, rel: str) -> bool:
        try:
            return stat.S_ISREG(self._path(rel).lstat().st_mode)
        except OSError:
            return False

    def open(self, rel: str) -> IO[bytes]:
        p = self._path(rel)
        try:
            fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            raise FileNotFoundError(rel) from exc
        f = os.fdopen(fd, "rb")
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            f.close()
            raise FileNotFoundError(rel)
        return f

    def read_bytes(self, rel: str, cap: int) -> bytes:
        with self.open(rel) as f:
            return _read_capped(f, cap, rel)

    def digest(self, rel: str) -> tuple[str, int]:
        with self.open(rel) as f:
            return _hash_stream(f)

    def local_path(self, rel: str) -> Path:
        return self._path(rel)

    def absent_path(self, rel: str) -> Path:
        return self._path(rel)

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------- archives
def _member_name(raw: str, where: str) -> str | None:
    """The member's normalized posix path; None for the archive's root; ArchiveError when unsafe."""
    if "\x00" in raw or "\\" in raw:
        raise ArchiveError("archive_unsafe_name", f"member name {raw!r} holds a backslash or NUL", where)
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise ArchiveError("archive_unsafe_name", f"member name {raw!r} is absolute", where)
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError("archive_unsafe_name", f"member name {raw!r} has a '..' component", where)
    return "/".join(parts) or None


class _Capped(io.RawIOBase):
    """Reads at most ``limit`` bytes from ``raw``, then refuses (the decompressed stream's cap)."""

    def __init__(self, raw: IO[bytes] | gzip.GzipFile, limit: int, where: str) -> None:
        self.raw, self.left, self.where = raw, limit, where

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self.raw.read(min(len(b), self.left + 1))
        if len(data) > self.left:
            raise ArchiveError("archive_too_large", "the decompressed archive exceeds the total size cap", self.where)
        self.left -= len(data)
        b[: len(data)] = data
        return len(data)


def _memfd(name: str) -> int:
    return os.memfd_create(name, os.MFD_CLOEXEC)


def _fd_path(fd: int) -> Path:
    # /proc/<pid>/fd/N (not /proc/self): verifier worker processes open the same memory file
    return Path(f"/proc/{os.getpid()}/fd/{fd}")


class _ArchiveSource:
    """Common part: members by normalized name relative to the bundle's root inside the archive."""

    def __init__(self, archive: Path, limits: ArchiveLimits) -> None:
        self.archive = archive
        self.limits = limits
        self.prefix = ""
        self.location = str(archive)
        self.outside: list[str] = []
        self._fds: dict[str, int] = {}
        self._sizes: dict[str, int] = {}  # rel -> declared size (regular files only)

    # the bundle's root: the one directory holding manifest.json
    def _root(self, names: list[str]) -> None:
        roots = sorted(
            {str(PurePosixPath(n).parent) for n in names if PurePosixPath(n).name == MANIFEST},
            key=lambda r: (r.count("/"), r),
        )
        roots = [("" if r == "." else r) for r in roots]
        if not roots:
            raise ArchiveError(
                "bundle_not_found", f"no {MANIFEST} in the archive: not an evidence bundle", self.location
            )
        shallow = [r for r in roots if r.count("/") == roots[0].count("/")]
        if len(shallow) > 1:
            raise UsageError(
                f"{self.location} holds {len(shallow)} bundles ({', '.join(r or '.' for r in shallow)}); "
                "give an archive of one"
            )
        self.prefix = roots[0] + "/" if roots[0] else ""
        if self.prefix:
            self.location = f"{self.archive}!/{roots[0]}"

    def _rel(self, name: str) -> str | None:
        if not self.prefix:
            return name
        return name[len(self.prefix) :] if name.startswith(self.prefix) else None

    def files(self) -> tuple[dict[str, int], list[str]]:
        return dict(sorted(self._sizes.items())), []

    def absent_path(self, rel: str) -> Path:
        return Path(f"{self.archive}!/{self.prefix}{rel}")  # "x.zip!" is not x.zip: it does not exist

    def is_file(self, rel: str) -> bool:
        return rel in self._sizes

    def read_bytes(self, rel: str, cap: int) -> bytes:
        with self.open(rel) as f:
            return _read_capped(f, cap, rel)

    def open(self, rel: str) -> IO[bytes]:
        raise NotImplementedError

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def _check_counts(self, count: int, total: int) -> None:
        lim = self.limits
        if count > lim.members:
            raise ArchiveError("archive_too_many_members", f"more than {lim.members} members", self.location)
        if total > lim.total_bytes:
            raise ArchiveError("archive_too_large", f"members total more than {lim.total_bytes} bytes", self.location)

    def _check_size(self, size: int, name: str) -> None:
        if size > self.limits.member_bytes:
            raise ArchiveError(
                "archive_member_too_large",
                f"member {name} is {size} bytes, over the cap of {self.limits.member_bytes}",
                self.location,
            )


class ZipSource(_ArchiveSource):
    def __init__(self, archive: Path, limits: ArchiveLimits) -> None:
        super().__init__(archive, limits)
        try:
            self._zf = zipfile.ZipFile(archive)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ArchiveError("archive_unreadable", f"not a readable zip archive: {exc}", str(archive)) from exc
        try:
            self._index()
        except BaseException:
            self._zf.close()
            raise

    def _index(self) -> None:
        infos = self._zf.infolist()
        self._check_counts(len(infos), sum(i.file_size for i in infos))
        seen: set[str] = set()
        files: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = _member_name(info.filename, self.location)
            mode = info.external_attr >> 16 if info.create_system == 3 else 0
            kind = stat.S_IFMT(mode)
            if kind == stat.S_IFLNK:
                raise ArchiveError("archive_link", f"member {info.filename} is a symbolic link", self.location)
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise ArchiveError(
                    "archive_special_file", f"member {info.filename} is not a regular file", self.location
                )
            if info.flag_bits & 0x1:
                raise ArchiveError("archive_unsupported", f"member {info.filename} is encrypted", self.location)
            if name is None:
                continue
            if name in seen:
                raise ArchiveError("archive_duplicate", f"two members are named {name}", self.location)
            seen.add(name)
            if info.is_dir() or kind == stat.S_IFDIR:
                continue
            self._check_size(info.file_size, name)
            files[name] = info
        _check_tree(files, self.location)
        self._root(list(files))
        self._infos: dict[str, zipfile.ZipInfo] = {}
        for name, info in files.items():
            rel = self._rel(name)
            if rel is None:
                self.outside.append(name)
            else:
                self._infos[rel] = info
                self._sizes[rel] = info.file_size

    def open(self, rel: str) -> IO[bytes]:
        info = self._infos.get(rel)
        if info is None:
            raise FileNotFoundError(rel)
        try:
            # a raw stream that checks the member's size; callers only read it and close it
            return cast(IO[bytes], _Exact(self._zf.open(info), info.file_size, f"{self.location}/{rel}"))
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
            raise ArchiveError("archive_member_corrupt", f"cannot read {rel}: {exc}", self.location) from exc

    def digest(self, rel: str) -> tuple[str, int]:
        with self.open(rel) as f:
            return _hash_stream(f)

    def local_path(self, rel: str) -> Path:
        if rel not in self._fds:
            fd = _memfd(PurePosixPath(rel).name)
            try:
                with self.open(rel) as src:
                    while block := src.read(_CHUNK):
                        _write_all(fd, block)
            except BaseException:
                os.close(fd)
                raise
            self._fds[rel] = fd
        return _fd_path(self._fds[rel])

    def close(self) -> None:
        super().close()
        self._zf.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class _Exact(io.RawIOBase):
    """A member stream that must yield exactly its declared size (errors name the member)."""

    def __init__(self, f: IO[bytes], size: int, where: str) -> None:
        self.f, self.left, self.where = f, size, where

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        try:
            data = self.f.read(min(len(b), self.left)) if self.left else self.f.read(1)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error) as exc:
            raise ArchiveError("archive_member_corrupt", f"cannot read the member: {exc}", self.where) from exc
        if not self.left:
            if data:
                raise ArchiveError("archive_bomb", "the member holds more data than its declared size", self.where)
            return 0
        if not data:
            raise ArchiveError(
                "archive_member_corrupt", f"the member ends {self.left} bytes before its declared size", self.where
            )
        self.left -= len(data)
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.f.close()
        super().close()


class _ShieldedTarInfo(tarfile.TarInfo):
    """Refuse an oversized pax or long-name header before tarfile reads it into memory."""

    def _proc_member(self, tarfile_):
        if (
            self.type
            in (
                tarfile.XHDTYPE,
                tarfile.XGLTYPE,
                tarfile.SOLARIS_XHDTYPE,
                tarfile.GNUTYPE_LONGNAME,
                tarfile.GNUTYPE_LONGLINK,
            )
            and self.size > _MAX_TAR_HEADER
        ):
            raise tarfile.HeaderError(f"a {self.size}-byte extended header")
        return super()._proc_member(tarfile_)


class TarSource(_ArchiveSource):
    """A tar (optionally gzip-compressed), read once as a stream. Every member is hashed as it
    passes; the ones the checks parse (all but logs) are kept in anonymous memory files."""

    def __init__(self, archive: Path, limits: ArchiveLimits) -> None:
        super().__init__(archive, limits)
        self._digests: dict[str, tuple[str, int]] = {}
        try:
            self._read()
        except BaseException:
            self.close()
            raise

    def _read(self) -> None:
        lim = self.limits
        cap = lim.total_bytes + lim.members * 1024 + (1 << 20)  # data plus headers
        with open(self.archive, "rb") as raw:
            magic = raw.read(2)
            raw.seek(0)
            stream: IO[bytes] | gzip.GzipFile = gzip.GzipFile(fileobj=raw, mode="rb") if magic == b"\x1f\x8b" else raw
            capped = io.BufferedReader(_Capped(stream, cap, self.location), _CHUNK)
            try:
                tf = tarfile.open(fileobj=capped, mode="r|", tarinfo=_ShieldedTarInfo)  # noqa: SIM115 - `with tf:` below
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise ArchiveError("archive_unreadable", f"not a readable tar archive: {exc}", self.location) from exc
            names: dict[str, tuple[str, int, int | None]] = {}
            count = total = 0
            seen: set[str] = set()
            with tf:  # closes the stream reader only; `raw` is closed by the outer block
                try:
                    for m in tf:
                        count += 1
                        total += max(m.size, 0) if m.isreg() else 0
                        self._check_counts(count, total)
                        name = _member_name(m.name, self.location)
                        if m.issym() or m.islnk():
                            raise ArchiveError(
                                "archive_link",
                                f"member {m.name} is a {'symbolic' if m.issym() else 'hard'} link",
                                self.location,
                            )
                        if m.issparse():
                            raise ArchiveError(
                                "archive_special_file", f"member {m.name} is a sparse file", self.location
                            )
                        if not (m.isreg() or m.isdir()):
                            raise ArchiveError(
                                "archive_special_file",
                                f"member {m.name} is not a regular file (device, FIFO, ...)",
                                self.location,
                            )
                        if name is None:
                            continue
                        if name in seen:
                            raise ArchiveError("archive_duplicate", f"two members are named {name}", self.location)
                        seen.add(name)
                        if m.isdir():
                            continue
                        self._check_size(m.size, name)
                        names[name] = self._take(tf, m, name)
                except (tarfile.TarError, EOFError, zlib.error) as exc:
                    raise ArchiveError(
                        "archive_unreadable", f"not a readable tar archive: {exc}", self.location
                    ) from exc
                except OSError as exc:
                    raise ArchiveError(
                        "archive_unreadable", f"not a readable tar archive: {exc}", self.location
                    ) from exc
        _check_tree(names, self.location)
        self._root(list(names))
        for name, (sha, size, fd) in names.items():
            rel = self._rel(name)
            if rel is None:
                self.outside.append(name)
                if fd is not None:
                    os.close(fd)
                continue
            self._sizes[rel] = size
            self._digests[rel] = (sha, size)
            if fd is not None:
                self._fds[rel] = fd

    def _take(self, tf: tarfile.TarFile, m: tarfile.TarInfo, name: str) -> tuple[str, int, int | None]:
        src = tf.extractfile(m)
        if src is None:  # a regular member
            raise RuntimeError("internal error: src is not set")
        keep = "/logs/" not in f"/{name}"  # logs are only hashed; everything else may be parsed
        fd = _memfd(PurePosixPath(name).name) if keep else None
        h = hashlib.sha256()
        n = 0
        try:
            while block := src.read(_CHUNK):
                n += len(block)
                if n > m.size:
                    raise ArchiveError(
                        "archive_bomb", f"member {name} holds more than its declared size", self.location
                    )
                h.update(block)
                if fd is not None:
                    _write_all(fd, block)
            if n != m.size:
                raise ArchiveError(
                    "archive_member_corrupt", f"member {name} ends before its declared size", self.location
                )
        except BaseException:
            if fd is not None:
                os.close(fd)
            raise
        return h.hexdigest(), n, fd

    def open(self, rel: str) -> IO[bytes]:
        fd = self._fds.get(rel)
        if fd is None:
            if rel in self._sizes:
                raise EvidenceError(f"{rel}: only hashed, not kept, when the archive was read")
            raise FileNotFoundError(rel)
        return open(_fd_path(fd), "rb")

    def digest(self, rel: str) -> tuple[str, int]:
        if rel not in self._digests:
            raise FileNotFoundError(rel)
        return self._digests[rel]

    def local_path(self, rel: str) -> Path:
        if rel not in self._fds:
            raise FileNotFoundError(rel)
        return _fd_path(self._fds[rel])


def _check_tree(files: Mapping[str, object], where: str) -> None:
    """A file that is also a directory of another member makes the tree ambiguous."""
    for name in files:
        parts = name.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in files:
                raise ArchiveError("archive_duplicate", f"{'/'.join(parts[:i])} is both a file and a directory", where)


# ------------------------------------------------------------------ discovery
def _is_bundle_dir(p: Path) -> bool:
    return (p / MANIFEST).is_file()


def find_bundle(path: Path) -> Path:
    """The bundle ``path`` names: itself, a run directory's ``bundle/``, or the one run's bundle
    under a demo's ``--out`` (``runs/<id>/bundle``). UsageError when there is none or several."""
    if _is_bundle_dir(path):
        return path
    if _is_bundle_dir(path / "bundle"):
        return path / "bundle"
    runs = path / "runs"
    found = sorted(d / "bundle" for d in (runs.iterdir() if runs.is_dir() else []) if _is_bundle_dir(d / "bundle"))
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise UsageError(
            f"{path} holds {len(found)} runs with a bundle; name one: "
            + ", ".join(str(f) for f in found[:5])
            + (" …" if len(found) > 5 else "")
        )
    if (path / "journal.jsonl").is_file():
        raise UsageError(
            f"{path} is a run directory without an evidence bundle; verify its journal instead: "
            f"agp verify {path / 'journal.jsonl'} --key PUB"
        )
    raise UsageError(f"{path} is not an evidence bundle (no {MANIFEST}), a run directory or a demo's --out")


def is_archive(path: Path) -> bool:
    n = path.name.lower()
    return n.endswith((".zip", ".tar.gz", ".tgz", ".tar"))


def open_bundle(path: str | os.PathLike[str], limits: ArchiveLimits | None = None) -> BundleSource:
    """A source for the bundle at ``path`` (directory, run directory, demo output, .zip, .tar.gz)."""
    p = Path(path)
    lim = limits or ArchiveLimits()
    if p.is_dir():
        return DirectorySource(find_bundle(p))
    if not p.exists():
        raise UsageError(f"no bundle at {p}")
    name = p.name.lower()
    if name.endswith(".zip"):
        return ZipSource(p, lim)
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        return TarSource(p, lim)
    raise UsageError(f"{p} is neither a bundle directory nor a .zip or .tar.gz bundle")

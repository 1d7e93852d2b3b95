"""Unix socket addresses that do not depend on how deep the run directory is.

A Unix socket address holds at most 107 bytes of path (``sun_path`` is 108 with its NUL), and
a run directory under a long ``--out`` or a deep temp directory passes that. Binding and
connecting go through the socket directory's descriptor instead: ``/proc/self/fd/N/NAME`` names
the same directory entry whatever the directory's own path is, and is about 20 bytes long. The
socket file still appears at its real path (the sandbox sees it through the bind of the
directory), so nothing else changes. The standard library has no call for this (``bind`` and
``connect`` take a path or an abstract name only), hence these few lines.

A name that does not fit even that way, or a directory that cannot be opened, is an error
before anything listens: never a silent fallback to a shorter or different path.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator

#: bytes of path a Unix socket address holds (sun_path's 108 minus the terminating NUL)
SUN_PATH_MAX = 107


@contextlib.contextmanager
def short_address(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield an address for ``path`` that fits in ``sun_path``: the path itself when it fits,
    else ``/proc/self/fd/N/NAME`` through a descriptor of its directory, held open meanwhile."""
    p = os.fspath(path)
    if len(os.fsencode(p)) <= SUN_PATH_MAX:
        yield p
        return
    parent, name = os.path.split(p)
    dfd = os.open(parent or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        alias = f"/proc/self/fd/{dfd}/{name}"
        if len(os.fsencode(alias)) > SUN_PATH_MAX:
            raise OSError(36, f"the socket name {name!r} is too long for a Unix socket address", p)
        yield alias
    finally:
        os.close(dfd)


def bind_unix(path: str | os.PathLike[str], *, mode: int = 0o600, backlog: int = 128) -> socket.socket:
    """A listening, non-blocking ``AF_UNIX`` stream socket at ``path`` with permissions ``mode``.

    The socket file is created under a umask that leaves it no wider than ``mode`` from the first
    moment (no window in which another uid could connect), then set to ``mode`` exactly.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with short_address(path) as addr:
            old = os.umask(0o777 & ~mode)
            try:
                sock.bind(addr)
            finally:
                os.umask(old)
        os.chmod(path, mode)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def connect_unix(path: str | os.PathLike[str], *, timeout: float | None) -> socket.socket:
    """A connected ``AF_UNIX`` stream socket to ``path``, with ``timeout`` set before connecting."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        with short_address(path) as addr:
            sock.connect(addr)
    except BaseException:
        sock.close()
        raise
    return sock

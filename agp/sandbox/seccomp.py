"""agp's seccomp profile: Docker's default, with less kernel surface (see scripts/seccomp_profile.py).

The profile ships as data (``seccomp.json`` beside this module), generated from
moby's ``profiles/seccomp/default.json`` at v20.10.24 by
``scripts/seccomp_profile.py``, which documents each change:

- ``socket()`` only for AF_UNIX, AF_INET and AF_INET6 (AF_VSOCK, AF_NETLINK,
  AF_PACKET and every other family: EPERM); ``socketcall()`` refused, and on x86_64
  no 32-bit x86 or x32 syscalls (socketcall would hide the family; SIGSYS);
- ``io_uring_setup/enter/register`` refused;
- ``ptrace``, ``process_vm_readv/writev``, ``process_madvise``, ``kcmp``,
  ``pidfd_getfd`` refused.

The engine is given the profile as compact JSON text in ``security_opt``
(``seccomp=<text>``, as ``docker run --security-opt seccomp=FILE`` does) and
keeps that text in the container's inspect data, so
:func:`agp.sandbox.docker.check_hardening` compares the digest of what the
engine holds with :data:`PROFILE_DIGEST` before the container starts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

__all__ = (
    "ALLOWED_SOCKET_FAMILIES",
    "PROFILE_DIGEST",
    "PROFILE_PATH",
    "PROFILE_TEXT",
    "REFUSED_SYSCALLS",
    "profile_digest",
    "seccomp_problem",
    "security_opt",
)

PROFILE_PATH = Path(__file__).with_name("seccomp.json")

#: the profile exactly as the engine receives it (compact JSON, key order kept)
PROFILE_TEXT = json.dumps(json.loads(PROFILE_PATH.read_text()), separators=(",", ":"))


def profile_digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


PROFILE_DIGEST = profile_digest(PROFILE_TEXT)

#: socket(2) families the profile allows, by number (AF_UNIX, AF_INET, AF_INET6)
ALLOWED_SOCKET_FAMILIES = {1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6"}
#: syscalls the profile refuses with EPERM, by name
REFUSED_SYSCALLS = (
    "socketcall",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "process_madvise",
    "kcmp",
    "pidfd_getfd",
)


def security_opt() -> str:
    """The ``security_opt`` entry that applies agp's profile."""
    return "seccomp=" + PROFILE_TEXT


def seccomp_problem(security_opts: Iterable[str]) -> str | None:
    """None when exactly agp's profile is applied; otherwise what is wrong, naming what was found.

    ``security_opts`` is ``HostConfig.SecurityOpt`` from the engine's inspect data.
    """
    found = [
        s.split("=", 1)[1] if "=" in s else s.split(":", 1)[1]
        for s in security_opts
        if s.startswith(("seccomp=", "seccomp:"))
    ]
    want = f"agp's profile {PROFILE_DIGEST}"
    if not found:
        return f"seccomp (expected {want}, found none: the engine's default profile)"
    if len(found) > 1:
        return f"seccomp (expected {want}, found {len(found)} profiles)"
    text = found[0]
    if text.strip() == "unconfined":
        return f"seccomp (expected {want}, found unconfined)"
    digest = profile_digest(text)
    if digest != PROFILE_DIGEST:
        return f"seccomp (expected {want}, found a different profile {digest})"
    return None

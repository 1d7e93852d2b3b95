#!/usr/bin/env python3
"""Generate agp's seccomp profile (agp/sandbox/seccomp.json) from Docker's default profile.

Source: moby's ``profiles/seccomp/default.json`` at tag v20.10.24 (commit 5d6db842238e, the
engine agp is tested on: ``docker version`` shows Engine 20.10.24, git commit 5d6db84),
Apache License 2.0, Copyright Docker, Inc. Get it with::

    curl -fsSLo /tmp/default.json \\
      https://raw.githubusercontent.com/moby/moby/v20.10.24/profiles/seccomp/default.json
    python3 scripts/seccomp_profile.py /tmp/default.json            # writes agp/sandbox/seccomp.json
    python3 scripts/seccomp_profile.py /tmp/default.json --check    # exit 1 if the shipped file differs

The input must have the sha256 pinned below (a different upstream file is refused: review the
upstream change, then update the pin). What agp changes, and why:

1. ``socket()`` is allowed only for AF_UNIX (1), AF_INET (2) and AF_INET6 (10). Every other
   family falls to the profile's default action (EPERM). AF_VSOCK reached the hypervisor's
   transport from inside a box; AF_NETLINK, AF_PACKET, AF_ALG and the rest are kernel surface a
   coding agent does not need (measured: Claude Code and Codex run their tools without them,
   see adr/0005).
2. ``socketcall()`` is refused, and the x86_64 profile no longer accepts 32-bit x86 (``int
   0x80``) or x32 syscalls at all (SCMP_ARCH_X86 and SCMP_ARCH_X32 removed from its
   subarchitectures). socketcall multiplexes socket() with its arguments in memory, where
   seccomp cannot read the address family, and libseccomp turns a socket() rule with an
   argument condition into an unconditional socketcall(SYS_SOCKET) rule for 32-bit x86:
   measured, an ``int 0x80`` socketcall created an AF_VSOCK socket under rule 1 alone.
   So 32-bit x86 binaries do not run in the sandbox (their syscalls are refused).
3. ``io_uring_setup/enter/register`` are refused: io_uring performs socket, file and network
   operations from kernel workers that seccomp never sees.
4. ``ptrace``, ``process_vm_readv/writev``, ``process_madvise``, ``kcmp`` and ``pidfd_getfd``
   are refused: a process of the harness's uid must not read or write another process's memory
   or steal its file descriptors (the hook bridge, the harness). Docker allows ptrace on kernels
   >= 4.8 and the rest with CAP_SYS_PTRACE (agp drops every capability).

The refusals in 2-4 are explicit SCMP_ACT_ERRNO entries with errnoRet 1 (EPERM), the same as
the default action, so that the profile says what it refuses and a test can read it.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from pathlib import Path

UPSTREAM_URL = "https://raw.githubusercontent.com/moby/moby/v20.10.24/profiles/seccomp/default.json"
UPSTREAM_SHA256 = "ce3585b856aa4a193671fd8280d0d0612a998bd3f10bdb2f8530dfa958c6197f"
OUT = Path(__file__).resolve().parent.parent / "agp" / "sandbox" / "seccomp.json"

EPERM = 1
#: socket(2) address families the sandbox may create: AF_UNIX, AF_INET, AF_INET6
SOCKET_FAMILIES = {1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6"}
REFUSED = (
    "socketcall",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp", "pidfd_getfd",
)
#: 32-bit ABIs the x86_64 filter no longer accepts (rule 2)
DROPPED_SUBARCHES = ("SCMP_ARCH_X86", "SCMP_ARCH_X32")
#: every name agp takes out of the upstream allow entries (socket comes back with conditions)
REMOVED = ("socket",) + REFUSED


def derive(upstream: dict) -> dict:
    """The agp profile: upstream with REMOVED taken out of every entry, then agp's entries appended."""
    prof = copy.deepcopy(upstream)
    if prof.get("defaultAction") != "SCMP_ACT_ERRNO" or prof.get("defaultErrnoRet") not in (None, EPERM):
        raise SystemExit(f"upstream default action changed: {prof.get('defaultAction')} "
                         f"errno {prof.get('defaultErrnoRet')}; review before regenerating")
    for arch in prof["archMap"]:
        if arch["architecture"] == "SCMP_ARCH_X86_64":
            arch["subArchitectures"] = [a for a in arch["subArchitectures"] if a not in DROPPED_SUBARCHES]
    syscalls = []
    for entry in prof["syscalls"]:
        names = [n for n in entry["names"] if n not in REMOVED]
        if names:
            syscalls.append({**entry, "names": names})
    for family, name in sorted(SOCKET_FAMILIES.items()):
        syscalls.append({
            "names": ["socket"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": family, "op": "SCMP_CMP_EQ"}],
            "comment": f"agp: socket({name}) only; every other address family is refused (EPERM)",
            "includes": {}, "excludes": {},
        })
    syscalls.append({
        "names": list(REFUSED), "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM, "args": [],
        "comment": "agp: refused (EPERM): socketcall hides the address family, io_uring bypasses seccomp, "
                   "the rest reach into other processes",
        "includes": {}, "excludes": {},
    })
    prof["syscalls"] = syscalls
    return prof


def render(profile: dict) -> str:
    return json.dumps(profile, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("upstream", type=Path, help=f"moby's default.json ({UPSTREAM_URL})")
    ap.add_argument("--check", action="store_true", help="compare with the shipped profile, write nothing")
    args = ap.parse_args(argv)
    raw = args.upstream.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != UPSTREAM_SHA256:
        print(f"{args.upstream}: sha256 {digest}, expected {UPSTREAM_SHA256} ({UPSTREAM_URL})", file=sys.stderr)
        return 2
    text = render(derive(json.loads(raw)))
    if args.check:
        if OUT.read_text() != text:
            print(f"{OUT} differs from what {args.upstream} generates; rerun without --check", file=sys.stderr)
            return 1
        print(f"{OUT} is up to date")
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

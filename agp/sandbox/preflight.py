"""The egress preflight: proof, from inside the sandbox, that it has no way out.

Before the harness starts, :data:`PROBE_SOURCE` runs in the container (stdlib
Python, ``-I -S``). It lists ``/sys/class/net`` and reads the IPv4 and IPv6
route tables *first*; only when ``lo`` is the one interface and there is no
route does it try a TCP connect to TEST-NET-1 (192.0.2.1, RFC 5737), which
must fail at once with ENETUNREACH. So the probe never sends a packet from a
container that could route one. It also tries to create (never to connect) an
AF_VSOCK and an AF_NETLINK socket, and reads its own ``Seccomp:`` mode: a
created socket or a process outside a seccomp filter fails the preflight, which
proves from inside that agp's seccomp profile is the one in force.

:func:`evaluate_probe` is the pure verdict over what the probe printed; the
driver journals the resulting :class:`PreflightResult` as
``sandbox.preflight`` and tears the container down on anything but ``ok``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agp.errors import PreflightError
from agp.sandbox.driver import PreflightResult

__all__ = ("CONNECT_FAST_MS", "PROBE_ARGV", "PROBE_SOURCE", "REFUSED_FAMILIES", "PreflightFailed", "evaluate_probe")

PROBE_SOURCE = (Path(__file__).with_name("_probe.py")).read_text()
PROBE_ARGV = ("python3", "-I", "-S", "-c", PROBE_SOURCE)

#: socket families the probe must fail to create (it never connects one)
REFUSED_FAMILIES = ("AF_VSOCK", "AF_NETLINK")

#: "fails at once": the kernel answers ENETUNREACH synchronously; anything slower is suspect
CONNECT_FAST_MS = 250.0


class PreflightFailed(PreflightError):
    """A PreflightError carrying the structured result (journal it as ``sandbox.preflight``)."""

    def __init__(self, result: PreflightResult) -> None:
        self.result = result
        super().__init__(
            f"egress preflight failed: {result.reason} (seen: interfaces={list(result.interfaces)}, "
            f"routes={len(result.routes)}, connect={dict(result.connect)})"
        )


def evaluate_probe(raw: bytes | str, *, container: str = "", exit_code: int = 0) -> PreflightResult:
    """The verdict over the probe's output. Pure; anything unexpected is a failure."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        seen: dict[str, Any] | None = json.loads(text.strip().splitlines()[-1]) if text.strip() else None
        if not isinstance(seen, dict):
            raise ValueError("not an object")
    except (ValueError, TypeError):
        return PreflightResult(
            False, f"probe output unreadable (exit {exit_code}): {text[:200]!r}", (), (), {}, 0.0, container
        )
    interfaces = tuple(str(i) for i in seen.get("interfaces") or ())
    routes = tuple(str(r) for r in seen.get("routes") or ())
    connect = unverified_connect if isinstance(unverified_connect := seen.get("connect"), dict) else {}
    elapsed = float(seen.get("elapsed_ms") or 0.0)
    families = unverified_families if isinstance(unverified_families := seen.get("families"), dict) else {}
    seccomp = str(seen.get("seccomp") or "")

    def res(ok: bool, reason: str) -> PreflightResult:
        return PreflightResult(ok, reason, interfaces, routes, connect, elapsed, container, families, seccomp)

    if exit_code != 0:
        return res(False, f"probe exited {exit_code}")
    if seen.get("error"):
        return res(False, f"probe could not look: {seen['error']}")
    if interfaces != ("lo",):
        others = [i for i in interfaces if i != "lo"]
        return res(False, "network interfaces other than lo: " + ", ".join(others) if others else "no lo interface")
    if routes:
        return res(False, f"{len(routes)} route(s) present: {routes[0]}")
    for family in REFUSED_FAMILIES:
        got = families.get(family)
        if not isinstance(got, dict) or "created" not in got:
            return res(False, f"the probe did not try to create an {family} socket")
        if got["created"] is not False:
            return res(False, f"an {family} socket could be created inside the sandbox (seccomp profile not applied)")
    if seccomp != "2":
        return res(False, f"the probe does not run under a seccomp filter (Seccomp: {seccomp!r})")
    if not connect.get("attempted"):
        return res(False, "connect probe did not run")
    outcome = connect.get("outcome")
    if outcome == "connected":
        return res(False, "TCP connect to TEST-NET-1 succeeded")
    if outcome == "timeout":
        return res(False, "TCP connect to TEST-NET-1 hung (timeout) instead of failing at once")
    if connect.get("errno") != "ENETUNREACH":
        return res(False, f"TCP connect to TEST-NET-1 failed with {connect.get('errno')}, not ENETUNREACH")
    if float(connect.get("elapsed_ms") or 0.0) > CONNECT_FAST_MS:
        return res(False, f"TCP connect took {connect.get('elapsed_ms')} ms to fail (limit {CONNECT_FAST_MS} ms)")
    return res(
        True,
        "only lo, no route, TEST-NET-1 connect failed at once with ENETUNREACH; "
        "AF_VSOCK and AF_NETLINK sockets refused",
    )

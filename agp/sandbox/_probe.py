# The egress probe. It runs INSIDE the sandbox as `python3 -I -S -c <this file>`
# (stdlib only, no site) and prints one JSON object. It looks at interfaces and
# routes first, and attempts the TEST-NET-1 connect only when the only interface
# is lo and there is no route at all: where a route exists, nothing is sent.
# It also tries to CREATE (never connect) an AF_VSOCK and an AF_NETLINK socket:
# both must be refused (AF_VSOCK reaches the hypervisor's transport; agp's
# seccomp profile refuses every family but AF_UNIX, AF_INET and AF_INET6).
import errno
import json
import os
import socket
import time

TARGET = ("192.0.2.1", 9)  # TEST-NET-1 (RFC 5737), discard port
t0 = time.monotonic()
out: dict = {"interfaces": [], "routes": [], "connect": {"attempted": False}, "families": {}}
for _name, _family, _type in (("AF_VSOCK", 40, socket.SOCK_STREAM), ("AF_NETLINK", 16, socket.SOCK_RAW)):
    try:
        _s = socket.socket(_family, _type)
    except OSError as exc:
        out["families"][_name] = {"created": False, "errno": errno.errorcode.get(exc.errno or 0, str(exc.errno))}
    else:
        _s.close()
        out["families"][_name] = {"created": True}
try:
    with open("/proc/self/status") as f:
        out["seccomp"] = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("Seccomp:"))
except (OSError, IndexError) as exc:
    out["seccomp"] = f"unreadable: {exc}"
try:
    out["interfaces"] = sorted(os.listdir("/sys/class/net"))
except OSError as exc:
    out["error"] = f"cannot list /sys/class/net: {exc}"


def _routes(path, dev_col, skip_header):
    found = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as exc:
        return None, f"cannot read {path}: {exc}"
    for line in lines[1:] if skip_header else lines:
        cols = line.split()
        if not cols:
            continue
        dev = cols[dev_col] if len(cols) > dev_col else "?"
        found.append((dev, " ".join(cols)))
    return found, None


r4, e4 = _routes("/proc/net/route", 0, True)
r6, e6 = _routes("/proc/net/ipv6_route", -1, False)
if e4 or e6:
    out["error"] = e4 or e6
else:
    # every IPv4 main-table route counts; IPv6 entries on lo (::1, the kernel's
    # own unreachable defaults) are the loopback device's and do not leave the host
    out["routes"] = ["ipv4 " + r for _, r in r4] + ["ipv6 " + r for d, r in r6 if d != "lo"]

if "error" not in out and out["interfaces"] == ["lo"] and not out["routes"]:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1.0)
    c0 = time.monotonic()
    res: dict = {"attempted": True, "target": f"{TARGET[0]}:{TARGET[1]}"}
    try:
        s.connect(TARGET)
        res["outcome"] = "connected"
    except TimeoutError:
        res["outcome"] = "timeout"
    except OSError as exc:
        res["outcome"] = "error"
        res["errno"] = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        res["message"] = exc.strerror or str(exc)
    finally:
        s.close()
    res["elapsed_ms"] = round((time.monotonic() - c0) * 1000, 2)
    out["connect"] = res
out["elapsed_ms"] = round((time.monotonic() - t0) * 1000, 2)
print(json.dumps(out))

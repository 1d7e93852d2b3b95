"""Readiness audit: what `agp doctor` prints and what `agp run` checks before starting.

Each check returns a :class:`Check` (data, not an exception): name, status
(pass / warn / fail), what was seen, and the fix. A check that cannot run
(a missing component) fails; nothing passes by default.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ("CHECKS", "Check", "check_apparmor", "check_python", "check_seccomp", "run_checks")


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "pass" | "warn" | "fail"
    detail: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def to_json_dict(self) -> dict:
        return asdict(self)


def _docker_client():
    import docker

    return docker.from_env(timeout=10)


def check_docker() -> Check:
    try:
        client = _docker_client()
        client.ping()
        v = client.version()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the engine is the finding
        return Check(
            "docker engine",
            "fail",
            f"no Docker engine answers: {exc}",
            "run `bash scripts/setup.sh --no-demo` (starts dockerd), or start your engine",
        )
    return Check("docker engine", "pass", f"Docker {v.get('Version')} (API {v.get('ApiVersion')}) answers")


def check_docker_routes() -> Check:
    try:
        client = _docker_client()
        nets = [n.name for n in client.networks.list() if n.attrs.get("Driver") == "bridge"]
    except Exception as exc:  # noqa: BLE001
        return Check("engine routes", "fail", f"cannot list Docker networks: {exc}", "start the Docker engine")
    if nets:
        return Check(
            "engine routes",
            "warn",
            f"bridge networks exist ({', '.join(nets)}); agp sandboxes still use --network none and the "
            "preflight proves each one has no route",
            "for a routeless engine: dockerd --bridge=none --iptables=false --ip-forward=false",
        )
    return Check("engine routes", "pass", "no bridge networks: containers have no route unless a test creates one")


def check_keys(key_dir: Path) -> Check:
    from agp.errors import KeyFileError
    from agp.journal import load_signing_key

    try:
        key = load_signing_key(key_dir)
    except KeyFileError as exc:
        return Check("signing key", "fail", str(exc), f"agp keys init --dir {key_dir}")
    mode = stat.S_IMODE((key_dir / "agp.key").stat().st_mode) if key_dir.is_dir() else None
    return Check("signing key", "pass", f"key {key.kid} in {key_dir}" + (f" (mode {mode:04o})" if mode else ""))


def check_sockets() -> Check:
    try:
        d = Path(tempfile.mkdtemp(prefix="agp-doctor-"))
        os.chmod(d, 0o700)
        p = d / "gate.sock"
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind(str(p))
            s.listen(1)
        finally:
            s.close()
            p.unlink(missing_ok=True)
            d.rmdir()
    except OSError as exc:
        return Check(
            "unix sockets",
            "fail",
            f"cannot create a Unix socket in {tempfile.gettempdir()}: {exc}",
            "set TMPDIR to a writable local directory",
        )
    return Check("unix sockets", "pass", f"Unix sockets can be created under {tempfile.gettempdir()}")


def check_policy(policy: Path | None) -> Check:
    try:
        from agp.policy import load_policy
    except ImportError as exc:
        return Check("policy", "fail", f"the policy engine is not available: {exc}", "reinstall agp")
    from agp.errors import AgpError
    from agp.paths import default_policy

    path = policy or default_policy()
    try:
        p = load_policy(path)
    except AgpError as exc:
        return Check("policy", "fail", f"{path}: {exc}", f"agp policy check {path}")
    digest = getattr(p, "digest", None) or ""
    return Check("policy", "pass", f"{path} is valid" + (f" (digest {str(digest)[:12]}…)" if digest else ""))


def check_images(intendants: Iterable[str]) -> list[Check]:
    try:
        from agp.sandbox import images as images_mod
    except ImportError as exc:
        return [Check("images", "fail", f"the sandbox image module is not available: {exc}", "reinstall agp")]
    out = []
    for name in intendants:
        try:
            ref = images_mod.resolve_intendant_image(name)
        except Exception as exc:  # noqa: BLE001 - the finding is the message
            out.append(Check(f"image {name}", "fail", str(exc), "agp images build"))
            continue
        out.append(Check(f"image {name}", "pass", f"{ref}"))
    return out


def check_toolchain_images(intendants: Iterable[str]) -> list[Check]:
    """The optional toolchain images built on the intendants named (``agp run --image``): a warning,
    not a failure, when one is not built (a run without ``--image`` does not need it)."""
    from agp.sandbox import images as images_mod

    out = []
    for name, base in images_mod.TOOLCHAINS.items():
        if base not in intendants:
            continue
        try:
            ref = images_mod.resolve_toolchain_image(name, base)
        except Exception as exc:  # noqa: BLE001 - the finding is the message
            out.append(
                Check(
                    f"image {name}",
                    "warn",
                    f"optional, for `agp run --intendant {base} --image {name}`: {exc}",
                    f"agp images build {name}",
                )
            )
            continue
        out.append(Check(f"image {name}", "pass", f"{ref} (optional, built on the {base} image)"))
    return out


def check_harness_versions() -> Check:
    from agp.paths import intendant_pins

    pins = json.loads(intendant_pins().read_text())
    want = {k: v["version"] for k, v in pins.items() if not k.startswith("_")}
    try:
        from agp.sandbox import images as images_mod

        found = images_mod.harness_versions()
    except Exception as exc:  # noqa: BLE001
        return Check(
            "harness versions", "fail", f"cannot read the harness versions in the images: {exc}", "agp images build"
        )
    bad = {k: (want[k], found.get(k)) for k in want if found.get(k) != want[k]}
    if bad:
        return Check(
            "harness versions",
            "fail",
            "; ".join(f"{k}: validated {w}, image has {f}" for k, (w, f) in bad.items()),
            "agp images build",
        )
    return Check("harness versions", "pass", ", ".join(f"{k} {v}" for k, v in want.items()) + " (validated pins)")


def _engine_security_options() -> list[str]:
    """The engine's SecurityOptions (``docker info``), e.g. ["name=seccomp,profile=default", "name=apparmor"]."""
    return [str(o) for o in (_docker_client().info().get("SecurityOptions") or [])]


def _engine_has(options: Iterable[str], name: str) -> bool:
    return any(f"name={name}" in o.split(",") for o in options)


def check_seccomp(security_options: list[str] | None = None) -> Check:
    """agp's seccomp profile (its digest) and whether the engine can apply a seccomp profile at all."""
    try:
        from agp.sandbox.seccomp import ALLOWED_SOCKET_FAMILIES, PROFILE_DIGEST, REFUSED_SYSCALLS
    except (ImportError, OSError, ValueError) as exc:  # the shipped JSON is missing or unreadable
        return Check("seccomp profile", "fail", f"agp's seccomp profile cannot be loaded: {exc}", "reinstall agp")
    what = (
        f"agp's profile {PROFILE_DIGEST} (Docker's default; socket() only "
        f"{'/'.join(ALLOWED_SOCKET_FAMILIES.values())}; refused: {', '.join(REFUSED_SYSCALLS)})"
    )
    try:
        opts = _engine_security_options() if security_options is None else security_options
    except Exception as exc:  # noqa: BLE001 - the finding is the message
        return Check(
            "seccomp profile",
            "fail",
            f"{what}; cannot ask the engine whether it applies seccomp: {exc}",
            "start the Docker engine",
        )
    if not _engine_has(opts, "seccomp"):
        return Check(
            "seccomp profile",
            "fail",
            f"{what}; the engine does not support seccomp (SecurityOptions: {opts}), so no sandbox can be created",
            "use a Docker engine built with seccomp support (libseccomp)",
        )
    return Check(
        "seccomp profile",
        "pass",
        f"{what}; the engine applies it to every sandbox and agp checks its digest before start",
    )


APPARMOR_ENABLED = Path("/sys/module/apparmor/parameters/enabled")


def check_apparmor(enabled_path: Path = APPARMOR_ENABLED, security_options: list[str] | None = None) -> Check:
    """AppArmor on this host (the kernel's own switch) and in the engine: a second layer, not required."""
    try:
        host = enabled_path.read_text().strip()
    except FileNotFoundError:
        host = None
    except OSError as exc:
        host = f"unreadable ({exc})"
    try:
        opts = _engine_security_options() if security_options is None else security_options
        engine = _engine_has(opts, "apparmor")
    except Exception as exc:  # noqa: BLE001
        return Check(
            "apparmor",
            "warn",
            f"host: {host or 'not available'}; cannot ask the engine: {exc}",
            "start the Docker engine",
        )
    if host == "Y" and engine:
        return Check(
            "apparmor",
            "pass",
            f"enabled on this host ({enabled_path}: Y) and applied by the engine "
            "(docker-default profile on every sandbox)",
        )
    if host is None:
        detail = f"not available on this host (no {enabled_path})"
    elif host != "Y":
        detail = f"not enabled on this host ({enabled_path}: {host})"
    else:
        detail = "enabled on this host, but the engine does not apply it (SecurityOptions has no name=apparmor)"
    return Check(
        "apparmor",
        "warn",
        detail + "; sandboxes rely on seccomp, no capabilities, no-new-privileges, a read-only root and namespaces",
        "enable AppArmor in the kernel and the engine for a second layer",
    )


#: CPython releases that fix tarfile extraction-filter bypasses (CVE-2025-4517 write outside the
#: destination; CVE-2025-4330, -4138, -4435, CVE-2024-12718 in the same fix, cpython gh-135034) and
#: the negative-offset loop (CVE-2025-8194), per minor version, from the CVE records (PSF CNA)
TARFILE_FIXES: tuple[tuple[str, dict[tuple[int, int], tuple[int, int, int]]], ...] = (
    (
        "CVE-2025-4517 (and CVE-2025-4330, CVE-2025-4138, CVE-2025-4435, CVE-2024-12718)",
        {(3, 9): (3, 9, 23), (3, 10): (3, 10, 18), (3, 11): (3, 11, 13), (3, 12): (3, 12, 11), (3, 13): (3, 13, 4)},
    ),
    (
        "CVE-2025-8194",
        {(3, 9): (3, 9, 24), (3, 10): (3, 10, 19), (3, 11): (3, 11, 14), (3, 12): (3, 12, 12), (3, 13): (3, 13, 6)},
    ),
)


def check_python(version: tuple[int, int, int] | None = None, executable: str | None = None) -> Check:
    """The interpreter agp runs on: warn when its tarfile has known extraction-filter CVEs."""
    import sys

    v = tuple(version or sys.version_info[:3])
    where = executable or sys.executable
    name = f"Python {'.'.join(map(str, v))} ({where})"
    open_cves = []
    for cves, fixed in TARFILE_FIXES:
        fix = fixed.get((v[0], v[1]))
        if (fix is not None and v < fix) or (fix is None and v[:2] < min(fixed)):
            open_cves.append(
                f"{cves}: fixed in {'.'.join(map(str, fix))}" if fix else f"{cves}: no fixed {v[0]}.{v[1]}"
            )
    if open_cves:
        return Check(
            "python",
            "warn",
            f"{name} has known tarfile CVEs: {'; '.join(open_cves)}. Its tarfile "
            "extraction filters can be bypassed: nothing should extract an archive a sandbox produced with it",
            "upgrade the interpreter (or the distribution's python3 package, which may carry the fix "
            "under an older version number) and recreate the venv",
        )
    return Check("python", "pass", f"{name}: no known tarfile CVEs in this release")


def run_checks(
    *, key_dir: Path, policy: Path | None = None, intendants: Iterable[str] = ("reference",), harness: bool = True
) -> list[Check]:
    checks: list[Callable[[], Check | list[Check]]] = [
        check_docker,
        check_docker_routes,
        check_seccomp,
        check_apparmor,
        check_python,
        lambda: check_keys(key_dir),
        check_sockets,
        lambda: check_policy(policy),
        lambda: check_images(intendants),
    ]
    if harness:
        checks.append(check_harness_versions)
    results: list[Check] = []
    for c in checks:
        r = c()
        results.extend(r if isinstance(r, list) else [r])
    return results


CHECKS = (
    "docker engine",
    "engine routes",
    "seccomp profile",
    "apparmor",
    "python",
    "signing key",
    "unix sockets",
    "policy",
    "images",
    "harness versions",
)

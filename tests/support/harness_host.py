"""Run a real harness binary on the host with agp's host-managed files in place.

The harness reads its managed configuration from fixed system paths
(/etc/claude-code/managed-settings.json, /etc/codex/requirements.toml). The
conformance suite must not touch the machine's real /etc, so each run happens
in a private mount namespace (``unshare -m``, root) where /etc is an overlay
whose upper layer holds only agp's files, and where those files and the bridge
directories are then bind-mounted read-only. Nothing outside the namespace
changes; the namespace ends with the process.

Inside the agp sandbox the same files are bind-mounted read-only by the
sandbox driver and the harness runs as a non-root user without capabilities;
on the host the harness runs as root, so "read-only" here means EROFS for an
ordinary write or unlink, not protection against a deliberate remount.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["HostRun", "harness_binary", "namespace_prefix", "run_with_managed_files"]

ROOT = Path(__file__).resolve().parents[2]


def harness_binary(name: str) -> Path:
    """The pinned binary installed by scripts/setup.d/50-harnesses.sh; raises FileNotFoundError."""
    import json

    pins = json.loads((ROOT / "intendants" / "pins.json").read_text())
    ver = pins[name]["version"]
    base = Path(os.environ.get("AGP_HARNESS_DIR") or ROOT / ".cache" / "harnesses")
    exe = {"claude-code": "claude", "codex": "codex"}[name]
    p = base / f"{name}-{ver}" / "node_modules" / ".bin" / exe
    if not p.exists():
        raise FileNotFoundError(f"{p} missing: run scripts/setup.d/50-harnesses.sh")
    return p


class HostRun:
    """The finished process (its scratch overlay is already removed)."""

    def __init__(self, proc: subprocess.CompletedProcess[bytes], scratch: Path):
        self.returncode = proc.returncode
        self.stdout = proc.stdout.decode("utf-8", "replace")
        self.stderr = proc.stderr.decode("utf-8", "replace")
        self.scratch = scratch


def namespace_prefix(etc_files: dict[str, bytes], ro_paths: list[Path]) -> tuple[list[str], Path]:
    """argv prefix that runs a command with `etc_files` ({"/etc/...": bytes}) visible and read-only and
    `ro_paths` read-only, in a private mount namespace; and the scratch dir holding the overlay."""
    scratch = Path(tempfile.mkdtemp(prefix="agp-etc-"))
    upper, work = scratch / "upper", scratch / "work"
    upper.mkdir()
    work.mkdir()
    ro_dirs: list[str] = []
    for path, data in etc_files.items():
        if not path.startswith("/etc/"):
            raise ValueError(f"{path} is not under /etc")
        dest = upper / path[len("/etc/") :]
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        ro_dirs.append(os.path.dirname(path))
    script = [
        "set -e",
        f"mount -t overlay agp-etc -o lowerdir=/etc,upperdir={shlex.quote(str(upper))},workdir={shlex.quote(str(work))} /etc",
    ]
    for d in sorted(set(ro_dirs)) + [str(p) for p in ro_paths]:
        q = shlex.quote(d)
        script.append(f"mount --bind {q} {q}")
        script.append(f"mount -o remount,bind,ro {q}")
    script.append('exec "$@"')
    return ["unshare", "-m", "--propagation", "private", "--", "/bin/sh", "-c", "\n".join(script), "agp-ns"], scratch


def run_with_managed_files(
    argv: list[str],
    *,
    etc_files: dict[str, bytes],
    ro_paths: list[Path],
    env: dict[str, str],
    cwd: Path,
    timeout: float,
    stdin: bytes = b"",
) -> HostRun:
    """Run argv with `etc_files` ({"/etc/...": bytes}) visible and read-only, and `ro_paths` read-only."""
    prefix, scratch = namespace_prefix(etc_files, ro_paths)
    try:
        proc = subprocess.run([*prefix, *argv], input=stdin, capture_output=True, env=env, cwd=cwd, timeout=timeout)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return HostRun(proc, scratch)

"""Evidence bundler benchmark: peak memory and time to bundle a run with a large log and transcript.

    .venv/bin/python bench/bundle.py --mb 500 --out /tmp/bbench
    .venv/bin/python bench/bundle.py --mb 500 --out /tmp/bbench --agp /work/main   # another checkout's bundler

Builds one run directory (a real journal, policy, run.json, Claude Code transcript) and grows its
harness log and its transcript to ``--mb`` MiB each, then bundles it in a child process, once
without secrets and once with a registered secret (so every copied file is redacted), and prints
the child's peak RSS (ru_maxrss) and wall time for each. The child imports agp from ``--agp``
(default: this checkout), so two checkouts are compared on the same run, in the same run of this
script.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import sys, time
from pathlib import Path
from agp.errors import EvidenceError
from agp.evidence import build_bundle
from agp.journal import SecretRedactor, load_signing_key
run, out, keydir, secret = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
red = SecretRedactor()
if secret != "-":
    red.register("BENCH_TOKEN", secret)
t = time.perf_counter()
try:
    build_bundle(run, out, load_signing_key(keydir), redactor=red)
    status = "good"
except EvidenceError as exc:
    status = "failed: " + str(exc)[:200]
import agp; print(f"{time.perf_counter() - t:.2f} {status} (agp from {Path(agp.__file__).parent.parent})")
"""


def grow(path: Path, mib: int, line: bytes) -> None:
    block = line * max(1, (1 << 20) // len(line))
    with open(path, "ab") as f:
        for _ in range(mib):
            f.write(block)


def make(out: Path, mib: int) -> tuple[Path, Path]:
    sys.path.insert(0, str(ROOT))
    from tests.unit.evidence._runs import make_run, transcript_path

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    run, _key = make_run(out)
    grow(run / "logs" / "harness.stdout", mib, b"2026-11-23T09:00:00Z harness: tokens=1234 streaming chunk ok "
         b"BENCH-SECRET-VALUE-0123456789 " + b"x" * 900 + b"\n")
    filler = json.dumps({"type": "system", "subtype": "informational", "content": "y" * 9000,
                         "sessionId": "1679bc73-8e94-434c-960f-fd47bc585a4c"}).encode() + b"\n"
    grow(transcript_path(run, "claude-code"), mib, filler)
    return run, out / "run-keydir"


def child(agp_root: Path, run: Path, dest: Path, keydir: Path, secret: str) -> tuple[float, float, str]:
    if dest.exists():
        shutil.rmtree(dest)
    env = dict(os.environ, PYTHONPATH=str(agp_root))
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", _CHILD, str(run), str(dest), str(keydir), secret],
                       env=env, cwd=agp_root, capture_output=True, text=True)  # cwd: `-c` puts it first on sys.path
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB: the largest child so far
    if r.returncode:
        raise SystemExit(f"bundler failed: {r.stderr[-2000:]}")
    return wall, peak / 1024, r.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=500, help="MiB of harness log and of transcript (each)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/agp-bundle-bench"))
    ap.add_argument("--agp", type=Path, default=ROOT, help="checkout whose bundler to measure")
    ap.add_argument("--secret", action="store_true", help="register a secret, so every file is redacted while copied")
    args = ap.parse_args()
    run, keydir = make(args.out, args.mb)
    log = (run / "logs" / "harness.stdout").stat().st_size >> 20
    print(f"run: harness log {log} MiB, transcript {args.mb} MiB; bundler from {args.agp}")
    secret = "BENCH-SECRET-VALUE-0123456789" if args.secret else "-"
    wall, peak, status = child(args.agp, run, args.out / "bundle", keydir, secret)
    print(f"bundle ({'with' if args.secret else 'without'} a secret to redact): peak RSS {peak:.0f} MiB, "
          f"wall {wall:.1f} s, build {status}")
    shutil.rmtree(args.out, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Hook bridge benchmark: the latency a harness pays per tool call for agp's gate.

    .venv/bin/python bench/bridge.py --out /tmp/bbench [--calls 1000] [--baseline-core OLD_agp_bridge.py]

One run measures, interleaved call by call so that both see the same machine noise:

  floor   spawn `python3 -I -S -c pass` with the hook JSON on stdin, wait for exit
          (the bare cost of starting the interpreter a Python hook needs anyway);
  bridge  spawn `python3 -I -S bridge.py --socket … --session …` (laid out as the launch
          spec ships it: stub, core and compiled core in a read-only directory) with the hook JSON on
          stdin: start, read stdin, one `check` frame to the real gate (`agp gate`,
          its own process, policies/default.toml, journal appended and fdatasync'd
          before the answer), answer (exit 0 / deny dialect), exit;
  gate    no spawn: this process sends the same `check` frame over a new connection and
          waits for the verdict (the gate's share of the bridge's cost);
  hook    the same through agp's real hook command line (`/bin/sh -c '<python> -I -S
          bridge.py … || …'`), exactly the string the harness runs.

With ``--baseline-core`` a fifth variant, ``before``, runs the bridge with that core file
instead (e.g. ``git show main:intendants/_agp_bridge.py > /tmp/old.py``), interleaved with the
others, so a change to the bridge is measured against its predecessor in the same run.

It prints p50/p90/p99 for each, the difference to the floor, and the goal check
(p50 ≤ 15 ms, p99 ≤ 30 ms, p50 ≤ floor + 10 ms). Calls alternate between an allowed
`ls` and a denied `rm -rf /` (both journaled), each with a distinct argument, so no
cache helps. The journal is verified with `agp verify` at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._gate import spawn_gate  # noqa: E402
from bench._stats import pct  # noqa: E402

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
SESSION = "bench-bridge"


def start_gate(out: Path) -> tuple[subprocess.Popen, str]:
    from agp.journal import init_keys

    init_keys(out / "keys")
    sock_dir = out / "sock"
    cmd = [sys.executable, "-m", "agp.cli", "gate", "--socket-dir", str(sock_dir),
           "--policy", str(ROOT / "policies" / "default.toml"), "--journal", str(out / "journal.jsonl"),
           "--key-dir", str(out / "keys"), "--approver", "none", "--quiet", "--workspace", "/workspace",
           "--session", SESSION, "--rate", "100000000", "--window", "1"]
    return spawn_gate(cmd, sock_dir, out / "gate.log", attempts=600)


def hook_json(i: int) -> bytes:
    cmd = f"ls -la src/module_{i}" if i % 2 == 0 else f"rm -rf /tmp/x{i}"
    return json.dumps({
        "session_id": "harness-session", "cwd": "/workspace", "hook_event_name": "PreToolUse",
        "tool_name": "Bash", "tool_input": {"command": cmd, "description": "bench"}, "tool_use_id": f"toolu_{i:06d}",
    }).encode()


def timed(argv: list[str], data: bytes) -> tuple[float, int]:
    t0 = time.perf_counter()
    p = subprocess.run(argv, input=data, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, p.returncode


def gate_rtt(sock: str, data: bytes, i: int) -> tuple[float, int]:
    h = json.loads(data)
    req = json.dumps({"v": 1, "type": "check", "id": f"g{i}", "session": SESSION, "harness": "claude-code",
                      "tool": "Bash", "input": h["tool_input"], "cwd": "/workspace",
                      "tool_use_id": h["tool_use_id"] + "g"}).encode()
    t0 = time.perf_counter()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    s.sendall(len(req).to_bytes(4, "big") + req)
    n = int.from_bytes(s.recv(4, socket.MSG_WAITALL), "big")
    reply = json.loads(s.recv(n, socket.MSG_WAITALL))
    s.close()
    return time.perf_counter() - t0, 0 if reply["decision"] == "allow" else 2


def row(name: str, xs: list[float], floor50: float | None = None) -> dict:
    d = {"p50_ms": pct(xs, 50) * 1e3, "p90_ms": pct(xs, 90) * 1e3, "p99_ms": pct(xs, 99) * 1e3,
         "max_ms": max(xs) * 1e3, "n": len(xs)}
    extra = f"   p50 over floor {d['p50_ms'] - floor50:+.2f} ms" if floor50 is not None else ""
    print(f"  {name:<8} p50 {d['p50_ms']:7.2f} ms  p90 {d['p90_ms']:7.2f} ms  p99 {d['p99_ms']:7.2f} ms"
          f"  max {d['max_ms']:7.2f} ms{extra}")
    return d


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="directory for keys and the journal (emptied first)")
    ap.add_argument("--calls", type=int, default=1000, help="calls per variant (default 1000)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    ap.add_argument("--baseline-core", type=Path, help="an older _agp_bridge.py to measure as 'before'")
    args = ap.parse_args()
    out = args.out
    if out.exists():
        for d, _dirs, _files in os.walk(out):
            os.chmod(d, 0o755)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    from intendants._launch import bridge_files, hook_command

    bridge = out / "opt" / "claude-code" / "bridge.py"
    for path, content in bridge_files("claude-code", str(bridge)).items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(content)
    before = None
    if args.baseline_core:
        before = out / "opt" / "before" / "bridge.py"
        before.parent.mkdir(parents=True)
        before.write_bytes(bridge_files("claude-code", str(before))[str(before)])
        (before.parent / "_agp_bridge.py").write_bytes(args.baseline_core.read_bytes())
        subprocess.run([PY, "-c", "import py_compile, sys; py_compile.compile(sys.argv[1], doraise=True)",
                        str(before.parent / "_agp_bridge.py")], check=True)
    for d in (bridge.parent / "__pycache__", bridge.parent) + (
            (before.parent / "__pycache__", before.parent) if before else ()):
        os.chmod(d, 0o555)  # read-only, as the sandbox mounts it
    gate, sock = start_gate(out)
    try:
        floor_argv = [PY, "-I", "-S", "-c", "pass"]
        bridge_argv = [PY, "-I", "-S", str(bridge), "--socket", sock, "--session", SESSION, "--deadline", "25"]
        hook_argv = ["/bin/sh", "-c", hook_command(python=PY, bridge=str(bridge), socket=sock, deadline=25, session=SESSION)]
        before_argv = [PY, "-I", "-S", str(before), "--socket", sock, "--session", SESSION,
                       "--deadline", "25"] if before else None
        for i in range(20):  # warm the page cache and the gate
            timed(bridge_argv, hook_json(i))
            timed(floor_argv, hook_json(i))
            if before_argv:
                timed(before_argv, hook_json(i))
        floor_t, bridge_t, hook_t, gate_t, before_t = [], [], [], [], []
        codes = {"bridge": {}, "hook": {}, "gate": {}, "before": {}}
        for i in range(args.calls):
            data = hook_json(1000 + i)
            order = [("floor", floor_argv, floor_t), ("bridge", bridge_argv, bridge_t), ("hook", hook_argv, hook_t)]
            if before_argv:
                order.append(("before", before_argv, before_t))
            if i % 2:
                order.reverse()
            for name, argv, acc in order + [("gate", None, gate_t)]:
                dt, rc = timed(argv, data) if argv is not None else gate_rtt(sock, data, i)
                acc.append(dt)
                if name != "floor":
                    codes[name][rc] = codes[name].get(rc, 0) + 1
        print(f"bridge benchmark: {args.calls} calls per variant, interleaved; python {PY}; "
              f"gate = `agp gate` (policies/default.toml, durable journal)")
        f = row("floor", floor_t)
        b = row("bridge", bridge_t, f["p50_ms"])
        h = row("hook", hook_t, f["p50_ms"])
        g = row("gate", gate_t)
        if before_argv:
            bf = row("before", before_t, f["p50_ms"])
            print(f"  bridge vs before: p50 {b['p50_ms'] - bf['p50_ms']:+.2f} ms, p99 {b['p99_ms'] - bf['p99_ms']:+.2f} ms"
                  f" (core {args.baseline_core})")
        print(f"  exit codes: bridge {codes['bridge']}  hook {codes['hook']}  gate {codes['gate']}  (0 = allow, 2 = deny)")
        print(f"  load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        ok = b["p50_ms"] <= 15 and b["p99_ms"] <= 30 and b["p50_ms"] - f["p50_ms"] <= 10
        print(f"  goal (bridge p50 <= 15 ms, p99 <= 30 ms, p50 <= floor + 10 ms): {'met' if ok else 'NOT met'}")
    finally:
        gate.terminate()
        gate.wait(timeout=60)
    verify = subprocess.run([sys.executable, "-m", "agp.cli", "verify", str(out / "journal.jsonl"), "--key",
                             str(out / "keys" / "agp.pub")], capture_output=True, text=True)
    n = sum(1 for line in (out / "journal.jsonl").read_bytes().splitlines() if b'"gate.decision"' in line)
    print(f"  journal: {n} gate.decision entries; agp verify exit {verify.returncode}")
    expected = (4 if args.baseline_core else 3) * args.calls + (40 if args.baseline_core else 20)
    if n != expected or verify.returncode != 0:
        print(f"  ERROR: expected {expected} verified decisions", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"floor": f, "bridge": b, "hook": h, "gate": g, "goal_met": ok,
                          "loadavg": os.getloadavg()[0]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

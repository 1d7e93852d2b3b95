"""The hook bridge makes itself non-dumpable before it reads its input, and denies when it cannot.

A non-dumpable process's /proc/<pid> entries belong to root and ptrace_may_access() refuses
anyone without CAP_SYS_PTRACE: another process of the bridge's uid cannot open its
/proc/<pid>/fd (the hook input, the answer to the harness) or its memory. The same check runs
inside a real sandbox in tests/integration/sandbox/test_kernel_surface.py.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.unit.intendants.test_bridge import BRIDGES, CORE, HOOK, PY, assert_deny, peer, verdict  # noqa: F401 - peer is a fixture

AGENT = 10001


def _same_uid_probe(pid: int) -> dict:
    """As uid 10001 (no capabilities), try what an attacker in the box would try on ``pid``."""
    src = r"""
import json, os, sys
pid = sys.argv[1]
out = {}
for what, fn in (("fd", lambda: os.listdir("/proc/%s/fd" % pid)),
                 ("fd0", lambda: os.close(os.open("/proc/%s/fd/0" % pid, os.O_RDONLY))),
                 ("mem", lambda: os.close(os.open("/proc/%s/mem" % pid, os.O_RDONLY))),
                 ("environ", lambda: open("/proc/%s/environ" % pid, "rb").read())):
    try:
        fn()
        out[what] = "opened"
    except OSError as e:
        out[what] = e.__class__.__name__
print(json.dumps(out))
"""
    r = subprocess.run([PY, "-I", "-S", "-c", src, str(pid)], capture_output=True, user=AGENT, group=AGENT,
                       timeout=10, check=True)
    return json.loads(r.stdout)


def _bridge_readable_by_the_agent() -> tuple[Path, Path]:
    """A copy of the claude-code bridge (stub and core, laid out as in the box) that uid 10001 can read.

    The checkout may sit under a directory only root can enter (``mktemp -d`` is 0700), and
    pytest's temp directories are 0700 too: a bridge the agent uid cannot read exits at once,
    and an exited process's /proc/<pid>/fd belongs to root like a non-dumpable one's.
    """
    top = Path(tempfile.mkdtemp(prefix="agp-bridge-"))
    top.chmod(0o755)
    (top / "claude_code").mkdir(mode=0o755)
    shutil.copyfile(BRIDGES["claude-code"], top / "claude_code" / "bridge.py")
    shutil.copyfile(CORE, top / CORE.name)
    for f in (top / "claude_code" / "bridge.py", top / CORE.name):
        f.chmod(0o644)
    return top, top / "claude_code" / "bridge.py"


def _running_as_agent(pid: int, script: Path) -> bool:
    """``pid`` has exec'd ``script`` as uid 10001 and has not exited (not a zombie)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return (fields["State"].split()[0] not in ("Z", "X") and fields["Uid"].split()[0] == str(AGENT)
            and str(script).encode() in cmdline)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the bridge and its attacker as uid 10001")
def test_a_running_bridge_cannot_be_opened_by_a_process_of_its_uid(tmp_path):
    top, bridge = _bridge_readable_by_the_agent()
    # stdin pipes owned by the agent uid, as the harness's own pipes are in the box
    (vr, vw), (cr, cw) = os.pipe(), os.pipe()
    for fd in (vr, vw, cr, cw):
        os.fchown(fd, AGENT, AGENT)
    victim = subprocess.Popen([PY, "-I", "-S", str(bridge), "--socket", str(tmp_path / "none")],
                              stdin=vr, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              user=AGENT, group=AGENT, env={"PATH": "/usr/bin:/bin"})
    control = subprocess.Popen([PY, "-I", "-S", "-c", "import sys; sys.stdin.read()"], stdin=cr,
                               user=AGENT, group=AGENT)
    os.close(vr)
    os.close(cr)
    try:
        # the bridge blocks reading its stdin (held open); it is past prctl once /proc/<pid>/fd belongs
        # to root while it runs the bridge as the agent uid (before exec, and once exited, it is root's too)
        deadline = time.monotonic() + 20
        while not (_running_as_agent(victim.pid, bridge) and os.stat(f"/proc/{victim.pid}/fd").st_uid == 0):
            assert time.monotonic() < deadline, "the bridge never became non-dumpable"
            assert victim.poll() is None, victim.communicate()
            time.sleep(0.01)
        assert _same_uid_probe(victim.pid) == {"fd": "PermissionError", "fd0": "PermissionError",
                                               "mem": "PermissionError", "environ": "PermissionError"}
        assert _running_as_agent(victim.pid, bridge), "the bridge exited during the probe: the probe proves nothing"
        # the control (same uid, dumpable) is open to it: the probe would see a bridge that forgot prctl
        assert _same_uid_probe(control.pid) == {"fd": "opened", "fd0": "opened", "mem": "opened",
                                                "environ": "opened"}
        os.write(vw, json.dumps(HOOK).encode())
        os.close(vw)
        vw = -1
        out, err = victim.communicate(timeout=20)
        assert victim.returncode == 2 and b"the gate is not reachable" in err, (out, err)
    finally:
        for fd in (vw, cw):
            if fd >= 0:
                os.close(fd)
        for p in (victim, control):
            if p.poll() is None:
                p.kill()
            p.communicate()
        shutil.rmtree(top)


BROKEN = {
    "fails": "lambda: (lambda *a: -1)",
    "stays dumpable": "lambda: (lambda op, *a: 1 if op == b.PR_GET_DUMPABLE else 0)",
    "no _ctypes": "lambda: __import__('_ctypes_missing')",
}


@pytest.mark.parametrize("how", sorted(BROKEN))
def test_a_bridge_that_cannot_become_non_dumpable_denies_without_asking_the_gate(peer, how):
    gate = peer(lambda req: verdict(req, "allow"))
    src = (f"import sys; sys.path[:0] = [{str(CORE.parent)!r}]\n"
           f"import _agp_bridge as b\n"
           f"b._prctl_fn = {BROKEN[how]}\n"
           f"b.main('claude-code', ['--socket', {gate.path!r}])\n")
    p = subprocess.run([PY, "-I", "-S", "-c", src], input=json.dumps(HOOK).encode(), capture_output=True, timeout=20)
    assert_deny(p, "could not make itself non-dumpable")
    assert gate.connections == 0 and gate.requests == [], "the gate was asked although the bridge is exposed"


def test_the_real_prctl_path_allows_when_the_gate_allows(peer):
    gate = peer(lambda req: verdict(req, "allow"))
    p = subprocess.run([PY, "-I", "-S", str(BRIDGES["codex"]), "--socket", gate.path], input=json.dumps(HOOK).encode(),
                       capture_output=True, timeout=20)
    assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
    assert len(gate.requests) == 1


def test_non_dumpable_comes_before_anything_is_read():
    tree = ast.parse(CORE.read_text())
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    first = main.body[0].body[0]  # the first statement inside main's try
    assert isinstance(first, ast.Expr) and isinstance(first.value, ast.Call)
    assert first.value.func.id == "make_undumpable"

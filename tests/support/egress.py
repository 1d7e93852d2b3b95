"""Local upstreams and a running egress door for tests (addresses in 127.0.0.0/8 only).

- :func:`make_ca` makes a CA and a server certificate for some names (``cryptography``);
- :func:`http_server` / :func:`tls_server` serve a directory (GET) and echo (POST: the byte count)
  on 127.0.0.1, in a thread;
- :func:`running_door` runs the real gate (real journal, keys and policy) and the real
  :class:`agp.sandbox.egress.EgressDoor` in one portal, plus the in-box forwarder script
  (images/common/agp-forward.py) on the host as a TCP entry: its port is ``door.port``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import anyio
import anyio.from_thread

REPO = Path(__file__).resolve().parents[2]
FORWARDER = REPO / "images" / "common" / "agp-forward.py"


@dataclass
class TestCA:
    __test__ = False
    ca_pem: Path
    cert_pem: Path
    key_pem: Path


def make_ca(tmp: Path, names: list[str]) -> TestCA:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "agp egress test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    tmp.mkdir(parents=True, exist_ok=True)
    out = TestCA(tmp / "ca.pem", tmp / "server.pem", tmp / "server.key")
    out.ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out.cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out.key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    return out


#: (path, Authorization header) of every GET the local upstreams received
SEEN: list[tuple[str, str | None]] = []


def _handler(root: Path):
    class H(http.server.SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def __init__(self, *a: Any, **k: Any) -> None:
            super().__init__(*a, directory=str(root), **k)

        def do_GET(self) -> None:  # noqa: N802
            SEEN.append((self.path, self.headers.get("Authorization")))
            if self.path.startswith("/smart/"):
                return self._git()
            return super().do_GET()

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = b""
                while True:
                    n = int(self.rfile.readline().split(b";")[0], 16)
                    if n == 0:
                        self.rfile.readline()
                        return body
                    body += self.rfile.read(n)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _git(self) -> None:
            """Git's smart HTTP: `git http-backend` as a CGI over the repositories under ``root``."""
            path, _, query = self.path[len("/smart"):].partition("?")
            body = self._body()
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_PROJECT_ROOT": str(root),
                   "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path, "QUERY_STRING": query,
                   "REQUEST_METHOD": self.command, "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                   "CONTENT_LENGTH": str(len(body)), "REMOTE_USER": "box", "REMOTE_ADDR": "127.0.0.1",
                   "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.receivepack", "GIT_CONFIG_VALUE_0": "true"}
            if self.headers.get("Content-Encoding"):
                env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
            if self.headers.get("Git-Protocol"):
                env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
            out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
            head, _, payload = out.partition(b"\r\n\r\n")
            status = 200
            headers = []
            for line in head.split(b"\r\n"):
                k, _, v = line.decode("latin-1").partition(":")
                if k.lower() == "status":
                    status = int(v.strip().split()[0])
                elif k:
                    headers.append((k, v.strip()))
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:  # noqa: N802
            if self.path.startswith("/smart/"):
                return self._git()
            got = len(self._body())
            body = json.dumps({"received": got}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a: Any) -> None:
            pass

    return H


@contextlib.contextmanager
def http_server(root: Path, *, tls: TestCA | None = None, host: str = "127.0.0.1") -> Iterator[int]:
    srv = http.server.ThreadingHTTPServer((host, 0), _handler(root))
    srv.daemon_threads = True
    if tls is not None:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(tls.cert_pem, tls.key_pem)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()


@dataclass
class RunningDoor:
    door: Any
    gate: Any
    journal_path: Path
    port: int
    key: Any

    def entries(self, kind: str | None = None) -> list[dict[str, Any]]:
        rows = [json.loads(x) for x in self.journal_path.read_bytes().splitlines() if x.strip()]
        return [r["body"] for r in rows if kind is None or r["kind"] == kind]

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def running_door(tmp: Path, policy_text: str, *, resolve: dict | None = None, limits: Any = None,
                 session: str = "run-egress", harness: str = "claude-code", approvers: tuple = (),
                 approval_timeout: float = 2.0, ca: Any = None, upstream_ssl: Any = None,
                 secrets_env: dict | None = None) -> Iterator[RunningDoor]:
    from agp.gate import GateServer
    from agp.journal import Journal, init_keys
    from agp.policy import load_policy
    from agp.sandbox.egress import EgressDoor, EgressLimits
    from agp.sandbox.secrets import SecretResolver

    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "policy.toml").write_text(policy_text)
    key = init_keys(tmp / "keys")
    jpath = tmp / "journal.jsonl"
    journal = Journal.open(jpath, key)
    gate = GateServer(socket_dir=tmp / "sock", policy=load_policy(tmp / "policy.toml"), journal=journal,
                      approvers=list(approvers), approval_timeout=approval_timeout, own_journal=True)
    door = EgressDoor(tmp / "sock" / "egress.sock", gate, session=session, harness=harness, resolve=resolve or {},
                      limits=limits or EgressLimits(), ca=ca, upstream_ssl=upstream_ssl,
                      secrets=SecretResolver(redactor=journal.redactor, environ=secrets_env or {},
                                             secrets_file=tmp / "no-secrets-file"))
    with anyio.from_thread.start_blocking_portal() as portal:
        gfut, _ = portal.start_task(gate.serve)
        gate.register_session(session, harness=harness)
        dfut, _ = portal.start_task(door.serve)
        fwd = subprocess.Popen([sys.executable, "-I", "-S", str(FORWARDER), "--port", "0",
                                "--socket", str(door.socket_path)], stdout=subprocess.PIPE, text=True)
        try:
            line = fwd.stdout.readline()
            port = int(line.rsplit(":", 1)[1])
            yield RunningDoor(door, gate, jpath, port, key)
        finally:
            fwd.kill()
            fwd.wait()
            deadline = time.monotonic() + 10
            while door.active and time.monotonic() < deadline:  # let connections record their close
                time.sleep(0.02)
            dfut.cancel()
            gate.shutdown()
            with contextlib.suppress(Exception):
                gfut.result(timeout=30)


def urlopen_via(proxy: str, url: str, *, ca: Path | None = None, data: bytes | None = None,
                timeout: float = 20) -> tuple[int, bytes]:
    """GET (or POST ``data``) ``url`` through the proxy with urllib, as code in the box would."""
    import urllib.error
    import urllib.request

    handlers: list[Any] = [urllib.request.ProxyHandler({"http": proxy, "https": proxy})]
    if ca is not None:
        handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=str(ca))))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(url, data=data, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()




def npm_package(root: Path, name: str, version: str, base_url: str, files: dict[str, str]) -> dict[str, str]:
    """A minimal npm registry entry under ``root`` (served by :func:`http_server`): the packument at
    ``/<name>`` (what ``npm install`` asks first) and the tarball at ``/tarballs/<name>-<version>.tgz``
    (``package/`` inside, as ``npm pack`` makes it), named by ``base_url`` with its sha512 integrity."""
    import base64
    import gzip
    import hashlib
    import io
    import tarfile

    manifest = {"name": name, "version": version, "main": "index.js"}
    members = {"package/package.json": json.dumps(manifest, indent=2),
               **{f"package/{k}": v for k, v in files.items()}}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for path, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 499162500
            tf.addfile(info, io.BytesIO(data))
    tgz = gzip.compress(raw.getvalue(), mtime=0)
    (root / "tarballs").mkdir(parents=True, exist_ok=True)
    (root / "tarballs" / f"{name}-{version}.tgz").write_bytes(tgz)
    dist = {"tarball": f"{base_url}/tarballs/{name}-{version}.tgz",
            "shasum": hashlib.sha1(tgz).hexdigest(),  # npm's own legacy field
            "integrity": "sha512-" + base64.b64encode(hashlib.sha512(tgz).digest()).decode()}
    packument = {"name": name, "dist-tags": {"latest": version},
                 "versions": {version: {**manifest, "dist": dist}}}
    (root / name).write_text(json.dumps(packument))
    return dist


AGENT_UID = 10001  # the box's agent user: files the box writes to must be its own


def own_for_the_box(ws: Path) -> None:
    """Give the workspace and everything in it to the box's agent user."""
    for p in [ws, *ws.rglob("*")]:
        os.lchown(p, AGENT_UID, AGENT_UID)


@dataclass
class DoorRun:
    """An ``agp run`` of the reference intendant whose box reached local upstreams through the door."""

    proc: subprocess.CompletedProcess[str]
    doc: dict[str, Any]  # what `agp run --json` printed
    run_dir: Path
    entries: list[dict[str, Any]]

    def bodies(self, kind: str) -> list[dict[str, Any]]:
        return [e["body"] for e in self.entries if e["kind"] == kind]


def run_through_door(tmp: Path, ws: Path, policy: Path, script: list[dict[str, Any]], *, ca: TestCA,
                     port: int, hosts: list[str], extra: list[str] | None = None) -> DoorRun:
    """Run the scripted reference intendant on ``ws`` under ``policy``, each of ``hosts`` pinned to
    127.0.0.1:``port`` (``--resolve``), the door on the host trusting ``ca`` for those upstreams.

    Fails the test with agp's stderr when the run printed no JSON document."""
    import pytest

    (tmp / "script.json").write_text(json.dumps(script))
    resolve = [a for h in hosts for a in ("--resolve", f"{h}:{port}:127.0.0.1")]
    proc = subprocess.run([sys.executable, "-m", "agp.cli", "run", "--intendant", "reference", *(extra or []),
                           "--script", tmp / "script.json", "--workspace", ws, "--policy", policy,
                           "--approver", "none", *resolve, "--out", tmp / "runs", "--json"],
                          capture_output=True, text=True, cwd=REPO, timeout=600,
                          # the door (on the host) verifies the local upstream with the test CA
                          env={**os.environ, "PYTHONPATH": str(REPO), "SSL_CERT_FILE": str(ca.ca_pem)})
    if not proc.stdout:
        pytest.fail(f"agp run printed nothing (exit {proc.returncode}):\n{proc.stderr[-3000:]}", pytrace=False)
    doc = json.loads(proc.stdout)
    run_dir = Path(doc["run_dir"])
    entries = [json.loads(x) for x in (run_dir / "journal.jsonl").read_text().splitlines() if x.strip()]
    return DoorRun(proc, doc, run_dir, entries)

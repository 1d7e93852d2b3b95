"""`agp run` with a real harness: a missing or refused model key, or a model API that does not answer,
is refused before anything starts (exit 2, one line, nothing created); a model API that fails during
the run is shown live, as it happens, from the relay's journaled status."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.harness]

ROOT = Path(__file__).resolve().parents[3]
AGENT = 10001
KEY = "sk-agp-test-preflight-4e1d"


class Upstream:
    """GET /v1/models answers 200 for KEY (401 otherwise); every POST fails with ``post_status``."""

    def __init__(self, post_status: int = 400) -> None:
        self.posts = 0
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _send(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                ok = self.headers.get("x-api-key") == KEY
                self._send(200 if ok else 401, b'{"data": []}' if ok else
                           b'{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}')

            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("content-length") or 0)
                self.rfile.read(n)
                outer.posts += 1
                self._send(post_status, json.dumps({"type": "error", "error": {
                    "type": "invalid_request_error", "message": "the test upstream refuses every request"}}).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.server.shutdown()
        self.server.server_close()


def _ws(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "README.md").write_text("x\n")
    for p in [ws, *ws.rglob("*")]:
        os.chown(p, AGENT, AGENT)
    return ws


def _run(args, env, timeout=300):
    return subprocess.run([sys.executable, "-m", "agp.cli", *map(str, args)], capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(ROOT)}, timeout=timeout, cwd=ROOT)


@pytest.mark.parametrize("case", ["no key", "refused key", "no answer"])
def test_refused_before_anything_starts(tmp_path, case):
    ws, out = _ws(tmp_path), tmp_path / "runs"
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    with Upstream() as up:
        url = up.url
        if case == "refused key":
            env["ANTHROPIC_API_KEY"] = "wrong"
        elif case == "no answer":
            env["ANTHROPIC_API_KEY"] = KEY
            up.server.shutdown()
            up.server.server_close()  # nothing listens on that port any more
        r = _run(["run", "--intendant", "claude-code", "--task", "x", "--workspace", ws, "--model-upstream", url,
                  "--approver", "none", "--out", out], env)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    want = {"no key": "$ANTHROPIC_API_KEY", "refused key": "refused the key", "no answer": "does not answer"}[case]
    assert want in lines[0] and not re.search(r"\b[A-Z][A-Za-z]+(Error|Exception)\b", lines[0])
    assert "wrong" not in r.stderr and KEY not in r.stderr
    assert not out.exists(), "a run directory was created"


def test_a_failing_model_api_is_shown_live(tmp_path):
    ws, out = _ws(tmp_path), tmp_path / "runs"
    env = {**os.environ, "ANTHROPIC_API_KEY": KEY}
    with Upstream(post_status=400) as up:
        proc = subprocess.Popen([sys.executable, "-m", "agp.cli", "run", "--intendant", "claude-code", "--task", "hi",
                                 "--workspace", str(ws), "--model-upstream", up.url, "--approver", "none",
                                 "--out", str(out), "--timeout", "240"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**env, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
        seen_at = None
        t0 = time.monotonic()
        lines = []
        for line in proc.stderr:  # the live view, line by line, while the run goes on
            lines.append(line)
            if "model API: POST /v1/messages -> HTTP 400" in line and seen_at is None:
                seen_at = time.monotonic() - t0
        proc.wait(timeout=300)
        proc.stdout.read()
    text = "".join(lines)
    assert seen_at is not None, text[-3000:]
    assert up.posts >= 1
    (run_dir,) = out.iterdir()
    relay = [json.loads(ln) for ln in (run_dir / "journal.jsonl").read_text().splitlines()
             if '"relay.request"' in ln]
    assert relay and any(e["body"]["status"] == 400 for e in relay)

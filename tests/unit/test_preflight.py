"""Before a run starts: the task script, the policy, the approver, the model key and that the model API
answers and takes the key, each refused with one line (UsageError, exit 2). The model API here is a
local upstream on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agp.errors import UsageError
from agp.preflight import check_model, check_policy, check_script, preflight

ROOT = Path(__file__).resolve().parents[2]


class _Upstream:
    def __init__(self, good_key: str = "good-key") -> None:
        seen = self.seen = []

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):  # noqa: N802
                key = self.headers.get("x-api-key") or (self.headers.get("authorization") or "").removeprefix("Bearer ")
                seen.append((self.command, self.path, key))
                code = 200 if key == good_key else 401
                body = b'{"data": []}'
                self.send_response(code)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream():
    u = _Upstream()
    yield u
    u.close()


def test_model_key_missing(monkeypatch, upstream):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    m = check_model("claude-code", upstream.url)
    assert not m.ok and "$ANTHROPIC_API_KEY" in m.detail and not upstream.seen


def test_model_key_refused_and_taken(monkeypatch, upstream):
    monkeypatch.setenv("OPENAI_API_KEY", "bad")
    m = check_model("codex", upstream.url)
    assert not m.ok and "refused the key in $OPENAI_API_KEY (HTTP 401)" in m.detail
    monkeypatch.setenv("OPENAI_API_KEY", "good-key")
    assert check_model("codex", upstream.url).ok
    assert upstream.seen[-1][:2] == ("GET", "/v1/models")  # no tokens spent
    assert "good-key" not in check_model("codex", upstream.url).detail  # the key is never printed


def test_model_api_that_does_not_answer(monkeypatch):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    m = check_model("claude-code", f"http://127.0.0.1:{port}", timeout=3)
    assert not m.ok and "does not answer" in m.detail and "Error" not in m.detail


@pytest.mark.parametrize("content, why", [
    (b"not json", "is not JSON"), (b"[]", "non-empty"), (b'[{"tool": 1}]', "call 1 needs"),
])
def test_bad_task_scripts(tmp_path, content, why):
    p = tmp_path / "s.json"
    p.write_bytes(content)
    with pytest.raises(UsageError, match=why):
        check_script(p)
    with pytest.raises(UsageError, match="cannot read the task script"):
        check_script(tmp_path / "missing.json")


def test_bad_policy(tmp_path):
    p = tmp_path / "p.toml"
    p.write_text("[policy]\nname = 1\n")
    with pytest.raises(UsageError, match="is invalid"):
        check_policy(p)
    with pytest.raises(UsageError, match="no policy file"):
        check_policy(tmp_path / "nope.toml")


def test_terminal_approver_needs_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "isatty", lambda fd: False)
    with pytest.raises(UsageError, match="needs a terminal"):
        preflight(intendant="claude-code", workspace=tmp_path, script=None, policy=ROOT / "policies" / "default.toml",
                  key_dir=tmp_path / "keys", approver="terminal", readiness=False)


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "agp.cli", *map(str, args)], capture_output=True, text=True,
                          env={**(env or os.environ), "PYTHONPATH": str(ROOT)}, timeout=120)


def test_agp_run_refuses_before_anything_starts_with_one_line(tmp_path, upstream):
    """Exit 2, one line on stderr, no exception class name, nothing created (no run directory, no bundle)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    out = tmp_path / "runs"
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    bad_script = tmp_path / "s.json"
    bad_script.write_text("{")
    cases = [
        (["--intendant", "reference", "--script", bad_script], "task script"),
        (["--intendant", "reference", "--script", bad_script, "--workspace", tmp_path / "nope"], "not a directory"),
        (["--intendant", "reference", "--script", tmp_path / "missing.json"], "cannot read the task script"),
        (["--intendant", "claude-code", "--task", "x", "--policy", tmp_path / "nope.toml"], "no policy file"),
    ]
    for extra, why in cases:
        argv = ["run", "--workspace", ws, "--out", out, "--approver", "none", *extra]
        r = _cli(*argv, env=env)
        assert r.returncode == 2, (extra, r.stderr)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        if lines[0].startswith("usage:"):  # caught by argparse: its usage, then one line
            lines = lines[-1:]
        assert len(lines) == 1 and why in lines[0], (extra, r.stderr)
        assert not re.search(r"\b[A-Z][a-z]+(Error|Exception)\b", r.stderr), r.stderr
        assert not out.exists(), f"{extra}: something was created"



def test_doctor_checks_the_model_key_of_the_intendant_named(upstream):
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    results = {}
    for key in (None, "wrong", "good-key"):
        e = dict(env, **({"ANTHROPIC_API_KEY": key} if key else {}))
        r = _cli("doctor", "--intendant", "claude-code", "--model-upstream", upstream.url, "--json", env=e)
        checks = {c["name"]: c for c in json.loads(r.stdout)}
        results[key] = checks["model key claude-code"]
    assert results[None]["status"] == "fail" and "$ANTHROPIC_API_KEY" in results[None]["detail"]
    assert results["wrong"]["status"] == "fail" and "refused the key" in results["wrong"]["detail"]
    assert results["good-key"]["status"] == "pass"
    assert all("good-key" not in c["detail"] and "wrong" not in c["detail"] for c in results.values())
    # without --intendant, no key is asked for (and no model API is contacted)
    n = len(upstream.seen)
    r = _cli("doctor", "--json", env=env)
    assert not any(c["name"].startswith("model key") for c in json.loads(r.stdout)) and len(upstream.seen) == n

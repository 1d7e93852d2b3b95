"""Secrets at the exec boundary: the value reaches the process, and never the host process table,
docker inspect (container or exec), the journal, or any output file."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from agp.errors import SecretError
from agp.journal import Journal, SecretRedactor, init_keys
from agp.sandbox.docker import DockerSandbox, list_run_containers
from agp.sandbox.secrets import SecretResolver

pytestmark = pytest.mark.docker
VALUE = "pw-7c1d0e55b2a94f3e-SECRET"


def _host_process_table() -> str:
    ps = subprocess.run(["ps", "-eww", "-o", "pid,args"], capture_output=True, text=True).stdout
    cmdlines = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmdlines.append((p / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace"))
            except OSError:
                pass
    return ps + "\n".join(cmdlines)


def test_secret_values_are_never_written(docker_client, spec_for, run_id, tmp_path, monkeypatch):
    monkeypatch.setenv("AGP_SECRET_DB_PASSWORD", VALUE)
    red = SecretRedactor()
    key = init_keys(tmp_path / "keys")
    journal = Journal.open(tmp_path / "journal.jsonl", key, redactor=red)
    resolver = SecretResolver(redactor=red)
    logs = tmp_path / "logs"
    logs.mkdir()
    sb = DockerSandbox(spec_for(), client=docker_client, secrets=resolver,
                       events=lambda k, b: journal.append(k, run_id, b))
    with sb:
        sb.preflight()
        # a tool call whose input names the secret: resolved only here, at the exec boundary
        call = {"tool": "Bash", "input": {"command": "psql", "password": "{{secret:DB_PASSWORD}}"}}
        script = ('test "$DB_PASSWORD" = "$(cat)" && echo delivered; '
                  'printf %s "$DB_PASSWORD" | sha256sum | cut -c1-64; sleep 3')
        proc = sb.exec_stream(["sh", "-c", script], env={"DB_PASSWORD": "{{secret:DB_PASSWORD}}"},
                              stdin="{{secret:DB_PASSWORD}}")
        time.sleep(1.0)  # the process is running now: look everywhere
        table = _host_process_table()
        inspect_c = json.dumps(docker_client.api.inspect_container(sb.container_id))
        inspect_x = json.dumps(docker_client.api.exec_inspect(proc.id))
        # we looked while it ran: the sleeper is in the host's process table, the launcher in the exec's inspect
        assert "sleep 3" in table and "python3" in inspect_x
        out = b"".join(d for s, d in proc.frames(timeout=20) if s == 1)
        assert proc.wait() == 0
        (logs / "harness.stdout").write_bytes(out)
        journal.append("gate.decision", run_id, {"call": resolver.resolve(call), "decision": "allow"})
    journal.close()
    lines = out.decode().split()
    assert lines[0] == "delivered"
    assert lines[1] == hashlib.sha256(VALUE.encode()).hexdigest()
    for where, text in (("host process table", table), ("docker inspect", inspect_c), ("exec inspect", inspect_x)):
        assert VALUE not in text, f"secret value found in the {where}"
    # every file the run wrote: journal (names only), head, logs, workspace, socket dir
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "journal.jsonl" for p in files)
    for p in files:
        assert VALUE.encode() not in p.read_bytes(), f"secret value written to {p}"
    text = (tmp_path / "journal.jsonl").read_text()
    assert "{{secret:DB_PASSWORD}}" in text
    assert not list_run_containers(docker_client, run_id)


def test_placeholder_in_argv_or_container_env_is_refused(docker_client, spec_for, run_id, monkeypatch):
    monkeypatch.setenv("AGP_SECRET_T", VALUE)
    with pytest.raises(SecretError, match="docker inspect"):
        DockerSandbox(spec_for(env={"T": "{{secret:T}}"}), client=docker_client,
                      secrets=SecretResolver()).create()
    assert not list_run_containers(docker_client, run_id)
    with DockerSandbox(spec_for(), client=docker_client, secrets=SecretResolver()) as sb:
        with pytest.raises(SecretError, match="process table"):
            sb.exec(["echo", "{{secret:T}}"])


def test_unresolved_secret_fails_the_call_before_anything_runs(docker_client, spec_for, monkeypatch, tmp_path):
    monkeypatch.delenv("AGP_SECRET_MISSING", raising=False)
    monkeypatch.setenv("AGP_SECRETS_FILE", str(tmp_path / "none"))
    marker = "/workspace/ran"
    with DockerSandbox(spec_for(), client=docker_client, secrets=SecretResolver()) as sb:
        with pytest.raises(SecretError, match="MISSING"):
            sb.exec(["sh", "-c", f"touch {marker}"], env={"X": "{{secret:MISSING}}"})
        sb.secrets = None  # no resolver at all: a placeholder is refused, not passed on verbatim
        with pytest.raises(SecretError, match="no secret resolver"):
            sb.exec(["sh", "-c", f"touch {marker}"], stdin="{{secret:MISSING}}")
        assert sb.exec(["sh", "-c", f"test -e {marker} && echo ran || echo not-run"]).stdout == b"not-run\n"
    assert not os.path.exists(tmp_path / "ws" / "ran")


def test_loose_secrets_file_fails_the_call(docker_client, spec_for, monkeypatch, tmp_path):
    f = tmp_path / "secrets"
    f.write_text(f"LOOSE={VALUE}\n")
    f.chmod(0o644)
    monkeypatch.delenv("AGP_SECRET_LOOSE", raising=False)
    with DockerSandbox(spec_for(), client=docker_client, secrets=SecretResolver(secrets_file=f)) as sb:
        with pytest.raises(SecretError, match="mode 0644"):
            sb.exec(["true"], env={"X": "{{secret:LOOSE}}"})

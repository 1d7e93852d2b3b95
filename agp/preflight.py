"""What `agp run` and `agp demo` check before anything starts, so a run never fails after it began
for a reason that was knowable before: the task script, the policy, the approver, this machine
(`agp doctor`'s checks), the model key and that the model API answers.

Each check raises :class:`agp.errors.UsageError` (exit 2) with one line; nothing is created before
they pass (no run directory, no journal, no sandbox, no bundle).

The model API check is one ``GET <upstream>/v1/models`` with the key: it spends no tokens, and the
answer tells both that the upstream answers and whether it takes the key (401/403 = refused).
"""

from __future__ import annotations

import http.client
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agp.errors import AgpError, UsageError

__all__ = ("ModelCheck", "check_model", "check_policy", "check_readiness", "check_script", "model_key_env", "preflight")

#: the harness each intendant talks to, and the provider of its model API
PROVIDER = {"claude-code": "anthropic", "codex": "openai"}
PROBE_TIMEOUT = 10.0


def check_script(path: Path | None) -> None:
    """The reference intendant's task script: a readable, non-empty JSON list of {tool, input}."""
    from intendants.reference.launch import validate_script

    if path is None:
        raise UsageError("the reference intendant runs a task script: pass --script FILE")
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the task script {path}: {exc.strerror or exc}") from exc
    try:
        validate_script(data)
    except ValueError as exc:
        raise UsageError(f"task script {path}: {exc}") from exc


def check_policy(path: Path) -> None:
    from agp.policy import load_policy

    if not Path(path).is_file():
        raise UsageError(f"no policy file {path} (a path, or a shipped policy: default, ci, strict)")
    try:
        load_policy(path)
    except AgpError as exc:
        raise UsageError(f"policy {path} is invalid: {exc.diagnostics()} (agp policy check {path})") from exc


def check_readiness(*, key_dir: Path, policy: Path, intendant: str) -> None:
    """`agp doctor`'s checks for this intendant; a missing signing key is not a failure (created on first use)."""
    from agp.doctor import run_checks

    failed = [
        c
        for c in run_checks(key_dir=key_dir, policy=policy, intendants=[intendant], harness=intendant != "reference")
        if c.status == "fail" and not (c.name == "signing key" and not (key_dir / "agp.key").exists())
    ]
    if failed:
        raise UsageError(
            "refusing to start: " + "; ".join(f"{c.name}: {c.detail}" for c in failed) + " (agp doctor shows the fixes)"
        )


def model_key_env(intendant: str, override: str | None = None) -> str:
    from agp.sandbox.relay import PROVIDERS

    return override or PROVIDERS[PROVIDER[intendant]][2]


@dataclass(frozen=True)
class ModelCheck:
    ok: bool
    detail: str


def check_model(
    intendant: str,
    upstream: str | None = None,
    *,
    key_env: str | None = None,
    timeout: float = PROBE_TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
) -> ModelCheck:
    """The model key for ``intendant`` is set and the upstream answers and takes it (no tokens spent)."""
    from agp.sandbox.relay import PROVIDERS

    provider = PROVIDER[intendant]
    url, header, _, prefix = PROVIDERS[provider]
    url = upstream or url
    env = model_key_env(intendant, key_env)
    key = os.environ.get(env)
    if not key:
        return ModelCheck(
            False,
            f"{intendant} needs the model key in ${env} on this host (it never enters the sandbox: the relay adds it)",
        )
    u = urlsplit(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        return ModelCheck(False, f"the model upstream must be an http(s) URL, not {url!r}")
    path = u.path.rstrip("/") + "/v1/models"
    headers = {header: prefix + key, "user-agent": "agp-preflight"}
    if provider == "anthropic":
        headers["anthropic-version"] = "2023-06-01"
    port = u.port or (443 if u.scheme == "https" else 80)
    if u.scheme == "https":
        conn: Any = http.client.HTTPSConnection(
            u.hostname, port, timeout=timeout, context=ssl_context or ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(u.hostname, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        status = resp.status
        resp.read(64 * 1024)
    except (OSError, http.client.HTTPException) as exc:
        why = getattr(exc, "strerror", None) or str(exc) or "no answer"
        return ModelCheck(False, f"the model API at {url} does not answer ({why})")
    finally:
        conn.close()
    if status in (401, 403):
        return ModelCheck(False, f"the model API at {url} refused the key in ${env} (HTTP {status})")
    return ModelCheck(True, f"${env} is set and the model API at {url} answers (GET {path}: HTTP {status})")


def preflight(
    *,
    intendant: str,
    workspace: Path,
    script: Path | None,
    policy: Path | list[Path],
    key_dir: Path,
    approver: str,
    model_upstream: str | None = None,
    model_key_env: str | None = None,
    readiness: bool = True,
) -> None:
    """Every check before a run, cheapest first; raises UsageError (exit 2) with one line."""
    if not Path(workspace).is_dir():
        raise UsageError(f"workspace {workspace} is not a directory")
    if intendant == "reference":
        check_script(script)
    tiers = list(policy) if isinstance(policy, (list, tuple)) else [policy]
    for tier in tiers:
        check_policy(tier)
    if approver == "terminal" and not (os.isatty(0) and os.isatty(2)):
        raise UsageError("--approver terminal needs a terminal on stdin and stderr (use --approver slack or none)")
    if readiness:
        check_readiness(key_dir=key_dir, policy=tiers[0], intendant=intendant)
    if intendant != "reference":
        m = check_model(intendant, model_upstream, key_env=model_key_env)
        if not m.ok:
            raise UsageError(m.detail)

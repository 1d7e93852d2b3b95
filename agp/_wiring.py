"""Adapters between agp.run and the parts it wires: gate, relay, sandbox, intendants.

Kept apart from run.py so the orchestration reads as a sequence of steps and
each part's calling convention lives in one place.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agp.errors import SandboxError

__all__ = ("copy_transcript", "launch_for", "sandbox_phase", "start_gate", "start_relay")

CONTAINER_TRANSCRIPT_REFERENCE = "/home/agent/.agp/transcript.jsonl"


def launch_for(opts, *, session: str, run_dir: Path):
    """The intendant's LaunchSpec: argv, env and the read-only files it needs inside."""
    from agp.sandbox.docker import FORWARDER_PORT as RELAY_PORT

    if opts.intendant == "claude-code":
        from intendants.claude_code.launch import launch_spec

        return launch_spec(prompt=opts.task, workspace="/workspace", base_url=f"http://127.0.0.1:{RELAY_PORT}",
                           config_dir="/home/agent/.claude", session=session)
    if opts.intendant == "codex":
        from dataclasses import replace

        from intendants.codex.launch import launch_spec

        home = "/home/agent/.codex"
        spec = launch_spec(prompt=opts.task, workspace="/workspace", base_url=f"http://127.0.0.1:{RELAY_PORT}/v1",
                           codex_home=home, session=session)
        # In the sandbox every setting reaches Codex as `-c` on its command line and the hook comes from
        # the read-only /etc/codex/requirements.toml; a file mounted inside CODEX_HOME would make the
        # engine create that directory as root, and Codex could not write its own state there.
        return replace(spec, files={k: v for k, v in spec.files.items() if not k.startswith(home + "/")})
    from intendants.reference.launch import launch_spec

    script = Path(opts.script).read_bytes()
    return launch_spec(script=script, workspace="/workspace", session=session,
                       transcript=CONTAINER_TRANSCRIPT_REFERENCE)


def _materialize(files: dict[str, bytes], run_dir: Path):
    from agp.sandbox import ExtraMount

    mounts = []
    for target, content in sorted(files.items()):
        src = run_dir / "mounts" / target.strip("/").replace("/", "__")
        src.write_bytes(content)
        os.chmod(src, 0o444)
        mounts.append(ExtraMount(source=src, target=target))
    return tuple(mounts)


def transcript_paths(opts) -> list[str]:
    return {
        "claude-code": ["/home/agent/.claude/projects"],
        "codex": ["/home/agent/.codex/sessions"],
        "reference": [CONTAINER_TRANSCRIPT_REFERENCE],
    }[opts.intendant]


def sandbox_phase(*, opts, view, journal, run_dir: Path, workspace: Path, session: str, meta: dict,
                  box_holder: dict) -> dict[str, Any]:
    """Create, verify, preflight, run the harness, copy its transcript out. Runs in a worker thread;
    sets ``box_holder["done"]`` when it returns, however it returns."""
    box_holder["started"] = True
    try:
        return _sandbox_phase(opts=opts, view=view, journal=journal, run_dir=run_dir, workspace=workspace,
                              session=session, meta=meta, box_holder=box_holder)
    finally:
        box_holder["done"].set()


def _sandbox_phase(*, opts, view, journal, run_dir: Path, workspace: Path, session: str, meta: dict,
                   box_holder: dict) -> dict[str, Any]:
    from agp.paths import default_key_dir
    from agp.sandbox import SandboxSpec, resolve_intendant_image
    from agp.sandbox.docker import DockerSandbox

    spec_l = launch_for(opts, session=session, run_dir=run_dir)
    image = resolve_intendant_image(opts.intendant)
    meta.update(image=str(getattr(image, "ref", "") or image), image_id=image.id)
    journal.append("sandbox.image", session, {"intendant": opts.intendant, "image_id": image.id})
    spec = SandboxSpec(
        image=image.id, run_id=meta["run_id"], workspace=workspace, socket_dir=run_dir / "sock",
        config_mounts=_materialize(spec_l.files, run_dir),
        denied=(run_dir / "journal.jsonl", (opts.key_dir or default_key_dir())),
        labels={"agp.intendant": opts.intendant},
        uid=opts.extra["uid"], gid=opts.extra["gid"],
    )

    def events(kind: str, body: dict) -> None:
        journal.append(kind, session, body)

    from agp.sandbox.secrets import SecretResolver

    box = DockerSandbox(spec, events=events, secrets=SecretResolver(redactor=journal.redactor))
    box_holder["box"] = box
    view.status("creating the sandbox (network none, caps dropped, read-only root; inspected before start)")
    box.create()  # refuses to start (HardeningError) unless every hardened flag is in the inspect data
    view.status("egress preflight: only lo, no route")
    pf = box.preflight()
    meta["preflight"] = pf.to_json_dict()
    for d in spec_l.writable_dirs:
        box.exec(["mkdir", "-p", d], timeout=30)
    if opts.intendant == "codex":
        _confirm_codex_hook(box, spec_l, view=view, journal=journal, session=session, uid=opts.extra["uid"],
                            gid=opts.extra["gid"])
    if opts.intendant != "reference":
        view.status("starting the model forwarder (loopback → relay socket)")
        box.start_forwarder()
    view.status(f"{opts.intendant} running in {box.container_id[:12]}")
    log_path = run_dir / "logs" / "harness.log"
    code = -1
    with open(log_path, "ab") as log:
        proc = box.exec_stream(list(spec_l.argv), env=spec_l.env, workdir=spec_l.cwd)
        try:
            for _stream, data in proc.frames():
                log.write(data)
                log.flush()
            code = proc.wait(timeout=30)
        finally:
            proc.close()
    view.status(f"{opts.intendant} exited with status {code}; copying its transcript out")
    copy_transcript(box, opts=opts, journal=journal, run_dir=run_dir, session=session)
    return {"exit_code": code}


def _confirm_codex_hook(box, spec_l, *, view, journal, session: str, uid: int, gid: int) -> None:
    """Codex skips an untrusted or edited hook silently: before the task, ask the Codex in the
    sandbox (its own app-server hook listing) whether agp's hook is there, enabled, trusted and
    matching every tool. Refuse to launch otherwise (IntendantError)."""
    from intendants.codex.trust import verify_hook_active

    view.status("confirming the Codex hook is live (hooks/list in the sandbox)")
    prefix = ["docker", "exec", "-i", "-u", f"{uid}:{gid}", "-w", spec_l.cwd]
    for k, v in sorted(spec_l.env.items()):
        prefix += ["-e", f"{k}={v}"]  # no secret here: the relay adds the model key on the host
    prefix.append(box.container_id)
    from dataclasses import replace

    host_side = replace(spec_l, cwd=os.getcwd())  # the docker CLI runs on the host; -w sets the cwd inside
    entry = verify_hook_active(host_side, argv_prefix=prefix, env=dict(os.environ), timeout=60)
    journal.append("intendant.hook_check", session, {"harness": "codex", "hook": dict(entry)})


def copy_transcript(box, *, opts, journal, run_dir: Path, session: str) -> None:
    """The harness's own record of its tool calls, for the bundle's reconciliation. Idempotent."""
    if (run_dir / "transcript" / ".copied").exists():
        return
    for path in transcript_paths(opts):
        try:
            box.copy_out(path, run_dir / "transcript")
        except SandboxError as exc:
            journal.append("run.anomaly", session, {"what": "transcript missing", "path": path, "error": str(exc)})
    (run_dir / "transcript" / ".copied").touch()


def _approvers(opts, view) -> list[Any]:
    """The approver channel the run's options name (terminal, slack from the environment, none, auto)."""
    from agp.approvers import make_approver

    if opts.approver == "terminal":
        return [make_approver("terminal", console=view.console)]
    return [make_approver(opts.approver)]


async def start_gate(tg, *, opts, view, journal, policy, run_dir: Path, session: str) -> Any:
    """Start the gate on run_dir/sock/gate.sock (reachable by the sandbox's agent user only) and
    register the run's session; every decision and approval feeds the live view."""
    from agp.gate import GateServer
    from agp.gate.server import live_view_sink

    gate = GateServer(socket_dir=run_dir / "sock", policy=policy, journal=journal, approvers=_approvers(opts, view),
                      allow_automatic=opts.approver == "auto", on_event=live_view_sink(view),
                      socket_uid=opts.extra["uid"], socket_gid=opts.extra["gid"],
                      host_workspace=opts.extra["host_workspace"],  # symlinks resolved where they really point
                      eval_workers=2)  # large commands are classified in worker processes with a deadline
    await tg.start(gate.serve)
    gate.register_session(session, harness=opts.intendant, run_id=run_dir.name)
    return gate


UPSTREAMS = {"claude-code": "anthropic", "codex": "openai"}


async def start_relay(tg, *, opts, journal, run_dir: Path, session: str, meta: dict) -> Any:
    """The model relay on run_dir/sock/relay.sock: one upstream, the host's key injected,
    each request's metadata journaled as relay.request (never bodies or keys)."""
    from agp.sandbox.relay import PROVIDERS, Credential, ModelRelay, RelayRules, Upstream

    provider = UPSTREAMS[opts.intendant]
    url = opts.model_upstream or PROVIDERS[provider][0]
    if opts.model_key_env:
        _, header, _, prefix = PROVIDERS[provider]
        credential = Credential.from_env(header, opts.model_key_env, prefix=prefix)
    else:
        credential = Credential.for_provider(provider)
    totals = meta.setdefault("relay", {"upstream": url, "requests": 0, "bytes_in": 0, "bytes_out": 0})

    def on_request(info: dict) -> None:
        totals["requests"] += 1
        totals["bytes_in"] += int(info.get("bytes_in") or 0)
        totals["bytes_out"] += int(info.get("bytes_out") or 0)
        journal.append("relay.request", session, info)

    relay = ModelRelay(run_dir / "sock" / "relay.sock", Upstream.parse(url), credential,
                       rules=RelayRules.for_provider(provider), on_request=on_request)  # model endpoints only
    await tg.start(relay.serve)
    return relay

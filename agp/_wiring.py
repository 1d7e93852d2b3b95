"""Adapters between agp.run and the parts it wires: gate, relay, sandbox, intendants.

Kept apart from run.py so the orchestration reads as a sequence of steps and
each part's calling convention lives in one place. The sandbox is reached only
through :class:`agp.sandbox.driver.SandboxDriver` (built by
:func:`agp.sandbox.backends.open_sandbox`), approvers only through
:class:`agp.gate.approvals.Approver`, harnesses only through
:mod:`intendants.registry`; run state travels in the types of :mod:`agp._state`.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agp._state import BoxState, RunContext, RunOptions, RunRecord
from agp.errors import SandboxError
from intendants import registry

if TYPE_CHECKING:
    from agp.gate.approvals import Approver
    from agp.sandbox.driver import SandboxDriver, StateDir
    from intendants._launch import LaunchSpec

__all__ = (
    "collect_after_stop",
    "egress_env",
    "launch_for",
    "sandbox_phase",
    "start_egress",
    "start_gate",
    "start_relay",
)

#: the harness's stdout/stderr kept in logs/harness.log; the rest is counted and reported
HARNESS_LOG_CAP = 64 * 1024**2


def launch_for(opts: Any, *, session: str, run_dir: Path) -> LaunchSpec:
    """The intendant's LaunchSpec: argv, env and the read-only files it needs inside."""
    from agp.sandbox.driver import AGENT_HOME, CONTAINER_WORKSPACE, FORWARDER_PORT

    harness = registry.get(opts.intendant)
    launch_spec = importlib.import_module(harness.launch_module).launch_spec
    base_url = f"http://127.0.0.1:{FORWARDER_PORT}"
    if harness.name == "claude-code":
        return launch_spec(
            prompt=opts.task,
            workspace=CONTAINER_WORKSPACE,
            base_url=base_url,
            config_dir=f"{AGENT_HOME}/.claude",
            session=session,
        )
    if harness.name == "codex":
        home = f"{AGENT_HOME}/.codex"
        spec = launch_spec(
            prompt=opts.task, workspace=CONTAINER_WORKSPACE, base_url=base_url + "/v1", codex_home=home, session=session
        )
        # In the sandbox every setting reaches Codex as `-c` on its command line and the hook comes from
        # the read-only /etc/codex/requirements.toml; a file mounted inside CODEX_HOME would make the
        # engine create that directory as root, and Codex could not write its own state there.
        return replace(spec, files={k: v for k, v in spec.files.items() if not k.startswith(home + "/")})
    script = Path(opts.script).read_bytes()
    return launch_spec(script=script, workspace=CONTAINER_WORKSPACE, session=session, transcript=harness.transcripts[0])


def _materialize(files: dict[str, bytes], run_dir: Path):
    from agp.sandbox import ExtraMount

    mounts = []
    for target, content in sorted(files.items()):
        src = run_dir / "mounts" / target.strip("/").replace("/", "__")
        src.write_bytes(content)
        os.chmod(src, 0o444)
        mounts.append(ExtraMount(source=src, target=target))
    return tuple(mounts)


def transcript_paths(opts: Any) -> list[str]:
    return list(registry.get(opts.intendant).transcripts)


def state_dirs(spec_l: LaunchSpec, run_dir: Path, *, uid: int, gid: int) -> tuple[StateDir, ...]:
    """One host directory per harness state directory (``<run>/box/<name>``, 0700, owned by the sandbox
    user), mounted read-write at it: the harness writes its transcript there, agp reads it after stop()."""
    from agp.sandbox import StateDir

    box = run_dir / "box"
    box.mkdir(mode=0o700, exist_ok=True)
    out = []
    for i, target in enumerate(spec_l.writable_dirs):
        host = box / f"{i}-{os.path.basename(target.rstrip('/')).lstrip('.') or 'state'}"
        host.mkdir(mode=0o700)
        os.chown(host, uid, gid)
        out.append(StateDir(source=host, target=target))
    return tuple(out)


def _transcript_sources(opts: Any, dirs: tuple[StateDir, ...]) -> list[tuple[Path, str, str]]:
    """(host state directory, path below it, container path) for each transcript the harness writes."""
    out = []
    for path in transcript_paths(opts):
        d = next((d for d in dirs if path.startswith(d.target.rstrip("/") + "/")), None)
        if d is None:
            raise SandboxError(f"the transcript {path} is not in a state directory mounted from the host")
        out.append((Path(d.source), path[len(d.target.rstrip("/")) + 1 :], path))
    return out


def sandbox_phase(
    *, opts: RunOptions, ctx: RunContext, view: Any, journal: Any, record: RunRecord, state: BoxState
) -> int:
    """Create, verify, preflight, run the harness (its log capped); returns its exit status. Runs in a
    worker thread; sets ``state.done`` when it returns, however it returns."""
    state.started = True
    try:
        return _sandbox_phase(opts=opts, ctx=ctx, view=view, journal=journal, record=record, state=state)
    finally:
        state.done.set()


def _sandbox_phase(
    *, opts: RunOptions, ctx: RunContext, view: Any, journal: Any, record: RunRecord, state: BoxState
) -> int:
    from agp.paths import default_key_dir
    from agp.sandbox import SandboxSpec, resolve_intendant_image
    from agp.sandbox.backends import open_sandbox
    from agp.sandbox.collect import snapshot
    from agp.sandbox.images import resolve_toolchain_image
    from agp.sandbox.mounts import HOST_RUN_PATHS, host_run_paths_present
    from agp.sandbox.secrets import SecretResolver

    harness = registry.get(opts.intendant)
    session, run_dir, workspace = ctx.session, ctx.run_dir, ctx.workspace
    spec_l = launch_for(opts, session=session, run_dir=run_dir)
    dirs = state_dirs(spec_l, run_dir, uid=ctx.uid, gid=ctx.gid)
    state.state_dirs = dirs
    clone_mode = ctx.workspace_mode == "clone"  # its host-run paths pass the workspace.result door
    readonly = () if clone_mode else tuple(host_run_paths_present(workspace))
    # the host-run paths before the run (present or not): any change after it is an anomaly
    state.ws_rels = tuple(dict.fromkeys((*readonly, *HOST_RUN_PATHS)))
    state.ws_before = None if clone_mode else snapshot(workspace, state.ws_rels)[0]
    image = (
        resolve_intendant_image(harness.image)
        if opts.image is None
        else resolve_toolchain_image(opts.image, harness.image)
    )
    record.image, record.image_id = str(image.ref or image), image.id
    journal.append(
        "sandbox.image",
        session,
        {"intendant": opts.intendant, "image_id": image.id, **({"image": opts.image} if opts.image else {})},
    )
    trust = egress_trust_files(state.egress_ca_pem) if state.egress_ca_pem else {}
    spec = SandboxSpec(
        image=image.id,
        run_id=ctx.run_id,
        workspace=workspace,
        socket_dir=run_dir / "sock",
        config_mounts=_materialize({**spec_l.files, **trust}, run_dir),
        state_dirs=dirs,
        workspace_readonly=readonly,
        denied=(run_dir / "journal.jsonl", (opts.key_dir or default_key_dir())),
        labels={"agp.intendant": opts.intendant},
        uid=ctx.uid,
        gid=ctx.gid,
    )

    def events(kind: str, body: dict) -> None:
        journal.append(kind, session, body)

    box = open_sandbox(spec, events=events, secrets=SecretResolver(redactor=journal.redactor))
    state.box = box
    view.status("creating the sandbox (network none, caps dropped, read-only root; inspected before start)")
    box.create()  # refuses to start (HardeningError) unless every hardened flag is in the inspect data
    if state.start_watchdog is not None:
        state.start_watchdog(box)
    view.status("egress preflight: only lo, no route")
    pf = box.preflight()
    record.preflight = pf.to_json_dict()
    if harness.hook_check:
        _confirm_codex_hook(box, spec_l, view=view, journal=journal, session=session)
    if harness.upstream is not None:
        view.status("starting the model forwarder (loopback → relay socket)")
        box.start_forwarder()
    env = _with_egress(box, spec_l.env, view=view, trust=bool(state.egress_ca_pem), approval_wait=opts.approval_timeout)
    view.status(f"{opts.intendant} running in {(box.container_id or '')[:12]}")
    log_path = run_dir / "logs" / "harness.log"
    code = -1
    kept = dropped = 0
    with open(log_path, "ab") as log:
        proc = box.exec_stream(list(spec_l.argv), env=env, workdir=spec_l.cwd)
        try:
            for _stream, data in proc.frames():
                room = max(HARNESS_LOG_CAP - kept, 0)
                if room:
                    log.write(data[:room])
                    log.flush()
                kept += min(len(data), room)
                dropped += len(data) - min(len(data), room)
            code = proc.wait(timeout=30)
        finally:
            proc.close()
            if dropped:
                record.harness_log = {"kept_bytes": kept, "dropped_bytes": dropped, "cap_bytes": HARNESS_LOG_CAP}
                journal.append(
                    "run.anomaly",
                    session,
                    {
                        "what": "harness log capped",
                        "kept_bytes": kept,
                        "dropped_bytes": dropped,
                        "cap_bytes": HARNESS_LOG_CAP,
                    },
                )
    view.status(f"{opts.intendant} exited with status {code}")
    return code


def _with_egress(box, env, *, view, trust: bool = False, approval_wait: float = 0.0) -> dict[str, str]:
    """Start the in-box forwarder to the egress door; the harness's environment with the proxy settings
    (and, in inspecting mode, the trust bundle that holds the run's CA)."""
    from agp.sandbox.driver import EGRESS_PORT

    view.status("starting the egress forwarder (loopback → egress door socket)")
    box.start_forwarder(EGRESS_PORT, socket="egress.sock")
    out = {**dict(env), **egress_env(f"http://127.0.0.1:{EGRESS_PORT}", env, approval_wait=approval_wait)}
    if trust:
        out.update(egress_trust_env())
    return out


#: where the box finds the trust bundle with the run's CA (inspecting mode), and the CA alone
EGRESS_TRUST_BUNDLE = "/etc/agp/egress-trust.pem"
EGRESS_CA_CERT = "/etc/agp/egress-ca.pem"


def egress_trust_files(ca_pem: bytes) -> dict[str, bytes]:
    """The files the box gets in inspecting mode: the host's trust store plus the run's CA certificate
    (never its key), and the certificate alone (for Node's NODE_EXTRA_CA_CERTS)."""
    import ssl

    system = b""
    paths = ssl.get_default_verify_paths()
    for cand in (paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if cand and os.path.isfile(cand):
            system = Path(cand).read_bytes()
            break
    return {EGRESS_TRUST_BUNDLE: system.rstrip(b"\n") + b"\n" + ca_pem, EGRESS_CA_CERT: ca_pem}


def egress_trust_env() -> dict[str, str]:
    return dict.fromkeys(
        ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT", "GIT_SSL_CAINFO", "CARGO_HTTP_CAINFO"),
        EGRESS_TRUST_BUNDLE,
    ) | {"NODE_EXTRA_CA_CERTS": EGRESS_CA_CERT}


#: clients whose default read timeout is shorter than an approver may take to answer a `require`
#: egress rule (the door holds the CONNECT, or the plain-HTTP request, until the decision): their
#: variable and default, in seconds. A client that gave up would retry, and each retry is a new
#: connection, so a new question to the approver. npm (fetch-timeout 300 s), git and curl (no read
#: timeout while connecting through a proxy) and go wait long enough already.
CLIENT_TIMEOUTS = {"PIP_TIMEOUT": 15, "CARGO_HTTP_TIMEOUT": 30}

#: seconds a client waits beyond the approval wait (the door's own set-up, the upstream's answer)
CLIENT_TIMEOUT_MARGIN = 30


def egress_env(proxy: str, base: dict[str, str] | None = None, *, approval_wait: float = 0.0) -> dict[str, str]:
    """The variables that point the usual clients in the box at the egress door: curl, Python (urllib,
    requests, pip), npm, git (as ``-c http.proxy``, through GIT_CONFIG_COUNT), cargo and go. Loopback is not
    proxied (the model relay's forwarder is there). Clients with a short read timeout (pip, cargo) get one
    longer than ``approval_wait``, the most a `require` rule can keep a connection waiting."""
    no_proxy = "127.0.0.1,localhost,::1"
    env = {
        "HTTPS_PROXY": proxy,
        "HTTP_PROXY": proxy,
        "https_proxy": proxy,
        "http_proxy": proxy,
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
        "PIP_PROXY": proxy,
        "npm_config_proxy": proxy,
        "npm_config_https_proxy": proxy,
        "npm_config_noproxy": no_proxy,
        "CARGO_HTTP_PROXY": proxy,
        "GIT_TERMINAL_PROMPT": "0",
    }
    wait = math.ceil(approval_wait) + CLIENT_TIMEOUT_MARGIN
    env.update({k: str(max(default, wait)) for k, default in CLIENT_TIMEOUTS.items()})
    n = int((base or {}).get("GIT_CONFIG_COUNT") or 0)
    env.update({"GIT_CONFIG_COUNT": str(n + 1), f"GIT_CONFIG_KEY_{n}": "http.proxy", f"GIT_CONFIG_VALUE_{n}": proxy})
    return env


def egress_limits(policy):
    """The door's limits, with the upload budgets the policy's tiers set (the smallest of each wins)."""
    from dataclasses import replace

    from agp.sandbox.egress import EgressLimits

    limits = EgressLimits()
    heads = [t.policy for t in getattr(policy, "tiers", ())]
    run = [h.egress_upload_mb for h in heads if h.egress_upload_mb is not None]
    conn = [h.egress_connection_upload_mb for h in heads if h.egress_connection_upload_mb is not None]
    if run:
        limits = replace(limits, upload_per_run=int(min(run) * 1_000_000))
    if conn:
        limits = replace(limits, upload_per_connection=int(min(conn) * 1_000_000))
    return limits


async def start_egress(tg, *, gate, opts, run_dir: Path, session: str, record: RunRecord) -> Any:
    """The egress door on run_dir/sock/egress.sock: each connection the box opens through its proxy
    variables is a decision of ``gate`` (journaled as egress.decision / egress.close)."""
    from agp.sandbox.egress import EGRESS_SOCKET, EgressCA, EgressDoor, parse_resolve
    from agp.sandbox.secrets import SecretResolver

    # inspecting mode: a CA for this run only, made on the host, its key kept in the door's memory
    inspect = any(getattr(r, "inspect", False) for r in getattr(gate.policy, "rules", ()))
    ca = EgressCA(run_dir / "egress-ca") if inspect else None
    door = EgressDoor(
        run_dir / "sock" / EGRESS_SOCKET,
        gate,
        session=session,
        harness=opts.intendant,
        resolve=parse_resolve(list(opts.resolve)),
        limits=egress_limits(gate.policy),
        ca=ca,
        secrets=SecretResolver(redactor=gate.journal.redactor),
    )
    record.egress_inspecting = inspect
    record.egress = door.stats
    record.egress_limits = {
        "upload_per_run": door.limits.upload_per_run,
        "upload_per_connection": door.limits.upload_per_connection,
    }
    await tg.start(door.serve)
    return door


def _confirm_codex_hook(box: SandboxDriver, spec_l: LaunchSpec, *, view: Any, journal: Any, session: str) -> None:
    """Codex skips an untrusted or edited hook silently: before the task, ask the Codex in the
    sandbox (its own app-server hook listing, started through the driver's exec with the launch
    spec's environment and working directory) whether agp's hook is there, enabled, trusted and
    matching every tool. Refuse to launch otherwise (IntendantError)."""
    from intendants.codex.trust import verify_hook_active_in

    view.status("confirming the Codex hook is live (hooks/list in the sandbox)")

    def start(argv: list[str], env: Mapping[str, str], cwd: str) -> Any:
        # no secret here: the relay adds the model key on the host
        return box.exec_stream(argv, env=env, workdir=cwd, keep_stdin_open=True)

    entry = verify_hook_active_in(spec_l, start, timeout=60)
    journal.append("intendant.hook_check", session, {"harness": spec_l.harness, "hook": dict(entry)})


def collect_after_stop(box: SandboxDriver, *, opts: RunOptions, ctx: RunContext, journal: Any, state: BoxState) -> None:
    """After the sandbox is confirmed stopped: the harness's transcript into <run>/transcript/ with agp's
    reader, set-id bits cleared in the workspace, the host-run paths compared with their snapshot.
    Everything left behind or found is a ``run.anomaly``. Runs once; never before stop() confirmed."""
    from agp.sandbox.collect import collect, diff_snapshots, snapshot, strip_setid

    if state.collected or not box.stopped:
        return
    state.collected = True
    session, workspace = ctx.session, ctx.workspace

    def anomaly(body: dict) -> None:
        journal.append("run.anomaly", session, body)

    dest = ctx.run_dir / "transcript"
    for host_dir, rel, container_path in _transcript_sources(opts, state.state_dirs):
        rep = collect(host_dir, rel, dest)
        if not rep.copied:
            anomaly(
                {
                    "what": "transcript missing",
                    "path": container_path,
                    "error": "; ".join(f"{p.path}: {p.what} {p.error}".strip() for p in rep.problems[:5]) or "no file",
                }
            )
        left = [p for p in rep.problems if not (not rep.copied and p.error == "ENOENT")]
        if left:
            anomaly(
                {
                    "what": "transcript files left behind",
                    "path": container_path,
                    "count": len(left),
                    "problems": [p.to_json_dict() for p in left[:50]],
                }
            )
    cleared, problems = strip_setid(workspace)
    if cleared:
        anomaly({"what": "setuid/setgid bits cleared in the workspace", "files": cleared[:200], "count": len(cleared)})
    before = state.ws_before
    if before is not None:
        after, snap_problems = snapshot(workspace, state.ws_rels)
        changes = diff_snapshots(before, after)
        if changes:
            anomaly(
                {
                    "what": "paths the host runs without reading them changed in the workspace",
                    "count": len(changes),
                    "changes": changes[:200],
                }
            )
        problems = [*problems, *snap_problems]
    if problems:
        anomaly(
            {
                "what": "workspace entries that could not be checked",
                "count": len(problems),
                "problems": [p.to_json_dict() for p in problems[:50]],
            }
        )


def _approvers(opts: RunOptions, view: Any) -> list[Approver]:
    """The approver channel the run's options name (terminal, slack from the environment, none, auto)."""
    from agp.approvers import make_approver

    if opts.approver == "terminal":
        return [make_approver("terminal", console=view.console)]
    if opts.approver_channel is not None:  # built and connected before the run started (agp run)
        return [opts.approver_channel]
    return [make_approver(opts.approver)]


async def start_gate(tg: Any, *, opts: RunOptions, ctx: RunContext, view: Any, journal: Any, policy: Any) -> Any:
    """Start the gate on run_dir/sock/gate.sock (reachable by the sandbox's agent user only) and
    register the run's session; every decision and approval feeds the live view."""
    from agp.gate import GateServer
    from agp.gate.server import live_view_sink

    gate = GateServer(
        socket_dir=ctx.run_dir / "sock",
        policy=policy,
        journal=journal,
        approvers=_approvers(opts, view),
        allow_automatic=opts.approver == "auto",
        on_event=live_view_sink(view),
        approval_timeout=opts.approval_timeout,
        socket_uid=ctx.uid,
        socket_gid=ctx.gid,
        host_workspace=str(ctx.workspace),  # symlinks resolved where they really point
        workspace_mode=ctx.workspace_mode,  # clone | mount, in each call's context
        eval_workers=2,
    )  # large commands are classified in worker processes with a deadline
    await tg.start(gate.serve)
    gate.register_session(ctx.session, harness=opts.intendant, run_id=ctx.run_dir.name)
    return gate


async def start_relay(tg: Any, *, opts: RunOptions, ctx: RunContext, journal: Any, record: RunRecord) -> Any:
    """The model relay on run_dir/sock/relay.sock: one upstream, the host's key injected,
    each request's metadata journaled as relay.request (never bodies or keys)."""
    from agp.sandbox.relay import PROVIDERS, Credential, ModelRelay, RelayRules, Upstream

    provider = registry.get(opts.intendant).upstream
    if provider is None:
        raise SandboxError(f"{opts.intendant} reaches no model: it has no relay")
    url = opts.model_upstream or PROVIDERS[provider][0]
    if opts.model_key_env:
        _, header, _, prefix = PROVIDERS[provider]
        credential = Credential.from_env(header, opts.model_key_env, prefix=prefix)
    else:
        credential = Credential.for_provider(provider)
    if record.relay is None:
        record.relay = {"upstream": url, "requests": 0, "bytes_in": 0, "bytes_out": 0}
    totals = record.relay

    def on_request(info: dict) -> None:
        totals["requests"] += 1
        totals["bytes_in"] += int(info.get("bytes_in") or 0)
        totals["bytes_out"] += int(info.get("bytes_out") or 0)
        journal.append("relay.request", session, info)

    session = ctx.session
    relay = ModelRelay(
        ctx.run_dir / "sock" / "relay.sock",
        Upstream.parse(url),
        credential,
        rules=RelayRules.for_provider(provider),
        on_request=on_request,
    )  # model endpoints only
    await tg.start(relay.serve)
    return relay

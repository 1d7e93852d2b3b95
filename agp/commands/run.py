"""``agp run``: one governed run of a harness in the sandbox, ending with an evidence bundle."""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agp.commands._util import HelpFormatter, err_console, out_console, policy_file, print_json
from agp.errors import ApprovalError, UsageError
from agp.paths import data_dir, default_key_dir, default_policy
from intendants import registry

if TYPE_CHECKING:
    from agp.approvers import SlackApprover, SlackSocketApprover

__all__ = (
    "APPROVAL_HEADROOM",
    "DEFAULT_APPROVAL_TIMEOUT",
    "bridge_deadline",
    "check_approval_timeout",
    "register",
    "render_result",
    "workspace_summary",
)

DEFAULT_APPROVAL_TIMEOUT = 20.0
#: what Ctrl-C during a run says happens next
CLEANUP = "stopping the sandbox and every process in it, then writing the evidence bundle"
#: what the gate needs after an approval's timeout and before the bridge's deadline: classifying the
#: call (up to the 5 s evaluation deadline, before the approval starts) and journaling the answer
#: and the decision (fsync)
APPROVAL_HEADROOM = 5.0


def bridge_deadline(intendant: str) -> float:
    """The hook bridge's deadline in the intendant's launch spec (the run does not override it):
    a call the gate has not answered by then is denied by the bridge."""
    fn = importlib.import_module(registry.get(intendant).launch_module).launch_spec
    return float(inspect.signature(fn).parameters["deadline"].default)


def check_approval_timeout(timeout: float, intendant: str) -> float:
    """Refuse (UsageError, exit 2) an approval timeout the bridge's deadline would cut short."""
    limit = bridge_deadline(intendant) - APPROVAL_HEADROOM
    if not timeout > 0:
        raise UsageError("--approval-timeout must be positive")
    if timeout > limit:
        raise UsageError(
            f"--approval-timeout {timeout:g} is too long: the hook bridge denies any call the gate has not "
            f"answered within {bridge_deadline(intendant):g}s, so approvals must end by {limit:g}s "
            f"({APPROVAL_HEADROOM:g}s are kept for classifying and journaling the call)"
        )
    return timeout


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run a harness in the sandbox with every tool call gated, ending with an evidence bundle",
        formatter_class=HelpFormatter,
        description=(
            "Run a coding agent under governance. The harness runs in a Docker container with\n"
            "no network (--network none, all capabilities dropped, read-only root, non-root\n"
            "user); every tool call it wants to make goes through its PreToolUse hook to the\n"
            "gate on this host, which decides it with the policy (default-deny), asks the\n"
            "approver when the policy says `require`, and journals the decision (signed,\n"
            "hash-chained) before answering. The model is reached through a relay on a Unix\n"
            "socket that adds your API key on the host side: the key never enters the sandbox.\n\n"
            "At the end (finish, error, Ctrl-C or --timeout) the sandbox is torn down and an\n"
            "evidence bundle is written and verified.\n\n"
            "Exit status: 0 the run finished and its bundle verifies; 1 it failed (one-line\n"
            "reason); 2 usage error; 124 timeout; 130 interrupted.\n\n"
            "examples:\n"
            "  agp run --intendant claude-code --task 'fix the flaky test' --workspace .\n"
            "  agp run --intendant codex --task 'add a --verbose flag' --workspace . --approver slack\n"
            "  agp run --intendant reference --script task.json --workspace /tmp/ws --approver none"
        ),
    )
    p.add_argument(
        "--intendant",
        required=True,
        choices=sorted(registry.NAMES),
        help="which harness runs: Claude Code, Codex, or the deterministic reference agent",
    )
    p.add_argument("--task", default=None, help="the task given to the agent (the reference agent takes --script)")
    p.add_argument("--script", type=Path, default=None, help="reference intendant: the JSON task script to run")
    p.add_argument(
        "--workspace",
        type=Path,
        required=True,
        help="the directory the agent works in: a git repository's top level runs in clone mode "
        "(the agent works on a clone; its change comes back as a patch and a branch agp/RUN-ID), "
        "any other directory is mounted read-write",
    )
    p.add_argument(
        "--workspace-mode",
        choices=["clone", "mount"],
        default=None,
        help="clone (default for a git repository) or mount (the directory itself, read-write)",
    )
    p.add_argument(
        "--apply",
        action="store_true",
        help="clone mode: apply the result to the working tree instead of creating the branch "
        "(refused when it would overwrite changes made since the run started)",
    )
    p.add_argument(
        "--result-max-file-mb",
        type=float,
        default=50.0,
        metavar="MB",
        help="clone mode: a file larger than this is not carried back (an anomaly; default 50)",
    )
    p.add_argument(
        "--policy",
        type=policy_file,
        action="append",
        default=None,
        metavar="FILE",
        help="policy file, or a shipped one: default, ci, strict (default: default); repeat for tiers, strictest wins. "
        "A .agp/policy.toml committed at the workspace's HEAD is added as a tier that can only tighten",
    )
    p.add_argument(
        "--approver",
        choices=["terminal", "slack", "none"],
        default=None,
        help="who answers `require` verdicts (default: terminal on a TTY, none otherwise; "
        "none means every require is denied)",
    )
    p.add_argument(
        "--approval-timeout",
        type=float,
        default=DEFAULT_APPROVAL_TIMEOUT,
        metavar="S",
        help=f"seconds to wait for an approval before denying (default {DEFAULT_APPROVAL_TIMEOUT:g}; at most "
        f"the hook bridge's deadline minus {APPROVAL_HEADROOM:g}s)",
    )
    p.add_argument(
        "--slack-channel",
        default=None,
        metavar="CHANNEL",
        help="--approver slack: the channel approvals are posted to (or AGP_SLACK_CHANNEL); "
        "the tokens come from SLACK_BOT_TOKEN and SLACK_APP_TOKEN (docs/slack.md)",
    )
    p.add_argument(
        "--model-upstream",
        default=None,
        help="the one model API the relay forwards to (default: https://api.anthropic.com for "
        "claude-code, https://api.openai.com for codex)",
    )
    p.add_argument(
        "--resolve",
        action="append",
        default=[],
        metavar="HOST:PORT:ADDRESS",
        help="egress door: connect HOST:PORT to ADDRESS instead of resolving HOST (curl's syntax; "
        "repeatable; for internal mirrors and tests)",
    )
    p.add_argument(
        "--image",
        default=None,
        metavar="NAME",
        help="run the intendant in a pinned image built on its own instead of its own image: "
        "reference-node (the reference image with node and npm; `agp images build reference-node`)",
    )
    p.add_argument("--timeout", type=float, default=1800.0, help="hard timeout in seconds (default 1800)")
    p.add_argument(
        "--max-write-mb",
        type=float,
        default=4096.0,
        help="stop the run when the sandbox has added more than this many MB to the workspace and its "
        "state directories (sampled every second on the host; default 4096)",
    )
    p.add_argument("--out", type=Path, default=None, help=f"where run directories go (default {data_dir() / 'runs'})")
    p.add_argument(
        "--key-dir",
        type=Path,
        default=None,
        help=f"journal signing key directory (default {default_key_dir()}; created on first use)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON at the end")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from agp._interrupt import announce_interrupt
    from agp._live import LiveView
    from agp.preflight import preflight
    from agp.run import RunOptions, run_governed

    if registry.get(args.intendant).runs_script:
        if args.script is None:
            raise UsageError("the reference intendant runs a task script: pass --script FILE")
    elif not args.task:
        raise UsageError(f"{args.intendant} needs a task: pass --task TEXT")
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    if args.max_write_mb <= 0:
        raise UsageError("--max-write-mb must be positive")
    approver = args.approver or ("terminal" if os.isatty(0) and os.isatty(2) else "none")
    check_approval_timeout(args.approval_timeout, args.intendant)
    if args.slack_channel is not None and approver != "slack":
        raise UsageError("--slack-channel is for --approver slack")
    from agp.errors import SandboxError
    from agp.sandbox.egress import parse_resolve

    try:
        parse_resolve(args.resolve)
    except SandboxError as exc:
        raise UsageError(str(exc)) from None
    if args.image is not None:
        from agp.sandbox.images import TOOLCHAINS

        if TOOLCHAINS.get(args.image) != registry.get(args.intendant).image:
            fits = [n for n, parent in TOOLCHAINS.items() if parent == registry.get(args.intendant).image]
            raise UsageError(
                f"--image {args.image}: not an image built on the {args.intendant} image "
                f"(for {args.intendant}: {', '.join(fits) or 'none'})"
            )
    if args.apply and args.workspace_mode == "mount":
        raise UsageError("--apply is for clone mode (a mounted workspace is changed in place)")
    preflight(
        intendant=args.intendant,
        workspace=args.workspace,
        script=args.script,
        policy=args.policy or default_policy(),
        key_dir=args.key_dir or default_key_dir(),
        approver=approver,
        model_upstream=args.model_upstream,
    )
    if args.image is not None:
        from agp.errors import ImagePinError
        from agp.sandbox.images import resolve_toolchain_image

        try:
            resolve_toolchain_image(args.image, registry.get(args.intendant).image)
        except ImagePinError as exc:
            raise UsageError(f"--image {args.image}: {exc}") from None
    opts = RunOptions(
        intendant=args.intendant,
        task=args.task or f"script {args.script}",
        workspace=args.workspace,
        policy=args.policy,
        approver=approver,
        model_upstream=args.model_upstream,
        timeout=args.timeout,
        out=args.out,
        key_dir=args.key_dir,
        script=args.script,
        approval_timeout=args.approval_timeout,
        max_write_mb=args.max_write_mb,
        resolve=tuple(args.resolve),
        image=args.image,
        workspace_mode=args.workspace_mode,
        land="apply" if args.apply else "branch",
        result_max_file=int(args.result_max_file_mb * 1024**2),
        skip_doctor=True,  # the preflight ran the doctor's checks
    )
    slack = _connect_slack(args.slack_channel) if approver == "slack" else None
    try:
        if slack is not None:
            opts = replace(opts, approver_channel=slack)
        with announce_interrupt(CLEANUP), LiveView(title=f"agp run · {args.intendant}") as view:
            if approver == "none":
                view.log("approver: none — every call the policy sends for approval is denied")
            elif slack is not None:
                view.log(
                    f"approver: slack, channel {slack.channel} ({slack.transport}); "
                    f"approval timeout {args.approval_timeout:g}s"
                )
            result = run_governed(opts, view)
    finally:
        if slack is not None:
            slack.close()
    if args.json:
        print_json({**result.to_json_dict(), **workspace_summary(result.run_dir)})
    else:
        render_result(result)
    return result.exit_code


def workspace_summary(run_dir: Path) -> dict[str, Any]:
    """The clone-mode fields of ``--json`` ({workspace_mode, branch, patch, patch_sha256, files_changed, ...})."""
    import json

    from agp.workspace.session import summary

    try:
        return summary(json.loads((Path(run_dir) / "workspace.json").read_text()))
    except (OSError, ValueError):
        try:
            mode = json.loads((Path(run_dir) / "run.json").read_text()).get("workspace_mode")
        except (OSError, ValueError):
            mode = None
        return {"workspace_mode": mode, "branch": None, "patch": None, "patch_sha256": None, "files_changed": 0}


def _connect_slack(channel: str | None) -> SlackSocketApprover | SlackApprover:
    """Build the Slack approver from the environment and connect it (token check, Socket Mode hello)
    before anything starts: a missing variable or a refused token is a usage error, exit 2."""
    from agp.approvers import slack_from_env

    try:
        ap = slack_from_env(channel=channel)
        ap.start()
    except ApprovalError as exc:
        raise UsageError(str(exc)) from exc
    return ap


def render_result(result) -> None:
    c = out_console()
    counts = " · ".join(f"{k} {v}" for k, v in sorted(result.counts.items()))
    mark = "[bold green]✓[/]" if result.exit_code == 0 else "[bold red]✗[/]"
    c.print(f"{mark} {result.reason}")
    c.print(f"  run        {result.run_dir}")
    c.print(f"  decisions  {counts or 'none'}")
    ws = workspace_summary(result.run_dir)
    if ws.get("workspace_mode") == "clone":
        c.print(
            f"  result     {ws.get('files_changed') or 0} file(s) changed; {ws.get('landing') or 'not computed'}",
            markup=False,
        )
        if ws.get("host_run_paths"):
            c.print("  [yellow]flagged[/]    paths the host runs: " + ", ".join(ws["host_run_paths"][:10]))
        if ws.get("patch"):
            c.print(f"  patch      {ws['patch']} (sha256 {ws['patch_sha256'][:16]}…)", markup=False)
    if result.bundle_dir is not None:
        state = "[green]verifies[/]" if result.bundle_ok else "[red]FAILED[/]"
        c.print(f"  bundle     {result.bundle_dir} ({state})")
        c.print(f"  verify     agp verify {result.bundle_dir} --key {result.run_dir / 'keys' / 'agp.pub'}")
    if result.exit_code != 0:
        err_console().print(f"agp: {result.reason}", markup=False)

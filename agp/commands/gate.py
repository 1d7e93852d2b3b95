"""``agp gate``: run the decision gate on a Unix socket until SIGTERM."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from agp.commands._util import HelpFormatter, err_console, policy_file
from agp.errors import ApprovalError, UsageError

__all__ = ("register",)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gate",
        help="serve the decision gate on DIR/gate.sock (policy, approvals, journal)",
        formatter_class=HelpFormatter,
        description=(
            "Serve the gate on <socket-dir>/gate.sock until SIGTERM or Ctrl-C.\n\n"
            "For each `check` frame from a hook bridge: classify the call, evaluate the policy,\n"
            "ask an approver when a rule says `require`, append the decision to the signed journal\n"
            "(durably), and only then answer allow or deny with the journal seq. Anything that goes\n"
            "wrong is a deny: a malformed or oversized frame, an unknown or rate-limited session,\n"
            "an approval that times out, a journal that cannot be written (after which every call\n"
            "is denied until the gate restarts).\n\n"
            "The socket directory is created mode 0700; mount the directory (not the socket)\n"
            "into sandboxes at /run/agp. On SIGTERM the gate stops accepting, denies pending\n"
            "approvals, answers every call in flight and writes the signed journal head.\n\n"
            "Startup refuses an invalid policy, unreadable keys and a journal whose tail does\n"
            "not verify.\n\n"
            "Approvers:\n"
            "  terminal  a prompt on this terminal; a/d approve/deny (needs a tty)\n"
            "  slack     Block Kit buttons in a channel; needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN\n"
            "            (Socket Mode), or SLACK_SIGNING_SECRET and a tunnel (docs/slack.md)\n"
            "  none      CI mode: nobody can approve, so every `require` is a deny\n\n"
            "example:\n"
            "  agp gate --socket-dir run/sock --policy policies/default.toml \\\n"
            "           --journal run/journal.jsonl --key-dir ~/.local/share/agp/keys --approver none"
        ),
    )
    p.add_argument("--socket-dir", type=Path, required=True, help="directory for gate.sock (created mode 0700)")
    p.add_argument(
        "--policy",
        type=policy_file,
        action="append",
        required=True,
        help="policy TOML, or a shipped one (default, ci, strict); repeat for tiers (strictest wins)",
    )
    p.add_argument("--journal", type=Path, required=True, help="journal file (created if absent; must verify)")
    p.add_argument("--key-dir", type=Path, required=True, help="directory holding agp.key (the signing key)")
    p.add_argument(
        "--approver",
        choices=("terminal", "slack", "none"),
        default="terminal",
        help="who answers `require` decisions (default terminal)",
    )
    p.add_argument(
        "--approval-timeout",
        type=float,
        default=20.0,
        metavar="S",
        help="seconds to wait for an approval before denying (default 20; keep it below the bridge deadline)",
    )
    p.add_argument(
        "--workspace", default="/workspace", help="the workspace path as the sandbox sees it (default /workspace)"
    )
    p.add_argument(
        "--session",
        action="append",
        default=[],
        metavar="ID",
        help="register a session id (repeatable); without any, sessions register on first use",
    )
    p.add_argument("--max-sessions", type=int, default=16, help="cap on concurrent sessions (default 16)")
    p.add_argument("--rate", type=int, default=600, help="calls allowed per session per window (default 600)")
    p.add_argument("--window", type=float, default=60.0, help="rate-limit window in seconds (default 60)")
    p.add_argument(
        "--eval-workers",
        type=int,
        default=2,
        metavar="N",
        help="worker processes that classify and evaluate calls (default 2; 0 = in the gate's loop)",
    )
    p.add_argument(
        "--eval-timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="deny a call whose classification takes longer than this (default 5; needs workers)",
    )
    p.add_argument(
        "--eval-inline-max",
        type=int,
        default=8192,
        metavar="BYTES",
        help="frames up to this size are classified in the gate's loop, larger ones in a worker "
        "under the deadline (default 8192; -1 sends every call to a worker)",
    )
    p.add_argument(
        "--socket-uid",
        type=int,
        default=None,
        help="hand the socket directory and socket to this uid (the sandbox user)",
    )
    p.add_argument(
        "--slack-channel",
        default=os.environ.get("AGP_SLACK_CHANNEL"),
        help="channel to post approvals to (or AGP_SLACK_CHANNEL)",
    )
    p.add_argument(
        "--slack-port",
        type=int,
        default=int(os.environ.get("AGP_SLACK_PORT", "3000")),
        help="local port of the interactions endpoint on 127.0.0.1 (default 3000)",
    )
    p.add_argument(
        "--slack-api-url",
        default=os.environ.get("AGP_SLACK_API_URL"),
        help="Slack Web API base URL (tests point it at a local fake)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON line per event on stdout")
    p.add_argument("--quiet", action="store_true", help="do not print each decision (startup and shutdown only)")
    p.set_defaults(func=_gate)


def _approver(args: argparse.Namespace, console: Any) -> Any:
    from agp.approvers import NoApprover, TerminalApprover, slack_from_env

    if args.approver == "none":
        return NoApprover()
    if args.approver == "terminal":
        try:
            os.close(os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY))
        except OSError:
            console.print(
                "[yellow]warning:[/] no controlling terminal; every approval will be denied "
                "(use --approver slack, or --approver none to say so)"
            )
        return TerminalApprover(console)
    try:
        return slack_from_env(channel=args.slack_channel, port=args.slack_port, api_url=args.slack_api_url)
    except ApprovalError as exc:
        raise UsageError(str(exc)) from exc


def _gate(args: argparse.Namespace) -> int:
    import anyio

    from agp.gate import GateEvent, GateServer, SessionTable
    from agp.journal import Journal, load_signing_key
    from agp.policy import load_policy

    console = err_console()
    if args.approval_timeout <= 0:
        raise UsageError("--approval-timeout must be positive")
    policy = load_policy(args.policy)  # PolicyError: refuse to start
    key = load_signing_key(args.key_dir)  # KeyFileError
    approver = _approver(args, console)
    journal = Journal.open(args.journal, key)  # JournalVerificationError when the tail does not verify
    sessions = SessionTable(
        max_sessions=args.max_sessions, rate=args.rate, window=args.window, auto_register=not args.session
    )

    def on_event(ev: GateEvent) -> None:
        if args.quiet and ev.kind in ("decision", "session"):
            return
        if args.json:
            sys.stdout.write(json.dumps({"event": ev.kind, **ev.data}, default=str) + "\n")
            sys.stdout.flush()
            return
        d = ev.data
        if ev.kind == "decision":
            style = "green" if d["decision"] == "allow" else "red"
            seq = f"#{d['seq']}" if d.get("seq") is not None else "(not journaled)"
            console.print(
                f"[{style}]{d['decision'].upper():<5}[/] {d['tool']:<10} {d['summary'][:90]}  "
                f"[dim]{d.get('rule') or '-'} {seq} {d['session']}[/]",
                markup=True,
            )
        elif ev.kind == "pending":
            console.print(f"[yellow]WAIT [/] approval {d['key']} for {d['summary']} (quorum {d['quorum']})")
        elif ev.kind == "resolved":
            console.print(f"[bold]{d['outcome']}[/] approval {d['key']}")
        elif ev.kind == "frame_rejected":
            console.print(f"[red]DENY [/] rejected frame: {d['code']}: {d['detail'][:120]}")
        elif ev.kind == "journal_failed":
            console.print(f"[bold red]journal append failed; denying every call:[/] {d['reason']}")

    server = GateServer(
        socket_dir=args.socket_dir,
        policy=policy,
        journal=journal,
        approvers=[approver],
        sessions=sessions,
        workspace=args.workspace,
        approval_timeout=args.approval_timeout,
        on_event=on_event,
        own_journal=True,
        socket_uid=args.socket_uid,
        eval_workers=max(0, args.eval_workers),
        eval_timeout=args.eval_timeout,
        eval_inline_max=args.eval_inline_max,
    )
    try:
        for sid in args.session:
            server.register_session(sid, source="cli")
    except BaseException:
        journal.close()
        raise

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(server.serve)
            mode = (
                "[bold]none (CI mode): every call that needs approval is DENIED[/]"
                if args.approver == "none"
                else args.approver
            )
            console.print(
                f"gate ready on {server.socket_path}\n  policy   {', '.join(map(str, args.policy))} "
                f"(digest {policy.digest[:16]}…)\n  journal  {args.journal} (key {key.kid})\n"
                f"  approver {mode}\n  sessions "
                + (", ".join(args.session) if args.session else f"register on first use (cap {args.max_sessions})")
            )
            if args.approver == "slack":
                console.print(f"  slack endpoint {approver.url} (point the app's Request URL here through a tunnel)")
            if args.json:
                sys.stdout.write(json.dumps({"event": "ready", "socket": str(server.socket_path)}) + "\n")
                sys.stdout.flush()
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
                async for sig in signals:
                    console.print(f"received {signal.Signals(sig).name}: draining in-flight calls, writing the head")
                    server.shutdown()
                    break

    anyio.run(main)
    counts = server.decisions
    console.print(
        f"gate stopped: {counts.get('allow', 0)} allowed, {counts.get('deny', 0)} denied"
        + (f"; the journal FAILED: {server.failed}" if server.failed else "; journal head written")
    )
    return 1 if server.failed else 0

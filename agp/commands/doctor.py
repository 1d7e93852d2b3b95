"""``agp doctor``: is this machine ready for a governed run?"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape

from agp.commands._util import HelpFormatter, out_console, policy_file, print_json
from agp.doctor import Check, check_toolchain_images, run_checks
from agp.errors import UsageError
from agp.paths import default_key_dir
from intendants import registry

__all__ = ("register",)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor",
        help="check that this machine is ready for a governed run",
        formatter_class=HelpFormatter,
        description=(
            "A readiness audit: Docker engine reachable (and whether it has routes), images\n"
            "present and pinned by id, the signing key present with safe permissions, the\n"
            "harness binaries at the validated versions, Unix sockets creatable, the policy\n"
            "valid. Each line passes or fails with the fix. `agp run` performs the same checks\n"
            "first and refuses to start on a failure. The optional toolchain images (`agp run\n"
            "--image`) are checked too: one not built is a warning. With --intendant claude-code\n"
            "or codex it also checks that intendant's model key: set, and taken by the model\n"
            "API (one GET /v1/models, no tokens spent).\n\n"
            "Exit status: 0 when nothing failed, 1 otherwise."
        ),
    )
    p.add_argument("--key-dir", type=Path, default=None, help=f"key directory (default {default_key_dir()})")
    p.add_argument(
        "--policy", type=policy_file, default=None, help="policy file to validate (default: policies/default.toml)"
    )
    p.add_argument(
        "--intendant",
        action="append",
        choices=list(registry.NAMES),
        help="intendant images to check (repeatable; default: all three)",
    )
    p.add_argument(
        "--model-upstream",
        default=None,
        metavar="URL",
        help="with --intendant claude-code or codex: the model API whose answer to the key is checked "
        "(default: the provider's)",
    )
    p.add_argument("--json", action="store_true", help="print [{name, status, detail, fix}] as JSON")
    p.set_defaults(func=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    if args.model_upstream and not any(i in registry.REAL for i in args.intendant or []):
        raise UsageError("--model-upstream is for --intendant " + " or ".join(registry.REAL))
    intendants = args.intendant or list(registry.NAMES)
    harness = any(i in registry.REAL for i in intendants)
    checks = run_checks(
        key_dir=args.key_dir or default_key_dir(), policy=args.policy, intendants=intendants, harness=harness
    )
    # images a run uses only when asked for (`agp run --image`): a warning when missing, not a failure
    checks.extend(check_toolchain_images(intendants))
    # the model key, for the intendants named: is it set, and does the model API take it (no tokens spent)
    for name in dict.fromkeys(args.intendant or []):
        if name not in registry.REAL:  # the reference agent has no model
            continue
        from agp.preflight import check_model, model_key_env

        m = check_model(name, args.model_upstream)
        checks.append(
            Check(
                f"model key {name}",
                "pass" if m.ok else "fail",
                m.detail,
                "" if m.ok else f"set ${model_key_env(name)} to a key this model API takes (or pass --model-upstream)",
            )
        )
    if args.json:
        print_json([c.to_json_dict() for c in checks])
    else:
        c = out_console()
        marks = {"pass": "[green]✓ pass[/]", "warn": "[yellow]! warn[/]", "fail": "[red]✗ fail[/]"}
        for ch in checks:
            c.print(f"{marks[ch.status]}  [bold]{ch.name:<20}[/] {escape(ch.detail)}")
            if ch.status != "pass" and ch.fix:
                c.print(f"{'':8}{'':20} fix: {escape(ch.fix)}")
        failed = sum(1 for ch in checks if ch.status == "fail")
        c.print("[green]ready[/]" if not failed else f"[red]{failed} check(s) failed[/]")
    return 0 if all(ch.ok for ch in checks) else 1

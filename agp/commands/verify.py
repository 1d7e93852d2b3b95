"""``agp verify``: check a journal (or an evidence bundle) offline with public keys only."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.markup import escape

from agp.commands._util import HelpFormatter, err_console, out_console, print_json
from agp.errors import UsageError
from agp.journal import Keyring, load_public_key
from agp.journal.verify import VerifyReport, scan_journal

__all__ = ("register", "render_report")

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="verify a journal or an evidence bundle offline",
        formatter_class=HelpFormatter,
        description=(
            "Verify a journal offline with only the public key: every line's hash chain\n"
            "and Ed25519 signature, key rotations, and the signed head (truncation,\n"
            "rollback, rewrite). Large journals are checked with one worker per core.\n\n"
            "Exit status: 0 valid, 1 verification failed, 2 usage error (missing file, bad key).\n\n"
            "examples:\n"
            "  agp verify journal.jsonl --key agp.pub\n"
            "  agp verify journal.jsonl --keyring keyring.json --json"
        ),
    )
    p.add_argument("path", type=Path, metavar="JOURNAL|BUNDLE_DIR", help="a journal file, or an evidence bundle directory")
    p.add_argument("--key", type=Path, help="the trusted public key (agp.pub)")
    p.add_argument("--keyring", type=Path, help="a keyring file (keyring.json) of trusted public keys")
    p.add_argument("--head", type=Path, help="the signed head (default: JOURNAL.head)")
    p.add_argument("--json", action="store_true", help="print {ok, entries, head, errors: [{seq, line, reason}], ...}")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    p.set_defaults(func=_verify)


def _keyring(args: argparse.Namespace) -> Keyring | None:
    keys = []
    if args.keyring is not None:
        keys.extend(Keyring.load(args.keyring).values())
    if args.key is not None:
        keys.append(load_public_key(args.key))
    return Keyring(keys) if keys else None


def _verify(args: argparse.Namespace) -> int:
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    keyring = _keyring(args)
    if args.path.is_dir():
        return _verify_bundle(args, keyring)
    if not args.path.exists():
        raise UsageError(f"no journal file at {args.path}")
    if keyring is None:
        raise UsageError("give the trusted public key with --key PUB (or --keyring FILE)")
    status = None
    if not args.json and sys.stderr.isatty():
        status = err_console().status(f"verifying {args.path} …")
        status.start()
    try:
        report = scan_journal(args.path, keyring, head_path=args.head, workers=args.workers)
    finally:
        if status is not None:
            status.stop()
    if args.json:
        print_json(report.to_json_dict())
    else:
        render_report(report)
    return EXIT_OK if report.ok else EXIT_FAIL


def render_report(report: VerifyReport) -> None:
    c = out_console()
    if report.ok:
        c.print(f"[bold green]✓ journal verifies[/]  {escape(report.path)}")
    else:
        c.print(f"[bold red]✗ journal does NOT verify[/]  {escape(report.path)}")
    last = f" (seq 0..{report.last_seq})" if report.last_seq is not None else ""
    c.print(
        f"  entries   {report.entries}{last}, {report.sessions}{'+' if report.sessions_capped else ''} sessions, "
        f"{len(report.kids)} key(s) {', '.join(report.kids)}, {report.rotations} rotation(s)"
    )
    if report.kinds:
        c.print("  kinds     " + escape(" · ".join(f"{k} {v}" for k, v in sorted(report.kinds.items()))))
    if report.first_ts:
        c.print(f"  span      {report.first_ts} → {report.last_ts}")
    h = report.head
    if h.get("present"):
        cov = "all entries covered" if h.get("covered") else f"{h.get('uncovered_entries', '?')} entries after it not covered"
        c.print(f"  head      entry {h['seq']} signed by {h['kid']} at {h['ts']}; {cov}")
    else:
        c.print("  head      [red]missing[/]")
    for note in report.notes:
        c.print(f"  [yellow]note[/]      {escape(note)}")
    if report.errors:
        c.print(f"  [red]error[/]     {escape(str(report.errors[0]))}")
        if len(report.errors) > 1:
            c.print(f"            … and {len(report.errors) - 1} more (--json lists them all)")


def _verify_bundle(args: argparse.Namespace, keyring: Keyring | None) -> int:
    """A directory is an evidence bundle: manifest, signatures, journal and head, reconciliation."""
    from agp.commands.evidence import verify_bundle_cli

    return verify_bundle_cli(args, keyring)

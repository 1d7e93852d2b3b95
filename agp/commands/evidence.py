"""``agp evidence``: build the evidence bundle of a run directory; render bundle reports.

``render_bundle_report`` is also what ``agp verify BUNDLE`` prints.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape

from agp.commands._util import HelpFormatter, out_console, print_json
from agp.errors import EvidenceError, UsageError
from agp.evidence import BundleReport, build_bundle
from agp.journal import load_signing_key
from agp.paths import default_key_dir

__all__ = ("register", "render_bundle_report")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evidence",
        help="build the evidence bundle of a run (journal, keys, timeline, report, reconciliation, signed manifest)",
        formatter_class=HelpFormatter,
        description=(
            "Build the evidence bundle of a run directory: the journal and its signed head,\n"
            "the public key(s), `agp verify` of the journal (text and JSON), a timeline of\n"
            "every event, an after-action report, a reconciliation of the harness's own\n"
            "transcript against the gate decisions, and manifest.json (sha256 of every file)\n"
            "signed with the journal's key (manifest.sig).\n\n"
            "Fails closed: if the journal does not verify, no call was gated, or the\n"
            "transcript shows a tool call without a gate decision, the bundle is still\n"
            "written (so you can see why) but marked failed, and the exit status is 1.\n\n"
            "Exit status: 0 good bundle, 1 bundle written but failed, 2 usage error.\n\n"
            "examples:\n"
            "  agp evidence runs/2026-11-23T09-00-00 --out bundle/\n"
            "  agp verify bundle/ --key agp.pub"
        ),
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the run directory `agp run` left")
    p.add_argument("--out", type=Path, required=True, help="where to write the bundle (must not exist or be empty)")
    p.add_argument(
        "--key-dir",
        type=Path,
        default=None,
        help=f"directory of the journal's signing key agp.key (default {default_key_dir()})",
    )
    p.add_argument("--no-logs", action="store_true", help="leave the run's logs/ out of the bundle")
    p.add_argument("--json", action="store_true", help="print the bundle report as JSON")
    p.set_defaults(func=_evidence)


def _evidence(args: argparse.Namespace) -> int:
    if not args.run_dir.is_dir():
        raise UsageError(f"no run directory at {args.run_dir}")
    key = load_signing_key(args.key_dir if args.key_dir is not None else default_key_dir())
    try:
        report = build_bundle(args.run_dir, args.out, key, include_logs=not args.no_logs)
    except EvidenceError as exc:
        partial: BundleReport | None = getattr(exc, "report", None)
        if partial is None:
            raise
        report = partial
    if args.json:
        print_json(report.to_json_dict())
    else:
        render_bundle_report(report, built=True)
    return 0 if report.ok else 1


def render_bundle_report(report: BundleReport, *, built: bool = False) -> None:
    c = out_console()
    what = "evidence bundle written" if built else "evidence bundle verifies"
    if report.ok:
        c.print(f"[bold green]✓ {what}[/]  {escape(report.bundle_dir)}")
    else:
        verb = "written but FAILED" if built else "does NOT verify"
        c.print(f"[bold red]✗ evidence bundle {verb}[/]  {escape(report.bundle_dir)}")
    c.print(f"  run       {escape(str(report.run_id or '?'))} ({escape(str(report.harness or 'unknown harness'))})")
    j = report.journal
    if j:
        c.print(
            f"  journal   {'verifies' if report.journal_ok else '[red]does not verify[/]'}: {j.get('entries')} entries, keys {', '.join(j.get('kids') or [])}"
        )
    c.print(f"  gated     {report.gated} call(s)")
    counts = report.counts
    if "allow" in counts:
        c.print(
            f"  decisions allow {counts['allow']} · deny {counts['deny']} · require {counts['require']} · "
            f"approved {counts['approved']} · timed out {counts['timed_out']}"
        )
    if report.trust:
        c.print(f"  trust     {escape(report.trust)}; key(s) {', '.join(report.trusted_kids) or '—'}")
    if report.manifest_kid:
        c.print(f"  manifest  signed by {escape(str(report.manifest_kid))}; {report.files} file(s)")
    _print_grouped(c, "[red]fail[/]", [(p.code, f"[{p.code}] {p}") for p in report.errors])
    _print_grouped(c, "[yellow]warn[/]", [(w.split(":", 1)[0], w) for w in report.warnings])


def _print_grouped(c, label: str, lines: list[tuple[str, str]], per_kind: int = 3) -> None:
    """Print each line, but at most ``per_kind`` of one kind (a code, or the text before the first colon)."""
    seen: dict[str, int] = {}
    hidden: dict[str, int] = {}
    for kind, line in lines:
        seen[kind] = seen.get(kind, 0) + 1
        if seen[kind] <= per_kind:
            c.print(f"  {label}      {escape(line)}")
        else:
            hidden[kind] = hidden.get(kind, 0) + 1
    for kind, n in hidden.items():
        c.print(f"  {label}      … and {n} more {kind} (--json lists them all)")

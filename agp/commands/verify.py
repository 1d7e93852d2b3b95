"""``agp verify``: check a journal (or an evidence bundle) offline with public keys only."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.markup import escape

from agp.commands._util import HelpFormatter, err_console, out_console, print_json
from agp.errors import AgpError, UsageError
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
    p.add_argument("path", type=Path, nargs="?", metavar="JOURNAL|BUNDLE_DIR",
                   help="a journal file, or an evidence bundle directory (omit with --entry)")
    p.add_argument("--key", type=Path, help="the trusted public key (agp.pub)")
    p.add_argument("--keyring", type=Path, help="a keyring file (keyring.json) of trusted public keys")
    p.add_argument("--head", type=Path, help="the signed head (default: JOURNAL.head)")
    p.add_argument("--json", action="store_true", help="print {ok, entries, head, errors: [{seq, line, reason}], ...}")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    t = p.add_argument_group(
        "transparency proofs",
        "check one entry without the journal, that a journal extends an older checkpoint, and witness cosignatures")
    t.add_argument("--entry", type=Path, help="one entry line (from `agp journal prove`) to verify on its own")
    t.add_argument("--proof", type=Path, help="its inclusion proof (C2SP tlog-proof, from `agp journal prove`)")
    t.add_argument("--checkpoint", type=Path,
                   help="the signed checkpoint the proof (or --witness) refers to (default: the one in the proof)")
    t.add_argument("--since", type=Path, metavar="OLD_CHECKPOINT",
                   help="require that JOURNAL extends this older signed checkpoint (append-only; any rewrite fails)")
    t.add_argument("--witness", action="append", default=[], metavar="VKEY|FILE",
                   help="a witness verifier key (vkey text or a file holding it); repeatable")
    t.add_argument("--min-witnesses", type=int, default=None,
                   help="cosignatures required from distinct --witness keys (default: all of them)")
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
    if args.entry is not None or args.proof is not None:
        return _verify_entry(args, keyring)
    if args.path is None:
        raise UsageError("give a JOURNAL or BUNDLE_DIR (or --entry FILE --proof FILE)")
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
    extra_errors: list[str] = []
    doc = report.to_json_dict()
    if report.ok and args.since is not None:
        from agp.journal.proofs import verify_consistency

        try:
            cons = verify_consistency(args.path, _read(args.since), keyring, recheck_entries=False)  # scan_journal checked every entry
            doc["since"] = {"old_size": cons.old_size, "old_root": cons.old_root, "size": cons.size, "root": cons.root}
        except AgpError as exc:
            extra_errors.append(f"--since {args.since}: {exc}")
    if report.ok and args.witness:
        if args.checkpoint is None:
            raise UsageError("--witness needs --checkpoint FILE: the cosigned checkpoint to check against JOURNAL")
        from agp.journal.proofs import verify_consistency

        try:
            w = _witnesses(args, _read(args.checkpoint))
            cons = verify_consistency(args.path, _read(args.checkpoint), keyring, recheck_entries=False)
            doc["witnesses"] = {"required": w.required, "valid": [list(v) for v in w.valid], "checkpoint_size": cons.old_size}
        except AgpError as exc:
            extra_errors.append(str(exc) if str(exc).startswith("witnesses") else f"witnesses: {exc}")
    if extra_errors:
        doc["ok"] = False
        doc["errors"] += [{"seq": None, "line": None, "reason": e} for e in extra_errors]
    if args.json:
        print_json(doc)
    else:
        render_report(report)
        c = out_console()
        if "since" in doc:
            c.print(f"  since     extends the checkpoint of {doc['since']['old_size']} entries (append-only)")
        if "witnesses" in doc:
            c.print(f"  witnesses {len(doc['witnesses']['valid'])} valid cosignature(s), {doc['witnesses']['required']} required")
        for e in extra_errors:
            c.print(f"  [red]error[/]     {escape(e)}")
    return EXIT_OK if report.ok and not extra_errors else EXIT_FAIL


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _witnesses(args: argparse.Namespace, checkpoint_text: str):
    from agp.journal.proofs import require_witnesses

    keys = []
    for w in args.witness:
        p = Path(w)
        keys.append(p.read_text(encoding="utf-8").strip() if p.is_file() else w.strip())
    k = args.min_witnesses if args.min_witnesses is not None else len(keys)
    return require_witnesses(checkpoint_text, keys, k)


def _verify_entry(args: argparse.Namespace, keyring: Keyring | None) -> int:
    """One entry, its inclusion proof and a signed checkpoint: no journal needed."""
    from agp.journal.proofs import verify_entry

    if args.entry is None or args.proof is None:
        raise UsageError("--entry and --proof go together")
    if keyring is None:
        raise UsageError("give the log's public key with --key PUB (or --keyring FILE)")
    cp_text = _read(args.checkpoint) if args.checkpoint is not None else None
    doc: dict = {"ok": True, "errors": []}
    try:
        v = verify_entry(args.entry.read_bytes(), _read(args.proof), cp_text, keyring)
        doc.update(entry={"seq": v.entry.seq, "kind": v.entry.kind, "hash": v.entry.hash},
                   checkpoint={"origin": v.checkpoint.origin, "size": v.checkpoint.size, "root": v.checkpoint.root_b64})
        if args.witness:
            w = _witnesses(args, v.checkpoint.note)
            doc["witnesses"] = {"required": w.required, "valid": [list(x) for x in w.valid]}
    except AgpError as exc:
        doc = {"ok": False, "errors": [{"seq": None, "line": None, "reason": exc.diagnostics()}]}
    except OSError as exc:
        raise UsageError(f"cannot read {args.entry}: {exc.strerror}") from exc
    if args.json:
        print_json(doc)
    else:
        c = out_console()
        if doc["ok"]:
            e, cp = doc["entry"], doc["checkpoint"]
            c.print(f"[bold green]✓ entry {e['seq']} ({escape(e['kind'])}) is in the log[/] at tree size {cp['size']} "
                    f"({escape(cp['origin'])})")
            if "witnesses" in doc:
                c.print(f"  witnesses {len(doc['witnesses']['valid'])} valid cosignature(s)")
        else:
            c.print(f"[bold red]✗ entry does NOT verify[/]: {escape(doc['errors'][0]['reason'])}")
    return EXIT_OK if doc["ok"] else EXIT_FAIL


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

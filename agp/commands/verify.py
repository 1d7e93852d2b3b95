"""``agp verify``: check a journal, an evidence bundle or one entry offline, with public keys only.

Every flag given is applied or refused (exit 2); none is ignored. The headline and the exit
status come from the same result, and ``--json`` prints that result in one shape,
``{ok, kind, errors: [{code, message, where}], ...}``, on success, on failure and on a usage
error alike.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any

from rich.markup import escape

from agp.commands._util import HelpFormatter, err_console, out_console, print_json
from agp.errors import AgpError, UsageError
from agp.evidence.problem import Problem
from agp.journal import Keyring, PublicKey, load_public_key
from agp.journal.verify import VerifyReport, scan_journal

__all__ = ("register", "render_report", "verify_bundle_cli")

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

#: every ``code`` an error can carry, for the help epilog (docs/verify.md explains each)
CODES = {
    "journal": (
        "entry_malformed entry_torn journal_empty entry_hash_mismatch chain_broken seq_gap signature_invalid "
        "key_rotation_invalid key_unknown key_untrusted key_not_in_force genesis_invalid head_missing "
        "head_invalid journal_truncated head_rolled_back history_rewritten checkpoint_invalid journal_invalid"
    ),
    "bundle": (
        "key_missing manifest_missing manifest_invalid manifest_signature_invalid manifest_signature_unchecked "
        "manifest_key_not_in_force manifest_mismatch journal_missing file_missing file_changed file_added "
        "file_not_regular bundle_marked_failed zero_gated harness_unknown reconciliation_mismatch report_mismatch "
        "private_key_material workspace_patch_missing workspace_patch_mismatch workspace_patch_unjournaled, "
        "and the reconciliation's anomaly codes (ungated_call, ran_despite_deny, ...)"
    ),
    "archive": (
        "bundle_not_found archive_unreadable archive_unsafe_name archive_link archive_special_file "
        "archive_duplicate archive_unsupported archive_too_large archive_member_too_large "
        "archive_too_many_members archive_bomb archive_member_corrupt"
    ),
    "options": "not_extending_checkpoint witnesses_insufficient entry_not_proven usage_error",
}


def register(sub: argparse._SubParsersAction) -> None:
    codes = "\n".join(
        textwrap.fill(v, 79, initial_indent=f"  {k:<8} ", subsequent_indent=" " * 11) for k, v in CODES.items()
    )
    p = sub.add_parser(
        "verify",
        help="verify a journal or an evidence bundle offline",
        formatter_class=HelpFormatter,
        description=(
            "Verify a journal offline with only the public key: every line's hash chain\n"
            "and Ed25519 signature, key rotations, and the signed head (truncation,\n"
            "rollback, rewrite). Large journals are checked with one worker per core.\n\n"
            "An evidence bundle is a directory, a .zip (a CI artifact, the bundle at its top\n"
            "or under one directory) or a .tar.gz; archives are read in place, never\n"
            "extracted, and refused when they hold links, special files or unsafe names, or\n"
            "exceed the size caps. Given a run directory or a demo's --out, the bundle in it\n"
            "is verified (and named). A bundle needs a trust root: --key or --keyring, or\n"
            "--tofu to trust the key inside the bundle (which proves nothing about who wrote\n"
            "it). --since, --witness, --min-witnesses and --head apply to a bundle's journal.\n\n"
            "Exit status: 0 valid, 1 verification failed, 2 usage error (missing file, bad\n"
            "key, an option that does not apply).\n\n"
            "examples:\n"
            "  agp verify journal.jsonl --key agp.pub\n"
            "  agp verify journal.jsonl --keyring keyring.json --json\n"
            "  agp verify runs/20261123T092756Z-784d88 --key agp.pub\n"
            "  agp verify evidence-bundle.zip --key agp.pub --json"
        ),
        epilog=(
            "--json prints {ok, kind, errors: [{code, message, where}], ...}; error codes\n"
            "(stable; see docs/verify.md):\n" + codes
        ),
    )
    p.add_argument(
        "path",
        type=Path,
        nargs="?",
        metavar="JOURNAL|BUNDLE",
        help="a journal file, or an evidence bundle (directory, .zip, .tar.gz, run directory); omit with --entry",
    )
    p.add_argument("--key", type=Path, help="the trusted public key (agp.pub)")
    p.add_argument("--keyring", type=Path, help="a keyring file (keyring.json) of trusted public keys")
    p.add_argument(
        "--tofu",
        action="store_true",
        help="bundles only: trust the public key inside the bundle (trust on first use: anyone who "
        "rewrote the bundle could have replaced the key, so this shows consistency, not origin)",
    )
    p.add_argument(
        "--head",
        type=Path,
        help="the signed head (default: JOURNAL.head); for a bundle, a head to check its journal against "
        "as well as the bundle's own",
    )
    p.add_argument("--json", action="store_true", help="print {ok, kind, errors: [{code, message, where}], ...}")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    t = p.add_argument_group(
        "transparency proofs",
        "check one entry without the journal, that a journal extends an older checkpoint, and witness cosignatures",
    )
    t.add_argument("--entry", type=Path, help="one entry line (from `agp journal prove`) to verify on its own")
    t.add_argument("--proof", type=Path, help="its inclusion proof (C2SP tlog-proof, from `agp journal prove`)")
    t.add_argument(
        "--checkpoint",
        type=Path,
        help="the signed checkpoint the proof (or --witness) refers to (default: the one in the proof)",
    )
    t.add_argument(
        "--since",
        type=Path,
        metavar="OLD_CHECKPOINT",
        help="require that the journal extends this older signed checkpoint (append-only; any rewrite fails)",
    )
    t.add_argument(
        "--witness",
        action="append",
        default=[],
        metavar="VKEY|FILE",
        help="a witness verifier key (vkey text or a file holding it); repeatable",
    )
    t.add_argument(
        "--min-witnesses",
        type=int,
        default=None,
        help="cosignatures required from distinct --witness keys (default: all of them)",
    )
    p.set_defaults(func=_verify)


# ----------------------------------------------------------------- arguments
def _keyring(args: argparse.Namespace) -> Keyring | None:
    keys: list[PublicKey] = []
    if args.keyring is not None:
        keys.extend(Keyring.load(args.keyring).values())
    if args.key is not None:
        keys.append(load_public_key(args.key))
    return Keyring(keys) if keys else None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"cannot read {path}: not UTF-8 text") from exc


def _is_bundle(path: Path) -> bool:
    from agp.evidence.source import is_archive

    return path.is_dir() or is_archive(path)


def _check_usage(args: argparse.Namespace) -> None:
    """Refuse (exit 2) every option that would otherwise be ignored or cannot be met."""
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    entry_mode = args.entry is not None or args.proof is not None
    if entry_mode:
        if args.entry is None or args.proof is None:
            raise UsageError("--entry and --proof go together")
        for flag, value in (("JOURNAL", args.path), ("--since", args.since), ("--head", args.head)):
            if value:
                raise UsageError(
                    f"{flag} does not apply to --entry (one entry is checked on its own, without a journal)"
                )
        if args.tofu:
            raise UsageError("--tofu applies to bundles only; give the log's public key with --key PUB")
    elif args.path is None:
        raise UsageError("give a JOURNAL or a BUNDLE (or --entry FILE --proof FILE)")
    if args.tofu and (args.key is not None or args.keyring is not None):
        raise UsageError("--tofu trusts the bundle's own key; it cannot be combined with --key or --keyring")
    if args.min_witnesses is not None:
        if not args.witness:
            raise UsageError("--min-witnesses needs --witness VKEY (the witnesses to count)")
        if not 1 <= args.min_witnesses <= len(args.witness):
            raise UsageError(
                f"--min-witnesses must be between 1 and the number of --witness keys ({len(args.witness)})"
            )
    if not entry_mode:
        if args.witness and args.checkpoint is None:
            raise UsageError("--witness needs --checkpoint FILE: the cosigned checkpoint to check against the journal")
        if args.checkpoint is not None and not args.witness:
            raise UsageError(
                "--checkpoint goes with --witness (cosignatures) or --entry (a proof); "
                "to require that the journal extends a checkpoint, use --since"
            )
        if args.path is not None and not args.path.exists():
            raise UsageError(f"no journal or bundle at {args.path}")
        if args.head is not None and not args.head.is_file():
            raise UsageError(f"no head file at {args.head}")


def _witness_keys(args: argparse.Namespace) -> list[str]:
    keys = []
    for w in args.witness:
        p = Path(w)
        keys.append(_read(p).strip() if p.is_file() else w.strip())
    return keys


class _Options:
    """The proofs asked of a journal (a file, or a bundle's), read before anything is verified."""

    def __init__(self, args: argparse.Namespace) -> None:
        for name, default in (
            ("since", None),
            ("checkpoint", None),
            ("witness", []),
            ("min_witnesses", None),
            ("head", None),
        ):
            if not hasattr(args, name):
                setattr(args, name, default)
        self.since = _read(args.since) if args.since is not None else None
        self.checkpoint = _read(args.checkpoint) if args.checkpoint is not None and args.witness else None
        self.witnesses = _witness_keys(args)
        self.min_witnesses = args.min_witnesses if args.min_witnesses is not None else len(self.witnesses)
        self.args = args

    def apply(self, journal: Path, keyring: Keyring, doc: dict[str, Any]) -> list[Problem]:
        """Check --since and --witness against ``journal`` (already verified entry by entry)."""
        from agp.journal.proofs import require_witnesses, verify_consistency

        problems: list[Problem] = []
        if self.since is not None:
            where = f"--since {self.args.since}"
            try:
                cons = verify_consistency(journal, self.since, keyring, recheck_entries=False)
                doc["since"] = {
                    "old_size": cons.old_size,
                    "old_root": cons.old_root,
                    "size": cons.size,
                    "root": cons.root,
                }
            except AgpError as exc:
                problems.append(Problem("not_extending_checkpoint", exc.diagnostics(), where))
        if self.checkpoint is not None:
            where = f"--checkpoint {self.args.checkpoint}"
            try:
                w = require_witnesses(self.checkpoint, self.witnesses, self.min_witnesses)
                cons = verify_consistency(journal, self.checkpoint, keyring, recheck_entries=False)
                doc["witnesses"] = {
                    "required": w.required,
                    "valid": [list(v) for v in w.valid],
                    "checkpoint_size": cons.old_size,
                }
            except AgpError as exc:
                msg = exc.diagnostics()
                problems.append(
                    Problem(
                        "witnesses_insufficient", msg if msg.startswith("witnesses") else f"witnesses: {msg}", where
                    )
                )
        return problems

    def lines(self, doc: dict[str, Any]) -> list[str]:
        out = []
        if "since" in doc:
            out.append(f"  since     extends the checkpoint of {doc['since']['old_size']} entries (append-only)")
        if "witnesses" in doc:
            out.append(
                f"  witnesses {len(doc['witnesses']['valid'])} valid cosignature(s), {doc['witnesses']['required']} required"
            )
        return out


# ------------------------------------------------------------------- command
def _verify(args: argparse.Namespace) -> int:
    try:
        _check_usage(args)
        keyring = _keyring(args)
        if args.entry is not None:
            return _verify_entry(args, keyring)
        if _is_bundle(args.path):
            return verify_bundle_cli(args, keyring)
        return _verify_journal(args, keyring)
    except AgpError as exc:
        if getattr(args, "json", False):
            code = "usage_error" if exc.exit_code == EXIT_USAGE else "error"
            print_json(
                {
                    "ok": False,
                    "kind": "usage" if exc.exit_code == EXIT_USAGE else "error",
                    "errors": [{"code": code, "message": exc.diagnostics(), "where": ""}],
                }
            )
        raise


def _verify_journal(args: argparse.Namespace, keyring: Keyring | None) -> int:
    if args.tofu:
        raise UsageError("--tofu applies to bundles only; a journal is verified with --key PUB or --keyring FILE")
    if keyring is None:
        raise UsageError("give the trusted public key with --key PUB (or --keyring FILE)")
    opts = _Options(args)
    status = None
    if not args.json and sys.stderr.isatty():
        status = err_console().status(f"verifying {args.path} …")
        status.start()
    try:
        report = scan_journal(args.path, keyring, head_path=args.head, workers=args.workers)
    finally:
        if status is not None:
            status.stop()
    doc = report.to_json_dict()
    doc["kind"] = "journal"
    extra = opts.apply(args.path, keyring, doc) if report.ok else []
    doc["errors"] += [p.to_json_dict() for p in extra]
    doc["ok"] = report.ok and not extra
    if args.json:
        print_json(doc)
    else:
        render_report(report, ok=doc["ok"])
        c = out_console()
        for line in opts.lines(doc):
            c.print(escape(line))
        for p in extra:
            c.print(f"  [red]error[/]     {escape(str(p))}")
    return EXIT_OK if doc["ok"] else EXIT_FAIL


def _verify_entry(args: argparse.Namespace, keyring: Keyring | None) -> int:
    """One entry, its inclusion proof and a signed checkpoint: no journal needed."""
    from agp.journal.proofs import require_witnesses, verify_entry

    if keyring is None:
        raise UsageError("give the log's public key with --key PUB (or --keyring FILE)")
    cp_text = _read(args.checkpoint) if args.checkpoint is not None else None
    proof = _read(args.proof)
    witnesses = _witness_keys(args)
    try:
        entry = args.entry.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.entry}: {exc.strerror}") from exc
    doc: dict[str, Any] = {"ok": True, "kind": "entry", "errors": []}
    try:
        v = verify_entry(entry, proof, cp_text, keyring)
        doc.update(
            entry={"seq": v.entry.seq, "kind": v.entry.kind, "hash": v.entry.hash},
            checkpoint={"origin": v.checkpoint.origin, "size": v.checkpoint.size, "root": v.checkpoint.root_b64},
        )
    except AgpError as exc:
        doc = {
            "ok": False,
            "kind": "entry",
            "errors": [Problem("entry_not_proven", exc.diagnostics(), str(args.entry)).to_json_dict()],
        }
    else:
        if witnesses:
            k = args.min_witnesses if args.min_witnesses is not None else len(witnesses)
            try:
                w = require_witnesses(v.checkpoint.note, witnesses, k)
                doc["witnesses"] = {"required": w.required, "valid": [list(x) for x in w.valid]}
            except AgpError as exc:
                doc["ok"] = False
                doc["errors"].append(
                    Problem(
                        "witnesses_insufficient",
                        exc.diagnostics(),
                        f"--checkpoint {args.checkpoint}" if args.checkpoint else str(args.proof),
                    ).to_json_dict()
                )
    if args.json:
        print_json(doc)
    else:
        c = out_console()
        if doc["ok"]:
            e, cp = doc["entry"], doc["checkpoint"]
            c.print(
                f"[bold green]✓ entry {e['seq']} ({escape(e['kind'])}) is in the log[/] at tree size {cp['size']} "
                f"({escape(cp['origin'])})"
            )
            if "witnesses" in doc:
                c.print(f"  witnesses {len(doc['witnesses']['valid'])} valid cosignature(s)")
        else:
            c.print("[bold red]✗ entry does NOT verify[/]")
            for e in doc["errors"]:
                c.print(f"  [red]error[/]     [{e['code']}] {escape(e['message'])}")
    return EXIT_OK if doc["ok"] else EXIT_FAIL


_STYLE = {"ok": "bold green", "fail": "red", "note": "yellow"}


def render_report(report: VerifyReport, *, ok: bool | None = None) -> None:
    """Print the journal's summary lines in colour; ``ok`` overrides the headline when other checks
    (``--since``, ``--witness``) failed, so the headline always matches the exit status."""
    c = out_console()
    lines = report.summary_lines()
    if ok is not None and ok != report.ok:
        lines[0] = (
            ("ok", f"✓ journal verifies  {report.path}")
            if ok
            else ("fail", f"✗ journal does NOT verify  {report.path}")
        )
    for i, (kind, line) in enumerate(lines):
        style = _STYLE.get(kind, "")
        if i == 0 and style == "red":
            style = "bold red"
        c.print(f"[{style}]{escape(line)}[/]" if style else escape(line))


def verify_bundle_cli(args: argparse.Namespace, keyring: Keyring | None) -> int:
    """``agp verify BUNDLE``: the bundle, then every proof asked of its journal. 0 good, 1 not."""
    from agp.evidence.bundle import JOURNAL, BundleReport, bundle_keys, check_bundle
    from agp.evidence.source import ArchiveError, open_bundle

    tofu = bool(getattr(args, "tofu", False))
    if keyring is None and not tofu:
        raise UsageError("a bundle needs --key PUB or --keyring FILE (--tofu trusts its own key)")
    opts = _Options(args)
    try:
        src = open_bundle(args.path)
    except ArchiveError as exc:  # refused as a whole: nothing in it was checked
        report = BundleReport(bundle_dir=str(args.path))
        report.fail(exc.code, exc.message, exc.where)
        return _bundle_result(args, report, {}, [])
    try:
        if src.location != str(args.path):
            err_console().print(f"verifying the bundle at {escape(src.location)}")
        report = check_bundle(src, keyring, unsafe_trust_bundle_keys=tofu, workers=getattr(args, "workers", None))
        extra_doc: dict[str, Any] = {}
        extra: list[Problem] = []
        if report.journal_ok:
            ring = keyring if keyring is not None else bundle_keys(src)
            jpath = src.local_path(JOURNAL)
            head = getattr(args, "head", None)
            if head is not None:
                again = scan_journal(jpath, ring, head_path=head, workers=getattr(args, "workers", None))
                extra_doc["head_supplied"] = again.head
                extra += [Problem(e.code, str(e), f"--head {head}") for e in again.errors]
            extra += opts.apply(jpath, ring, extra_doc)
        elif opts.since is not None or opts.checkpoint is not None or getattr(args, "head", None) is not None:
            report.warnings.append(
                "--since, --witness and --head were not checked: the bundle's journal does not verify"
            )
    finally:
        src.close()
    return _bundle_result(args, report, extra_doc, extra, opts)


def _bundle_result(
    args: argparse.Namespace, report: Any, extra_doc: dict[str, Any], extra: list[Problem], opts: _Options | None = None
) -> int:
    from agp.commands.evidence import render_bundle_report

    report.errors.extend(extra)
    doc = report.to_json_dict()
    doc.update(extra_doc)
    if getattr(args, "json", False):
        print_json(doc)
    else:
        render_bundle_report(report)
        if opts is not None:
            c = out_console()
            for line in opts.lines(doc):
                c.print(escape(line))
    return EXIT_OK if report.ok else EXIT_FAIL

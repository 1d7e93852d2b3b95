"""``agp journal``: Merkle checkpoints and proofs for a journal (a transparency log)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agp.commands._util import HelpFormatter, err_console, out_console, print_json
from agp.errors import UsageError
from agp.journal import (
    CHECKPOINT_SUFFIX,
    TreeFile,
    load_signing_key,
    parse_checkpoint_body,
    parse_unverified_note,
    prove_consistency,
    prove_inclusion,
    read_checkpoint,
    write_checkpoint,
)
from agp.paths import default_key_dir

__all__ = ("register",)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "journal",
        help="Merkle checkpoints, inclusion and consistency proofs for a journal",
        formatter_class=HelpFormatter,
        description=(
            "The journal is also an RFC 6962 Merkle tree over its entry hashes. Its signed head\n"
            "carries a C2SP checkpoint (origin, tree size, root, Ed25519 signed note).\n\n"
            "  prove SEQ        inclusion proof of one entry (C2SP tlog-proof, entry included)\n"
            "  consistency      proof that the current checkpoint extends an older one, as a\n"
            "                   tlog-witness add-checkpoint body for `agp witness cosign`\n"
            "  checkpoint       sign a checkpoint of every entry now in the file\n"
            "  tree             build or refresh the proof sidecar JOURNAL.tree and show the root\n\n"
            "An auditor checks a proof with `agp verify --entry E --proof P --checkpoint C --key PUB`."
        ),
    )
    js = p.add_subparsers(dest="journal_command", metavar="ACTION")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])

    pr = js.add_parser(
        "prove",
        help="print an inclusion proof of entry SEQ against the journal's newest checkpoint",
        formatter_class=HelpFormatter,
        description=(
            "Write an inclusion proof of entry SEQ in the C2SP tlog-proof format:\n"
            "  c2sp.org/tlog-proof@v1 / extra <base64 entry line> / index SEQ / proof hashes /\n"
            "  blank line / the signed checkpoint.\n"
            "The checkpoint is the newest of the head's and JOURNAL.checkpoint (or --checkpoint).\n"
            "Anyone with the public key can then check that one entry, without the journal.\n\n"
            "examples:\n"
            "  agp journal prove 42 --journal run/journal.jsonl --out e42.tlog-proof\n"
            "  agp journal prove 42 --journal run/journal.jsonl --entry-out e42.json"
        ),
    )
    pr.add_argument("seq", type=int, metavar="SEQ", help="the entry's seq")
    pr.add_argument("--journal", type=Path, required=True, help="the journal file")
    pr.add_argument("--checkpoint", type=Path, help="prove against this signed checkpoint instead")
    pr.add_argument("--out", type=Path, help="write the proof here (default: stdout)")
    pr.add_argument("--entry-out", type=Path, help="also write the entry line to this file")
    pr.add_argument("--checkpoint-out", type=Path, help="also write the checkpoint to this file")
    pr.add_argument("--json", action="store_true", help="print {seq, tree_size, hashes, proof} as JSON")
    pr.set_defaults(func=_prove)

    co = js.add_parser(
        "consistency",
        help="print a consistency proof from an older tree size to the newest checkpoint",
        formatter_class=HelpFormatter,
        description=(
            "Print `old N`, the RFC 9162 consistency proof (base64, one hash a line), a blank\n"
            "line and the newest signed checkpoint: the body of a C2SP tlog-witness\n"
            "add-checkpoint request. Hand it to a witness: `agp witness cosign FILE --key W`.\n\n"
            "examples:\n"
            "  agp journal consistency --journal j.jsonl --old 1200 --out req.txt\n"
            "  agp journal consistency --journal j.jsonl --old-checkpoint last-cosigned.txt"
        ),
    )
    co.add_argument("--journal", type=Path, required=True, help="the journal file")
    g = co.add_mutually_exclusive_group(required=True)
    g.add_argument("--old", type=int, metavar="SIZE", help="the tree size the witness last cosigned (0 if never)")
    g.add_argument("--old-checkpoint", type=Path, help="the checkpoint the witness last cosigned")
    co.add_argument("--checkpoint", type=Path, help="prove up to this signed checkpoint (default: the newest)")
    co.add_argument("--out", type=Path, help="write the request here (default: stdout)")
    co.set_defaults(func=_consistency)

    ck = js.add_parser(
        "checkpoint",
        help="sign a checkpoint of the whole journal now (JOURNAL.checkpoint)",
        formatter_class=HelpFormatter,
        description=(
            "Recompute the Merkle tree from the journal (every hash and chain link rechecked),\n"
            "refuse if it contradicts a checkpoint the journal already keeps, sign a C2SP\n"
            "checkpoint with the journal key and write it to JOURNAL" + CHECKPOINT_SUFFIX + ".\n"
            "The journal's head gets a checkpoint on every head write anyway; this covers\n"
            "entries after the head, or journals written before heads carried checkpoints."
        ),
    )
    ck.add_argument("--journal", type=Path, required=True, help="the journal file")
    ck.add_argument(
        "--key-dir", type=Path, default=None, help=f"the journal's key directory (default {default_key_dir()})"
    )
    ck.add_argument("--out", type=Path, help="also write the checkpoint here")
    ck.set_defaults(func=_checkpoint)

    tr = js.add_parser(
        "tree",
        help="build or refresh the proof sidecar JOURNAL.tree",
        formatter_class=HelpFormatter,
        description=(
            "JOURNAL.tree holds every Merkle node (post-order, 32 bytes each) and JOURNAL.tree.idx\n"
            "each entry's end offset, so proofs take O(log n) reads. It is a cache: delete it\n"
            "and it is rebuilt from the journal. Proofs are always checked against a signed\n"
            "checkpoint, so a stale or edited sidecar can only make proving fail."
        ),
    )
    tr.add_argument("--journal", type=Path, required=True, help="the journal file")
    tr.add_argument("--rebuild", action="store_true", help="rebuild from scratch")
    tr.add_argument("--json", action="store_true")
    tr.set_defaults(func=_tree)


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(f"no {what} at {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {what} {path}: {exc}") from exc


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        out.write_text(text, encoding="utf-8")


def _prove(args: argparse.Namespace) -> int:
    cp = _read(args.checkpoint, "checkpoint") if args.checkpoint else None
    proof = prove_inclusion(args.journal, args.seq, checkpoint=cp)
    if args.entry_out is not None and proof.entry is not None:
        args.entry_out.write_bytes(proof.entry + b"\n")
    if args.checkpoint_out is not None:
        args.checkpoint_out.write_text(proof.checkpoint, encoding="utf-8")
    if args.json:
        import base64

        print_json(
            {
                "seq": proof.index,
                "tree_size": proof.tree_size,
                "hashes": [base64.b64encode(h).decode() for h in proof.hashes],
                "proof": proof.to_text(),
            }
        )
        return 0
    _emit(proof.to_text(), args.out)
    if args.out is not None:
        err_console().print(
            f"[green]proof[/] of entry {proof.index} in a tree of {proof.tree_size} entries → {args.out}"
        )
    return 0


def _consistency(args: argparse.Namespace) -> int:
    note = _read(args.checkpoint, "checkpoint") if args.checkpoint else read_checkpoint(args.journal)
    if note is None:
        raise UsageError(f"no checkpoint for {args.journal}; sign one with `agp journal checkpoint`")
    new_size = parse_checkpoint_body(parse_unverified_note(note).text)[1]
    if args.old_checkpoint is not None:
        old_size = parse_checkpoint_body(parse_unverified_note(_read(args.old_checkpoint, "old checkpoint")).text)[1]
    else:
        old_size = args.old
    if old_size < 0 or old_size > new_size:
        raise UsageError(f"the old size must be between 0 and the checkpoint's size {new_size}, found {old_size}")
    proof = prove_consistency(args.journal, old_size, new_size)
    _emit(proof.to_text() + "\n" + note, args.out)
    return 0


def _checkpoint(args: argparse.Namespace) -> int:
    key = load_signing_key(args.key_dir if args.key_dir is not None else default_key_dir())
    note = write_checkpoint(args.journal, key)
    if args.out is not None:
        args.out.write_text(note, encoding="utf-8")
    size = parse_checkpoint_body(parse_unverified_note(note).text)[1]
    err_console().print(f"[green]signed[/] checkpoint of {size} entries → {args.journal}{CHECKPOINT_SUFFIX}")
    sys.stdout.write(note)
    return 0


def _tree(args: argparse.Namespace) -> int:
    import base64

    with TreeFile.open(args.journal, sync=False) as t:
        t.sync(rebuild=args.rebuild)
        info = {
            "leaves": t.leaves,
            "root": base64.b64encode(t.root_at(t.leaves)).decode(),
            "rebuilt": t.rebuilt,
            "sidecar": str(t.path),
        }
    if args.json:
        print_json(info)
    else:
        out_console().print(
            f"{info['leaves']} leaves, root {info['root']}  ({info['sidecar']}{', rebuilt' if info['rebuilt'] else ''})"
        )
    return 0

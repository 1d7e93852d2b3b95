"""``agp witness``: an offline witness that cosigns only consistent checkpoints (C2SP tlog-cosignature)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agp.commands._util import HelpFormatter, err_console, out_console, print_json
from agp.errors import UsageError
from agp.journal import (
    STATE_FILE,
    WITNESS_VKEY_FILE,
    Witness,
    WitnessState,
    init_witness,
    load_log_key,
    parse_checkpoint_body,
    parse_unverified_note,
    split_add_checkpoint,
)

__all__ = ("register",)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "witness",
        help="cosign journal checkpoints after checking they only ever grow",
        formatter_class=HelpFormatter,
        description=(
            "A witness remembers the last checkpoint it cosigned for each log and cosigns a new\n"
            "one only if a consistency proof shows it extends that one (append-only). It refuses\n"
            "a rollback, a fork (same size, another root) and any rewrite, and keeps the two\n"
            "signed checkpoints as evidence. Keep it on a machine the log operator does not\n"
            "control (see docs/witness.md).\n\n"
            "  init       create a witness key and name\n"
            "  cosign     check a checkpoint and print it with this witness's cosignature\n"
            "  show       print the witness's verifier key (give it to auditors)"
        ),
    )
    ws = p.add_subparsers(dest="witness_command", metavar="ACTION")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])

    i = ws.add_parser(
        "init",
        help="create a witness (key, name, verifier key)",
        formatter_class=HelpFormatter,
        description="Create D/witness.key (0600), D/witness.pub, D/witness.vkey and D/witness.json.\n"
        "Refuses to overwrite an existing witness.",
    )
    i.add_argument("--dir", type=Path, required=True, help="the witness directory")
    i.add_argument(
        "--name", default=None, help="the witness's key name, a schema-less URL (default: agp.local/witness/<dir name>)"
    )
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=_init)

    c = ws.add_parser(
        "cosign",
        help="cosign a checkpoint if it is consistent with the last one cosigned",
        formatter_class=HelpFormatter,
        description=(
            "CHECKPOINT is a signed checkpoint, or a tlog-witness add-checkpoint body as printed by\n"
            "`agp journal consistency` (old size, proof, blank line, checkpoint). The witness checks\n"
            "the log's signature (key pinned on first use with --log-key), that the proof starts at\n"
            "the size it last cosigned and verifies, then saves its state and prints the checkpoint\n"
            "with its cosignature (cosignature/v1) appended.\n\n"
            "Exit status: 0 cosigned, 1 refused (rollback, fork, inconsistent, bad signature), 2 usage.\n\n"
            "examples:\n"
            "  agp witness cosign req.txt --key /media/w --log-key agp.pub --out cosigned.txt\n"
            "  agp witness cosign checkpoint.txt --key /media/w --proof proof.txt"
        ),
    )
    c.add_argument("checkpoint", type=Path, metavar="CHECKPOINT", help="signed checkpoint or add-checkpoint body")
    c.add_argument("--key", type=Path, required=True, help="the witness directory (or its witness.key)")
    c.add_argument("--state", type=Path, help=f"the witness state file (default: <witness dir>/{STATE_FILE})")
    c.add_argument("--proof", type=Path, help="consistency proof: 'old N' then base64 hashes")
    c.add_argument("--log-key", help="the log's public key (agp.pub or a vkey); pinned on first use")
    c.add_argument("--out", type=Path, help="write the cosigned checkpoint here (default: stdout)")
    c.add_argument("--json", action="store_true", help="print {origin, size, root, cosigned} as JSON")
    c.set_defaults(func=_cosign)

    s = ws.add_parser(
        "show",
        help="print the witness's verifier key",
        formatter_class=HelpFormatter,
        description="Print the vkey auditors pass to `agp verify --witness`.",
    )
    s.add_argument("--dir", type=Path, required=True)
    s.set_defaults(func=_show)


def _init(args: argparse.Namespace) -> int:
    name = args.name or f"agp.local/witness/{args.dir.resolve().name or 'w'}"
    w = init_witness(args.dir, name)
    if args.json:
        print_json({"name": w.name, "vkey": w.vkey, "dir": str(args.dir)})
    else:
        c = out_console()
        c.print(f"[green]created[/] witness [bold]{w.name}[/]")
        c.print(f"  private  {args.dir / 'witness.key'}  (mode 0600; keep this machine offline)")
        c.print(
            f"  vkey     {args.dir / WITNESS_VKEY_FILE}  (auditors: agp verify --witness {args.dir / WITNESS_VKEY_FILE})"
        )
        c.print(f"  {w.vkey}")
    return 0


def _cosign(args: argparse.Namespace) -> int:
    witness = Witness.load(args.key)
    try:
        text = args.checkpoint.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(f"no checkpoint at {args.checkpoint}") from exc
    proof_text, note = split_add_checkpoint(text)
    if args.proof is not None:
        if proof_text is not None:
            raise UsageError("the checkpoint file already carries a proof (add-checkpoint body); drop --proof")
        try:
            proof_text = args.proof.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise UsageError(f"no proof at {args.proof}") from exc
    origin = parse_checkpoint_body(parse_unverified_note(note).text)[0]
    log_key = load_log_key(args.log_key, origin) if args.log_key else None
    state_path = args.state if args.state is not None else (witness.directory or Path(".")) / STATE_FILE
    state = WitnessState.load(state_path)
    cosigned = witness.cosign(note, state, log_key=log_key, proof=proof_text)
    if args.json:
        _, size, root, _ = parse_checkpoint_body(parse_unverified_note(note).text)
        import base64

        print_json({"origin": origin, "size": size, "root": base64.b64encode(root).decode(), "cosigned": cosigned})
        return 0
    if args.out is not None:
        args.out.write_text(cosigned, encoding="utf-8")
        err_console().print(f"[green]cosigned[/] {origin} → {args.out}")
    else:
        sys.stdout.write(cosigned)
    return 0


def _show(args: argparse.Namespace) -> int:
    out_console().print(Witness.load(args.dir).vkey)
    return 0

"""``agp keys``: create, rotate and show the journal's Ed25519 signing keys."""

from __future__ import annotations

import argparse
from pathlib import Path

from agp.commands._util import HelpFormatter, out_console, print_json
from agp.journal import KEY_FILE, PUB_FILE, init_keys, load_signing_key, rotate_key
from agp.paths import default_key_dir

__all__ = ("register",)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "keys",
        help="create, rotate and show the journal signing keys",
        formatter_class=HelpFormatter,
        description=(
            "Manage the Ed25519 keys that sign the journal.\n\n"
            "A key directory holds agp.key (private, mode 0600), agp.pub (give it to auditors)\n"
            f"and, after a rotation, keyring.json and retired/. Default: {default_key_dir()}"
        ),
    )
    ks = p.add_subparsers(dest="keys_command", metavar="ACTION")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])

    i = ks.add_parser(
        "init",
        help="create a new key pair (refuses to overwrite)",
        formatter_class=HelpFormatter,
        description="Create D/agp.key (mode 0600) and D/agp.pub. Refuses to overwrite existing keys.",
    )
    i.add_argument("--dir", type=Path, default=None, help=f"key directory (default {default_key_dir()})")
    i.add_argument("--json", action="store_true", help="print {kid, private_key, public_key} as JSON")
    i.set_defaults(func=_init)

    r = ks.add_parser(
        "rotate",
        help="replace the key; the journal records the rotation signed by the old key",
        formatter_class=HelpFormatter,
        description=(
            "Make a new key and append a key.rotate entry, signed by the old key, that\n"
            "introduces the new public key; later entries and the head are signed by the\n"
            "new key. A verifier holding only the first public key (or keyring.json)\n"
            "verifies across rotations. The old private key moves to D/retired/.\n"
            "The journal must not be open elsewhere (stop the gate first)."
        ),
    )
    r.add_argument("--dir", type=Path, default=None, help=f"key directory (default {default_key_dir()})")
    r.add_argument("--journal", type=Path, required=True, help="the journal that records the rotation")
    r.add_argument("--json", action="store_true", help="print the result as JSON")
    r.set_defaults(func=_rotate)

    s = ks.add_parser(
        "show",
        help="print the key id and public key",
        formatter_class=HelpFormatter,
        description="Print the key id (kid) and base64 public key of D/agp.key.",
    )
    s.add_argument("--dir", type=Path, default=None, help=f"key directory (default {default_key_dir()})")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_show)


def _dir(args: argparse.Namespace) -> Path:
    return args.dir if args.dir is not None else default_key_dir()


def _init(args: argparse.Namespace) -> int:
    d = _dir(args)
    key = init_keys(d)
    if args.json:
        print_json({"kid": key.kid, "private_key": str(d / KEY_FILE), "public_key": str(d / PUB_FILE)})
    else:
        c = out_console()
        c.print(f"[green]created[/] key [bold]{key.kid}[/]")
        c.print(f"  private  {d / KEY_FILE}  (mode 0600; never share it)")
        c.print(f"  public   {d / PUB_FILE}  (give this to auditors: agp verify JOURNAL --key {d / PUB_FILE})")
    return 0


def _rotate(args: argparse.Namespace) -> int:
    d = _dir(args)
    r = rotate_key(args.journal, d)
    if args.json:
        print_json(
            {"old_kid": r.old_kid, "new_kid": r.new_kid, "rotation_seq": r.rotation_seq, "keyring": str(r.keyring)}
        )
    else:
        c = out_console()
        c.print(f"[green]rotated[/] {r.old_kid} → [bold]{r.new_kid}[/] (journal entry {r.rotation_seq})")
        c.print(f"  new public key  {r.public_key}")
        c.print(f"  keyring         {r.keyring}")
        c.print(f"  old private key {r.retired}")
    return 0


def _show(args: argparse.Namespace) -> int:
    key = load_signing_key(_dir(args))
    if args.json:
        print_json({"kid": key.kid, "public_key": key.public.to_b64()})
    else:
        out_console().print(f"{key.kid}  {key.public.to_b64()}")
    return 0

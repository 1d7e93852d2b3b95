"""``agp keys``: create, rotate and show the journal's Ed25519 signing keys."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from agp.commands._util import HelpFormatter, out_console, print_json
from agp.errors import KeyFileError
from agp.journal import Journal, Keyring
from agp.journal.keys import KEY_FILE, KEYRING_FILE, PUB_FILE, SigningKey, _fsync_dir, _write_new, init_keys, load_signing_key
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

    i = ks.add_parser("init", help="create a new key pair (refuses to overwrite)", formatter_class=HelpFormatter,
                      description="Create D/agp.key (mode 0600) and D/agp.pub. Refuses to overwrite existing keys.")
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

    s = ks.add_parser("show", help="print the key id and public key", formatter_class=HelpFormatter,
                      description="Print the key id (kid) and base64 public key of D/agp.key.")
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
    old = load_signing_key(d)
    if not args.journal.exists():
        raise KeyFileError(f"no journal at {args.journal}; rotation is recorded in a journal")
    new = SigningKey.generate()
    staged = d / (KEY_FILE + ".next")
    _write_new(staged, new.to_pem(), 0o600)
    try:
        j = Journal.open(args.journal, old)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    try:
        entry = j.rotate(new)
    finally:
        j.close()
    # the journal now expects the new key: install it, keep the old one retired
    retired = d / "retired"
    retired.mkdir(mode=0o700, exist_ok=True)
    os.replace(d / KEY_FILE, retired / f"agp-{old.kid}.key")
    os.replace(staged, d / KEY_FILE)
    pub_tmp = d / (PUB_FILE + ".next")
    pub_tmp.unlink(missing_ok=True)
    _write_new(pub_tmp, new.public.to_pem(), 0o644)
    os.replace(pub_tmp, d / PUB_FILE)
    ring_path = d / KEYRING_FILE
    keys = list(Keyring.load(ring_path).values()) if ring_path.exists() else [old.public]
    if old.public.kid not in {k.kid for k in keys}:
        keys.insert(0, old.public)
    keys.append(new.public)
    ring_tmp = d / (KEYRING_FILE + ".next")
    ring_tmp.write_text(Keyring(keys).to_json() + "\n")
    os.replace(ring_tmp, ring_path)
    _fsync_dir(d)
    if args.json:
        print_json({"old_kid": old.kid, "new_kid": new.kid, "rotation_seq": entry.seq, "keyring": str(ring_path)})
    else:
        c = out_console()
        c.print(f"[green]rotated[/] {old.kid} → [bold]{new.kid}[/] (journal entry {entry.seq})")
        c.print(f"  new public key  {d / PUB_FILE}")
        c.print(f"  keyring         {ring_path}")
        c.print(f"  old private key {retired / f'agp-{old.kid}.key'}")
    return 0


def _show(args: argparse.Namespace) -> int:
    key = load_signing_key(_dir(args))
    if args.json:
        print_json({"kid": key.kid, "public_key": key.public.to_b64()})
    else:
        out_console().print(f"{key.kid}  {key.public.to_b64()}")
    return 0

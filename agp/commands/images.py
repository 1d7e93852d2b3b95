"""``agp images``: build the sandbox images offline, and list the pinned ones."""

from __future__ import annotations

import argparse

from agp.commands._util import HelpFormatter, err_console, out_console, print_json

__all__ = ("register",)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "images",
        help="build and list the sandbox images (offline, pinned by image id)",
        formatter_class=HelpFormatter,
        description=(
            "The sandbox images agp runs, built without a registry.\n\n"
            "The base is `debootstrap --variant=minbase bookworm` from the Debian mirror apt\n"
            "already uses, loaded with `docker import`; images/reference, images/claude-code and\n"
            "images/codex are built FROM it with --network none, with the harness binaries from\n"
            "the npm packages at the versions in intendants/pins.json; images/reference-node is\n"
            "built FROM the reference image with node and npm added (for `agp run --image`).\n"
            "Each image is labelled with\n"
            "a digest of its inputs, so unchanged images are not rebuilt. The resulting image ids\n"
            "are recorded in the pin file that `agp run` reads (see `agp images list`)."
        ),
    )
    s = p.add_subparsers(dest="images_command", metavar="ACTION")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])

    b = s.add_parser(
        "build",
        help="build the base and the intendant images (skips unchanged ones)",
        formatter_class=HelpFormatter,
        description="Build the base image, the intendant images and the toolchain images, then pin their ids.\n"
        "reference-node is the reference image with Debian's nodejs (the .debs downloaded on the host\n"
        "with apt) and the npm CLI (its tarball from the npm registry, integrity pinned).\n"
        "Needs root (debootstrap), a Docker engine, apt and npm.",
    )
    b.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="reference, claude-code, codex, reference-node (default: all)",
    )
    b.add_argument("--force", action="store_true", help="rebuild even when the inputs did not change")
    b.add_argument("--json", action="store_true", help="print the result as JSON")
    b.set_defaults(func=_build)

    ls = s.add_parser(
        "list",
        help="show the pinned image ids and whether the engine has them",
        formatter_class=HelpFormatter,
        description="Show the pin file: each image's id, tag, inputs digest and harness version.",
    )
    ls.add_argument("--json", action="store_true", help="print the result as JSON")
    ls.set_defaults(func=_list)


def _build(args: argparse.Namespace) -> int:
    from agp.sandbox.images import build_all, pin_file

    con = err_console()
    res = build_all(only=args.names or None, force=args.force, log=lambda m: con.print(m, markup=False))
    if args.json:
        print_json({"pin_file": str(pin_file()), "images": res})
    else:
        out = out_console()
        for name, r in res.items():
            state = "built" if r.get("built") else "up to date"
            out.print(f"{name:14} {r['id']}  {r['tag']}  ({state})", markup=False)
        out.print(f"pinned in {pin_file()}", markup=False)
    return 0


def _list(args: argparse.Namespace) -> int:
    from agp.errors import AgpError
    from agp.sandbox.images import load_pins, pin_file, resolve_intendant_image

    pins = load_pins()
    rows = []
    for name, pin in sorted(pins.items()):
        try:
            resolve_intendant_image(name)
            present = True
        except AgpError:
            present = False
        rows.append({"name": name, **pin, "present": present})
    if args.json:
        print_json({"pin_file": str(pin_file()), "images": rows})
        return 0
    out = out_console()
    if not rows:
        out.print(f"no images pinned in {pin_file()}; run `agp images build`", markup=False)
        return 1
    for r in rows:
        hv = f"  harness {r['harness_version']}" if r.get("harness_version") else ""
        out.print(
            f"{r['name']:14} {r['id']}  {r.get('tag', '')}{hv}  "
            f"{'present' if r['present'] else 'MISSING from the engine'}",
            markup=False,
        )
    return 0 if all(r["present"] for r in rows) else 1

"""The ``agp`` command line.

A thin dispatcher: each command group lives in ``agp/commands/<group>.py`` and
exposes ``register(subparsers)``, which adds its parser(s) and sets
``func=handler`` (handler takes the parsed ``argparse.Namespace`` and returns
an exit code). Every ``AgpError`` is caught here, once, and printed with its
diagnostics; its ``exit_code`` becomes the process exit code (1 for a failed
verification or run, 2 for usage errors).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from agp import __version__
from agp.errors import AgpError

__all__ = ("build_parser", "main")

#: command groups, in the order ``agp --help`` lists them
COMMAND_MODULES: tuple[str, ...] = (
    "agp.commands.run",
    "agp.commands.runs",
    "agp.commands.demo",
    "agp.commands.doctor",
    "agp.commands.gate",
    "agp.commands.verify",
    "agp.commands.journal",
    "agp.commands.keys",
    "agp.commands.policy",
    "agp.commands.evidence",
    "agp.commands.images",
    "agp.commands.witness",
    "agp.commands.completion",
)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agp",
        formatter_class=_Formatter,
        description=(
            "agp governs AI coding agents: the harness runs in a container with no network,\n"
            "every tool call is decided by a default-deny policy at a gate on the host, and\n"
            "every decision is written to a signed, hash-chained journal that `agp verify`\n"
            "checks offline with the public key alone."
        ),
    )
    parser.add_argument("--version", action="version", version=f"agp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # group not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except AgpError as exc:
        from rich.text import Text

        from agp.commands._util import err_console

        # one line, never wrapped mid-sentence (soft wrap; the terminal wraps if it must), no markup read
        # from the message (paths and agent text may hold [brackets])
        err_console().print(Text.assemble(("agp:", "bold red"), " ", exc.diagnostics()))
        return exc.exit_code
    except OSError as exc:  # the machine refused something (a directory, a file): one line, no traceback
        where = f": {exc.filename}" if exc.filename else ""
        print(f"agp: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("agp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``agp completion``: the shell completion script for agp (generated from its parser by shtab)."""

from __future__ import annotations

import argparse
import sys

from agp.commands._util import HelpFormatter

__all__ = ("SHELLS", "register")

SHELLS = ("bash", "zsh", "tcsh")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "completion",
        help="print the shell completion script (bash, zsh, tcsh)",
        formatter_class=HelpFormatter,
        description=(
            "Print a completion script for agp's commands and options.\n\n"
            "examples:\n"
            "  agp completion bash > ~/.local/share/bash-completion/completions/agp\n"
            '  eval "$(agp completion bash)"          # this shell only\n'
            '  agp completion zsh > "${fpath[1]}/_agp"'
        ),
    )
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    p.set_defaults(func=_completion)


def _completion(args: argparse.Namespace) -> int:
    import shtab

    from agp.cli import build_parser

    sys.stdout.write(shtab.complete(build_parser(), shell=args.shell))
    sys.stdout.flush()
    return 0

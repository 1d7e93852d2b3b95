"""Small helpers shared by the command modules (rendering, common options)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

__all__ = ("HelpFormatter", "err_console", "out_console", "policy_file", "print_json")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    pass


def policy_file(text: str) -> Path:
    """A policy argument: a path, or the name of a policy agp ships (``default``, ``ci``, ``strict``,
    with or without ``.toml``) when no such file is in the current directory."""
    p = Path(text)
    if p.exists():
        return p
    if len(p.parts) != 1:
        raise argparse.ArgumentTypeError(f"no policy file {text}")
    from agp.paths import shipped

    named = shipped("policies") / (text if text.endswith(".toml") else text + ".toml")
    if named.is_file():
        return named
    raise argparse.ArgumentTypeError(
        f"no policy file {text} (a path, or a policy agp ships: "
        f"{', '.join(sorted(q.stem for q in shipped('policies').glob('*.toml')))})"
    )


def out_console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()

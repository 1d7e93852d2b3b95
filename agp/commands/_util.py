"""Small helpers shared by the command modules (rendering, common options)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console

__all__ = ("HelpFormatter", "err_console", "out_console", "print_json")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    pass


def out_console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()

"""Where agp keeps its state on the host (XDG base directories)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ("data_dir", "default_key_dir", "repo_root")


def data_dir() -> Path:
    """``$AGP_HOME`` or ``$XDG_DATA_HOME/agp`` (default ``~/.local/share/agp``)."""
    if os.environ.get("AGP_HOME"):
        return Path(os.environ["AGP_HOME"])
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "agp"


def default_key_dir() -> Path:
    return data_dir() / "keys"


def repo_root() -> Path:
    """The source tree agp runs from (policies/, intendants/, images/ live there)."""
    return Path(__file__).resolve().parent.parent

"""Where agp keeps its state on the host (XDG base directories), and where its shipped files are."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

__all__ = ("data_dir", "default_key_dir", "default_policy", "intendant_pins", "repo_root", "shipped")


def data_dir() -> Path:
    """``$AGP_HOME`` or ``$XDG_DATA_HOME/agp`` (default ``~/.local/share/agp``)."""
    if os.environ.get("AGP_HOME"):
        return Path(os.environ["AGP_HOME"])
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "agp"


def default_key_dir() -> Path:
    return data_dir() / "keys"


def repo_root() -> Path:
    """The directory above the agp package: the source tree when agp runs from a checkout (where
    ``.cache/`` lives), site-packages when it is installed. Shipped files: :func:`shipped`."""
    return Path(__file__).resolve().parent.parent


def shipped(kind: str) -> Path:
    """The directory of a kind of file agp ships: ``policies`` or ``images`` (the image recipes).

    In a checkout they are the top-level directories of the source tree; an installed agp (a wheel,
    ``pip install .``) carries them as package data in ``agp/_shipped/<kind>``. Either way the files
    and their relative layout are the same, so image input digests do not depend on how agp was
    installed."""
    if kind not in ("policies", "images"):
        raise ValueError(f"agp ships no {kind!r}")
    src = repo_root() / kind
    if (repo_root() / "pyproject.toml").is_file() and src.is_dir():
        return src
    return Path(str(resources.files("agp") / "_shipped" / kind))


def default_policy() -> Path:
    """``policies/default.toml`` as shipped."""
    return shipped("policies") / "default.toml"


def intendant_pins() -> Path:
    """``intendants/pins.json``: the validated harness versions (the intendants package carries it)."""
    return Path(str(resources.files("intendants") / "pins.json"))

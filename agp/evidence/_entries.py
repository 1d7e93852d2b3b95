"""Read journal lines as plain dicts for the reports (the verifier decides whether they are genuine)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ("read_entries",)


def read_entries(path: Path) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """(line number, parsed object or None when the line is not a JSON object)."""
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (ValueError, RecursionError):
                yield n, None
                continue
            yield n, obj if isinstance(obj, dict) else None

"""Helpers to build real journals in tests (real keys, real Journal class)."""

from __future__ import annotations

from pathlib import Path

from agp.journal import Journal, Keyring, SigningKey, init_keys

__all__ = ("make_journal", "lines", "write_lines")


def make_journal(tmp: Path, n: int = 10, *, key: SigningKey | None = None, name: str = "j.jsonl") -> tuple[Path, SigningKey, Keyring]:
    """A closed journal with ``n`` gate decisions; returns (path, key, keyring)."""
    if key is None:
        key = init_keys(tmp / "keys")
    path = tmp / name
    j = Journal.open(path, key)
    for i in range(n):
        j.append("gate.decision", f"s{i % 3}", {"i": i, "decision": "allow" if i % 2 else "deny"})
    j.close()
    return path, key, Keyring.from_public_key(key.public)


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def write_lines(path: Path, ls: list[bytes]) -> None:
    path.write_bytes(b"".join(ls))

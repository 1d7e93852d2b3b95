"""Shell classification (in progress: until the tree-sitter walker lands every command is unknown)."""

from __future__ import annotations

from agp.policy.classify._statement import Statement

__all__ = ("classify_shell",)


def classify_shell(command: str, cwd: str) -> tuple[Statement, ...]:
    return (Statement(kind="unknown", text=command[:500], cwd=cwd, reason="shell classifier not built yet"),)

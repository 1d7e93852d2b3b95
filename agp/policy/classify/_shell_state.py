"""What the shell walker carries through a command string: limits, the candidate working
directories, what feeds stdin, and the walk's context (private to the shell classifier)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from agp.policy.classify._statement import Statement

if TYPE_CHECKING:
    from tree_sitter import Node

__all__ = ("MAX_COMMAND_BYTES", "MAX_CWDS", "MAX_DEPTH", "MAX_NESTING", "Ctx", "Env", "Stdin", "join_cwds", "uniq")

T = TypeVar("T", bound=Hashable)

MAX_COMMAND_BYTES = 16 * 1024  # a longer string is one unknown statement (time bound: the parse alone)
#: a string whose syntax tree has more nodes is one unknown statement (time bound: the walk). A 1 KB
#: command has about 350; a here-document's body is one node, however long.
MAX_NODES = 4000
MAX_DEPTH = 8  # nesting of bash -c / eval / backticks / function calls
MAX_NESTING = 64  # brackets deeper than this: one unknown statement
MAX_CWDS = 4  # candidate working directories tracked before giving up (cwd unknown)


@dataclass(slots=True)
class Env:
    cwds: tuple[str, ...]  # candidate working directories; '' = unknown
    via: tuple[str, ...] = ()
    depth: int = 0


@dataclass(slots=True)
class Stdin:
    kind: str = "inherit"  # inherit | pipe | file | heredoc | herestring
    literal: str | None = None  # here-doc / here-string body when literal


@dataclass
class Ctx:
    src: bytes
    out: list[Statement] = field(default_factory=list)
    functions: dict[str, tuple[Node, Env]] = field(default_factory=dict)  # name: (body, env where defined)
    visited: set[int] = field(default_factory=set)  # start bytes of command/redirect nodes walked
    origin: tuple[str, ...] = ()  # the working directory of the call (before any cd in the string)
    called: set[str] = field(default_factory=set)
    call_stack: list[str] = field(default_factory=list)

    def text(self, node: Node) -> str:
        return self.src[node.start_byte : node.end_byte].decode("utf-8", "replace")


def join_cwds(path: str, cwds: tuple[str, ...]) -> list[tuple[str, bool]]:
    if path.startswith(("/", "~")):
        return [(path, True)]
    out = []
    for c in cwds:
        if not c:
            out.append((path, False))
        else:
            out.append((c.rstrip("/") + "/" + path if path not in ("", ".") else c, True))
    return out


def uniq(seq: Iterable[T]) -> list[T]:
    seen: set[T] = set()
    out: list[T] = []
    for x in seq:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out

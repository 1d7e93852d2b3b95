"""The Statement record every classifier returns (private; re-exported by agp.policy.classify)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

__all__ = ("KINDS", "SQL_KINDS", "Kind", "Statement")

_new = object.__new__

Kind = Literal["exec", "read", "write", "sql", "url", "mcp", "task", "unknown"]
KINDS: tuple[str, ...] = ("exec", "read", "write", "sql", "url", "mcp", "task", "unknown")
SQL_KINDS: tuple[str, ...] = (
    "select",
    "insert",
    "update",
    "delete",
    "merge",
    "ddl",
    "grant",
    "transaction",
    "unknown",
)


@dataclass(frozen=True, slots=True)
class Statement:
    """One thing a tool call does, as far as static analysis can tell.

    kind      exec | read | write | sql | url | mcp | task | unknown
    program   exec: normalized basename of the program ('/usr/bin/rm', '\\rm', "'r'm" -> 'rm');
              other kinds: '' (sql statements found in a shell command carry the client, e.g. 'psql')
    argv      exec: every word after quote removal, argv[0] = the program word as written after
              quote removal ('/usr/bin/rm'). A word that is not a literal (contains $VAR, $(..),
              `..`, <(..), arithmetic, brace expansion) keeps its source text and has
              literal[i] == False: it could be anything at run time.
    literal   parallel to argv: True when the word is a fixed string.
    globs     parallel to argv: True when the word contains an unquoted glob (* ? [..]); the
              word itself is kept as written (literal stays True: the pattern is fixed, its
              matches are not).
    paths     every path the statement may read or write: redirection targets for read/write
              statements; for exec statements every operand the program may treat as a file
              (when unsure it is included). Relative paths are joined to the effective working
              directory (which `cd` inside the same command changes); `~` is kept as written.
              A path that is not a literal keeps its source text and has paths_literal[i] False.
    paths_literal parallel to paths.
    cwd       the working directory the statement runs in, '' when it cannot be known statically
              (after `cd "$X"`), else an absolute or '~'-prefixed string.
    host      url: lowercase IDNA host, or None when it cannot be determined.
    url       url: the URL as given.
    sql_kind  sql: select|insert|update|delete|merge|ddl|grant|transaction|unknown.
    flags     extra facts: sql 'no_where'; shell 'glob', 'stdin_code', 'interpreter', ...
    via       wrappers that led to this statement, outermost first, e.g. ('sudo', 'xargs'),
              also 'function:NAME', 'heredoc', 'bash -c', '$(..)'.
    text      the source snippet.
    reason    why a statement is unknown (or a note on any other kind).
    """

    kind: Kind
    program: str = ""
    argv: tuple[str, ...] = ()
    literal: tuple[bool, ...] = ()
    globs: tuple[bool, ...] = ()
    paths: tuple[str, ...] = ()
    paths_literal: tuple[bool, ...] = ()
    cwd: str = ""
    host: str | None = None
    url: str | None = None
    sql_kind: str | None = None
    flags: tuple[str, ...] = ()
    via: tuple[str, ...] = ()
    text: str = ""
    reason: str = ""

    @classmethod
    def fast(
        cls,
        kind: Kind,
        program: str,
        argv: tuple[str, ...],
        literal: tuple[bool, ...],
        globs: tuple[bool, ...],
        paths: tuple[str, ...],
        paths_literal: tuple[bool, ...],
        cwd: str,
        flags: tuple[str, ...],
        via: tuple[str, ...],
        text: str,
    ) -> Statement:
        """``Statement(kind, program, argv, ..., text)`` (host, url, sql_kind None; reason ''), the
        same value made through the slots' setters, without the frozen dataclass's ``__init__``
        (object.__setattr__ per field): the shell walker makes one per command."""
        s = _new(cls)
        _set_kind(s, kind)
        _set_program(s, program)
        _set_argv(s, argv)
        _set_literal(s, literal)
        _set_globs(s, globs)
        _set_paths(s, paths)
        _set_paths_literal(s, paths_literal)
        _set_cwd(s, cwd)
        _set_host(s, None)
        _set_url(s, None)
        _set_sql_kind(s, None)
        _set_flags(s, flags)
        _set_via(s, via)
        _set_text(s, text)
        _set_reason(s, "")
        return s

    @property
    def all_literal(self) -> bool:
        """True when every argv word and every path is a fixed string."""
        return all(self.literal) and all(self.paths_literal)

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-able dict; empty/default fields are left out to keep journal entries short."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.program:
            out["program"] = self.program
        if self.argv:
            out["argv"] = list(self.argv)
            if not all(self.literal):
                out["literal"] = list(self.literal)
            if any(self.globs):
                out["globs"] = list(self.globs)
        if self.paths:
            out["paths"] = list(self.paths)
            if not all(self.paths_literal):
                out["paths_literal"] = list(self.paths_literal)
        if self.cwd:
            out["cwd"] = self.cwd
        if self.host is not None:
            out["host"] = self.host
        if self.url is not None:
            out["url"] = self.url
        if self.sql_kind is not None:
            out["sql_kind"] = self.sql_kind
        if self.flags:
            out["flags"] = list(self.flags)
        if self.via:
            out["via"] = list(self.via)
        if self.text:
            out["text"] = self.text
        if self.reason:
            out["reason"] = self.reason
        return out


# the slots' own setters (what the frozen dataclass's __init__ reaches through object.__setattr__)
(
    _set_kind,
    _set_program,
    _set_argv,
    _set_literal,
    _set_globs,
    _set_paths,
    _set_paths_literal,
    _set_cwd,
    _set_host,
    _set_url,
    _set_sql_kind,
    _set_flags,
    _set_via,
    _set_text,
    _set_reason,
) = (Statement.__dict__[f.name].__set__ for f in fields(Statement))

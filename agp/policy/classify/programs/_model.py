"""The record of what the shell classifier knows about one program (private to the package)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ("Operands", "Program", "Role", "Writes", "options")

#: how a program's operands are read: "files" (any operand may be a file: the walker's
#: heuristics), "none" (never files), "by_options" (exactly as the option tables below say)
Operands = Literal["files", "none", "by_options"]
#: which of its operands a program writes: every operand; every operand but the first (the mode
#: of chmod); the last (the destination of cp); every operand (mv: sources and destination);
#: `of=` (dd); the `-o` value (sort); the current directory and the paths it names (archives)
Writes = Literal["", "operands", "operands_after_first", "last_operand", "sources_and_destination", "of_operand",
                 "output_option", "extracts"]
#: what the walker does with the rest of the command line: run it as a command (wrapper), parse
#: it as shell code (shell), refuse to look inside (foreign_shell: not POSIX), look for program
#: text (interpreter), classify it as SQL (sql_client)
Role = Literal["", "wrapper", "shell", "foreign_shell", "interpreter", "sql_client"]


def options(text: str) -> frozenset[str]:
    """``options("-a --all -b")``: a frozenset of the blank-separated options."""
    return frozenset(text.split())


@dataclass(frozen=True, slots=True)
class Program:
    """One program's command line, as far as the classifier reads it.

    The option sets name each option as written (``-o``, ``--output``); an option taking a value
    takes the next word, or the rest of the word after ``=`` (long) or after the letter (short).
    """

    name: str
    role: Role = ""
    #: options that take the next word as their value
    value_options: frozenset[str] = frozenset()
    #: options that take the next two words (jq --arg NAME VALUE)
    pair_options: frozenset[str] = frozenset()
    #: options whose value is a file the program reads or writes (a subset of the two above)
    file_options: frozenset[str] = frozenset()
    #: options whose value is the program's pattern or script (then no operand is)
    pattern_options: frozenset[str] = frozenset()
    #: options that name a program or code for it to run: their presence makes an unknown statement
    code_options: tuple[str, ...] = ()
    #: takes any unambiguous prefix of a long option (GNU getopt_long: --compress-prog=sh)
    abbreviates: bool = False
    operands: Operands = "files"
    #: the first operand is a pattern or script, not a file, unless a pattern or file option gave one
    pattern_first: bool = False
    writes: Writes = ""
    #: talks to the network: its URL-like operands are url statements
    network: bool = False
    #: wrapper: operands before the command it runs (timeout DURATION cmd)
    positionals: int = 0
    #: interpreter: options whose value (or the attached rest) is program text
    program_text_options: tuple[str, ...] = ()
    #: reads its program from stdin when given no script operand
    stdin_program: bool = False
    #: sql_client: options whose value is SQL, and options whose value is a file of SQL
    sql_options: tuple[str, ...] = ()
    sql_file_options: tuple[str, ...] = ()
    #: a builtin that treats an argument as a variable name (`a[$(cmd)]` there runs cmd)
    varname_operands: bool = False

"""The record of what the shell classifier knows about one program (private to the package)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ("Allow", "Operands", "Program", "Role", "Writes", "options")

#: how a program's operands are read: "files" (any operand may be a file: the walker's
#: heuristics), "none" (never files), "by_options" (exactly as the option tables below say)
Operands = Literal["files", "none", "by_options"]
#: which of its operands a program writes: every operand; every operand but the first (the mode
#: of chmod); the last (the destination of cp); every operand (mv: sources and destination);
#: `of=` (dd); the `-o` value (sort); the current directory and the paths it names (archives)
Writes = Literal[
    "",
    "operands",
    "operands_after_first",
    "last_operand",
    "sources_and_destination",
    "of_operand",
    "output_option",
    "extracts",
]
#: what the walker does with the rest of the command line: run it as a command (wrapper), parse
#: it as shell code (shell), refuse to look inside (foreign_shell: not POSIX), look for program
#: text (interpreter), classify it as SQL (sql_client)
Role = Literal["", "wrapper", "shell", "foreign_shell", "interpreter", "sql_client"]


def options(text: str) -> frozenset[str]:
    """``options("-a --all -b")``: a frozenset of the blank-separated options."""
    return frozenset(text.split())


@dataclass(frozen=True, slots=True)
class Allow:
    """The options the classifier knows for one program (or one subcommand): an option-allowlist.

    Any other option (an unknown one, a GNU abbreviation, a letter not listed inside a cluster,
    ``--flag=value`` on a flag that takes none) makes the statement unknown: the classifier does
    not guess what it does. Abbreviations are never resolved, so a program that accepts them
    (getopt_long, nopt, argparse) gets exactly the names listed here.

    ``short`` letters take no value; ``short_values`` letters take the rest of the word or the
    next word; ``short_optional`` letters take only an attached value (``make -j4``). ``long`` take
    no value; ``long_values`` take ``=VALUE`` or the next word; ``long_optional`` only ``=VALUE``.
    ``file_values``: options (as written, short or long) whose value is a file the program reads:
    a read statement, and a value that is stdin or a descriptor (``-``, ``/dev/stdin``,
    ``/proc/self/fd/N``) makes the statement unknown, as the classifier cannot see that content.
    ``write_values``: options whose value is a file the program writes (a write statement).
    ``numeric``: ``-NUM`` is an option (``head -5``). ``style="single_dash"``: Go's flag package
    (``-run X``, ``-count=1``, also ``--run``; no clusters). ``after_operands``: options are
    recognized after operands too (GNU permutation; the safe default). ``runtime_words``: a word
    decided at run time in an option position makes the statement unknown (it could be any option).
    ``posix_order``: options end at the first operand. ``at_files``: ``@FILE`` words are argument
    files, which the classifier cannot read (unknown). ``long_pairs``: options taking two words.
    ``source``: where the list comes from (the program's own --help or manual, Debian 12 version).
    """

    short: str = ""
    short_values: str = ""
    short_optional: str = ""
    long: frozenset[str] = frozenset()
    long_values: frozenset[str] = frozenset()
    long_optional: frozenset[str] = frozenset()
    file_values: frozenset[str] = frozenset()
    write_values: frozenset[str] = frozenset()
    numeric: bool = False
    style: Literal["gnu", "single_dash"] = "gnu"
    runtime_words: bool = False
    #: options end at the first operand (bash builtins, POSIX utilities): later words are operands
    posix_order: bool = False
    #: a word ``@FILE`` is read as more arguments from FILE (binutils, pytest): unknown
    at_files: bool = False
    #: long options that take the next two words (jq --arg NAME VALUE)
    long_pairs: frozenset[str] = frozenset()
    #: options whose value is a configuration or plugin file the program loads (a subset of the
    #: value options): a read statement, and a value that is not a plain relative path below the
    #: working directory (``/``, ``~``, ``..``, blanks, quotes, ``=``: an inline setting) makes the
    #: statement unknown, as do stdin and descriptors
    config_values: frozenset[str] = frozenset()
    #: options written with their value attached, in the program's own spelling (``-Xmx2g``,
    #: ``-XX:+UseG1GC``, ``-Dkey=value``, ``-Xlint:all``; single_dash style): the longest listed
    #: prefix of an option word that is not itself listed
    prefix_values: frozenset[str] = frozenset()
    #: (option, regular expression): the option's value must match it in full (a value decided at
    #: run time never does), else the statement is unknown (``rustc -C opt-level=3`` but not
    #: ``-C linker=PROGRAM``; ``java -XX:`` settings that load nothing)
    checked_values: tuple[tuple[str, str], ...] = ()
    source: str = ""


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
    #: the options the classifier knows (any other makes the statement unknown); None: not listed
    allow: Allow | None = None
    #: per subcommand (git log, npm test): the options known for it, and for the words before it
    subcommand_allow: tuple[tuple[str, Allow], ...] = ()
    #: a subcommand not in subcommand_allow makes the statement unknown (else its options go unread)
    subcommands_closed: bool = False
    #: the subcommands whose operands are a command to run (`poetry run pytest`, `tox exec -- cmd`):
    #: judged as a command of its own, as a wrapper's (the subcommand's allowlist, else the program's,
    #: reads the options before it; posix_order ends them at the command)
    run_subcommand: tuple[str, ...] = ()

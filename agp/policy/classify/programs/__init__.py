"""What the shell classifier knows about programs' command lines, as data.

One module per family of programs, each a tuple of :class:`Program` records (``_model.py`` says
what each field means): ``wrappers`` (sudo, env, timeout, xargs, ...), ``shells`` (shells and
interpreters), ``files`` (file tools), ``git``, ``build`` (build and test tools), ``linters``, ``packages``, ``toolchains`` (compilers, runtimes, cmake), ``network``,
``sql`` (SQL clients), ``readers`` (read-only utilities), ``basics`` (builtins and utilities whose operands are never files); and
``variables`` (environment variables that change how programs run). A program is listed once.

The walker reads the views below, derived from the records.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from agp.policy.classify.programs import (
    basics,
    build,
    files,
    git,
    linters,
    network,
    packages,
    readers,
    shells,
    sql,
    toolchains,
    wrappers,
)
from agp.policy.classify.programs._model import Program
from agp.policy.classify.programs.basics import FILE_TESTS
from agp.policy.classify.programs.build import MAKE_DANGEROUS_VARIABLES
from agp.policy.classify.programs.shells import PYTHON_VERSIONED
from agp.policy.classify.programs.variables import (
    DANGEROUS_ENV,
    DANGEROUS_ENV_PREFIXES,
    DANGEROUS_ENV_SUFFIXES,
    SAFE_ENV,
    env_is_dangerous,
)

__all__ = (
    "ALLOWLISTS",
    "CODE_OPTIONS",
    "CODE_OPTION_PROGRAMS",
    "DANGEROUS_ENV",
    "DANGEROUS_ENV_PREFIXES",
    "DANGEROUS_ENV_SUFFIXES",
    "FILE_TESTS",
    "GNU_ABBREVIATES",
    "INTERPRETERS",
    "INTERPRETER_VALUE_OPTIONS",
    "MAKE_DANGEROUS_VARIABLES",
    "NETWORK_PROGRAMS",
    "NON_POSIX_SHELLS",
    "NO_PATH_OPERANDS",
    "OPTION_VALUES",
    "PATTERN_FIRST",
    "PROGRAMS",
    "PYTHON_VERSIONED",
    "RUN_SUBCOMMANDS",
    "SAFE_ENV",
    "SHELLS",
    "SQL_CLIENTS",
    "STDIN_INTERPRETERS",
    "SUBCOMMAND_ALLOWLISTS",
    "VARNAME_BUILTINS",
    "WRAPPERS",
    "WRAPPER_OPTS_WITH_ARG",
    "WRAPPER_POSITIONALS",
    "WRITERS",
    "WRITE_ALL_OPERANDS",
    "WRITE_LAST",
    "WRITE_SKIP_FIRST",
    "WRITE_SOURCES_AND_DESTINATION",
    "Program",
    "env_is_dangerous",
    "registry",
)


def registry(*families: tuple[Program, ...]) -> Mapping[str, Program]:
    """Every program by name; a name listed twice is an error (its facts would be split)."""
    out: dict[str, Program] = {}
    for family in families:
        for p in family:
            if p.name in out:
                raise ValueError(f"program {p.name!r} is listed twice")
            out[p.name] = p
    return MappingProxyType(out)


PROGRAMS = registry(
    wrappers.PROGRAMS,
    shells.PROGRAMS,
    files.PROGRAMS,
    git.PROGRAMS,
    build.PROGRAMS,
    linters.PROGRAMS,
    packages.PROGRAMS,
    toolchains.PROGRAMS,
    network.PROGRAMS,
    sql.PROGRAMS,
    basics.PROGRAMS,
    readers.PROGRAMS,
)
_ALL = tuple(PROGRAMS.values())

# ------------------------------------------------------------------------ views the walker reads

SHELLS = frozenset(p.name for p in _ALL if p.role == "shell")
NON_POSIX_SHELLS = frozenset(p.name for p in _ALL if p.role == "foreign_shell")
#: interpreter -> options whose presence makes the next word (or the attached rest) program text
INTERPRETERS = {p.name: p.program_text_options for p in _ALL if p.role == "interpreter"}
INTERPRETER_VALUE_OPTIONS = {p.name: p.value_options for p in _ALL if p.role == "interpreter" and p.value_options}
#: programs that read their program from stdin when given no script operand
STDIN_INTERPRETERS = frozenset(p.name for p in _ALL if p.stdin_program)
SQL_CLIENTS = frozenset(p.name for p in _ALL if p.role == "sql_client")
NETWORK_PROGRAMS = frozenset(p.name for p in _ALL if p.network)
#: programs whose operands are never files
NO_PATH_OPERANDS = frozenset(p.name for p in _ALL if p.operands == "none")
#: program -> options that give the pattern/script (then the first operand is a file); for the
#: programs read by_options, OPTION_VALUES says it
PATTERN_FIRST = {
    p.name: p.pattern_options | p.file_options for p in _ALL if p.pattern_first and p.operands != "by_options"
}
#: wrapper -> options that take a value (skipped to find the wrapped command)
WRAPPER_OPTS_WITH_ARG = {p.name: p.value_options for p in _ALL if p.role == "wrapper"}
WRAPPERS = frozenset(WRAPPER_OPTS_WITH_ARG)
#: wrapper -> operands before the command
WRAPPER_POSITIONALS = {p.name: p.positionals for p in _ALL if p.role == "wrapper" and p.positionals}
WRITE_ALL_OPERANDS = frozenset(p.name for p in _ALL if p.writes == "operands")
WRITE_SKIP_FIRST = frozenset(p.name for p in _ALL if p.writes == "operands_after_first")
WRITE_LAST = frozenset(p.name for p in _ALL if p.writes == "last_operand")
WRITE_SOURCES_AND_DESTINATION = frozenset(p.name for p in _ALL if p.writes == "sources_and_destination")
WRITERS = frozenset(p.name for p in _ALL if p.writes)
#: program -> options that name a program or code for it to run (presence -> unknown statement)
CODE_OPTIONS = {p.name: p.code_options for p in _ALL if p.code_options}
VARNAME_BUILTINS = frozenset(p.name for p in _ALL if p.varname_operands)
#: programs whose options are checked for code (make's variable overrides and cargo --config are
#: rules in the walker)
CODE_OPTION_PROGRAMS = frozenset(CODE_OPTIONS) | VARNAME_BUILTINS | {"make", "gmake", "cargo"}
#: program -> (option arity, file options, pattern options, pattern first) for programs read by_options
OPTION_VALUES = {
    p.name: (
        {**dict.fromkeys(p.value_options, 1), **dict.fromkeys(p.pair_options, 2)},
        p.file_options,
        p.pattern_options,
        p.pattern_first,
    )
    for p in _ALL
    if p.operands == "by_options"
}
GNU_ABBREVIATES = frozenset(p.name for p in _ALL if p.abbreviates)
#: program -> its option-allowlist; program -> {subcommand: allowlist} (the program's own allow then
#: covers the words before the subcommand)
ALLOWLISTS = {p.name: p.allow for p in _ALL if p.allow is not None and not p.subcommand_allow}
#: program -> the subcommands that run a command given after them (uv/poetry/pdm run, tox exec)
RUN_SUBCOMMANDS = {p.name: p.run_subcommand for p in _ALL if p.run_subcommand}
SUBCOMMAND_ALLOWLISTS = {
    p.name: (p.allow, dict(p.subcommand_allow), p.subcommands_closed) for p in _ALL if p.subcommand_allow
}

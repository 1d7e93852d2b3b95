"""Shell builtins and small utilities whose operands are never files (echo, test, kill, ...), and
the builtins that take variable names (where `a[$(cmd)]` runs cmd)."""

from __future__ import annotations

from agp.policy.classify.programs._model import Allow, Program, options

__all__ = ("FILE_TESTS", "PROGRAMS")

#: test / [ operators whose operand is a file
FILE_TESTS = frozenset(
    {
        "-a",
        "-b",
        "-c",
        "-d",
        "-e",
        "-f",
        "-g",
        "-h",
        "-k",
        "-p",
        "-r",
        "-s",
        "-t",
        "-u",
        "-w",
        "-x",
        "-G",
        "-L",
        "-N",
        "-O",
        "-S",
        "-nt",
        "-ot",
        "-ef",
    }
)

_NO_FILES = (
    "echo",
    "printf",
    "true",
    "false",
    ":",
    "test",
    "[",
    "expr",
    "seq",
    "sleep",
    "yes",
    "basename",
    "dirname",
    "whoami",
    "id",
    "uname",
    "pwd",
    "set",
    "shift",
    "exit",
    "return",
    "break",
    "continue",
    "wait",
    "jobs",
    "kill",
    "let",
    "read",
    "type",
    "which",
    "hash",
    "help",
    "umask",
    "ulimit",
    "unalias",
    "printenv",
    "getopts",
    "export",
    "local",
    "declare",
    "typeset",
    "readonly",
    "unset",
    "alias",
    "logger",
    "tput",
    "stty",
    "nproc",
    "arch",
    "hostname",
    "groups",
)
_VARNAMES = frozenset(
    {
        "printf",
        "read",
        "unset",
        "declare",
        "local",
        "export",
        "readonly",
        "typeset",
        "let",
        "mapfile",
        "readarray",
        "getopts",
        "wait",
        "test",
        "[",
        "[[",
    }
)

_CU = "GNU coreutils 9.1 --help (Debian 12)"
_BASH = "bash 5.2 `help NAME` (Debian 12)"
#: option-allowlists (``_model.Allow``). printf: no -v (it assigns any variable, PATH included, which
#: the classifier does not follow), and its first word may not be decided at run time. echo and
#: true/false/: take no option that reads or writes anything (echo prints an unknown one), test/[
#: are read through FILE_TESTS.
_ALLOW = {
    "printf": Allow(posix_order=True, runtime_words=True, source=_BASH),
    "pwd": Allow(short="LP", posix_order=True, source=_BASH),
    "basename": Allow(
        short="az",
        short_values="s",
        long=options("--multiple --zero --help --version"),
        long_values=options("--suffix"),
        source=_CU,
    ),
    "dirname": Allow(short="z", long=options("--zero --help --version"), source=_CU),
    "which": Allow(short="a", source="debianutils 5.7 which"),
    "type": Allow(short="afptP", posix_order=True, source=_BASH),
    "seq": Allow(
        short="w",
        short_values="fs",
        long=options("--equal-width --help --version"),
        long_values=options("--format --separator"),
        numeric=True,
        source=_CU,
    ),
    "whoami": Allow(long=options("--help --version"), source=_CU),
}

PROGRAMS = tuple(
    Program(n, operands="none" if n in _NO_FILES else "files", varname_operands=n in _VARNAMES, allow=_ALLOW.get(n))
    for n in dict.fromkeys(_NO_FILES + tuple(sorted(_VARNAMES)))
)

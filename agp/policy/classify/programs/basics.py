"""Shell builtins and small utilities whose operands are never files (echo, test, kill, ...), and
the builtins that take variable names (where `a[$(cmd)]` runs cmd)."""

from __future__ import annotations

from agp.policy.classify.programs._model import Program

__all__ = ("FILE_TESTS", "PROGRAMS")

#: test / [ operators whose operand is a file
FILE_TESTS = frozenset({"-a", "-b", "-c", "-d", "-e", "-f", "-g", "-h", "-k", "-p", "-r", "-s", "-t", "-u", "-w",
                        "-x", "-G", "-L", "-N", "-O", "-S", "-nt", "-ot", "-ef"})

_NO_FILES = ("echo", "printf", "true", "false", ":", "test", "[", "expr", "seq", "sleep", "yes", "basename",
             "dirname", "whoami", "id", "uname", "pwd", "set", "shift", "exit", "return", "break", "continue", "wait",
             "jobs", "kill", "let", "read", "type", "which", "hash", "help", "umask", "ulimit", "unalias", "printenv",
             "getopts", "export", "local", "declare", "typeset", "readonly", "unset", "alias", "logger", "tput",
             "stty", "nproc", "arch", "hostname", "groups")
_VARNAMES = frozenset({"printf", "read", "unset", "declare", "local", "export", "readonly", "typeset", "let",
                       "mapfile", "readarray", "getopts", "wait", "test", "[", "[["})

PROGRAMS = tuple(Program(n, operands="none" if n in _NO_FILES else "files", varname_operands=n in _VARNAMES)
                 for n in dict.fromkeys(_NO_FILES + tuple(sorted(_VARNAMES))))

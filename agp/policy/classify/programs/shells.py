"""Shells and interpreters: programs whose input is code. A POSIX shell's ``-c`` string or here-doc
is classified like the outer command; an interpreter's program text on the command line (python -c,
perl -e, ...) or from a stdin the walker cannot see makes an unknown statement."""

from __future__ import annotations

import re

from agp.policy.classify.programs._model import Allow, Program, options
from agp.policy.classify.programs.toolchains import NODE_ALLOW

__all__ = ("PROGRAMS", "PYTHON_VERSIONED")

#: python3.12 and the like: the python interpreter under a versioned name
PYTHON_VERSIONED = re.compile(r"python[23]?\.\d+")


def _shell(name: str) -> Program:
    return Program(name, role="shell")


def _foreign(name: str) -> Program:
    return Program(name, role="foreign_shell")


def _interp(
    name: str, text_options: str = "", value_options: str = "", stdin: bool = True, allow: Allow | None = None
) -> Program:
    return Program(
        name,
        role="interpreter",
        program_text_options=tuple(text_options.split()),
        value_options=options(value_options),
        stdin_program=stdin,
        allow=allow,
    )


PROGRAMS = (
    *(_shell(n) for n in ("sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "rbash", "posh", "yash", "busybox-sh")),
    *(_foreign(n) for n in ("fish", "csh", "tcsh", "xonsh", "nu", "elvish", "pwsh", "powershell")),
    _interp("python", "-c", "-W -X --check-hash-based-pycs"),
    _interp("python2", "-c"),
    _interp("python3", "-c"),
    _interp("pypy", "-c", "-W -X"),
    _interp("pypy3", "-c"),
    _interp("perl", "-e -E", "-I -M -m"),
    _interp("ruby", "-e", "-r -I -C -E"),
    _interp(
        "node",
        "-e -p --eval --print",
        "-r --require --import --loader --experimental-loader --conditions -C --title --env-file",
        allow=NODE_ALLOW,
    ),
    _interp("nodejs", "-e -p --eval --print", "-r --require --import", allow=NODE_ALLOW),
    _interp("deno", "eval", stdin=False),
    Program("bun", role="interpreter", program_text_options=("-e", "--eval"), code_options=("--shell",)),
    _interp("php", "-r -R -B -E", "-d -c -z"),
    _interp("lua", "-e"),
    _interp("luajit", "-e"),
    _interp("Rscript", "-e"),
    _interp("R", "-e"),
    _interp("tclsh"),
    _interp("wish"),
    _interp("osascript", "-e"),
    _interp("julia", "-e -E"),
    _interp("groovy", "-e", stdin=False),
    _interp("scala", "-e", stdin=False),
    _interp("jshell"),
    _interp("irb"),
    _interp("ghci", "-e"),
    _interp("guile", "-c"),
    _interp("racket", "-e"),
    _interp("sbcl", "--eval"),
    _interp("erl", "-eval"),
    _interp("elixir", "-e"),
    _interp("swift", "-e", stdin=False),
    _interp("gdb", "-ex --eval-command"),
    _interp("vim", "-c + --cmd", stdin=False),
    _interp("vi", "-c + --cmd", stdin=False),
    _interp("nvim", "-c + --cmd", stdin=False),
    _interp("emacs", "--eval", stdin=False),
    _interp("ed"),
    _interp("ex", "-c +"),
    _interp("expect", "-c"),
    _interp("tmux", stdin=False),
    _interp("screen", stdin=False),
    # calculators: their input is a program too
    Program("bc", stdin_program=True),
    Program("dc", stdin_program=True),
)

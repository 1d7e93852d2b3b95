"""Build and test tools: options that make them run a program or code named on the command line
(make --eval, go -toolexec, npm --script-shell, pytest --pdb), and make's variables whose
override changes the commands recipes run."""

from __future__ import annotations

from agp.policy.classify.programs._model import Program

__all__ = ("MAKE_DANGEROUS_VARIABLES", "PROGRAMS")

MAKE_DANGEROUS_VARIABLES = frozenset({"SHELL", ".SHELLFLAGS", "MAKESHELL", "MAKEFLAGS", "MFLAGS", "GNUMAKEFLAGS",
                                      "MAKEFILES", ".DEFAULT_GOAL", "MAKEFILE_LIST"})

_PYTEST = ("-o", "--override-ini", "--pdb", "--trace", "--pdbcls")

PROGRAMS = (
    Program("make", code_options=("--eval", "-E"), abbreviates=True),
    Program("gmake", code_options=("--eval", "-E"), abbreviates=True),
    Program("cargo"),  # --config KEY=VALUE: a rule in the walker
    Program("go", code_options=("-exec", "-toolexec", "--exec", "--toolexec")),
    Program("npm", code_options=("--script-shell", "--node-options", "--shell")),
    Program("yarn", code_options=("--script-shell", "--node-options")),
    Program("pnpm", code_options=("--script-shell", "--node-options", "--shell-emulator")),
    # --pdb/--trace open an interactive debugger: code typed on stdin runs (a harness can write to a
    # running process's stdin without a gated call)
    Program("pytest", code_options=_PYTEST),
    Program("py.test", code_options=_PYTEST),
)

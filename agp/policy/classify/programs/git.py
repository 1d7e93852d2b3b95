"""git: its global options before the subcommand (the walker's git rules handle what runs code:
-c, --config-env, --exec-path, --upload-pack, grep -O, rebase --exec, bisect run, ...)."""

from __future__ import annotations

from agp.policy.classify.programs._model import Program, options

__all__ = ("PROGRAMS",)

PROGRAMS = (
    Program("git", value_options=options("-C --git-dir --work-tree --namespace --super-prefix")),
    Program("git-grep", pattern_first=True),
    Program("git-apply", writes="extracts"),
)

"""File tools: what they write (rm, cp, mv, chmod, tee, dd, sort -o, archives), which operand is a
pattern or script rather than a file (grep, sed, awk, jq), and options that run another program
(tar --to-command, sort --compress-program, man -P, less +!)."""

from __future__ import annotations

from agp.policy.classify.programs._model import Program, options

__all__ = ("PROGRAMS",)

_GREP = dict(operands="by_options", pattern_first=True, file_options=options("-f --file --exclude-from"),
             pattern_options=options("-e --regexp"),
             value_options=options("-f --file --exclude-from -e --regexp -A -B -C -D -d -m --max-count "
                                   "--after-context --before-context --context --devices --directories --label "
                                   "--binary-files --include --exclude --exclude-dir --group-separator"))

PROGRAMS = (
    *(Program(n, writes="operands") for n in ("rm", "rmdir", "unlink", "shred", "truncate", "touch", "mkdir",
                                              "mkfifo", "mknod", "tee", "srm", "wipe")),
    *(Program(n, writes="operands_after_first") for n in ("chmod", "chown", "chgrp", "setfacl", "chattr", "chcon")),
    *(Program(n, writes="last_operand") for n in ("cp", "install", "ln", "link")),
    Program("mv", writes="sources_and_destination"),
    Program("dd", writes="of_operand"),
    Program("sort", writes="output_option", code_options=("--compress-program",), abbreviates=True),
    Program("tar", writes="extracts", abbreviates=True,
            code_options=("--to-command", "--checkpoint-action", "-I", "--use-compress-program", "--rsh-command",
                          "--info-script", "-F", "--new-volume-script", "--rmt-command")),
    Program("bsdtar", writes="extracts", code_options=("--use-compress-program",)),
    *(Program(n, writes="extracts") for n in ("unzip", "patch", "cpio", "7z")),
    Program("zip", code_options=("-TT", "--unzip-command"), abbreviates=True),
    Program("man", code_options=("-P", "--pager", "-H", "--html"), abbreviates=True),
    Program("sdiff", code_options=("--diff-program",), abbreviates=True),
    Program("diff3", code_options=("--diff-program",), abbreviates=True),
    Program("less", code_options=("+!",)),
    *(Program(n, **_GREP) for n in ("grep", "egrep", "fgrep")),  # type: ignore[arg-type]
    Program("rg", operands="by_options", pattern_first=True, code_options=("--pre", "--hostname-bin"),
            file_options=options("-f --file --ignore-file"), pattern_options=options("-e --regexp"),
            value_options=options(
                "-f --file --ignore-file -e --regexp "
                "-A -B -C -g -j -m -M -r -t -T -E -d --glob --iglob --threads --max-count --max-columns "
                "--replace --type --type-not --encoding --max-depth --type-add --type-clear --pre --pre-glob "
                "--colors --context-separator --path-separator --sort --sortr --max-filesize --dfa-size-limit "
                "--regex-size-limit --engine --hostname-bin --hyperlink-format --after-context "
                "--before-context --context --field-context-separator --field-match-separator")),
    Program("jq", operands="by_options", pattern_first=True, value_options=options("-f --from-file -L --indent"),
            pair_options=options("--slurpfile --rawfile --arg --argjson"),
            file_options=options("-f --from-file -L --slurpfile --rawfile")),
    Program("ag", pattern_first=True),
    Program("ack", pattern_first=True),
    Program("yq", pattern_first=True),
    Program("sed", pattern_first=True, pattern_options=options("-e --expression"), file_options=options("-f --file")),
    Program("awk", pattern_first=True, file_options=options("-f --file")),
    Program("gawk", pattern_first=True, file_options=options("-f --file")),
    Program("mawk", pattern_first=True, file_options=options("-f")),
    Program("nawk", pattern_first=True, file_options=options("-f")),
)

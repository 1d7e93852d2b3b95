"""File tools: what they write (rm, cp, mv, chmod, tee, dd, sort -o, archives), which operand is a
pattern or script rather than a file (grep, sed, awk, jq), and options that run another program
(tar --to-command, sort --compress-program, man -P, less +!)."""

from __future__ import annotations

from agp.policy.classify.programs._model import Allow, Program, options

__all__ = ("PROGRAMS",)

_GREP = {
    "operands": "by_options",
    "pattern_first": True,
    "file_options": options("-f --file --exclude-from"),
    "pattern_options": options("-e --regexp"),
    "value_options": options(
        "-f --file --exclude-from -e --regexp -A -B -C -D -d -m --max-count "
        "--after-context --before-context --context --devices --directories --label "
        "--binary-files --include --exclude --exclude-dir --group-separator"
    ),
}

# option-allowlists (see _model.Allow): what each program is known to take; anything else is unknown.
# Not listed on purpose: grep/sort/wc/du --files0-from (file names from a file), rg --pre/--pre-glob/
# -z/--search-zip/--hostname-bin (run programs), jq -f/--from-file/-L/--slurpfile/--rawfile (program or
# modules from files), sed -f/--file (a script file), sort --compress-program/--files0-from.
_GREP_ALLOW = Allow(
    short="EFGPivwxyclLoqsbHhnTZzarRUV",
    short_values="efmABCDd",
    numeric=True,
    long=options(
        "--extended-regexp --fixed-strings --basic-regexp --perl-regexp --ignore-case --no-ignore-case "
        "--invert-match --word-regexp --line-regexp --count --files-without-match --files-with-matches "
        "--only-matching --quiet --silent --no-messages --byte-offset --with-filename --no-filename "
        "--line-number --initial-tab --null --null-data --text --recursive --dereference-recursive "
        "--line-buffered --binary --help --version"
    ),
    long_values=options(
        "--regexp --file --max-count --label --binary-files --devices --directories --exclude "
        "--exclude-from --exclude-dir --include --after-context --before-context --context"
    ),
    long_optional=options("--color --colour"),
    file_values=options("-f --file --exclude-from"),
    source="GNU grep 3.8 --help (Debian 12)",
)
_RG_ALLOW = Allow(
    short="abcFhHiIlLnNopPqsSuUvVwx0.",
    short_values="ABCdeEfgjmMrtT",
    long=options(
        "--case-sensitive --ignore-case --smart-case --fixed-strings --count --count-matches --files "
        "--files-with-matches --files-without-match --follow --hidden --no-ignore --no-ignore-vcs "
        "--no-ignore-parent --no-ignore-dot --no-ignore-global --no-ignore-exclude --no-ignore-files "
        "--no-messages --line-number --no-line-number --heading --no-heading --with-filename "
        "--no-filename --only-matching --quiet --json --vimgrep --invert-match --word-regexp "
        "--line-regexp --multiline --multiline-dotall --null --null-data --pcre2 --stats --trim "
        "--unrestricted --text --type-list --column --byte-offset --sort-files --passthru --no-config "
        "--crlf --binary --no-binary --no-unicode --search-zip-never --debug --help --version"
    ),
    long_values=options(
        "--after-context --before-context --context --glob --iglob --max-count --max-columns "
        "--max-depth --max-filesize --replace --type --type-not --threads --sort --sortr --encoding "
        "--color --colors --context-separator --path-separator --engine --regexp --file "
        "--ignore-file"
    ),
    file_values=options("-f --file --ignore-file"),
    source="ripgrep 13.0.0 --help (Debian 12)",
)
_JQ_ALLOW = Allow(
    short="nrjascCMSeR",
    long=options(
        "--null-input --raw-output --join-output --ascii-output --slurp "
        "--compact-output --color-output --monochrome-output --sort-keys "
        "--exit-status --raw-input --tab --seq --stream --args --jsonargs --help "
        "--version"
    ),
    long_values=options("--indent"),
    long_pairs=options("--arg --argjson"),
    source="jq 1.6 --help (Debian 12)",
)
_SED_ALLOW = Allow(
    short="nErsuz",
    short_values="el",
    short_optional="i",
    long=options(
        "--quiet --silent --debug --posix --regexp-extended --separate --sandbox --unbuffered "
        "--null-data --follow-symlinks --help --version"
    ),
    long_values=options("--expression --line-length"),
    long_optional=options("--in-place"),
    source="GNU sed 4.9 --help (Debian 12)",
)
_SORT_ALLOW = Allow(
    short="bdfgiMhnRrVcCmsuz",
    short_values="kStTo",
    long=options(
        "--ignore-leading-blanks --dictionary-order --ignore-case --general-numeric-sort "
        "--ignore-nonprinting --month-sort --human-numeric-sort --numeric-sort --random-sort --reverse "
        "--version-sort --merge --stable --unique --zero-terminated --debug --help --version"
    ),
    long_values=options(
        "--sort --batch-size --key --buffer-size --field-separator --temporary-directory "
        "--parallel --output --random-source"
    ),
    long_optional=options("--check"),
    file_values=options("--random-source"),
    write_values=options("-o --output -T --temporary-directory"),
    source="GNU coreutils 9.1 sort --help (Debian 12)",
)

PROGRAMS = (
    *(
        Program(n, writes="operands")
        for n in (
            "rm",
            "rmdir",
            "unlink",
            "shred",
            "truncate",
            "touch",
            "mkdir",
            "mkfifo",
            "mknod",
            "tee",
            "srm",
            "wipe",
        )
    ),
    *(Program(n, writes="operands_after_first") for n in ("chmod", "chown", "chgrp", "setfacl", "chattr", "chcon")),
    *(Program(n, writes="last_operand") for n in ("cp", "install", "ln", "link")),
    Program("mv", writes="sources_and_destination"),
    Program("dd", writes="of_operand"),
    Program("sort", writes="output_option", code_options=("--compress-program",), abbreviates=True, allow=_SORT_ALLOW),
    Program(
        "tar",
        writes="extracts",
        abbreviates=True,
        code_options=(
            "--to-command",
            "--checkpoint-action",
            "-I",
            "--use-compress-program",
            "--rsh-command",
            "--info-script",
            "-F",
            "--new-volume-script",
            "--rmt-command",
        ),
    ),
    Program("bsdtar", writes="extracts", code_options=("--use-compress-program",)),
    *(Program(n, writes="extracts") for n in ("unzip", "patch", "cpio", "7z")),
    Program("zip", code_options=("-TT", "--unzip-command"), abbreviates=True),
    Program("man", code_options=("-P", "--pager", "-H", "--html"), abbreviates=True),
    Program("sdiff", code_options=("--diff-program",), abbreviates=True),
    Program("diff3", code_options=("--diff-program",), abbreviates=True),
    Program("less", code_options=("+!",)),
    *(Program(n, **_GREP, allow=_GREP_ALLOW) for n in ("grep", "egrep", "fgrep")),  # type: ignore[arg-type]
    Program(
        "rg",
        operands="by_options",
        pattern_first=True,
        code_options=("--pre", "--hostname-bin"),
        file_options=options("-f --file --ignore-file"),
        pattern_options=options("-e --regexp"),
        value_options=options(
            "-f --file --ignore-file -e --regexp "
            "-A -B -C -g -j -m -M -r -t -T -E -d --glob --iglob --threads --max-count --max-columns "
            "--replace --type --type-not --encoding --max-depth --type-add --type-clear --pre --pre-glob "
            "--colors --context-separator --path-separator --sort --sortr --max-filesize --dfa-size-limit "
            "--regex-size-limit --engine --hostname-bin --hyperlink-format --after-context "
            "--before-context --context --field-context-separator --field-match-separator"
        ),
        allow=_RG_ALLOW,
    ),
    Program(
        "jq",
        operands="by_options",
        pattern_first=True,
        value_options=options("-f --from-file -L --indent"),
        pair_options=options("--slurpfile --rawfile --arg --argjson"),
        file_options=options("-f --from-file -L --slurpfile --rawfile"),
        allow=_JQ_ALLOW,
    ),
    Program("ag", pattern_first=True),
    Program("ack", pattern_first=True),
    Program("yq", pattern_first=True),
    Program(
        "sed",
        pattern_first=True,
        pattern_options=options("-e --expression"),
        file_options=options("-f --file"),
        allow=_SED_ALLOW,
    ),
    Program("awk", pattern_first=True, file_options=options("-f --file")),
    Program("gawk", pattern_first=True, file_options=options("-f --file")),
    Program("mawk", pattern_first=True, file_options=options("-f")),
    Program("nawk", pattern_first=True, file_options=options("-f")),
)

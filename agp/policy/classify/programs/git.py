"""git: its global options before the subcommand (the walker's git rules handle what runs code:
-c, --config-env, --exec-path, --upload-pack, grep -O, rebase --exec, bisect run, ...), and the
option-allowlists of the read-only subcommands the shipped policies allow (status, log, diff, show,
blame, rev-parse, ls-files, describe, shortlog, branch, remote). An option not listed for them
makes the statement unknown: not listed on purpose are --output (writes a file), --ext-diff and
--textconv (run configured programs), --no-index (compares files outside the repository), -O
(an order file, any path), --show-signature (runs gpg), blame --contents/-S/--ignore-revs-file
outside the workspace (they are read statements), --open-files-in-pager, --exec-path.

Source: git 2.39.5 (Debian 12) `git help log|diff|show|status|blame|rev-parse|ls-files|describe|
shortlog|branch|remote`, the options of `git-rev-list(1)` and the diff options of `git-diff(1)`.
"""

from __future__ import annotations

from agp.policy.classify.programs._model import Allow, Program, options

__all__ = ("PROGRAMS",)

_SRC = "git 2.39.5 manual pages (Debian 12)"

# what the log family (log, show, diff, shortlog) share: revision walking and diff output
_DIFF_FLAGS = (
    "--patch --no-patch --raw --patch-with-raw --patch-with-stat --numstat --shortstat --summary "
    "--name-only --name-status --full-index --binary --no-color --minimal --patience --histogram "
    "--no-renames --rename-empty --no-rename-empty --check --text --ignore-cr-at-eol "
    "--ignore-space-at-eol --ignore-space-change --ignore-all-space --ignore-blank-lines "
    "--function-context --exit-code --quiet --no-ext-diff --no-textconv --no-prefix --default-prefix "
    "--ita-invisible-in-index --ita-visible-in-index --cached --staged --merge-base --compact-summary "
    "--irreversible-delete --pickaxe-all --pickaxe-regex --find-copies-harder --no-relative "
    "--indent-heuristic --no-indent-heuristic --color-moved-ws=no --full-diff --cc --combined-all-paths "
    "--remerge-diff --no-diff-merges --first-parent"
)
_DIFF_VALUES = (
    "--unified --diff-algorithm --diff-filter --word-diff-regex --color-words --src-prefix "
    "--dst-prefix --line-prefix --inter-hunk-context --anchored --diff-merges --ws-error-highlight "
    "--color-moved-ws --output-indicator-new --output-indicator-old --output-indicator-context"
)
_DIFF_OPTIONAL = (
    "--stat --dirstat --cumulative --color --word-diff --find-renames --find-copies "
    "--break-rewrites --relative --abbrev --submodule --color-moved --ignore-submodules "
    "--stat-width --stat-name-width --stat-count --stat-graph-width"
)
_LOG_FLAGS = (
    "--oneline --graph --all --branches --tags --remotes --merges --no-merges --reverse --follow "
    "--abbrev-commit --no-abbrev-commit --no-decorate --source --use-mailmap --mailmap --no-mailmap "
    "--log-size --topo-order --date-order --author-date-order --left-right --cherry-pick "
    "--cherry-mark --cherry --boundary --ancestry-path --simplify-by-decoration --full-history "
    "--dense --sparse --simplify-merges --walk-reflogs --no-walk --do-walk --invert-grep --all-match "
    "--regexp-ignore-case --extended-regexp --fixed-strings --basic-regexp --perl-regexp --stdin "
    "--count --parents --children --left-only --right-only --not --no-min-parents --no-max-parents "
    "--show-pulls --relative-date --notes --no-notes --show-linear-break --bisect --single-worktree "
    "--exclude-first-parent-only --reflog --alternate-refs --ignore-missing --no-expand-tabs "
    "--show-notes-by-default --clear-decorations"
)
_LOG_VALUES = (
    "--max-count --skip --since --after --until --before --author --committer --grep --grep-reflog "
    "--min-parents --max-parents --date --format --exclude --glob --since-as-filter "
    "--decorate-refs --decorate-refs-exclude -L"
)
_LOG_OPTIONAL = "--pretty --decorate --expand-tabs --show-linear-break --encoding"
_LOG = Allow(
    short="pusRabwzWDiEFPgNmct",
    short_values="nLGSU",
    numeric=True,
    short_optional="MCB",
    long=options(_DIFF_FLAGS + " " + _LOG_FLAGS + " --help"),
    long_values=options(_DIFF_VALUES + " " + _LOG_VALUES),
    long_optional=options(_DIFF_OPTIONAL + " " + _LOG_OPTIONAL),
    source=_SRC,
)
_STATUS = Allow(
    short="sbvz",
    short_optional="u",
    long=options(
        "--short --branch --show-stash --long --verbose --null --no-column --ahead-behind "
        "--no-ahead-behind --renames --no-renames --no-optional-locks --help"
    ),
    long_optional=options("--porcelain --untracked-files --ignored --ignore-submodules --column --find-renames"),
    source=_SRC,
)
_BLAME = Allow(
    short="blstpenfswc",
    short_values="LS",
    short_optional="MC",
    long=options(
        "--root --show-stats --progress --no-progress --incremental --porcelain "
        "--line-porcelain --show-name --show-number --show-email --reverse --first-parent "
        "--minimal --color-lines --color-by-age --score-debug --help"
    ),
    long_values=options("--date --contents --ignore-rev --ignore-revs-file --encoding"),
    long_optional=options("--abbrev"),
    file_values=options("--contents --ignore-revs-file -S"),
    source=_SRC,
)
_REV_PARSE = Allow(
    short="q",
    long=options(
        "--verify --quiet --show-toplevel --git-dir --show-prefix --show-cdup "
        "--is-inside-work-tree --is-inside-git-dir --is-bare-repository "
        "--is-shallow-repository --symbolic-full-name --symbolic --all --git-common-dir "
        "--absolute-git-dir --show-superproject-working-tree --sq --not --revs-only "
        "--no-revs --flags --no-flags --local-env-vars --shared-index-path "
        "--show-object-format --show-ref-format --help"
    ),
    long_values=options("--default --since --after --until --before --path-format --prefix"),
    long_optional=options("--abbrev-ref --short --branches --tags --remotes --disambiguate --glob --exclude"),
    source=_SRC,
)
_LS_FILES = Allow(
    short="cdmoisukztvf",
    short_values="xX",
    long=options(
        "--cached --deleted --modified --others --ignored --stage --unmerged --killed "
        "--directory --no-empty-directory --eol --full-name --recurse-submodules "
        "--error-unmatch --exclude-standard --deduplicate --sparse --debug --help"
    ),
    long_values=options("--exclude --exclude-from --exclude-per-directory --with-tree --format"),
    long_optional=options("--abbrev"),
    file_values=options("-X --exclude-from"),
    source=_SRC,
)
_DESCRIBE = Allow(
    long=options("--tags --all --long --always --contains --exact-match --first-parent --debug --help"),
    long_values=options("--candidates --match --exclude"),
    long_optional=options("--dirty --broken --abbrev"),
    source=_SRC,
)
_SHORTLOG = Allow(
    short="sneic",
    short_optional="w",
    numeric=True,
    long=options("--summary --numbered --email --committer " + _LOG_FLAGS + " --help"),
    long_values=options("--group --format " + _LOG_VALUES),
    source=_SRC,
)
_BRANCH = Allow(
    short="arlvdDmMcCfuti",
    short_values="u",
    long=options(
        "--all --remotes --list --verbose --show-current --no-column --no-color --ignore-case "
        "--omit-empty --no-abbrev --delete --move --copy --force --no-track --unset-upstream "
        "--create-reflog --help"
    ),
    long_values=options("--sort --format --points-at --set-upstream-to --merged --no-merged --contains --no-contains"),
    long_optional=options("--column --color --abbrev --track"),
    source=_SRC,
)
_REMOTE = Allow(short="v", long=options("--verbose --help"), posix_order=True, source=_SRC)

PROGRAMS = (
    Program(
        "git",
        value_options=options("-C --git-dir --work-tree --namespace --super-prefix"),
        allow=Allow(
            short="pP",
            long=options(
                "--no-pager --paginate --no-optional-locks --literal-pathspecs "
                "--glob-pathspecs --noglob-pathspecs --icase-pathspecs "
                "--no-replace-objects --version --help"
            ),
            posix_order=True,
            source=_SRC,
        ),
        subcommand_allow=(
            ("log", _LOG),
            ("show", _LOG),
            ("diff", _LOG),
            ("whatchanged", _LOG),
            ("status", _STATUS),
            ("blame", _BLAME),
            ("rev-parse", _REV_PARSE),
            ("ls-files", _LS_FILES),
            ("describe", _DESCRIBE),
            ("shortlog", _SHORTLOG),
            ("branch", _BRANCH),
            ("remote", _REMOTE),
        ),
    ),
    Program("git-grep", pattern_first=True),
    Program("git-apply", writes="extracts"),
)

"""Read-only utilities the shipped policies allow (ls, cat, head, wc, diff, stat, ...): the options
each one is known to take, as option-allowlists. An option that is not listed (``wc --files0-from``,
``sha256sum -c``, ``file -f``, ``du --files0-from``: file names read from a file; ``tree -o``,
``tree --fromfile``) makes the statement unknown.

Sources: ``PROG --help`` of the Debian 12 (bookworm) packages, the versions in the images: GNU
coreutils 9.1, diffutils 3.8, util-linux 2.38.1 (column, rev, hexdump), binutils 2.40 (strings),
file 5.44, tree 2.1.0 (its manual page). tests/unit/policy/classify/test_allowlists.py checks every
listed long option against the installed program's --help.
"""

from __future__ import annotations

from typing import Any

from agp.policy.classify.programs._model import Allow, Program, options

__all__ = ("PROGRAMS",)

_CU = "GNU coreutils 9.1 --help (Debian 12)"


def _a(
    short: str = "", values: str = "", long: str = "", long_values: str = "", *, source: str = _CU, **kw: Any
) -> Allow:
    return Allow(
        short=short,
        short_values=values,
        long=options(long + " --help --version"),
        long_values=options(long_values),
        source=source,
        **kw,
    )


_SUMS = _a("btz", "", "--binary --text --tag --zero")

PROGRAMS = (
    Program(
        "ls",
        allow=_a(
            "aAbBcCdDfFgGhHiklLmnNopqQrRsStuUvxXZ1",
            "ITw",
            "--all --almost-all --author --escape --ignore-backups --directory --dired --file-type --full-time "
            "--group-directories-first --no-group --human-readable --si --dereference-command-line "
            "--dereference-command-line-symlink-to-dir --hide-control-chars --show-control-chars --inode "
            "--kibibytes --dereference --numeric-uid-gid --literal --quote-name --recursive --reverse --size "
            "--context --zero",
            "--block-size --format --hide --ignore --indicator-style --quoting-style --sort --time --time-style "
            "--tabsize --width",
            long_optional=options("--classify --color --hyperlink"),
        ),
    ),
    Program(
        "cat",
        allow=_a(
            "AbeEnstTuv",
            "",
            "--show-all --number-nonblank --show-ends --number --squeeze-blank --show-tabs --show-nonprinting",
        ),
    ),
    Program(
        "head", allow=_a("qvz", "cn", "--quiet --silent --verbose --zero-terminated", "--bytes --lines", numeric=True)
    ),
    Program(
        "tail",
        allow=_a(
            "fFqvz",
            "cns",
            "--retry --quiet --silent --verbose --zero-terminated",
            "--bytes --lines --max-unchanged-stats --sleep-interval --pid",
            numeric=True,
            long_optional=options("--follow"),
        ),
    ),
    Program("wc", allow=_a("clLmw", "", "--bytes --chars --lines --max-line-length --words")),
    Program(
        "cut",
        allow=_a(
            "nsz",
            "bcdf",
            "--complement --only-delimited --zero-terminated",
            "--bytes --characters --delimiter --fields --output-delimiter",
        ),
    ),
    Program("tr", allow=_a("cCdst", "", "--complement --delete --squeeze-repeats --truncate-set1")),
    Program(
        "nl",
        allow=_a(
            "p",
            "bdfhilnsvw",
            "--no-renumber",
            "--body-numbering --section-delimiter --footer-numbering --header-numbering "
            "--line-increment --join-blank-lines --number-format --starting-line-number "
            "--number-width --number-separator",
        ),
    ),
    Program(
        "diff",
        allow=_a(
            "abBcdeEfinNpPqrstTuwyZ",
            "CDFILSUWxX",
            "--normal --brief --report-identical-files --ed --rcs --side-by-side --left-column "
            "--suppress-common-lines --show-c-function --expand-tabs --initial-tab --suppress-blank-empty "
            "--new-file --unidirectional-new-file --ignore-case --ignore-tab-expansion --ignore-trailing-space "
            "--ignore-space-change --ignore-all-space --ignore-blank-lines --text --strip-trailing-cr --minimal "
            "--speed-large-files --recursive --no-dereference --ignore-file-name-case --no-ignore-file-name-case",
            "--width --tabsize --show-function-line --label --starting-file --exclude --exclude-from "
            "--ignore-matching-lines --ifdef --from-file --to-file --horizon-lines --palette --line-format",
            long_optional=options("--context --unified --color"),
            numeric=True,
            file_values=options("-X --exclude-from --from-file --to-file"),
            source="GNU diffutils 3.8 --help",
        ),
    ),
    Program(
        "cmp",
        allow=_a(
            "blsn",
            "in",
            "--print-bytes --verbose --quiet --silent",
            "--ignore-initial --bytes",
            source="GNU diffutils 3.8 --help",
        ),
    ),
    Program("stat", allow=_a("Lft", "c", "--dereference --file-system --terse", "--format --printf --cached")),
    Program(
        "du",
        allow=_a(
            "0abcDhHklLmPsSx",
            "BdtX",
            "--null --all --apparent-size --bytes --total --dereference-args --human-readable "
            "--inodes --dereference --count-links --no-dereference --separate-dirs --si "
            "--summarize --one-file-system",
            "--block-size --max-depth --threshold --time-style --exclude --exclude-from",
            long_optional=options("--time"),
            file_values=options("-X --exclude-from"),
        ),
    ),
    Program(
        "realpath",
        allow=_a(
            "eLmPqsz",
            "",
            "--canonicalize-existing --canonicalize-missing --logical --physical --quiet --strip --no-symlinks --zero",
            "--relative-to --relative-base",
        ),
    ),
    Program(
        "readlink",
        allow=_a(
            "femnqsvz",
            "",
            "--canonicalize --canonicalize-existing --canonicalize-missing "
            "--no-newline --quiet --silent --verbose --zero",
        ),
    ),
    *(
        Program(n, allow=_SUMS)
        for n in ("md5sum", "sha1sum", "sha224sum", "sha256sum", "sha384sum", "sha512sum", "b2sum")
    ),
    Program(
        "column",
        allow=_a(
            "tdeJLxnR",
            "cCsoNlTEHWr",
            "--table --table-noheadings --keep-empty-lines --json "
            "--fillrows --table-noextreme --table-wrap --table-right "
            "--table-hide --table-name --table-order --tree "
            "--tree-id --tree-parent",
            "--output-width --separator --output-separator --table-columns --table-columns-limit "
            "--table-right --table-truncate --table-noextreme --table-wrap --table-hide "
            "--table-name --tree --tree-id --tree-parent",
            source="util-linux 2.38.1 column --help",
        ),
    ),
    Program(
        "comm", allow=_a("123z", "", "--check-order --nocheck-order --total --zero-terminated", "--output-delimiter")
    ),
    Program("tac", allow=_a("br", "s", "--before --regex", "--separator")),
    Program("rev", allow=_a(source="util-linux 2.38.1 rev --help")),
    Program("fold", allow=_a("bs", "w", "--bytes --spaces", "--width", numeric=True)),
    Program("expand", allow=_a("i", "t", "--initial", "--tabs", numeric=True)),
    Program(
        "od",
        allow=_a(
            "bcdfilosvx",
            "AjNSt",
            "--output-duplicates --traditional",
            "--address-radix --endian --skip-bytes --read-bytes --format",
            short_optional="w",
            long_optional=options("--strings --width"),
        ),
    ),
    Program(
        "hexdump",
        allow=_a(
            "bcCdovx",
            "ens",
            "--one-byte-octal --one-byte-char --canonical "
            "--two-bytes-decimal --two-bytes-octal --two-bytes-hex "
            "--no-squeezing",
            "--format --length --skip",
            long_optional=options("--color"),
            source="util-linux 2.38.1 hexdump --help",
        ),
    ),
    # binutils reads more arguments from @FILE
    Program(
        "strings",
        allow=_a(
            "adfowsU",
            "netT",
            "--all --data --print-file-name --include-all-whitespace",
            "--bytes --radix --encoding --output-separator --unicode --target",
            at_files=True,
            source="GNU binutils 2.40 strings --help",
        ),
    ),
    Program(
        "date",
        allow=_a(
            "Ru",
            "drf",
            "--rfc-email --utc --universal --debug",
            "--date --file --reference --rfc-3339",
            short_optional="I",
            long_optional=options("--iso-8601"),
            file_values=options("-r --reference -f --file"),
        ),
    ),
    Program(
        "uniq",
        allow=_a(
            "cdDiuz",
            "fsw",
            "--count --repeated --ignore-case --unique --zero-terminated",
            "--skip-fields --skip-chars --check-chars",
            long_optional=options("--all-repeated --group"),
        ),
    ),
    Program(
        "tree",
        allow=_a(
            "adlfxpsughDFvtcrUNQCASJXn",
            "LPI",
            "--noreport --dirsfirst --filesfirst --prune --du --si --matchdirs --gitignore "
            "--ignore-case --inodes --device --nolinks",
            "--charset --filelimit --timefmt --sort",
            source="tree 2.1.0 manual (Debian 12)",
        ),
    ),
    Program(
        "file",
        allow=_a(
            "bcEhiklLNnrsSzZ0",
            "eFP",
            "--brief --mime --mime-type --mime-encoding --keep-going --dereference "
            "--no-dereference --uncompress --uncompress-noreport --no-pad --no-buffer --raw "
            "--special-files --print0 --apple --extension",
            "--separator --exclude --exclude-quiet --parameter",
            source="file 5.44 --help (Debian 12)",
        ),
    ),
    Program("cd", allow=Allow(short="LPe@", posix_order=True, source="bash 5.2 help cd")),
)

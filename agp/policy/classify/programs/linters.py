"""Linters, formatters and type checkers the default policy lets an agent run in clone mode (ruff,
mypy, black, isort, flake8, pylint, tsc, eslint, prettier): their option-allowlists for that role
(check and rewrite the project's files).

Not listed on purpose, so a command line using one is unknown: options naming a program to run or
an interpreter to query (mypy --python-executable, --install-types: pip from the network), a debugger
(mypy --pdb), code given on the command line (black -c, mypy -c), files read from elsewhere as source
(mypy --shadow-file, --custom-typeshed-dir), inline configuration (ruff --config "KEY = VALUE"
can `extend` a file anywhere), and configuration files named anywhere but a plain relative path
(``config_values``: `--config /tmp/x.toml`, `--config-file=/dev/stdin`, `--settings ../x`). Report,
cache and output files are write statements. Abbreviations (argparse, optparse) are never resolved.
"""

from __future__ import annotations

from agp.policy.classify.programs._model import Allow, Program, options

__all__ = ("PROGRAMS", "PYTHON_MODULE_PROGRAMS")

_RUFF_COMMON_LONG = "--verbose --quiet --silent --isolated --help"
_RUFF_GLOBAL = Allow(
    short="vqshV",
    long=options(_RUFF_COMMON_LONG + " --version"),
    long_values=options("--config --color"),
    config_values=options("--config"),
    source="ruff 0.17.6 --help",
)
_RUFF_CHECK = Allow(
    short="vqsnewh",
    short_values="o",
    long=options(
        _RUFF_COMMON_LONG + " --fix --no-fix --unsafe-fixes --no-unsafe-fixes --show-fixes --no-show-fixes --diff "
        "--watch --fix-only --no-fix-only --ignore-noqa --preview --no-preview --statistics --add-noqa "
        "--show-files --show-settings --respect-gitignore --no-respect-gitignore --force-exclude "
        "--no-force-exclude --no-cache --exit-zero --exit-non-zero-on-fix"
    ),
    long_values=options(
        "--output-format --output-file --target-version --extension --select --ignore --extend-select "
        "--per-file-ignores --extend-per-file-ignores --fixable --unfixable --extend-fixable --exclude "
        "--extend-exclude --cache-dir --stdin-filename --config --color --line-length"
    ),
    config_values=options("--config"),
    write_values=options("-o --output-file --cache-dir"),
    source="ruff 0.17.6 check --help",
)
_RUFF_FORMAT = Allow(
    short="vqsnh",
    long=options(
        _RUFF_COMMON_LONG + " --check --diff --preview --no-preview --no-cache --exit-non-zero-on-format "
        "--respect-gitignore --no-respect-gitignore --force-exclude --no-force-exclude"
    ),
    long_values=options(
        "--extension --target-version --output-format --cache-dir --stdin-filename --exclude --extend-exclude "
        "--line-length --range --config --color"
    ),
    config_values=options("--config"),
    write_values=options("--cache-dir"),
    source="ruff 0.17.6 format --help",
)
_RUFF_INFO = Allow(
    short="vqsh",
    long=options(_RUFF_COMMON_LONG + " --all"),
    long_values=options("--output-format --config --color"),
    config_values=options("--config"),
    source="ruff 0.17.6 rule/linter/config/clean/version --help",
)

_MYPY = Allow(
    short="vVh",
    short_values="nmpO",
    long=options(
        "--help --verbose --version --warn-unused-configs --no-namespace-packages --namespace-packages "
        "--ignore-missing-imports --follow-untyped-imports --no-site-packages --no-silence-site-packages "
        "--disallow-any-expr --disallow-any-decorated --disallow-any-explicit --disallow-any-generics "
        "--allow-any-generics --disallow-any-unimported --disallow-subclassing-any --disallow-untyped-calls "
        "--disallow-untyped-defs --allow-untyped-defs --disallow-incomplete-defs --check-untyped-defs "
        "--disallow-untyped-decorators --implicit-optional --no-strict-optional --warn-redundant-casts "
        "--warn-unused-ignores --no-warn-no-return --warn-return-any --warn-unreachable "
        "--report-deprecated-as-note --allow-untyped-globals --allow-redefinition --allow-redefinition-new "
        "--no-implicit-reexport --implicit-reexport --strict-equality --strict-equality-for-none "
        "--no-strict-bytes --extra-checks --strict --show-error-context --show-column-numbers "
        "--hide-column-numbers --show-error-end --hide-error-codes --show-error-codes --show-error-code-links "
        "--hide-error-code-links --pretty --no-color-output --no-error-summary --show-absolute-path "
        "--no-incremental --incremental --sqlite-cache --no-sqlite-cache --cache-fine-grained "
        "--skip-version-check --skip-cache-mtime-checks --show-traceback --raise-exceptions "
        "--warn-incomplete-stub --scripts-are-modules --non-interactive --explicit-package-bases "
        "--exclude-gitignore --junit-format --no-native-parser"
    ),
    long_values=options(
        "--config-file --follow-imports --python-version --platform --always-true --always-false "
        "--untyped-calls-exclude --deprecated-calls-exclude --disable-error-code --enable-error-code "
        "--cache-dir --num-workers --exclude --module --package --junit-xml --output "
        "--enable-incomplete-feature --html-report --txt-report --xml-report --linecount-report "
        "--linecoverage-report --lineprecision-report --any-exprs-report --cobertura-xml-report"
    ),
    config_values=options("--config-file"),
    write_values=options(
        "--cache-dir --junit-xml --html-report --txt-report --xml-report --linecount-report --linecoverage-report "
        "--lineprecision-report --any-exprs-report --cobertura-xml-report"
    ),
    # mypy's parser reads @FILE as more arguments (fromfile_prefix_chars="@")
    at_files=True,
    source="mypy 2.4.1 --help",
)

# black (click: no abbreviations); -c/--code formats a string given on the command line: left out
_BLACK = Allow(
    short="qvhSCx",
    short_values="ltW",
    long=options(
        "--check --diff --color --no-color --fast --safe --pyi --ipynb --skip-string-normalization "
        "--skip-magic-trailing-comma --skip-source-first-line --preview --unstable --quiet --verbose --version "
        "--help --force-exclude"
    ),
    long_values=options(
        "--line-length --target-version --python-cell-magics --enable-unstable-feature --line-ranges "
        "--required-version --exclude --extend-exclude --include --stdin-filename --workers --config"
    ),
    config_values=options("--config"),
    source="black 25 --help (black.readthedocs.io: the basics, command line options)",
)

# isort (argparse): --settings-path and its aliases name the configuration
_ISORT = Allow(
    short="cqvhdj",
    short_values="lm",
    long=options(
        "--check-only --check --diff --quiet --verbose --help --version --atomic --float-to-top --trailing-comma "
        "--combine-as --force-sort-within-sections --force-single-line-imports --profile-help --show-files "
        "--show-config --only-modified --filter-files --skip-gitignore --gitignore --color --no-color "
        "--stdout --ca --tc --fss --sl --ff --dont-follow-links --honor-noqa --case-sensitive "
        "--remove-redundant-aliases --float-to-top --overwrite-in-place"
    ),
    long_values=options(
        "--profile --line-length --line-width --multi-line --src --src-path --skip --extend-skip --skip-glob "
        "--extend-skip-glob --py --python-version --jobs --known-first-party --known-third-party "
        "--known-local-folder --settings-path --settings-file --settings --sp --filename --ext-format "
        "--wrap-length --lines-after-imports --lines-between-types --force-grid-wrap --indent --section-default "
        "--add-import --remove-import --fgw"
    ),
    config_values=options("--settings-path --settings-file --settings --sp"),
    source="isort 6 --help (pycqa.github.io/isort: configuration options)",
)

# flake8 (argparse): --config and --append-config name configuration files (which can enable
# plugins installed in the environment)
_FLAKE8 = Allow(
    short="vqhj",
    long=options(
        "--verbose --quiet --help --version --count --statistics --show-source --no-show-source --exit-zero "
        "--disable-noqa --isolated --benchmark --hang-closing --doctests --tee --bug-report"
    ),
    long_values=options(
        "--select --ignore --extend-select --extend-ignore --max-line-length --max-doc-length --max-complexity "
        "--exclude --extend-exclude --filename --per-file-ignores --format --output-file --jobs --color "
        "--indent-size --enable-extensions --require-plugins --stdin-display-name --config --append-config"
    ),
    config_values=options("--config --append-config"),
    write_values=options("--output-file"),
    source="flake8 7 --help (flake8.pycqa.org: full listing of options)",
)

# tsc: -p/--project names the tsconfig (which can extend another); --generateTrace, --outDir,
# --outFile, --tsBuildInfoFile, --declarationDir write there; tsc's option names are matched as
# written here (tsc also takes them in other letter cases: those are unknown)
_TSC = Allow(
    short="bwhv",
    short_values="pt",
    long=options(
        "--noEmit --build --watch --help --version --all --pretty --listFiles --listEmittedFiles --traceResolution "
        "--extendedDiagnostics --diagnostics --explainFiles --showConfig --strict --noImplicitAny "
        "--strictNullChecks --noUnusedLocals --noUnusedParameters --noImplicitReturns --skipLibCheck "
        "--declaration --sourceMap --incremental --composite --allowJs --checkJs --esModuleInterop "
        "--isolatedModules --noEmitOnError --preserveWatchOutput --force --verbose --dry --clean "
        "--resolveJsonModule --noFallthroughCasesInSwitch --forceConsistentCasingInFileNames"
    ),
    long_values=options(
        "--project --target --module --moduleResolution --lib --jsx --types --rootDir --baseUrl --outDir "
        "--outFile --declarationDir --tsBuildInfoFile --generateTrace --locale --maxNodeModuleJsDepth"
    ),
    config_values=options("-p --project"),
    write_values=options("--outDir --outFile --declarationDir --tsBuildInfoFile --generateTrace"),
    source="tsc 5.9 --all (typescriptlang.org/docs/handbook/compiler-options)",
)

# pylint: --init-hook is Python code run before linting (code on the command line), --load-plugins
# imports modules, --rcfile names the configuration: the first two are left out
_PYLINT = Allow(
    short="hvE",
    short_values="jfde",
    long=options("--help --version --verbose --errors-only --exit-zero"),
    long_values=options(
        "--rcfile --jobs --output-format --disable --enable --fail-under --fail-on --ignore --ignore-patterns "
        "--ignore-paths --max-line-length --good-names --score --reports --recursive --py-version "
        "--msg-template --output --persistent --source-roots"
    ),
    config_values=options("--rcfile"),
    write_values=options("--output"),
    source="pylint 3 --help (pylint.readthedocs.io: standard checkers and main options)",
)

# eslint: a configuration is JavaScript run when loaded; --plugin, --rulesdir, --resolve-plugins-
# relative-to, --parser load modules: left out; -c/--config only by plain relative path
_ESLINT = Allow(
    short="hv",
    short_values="cfo",
    long=options(
        "--help --version --fix --fix-dry-run --quiet --cache --no-cache --color --no-color --no-eslintrc "
        "--no-config-lookup --no-ignore --no-inline-config --report-unused-disable-directives --debug "
        "--no-error-on-unmatched-pattern --exit-on-fatal-error --no-warn-ignored --pass-on-no-patterns "
        "--print-config"
    ),
    long_values=options(
        "--config --format --output-file --max-warnings --ext --ignore-pattern --cache-location --fix-type "
        "--cache-strategy --global --env --rule --stats"
    ),
    config_values=options("-c --config"),
    write_values=options("-o --output-file --cache-location"),
    source="eslint 9 --help (eslint.org/docs/latest/use/command-line-interface)",
)

# prettier: --plugin loads a module, a .prettierrc.js configuration is code: --plugin left out,
# --config only by plain relative path
_PRETTIER = Allow(
    short="hvcwlu",
    long=options(
        "--help --version --check --write --list-different --ignore-unknown --no-config --no-editorconfig "
        "--single-quote --no-semi --use-tabs --bracket-same-line --no-bracket-spacing --jsx-single-quote "
        "--no-error-on-unmatched-pattern --cache --log-level --debug-check"
    ),
    long_values=options(
        "--config --ignore-path --print-width --tab-width --trailing-comma --arrow-parens --end-of-line "
        "--parser --prose-wrap --quote-props --cache-location --cache-strategy --log-level --stdin-filepath"
    ),
    config_values=options("--config"),
    write_values=options("--cache-location"),
    source="prettier 3 --help (prettier.io/docs/cli)",
)


PROGRAMS = (
    Program(
        "ruff",
        allow=_RUFF_GLOBAL,
        subcommand_allow=(
            ("check", _RUFF_CHECK),
            ("format", _RUFF_FORMAT),
            ("rule", _RUFF_INFO),
            ("linter", _RUFF_INFO),
            ("config", _RUFF_INFO),
            ("clean", _RUFF_INFO),
            ("version", _RUFF_INFO),
            ("help", _RUFF_INFO),
        ),
        subcommands_closed=True,
    ),
    Program("mypy", allow=_MYPY),
    Program("black", allow=_BLACK),
    Program("isort", allow=_ISORT),
    Program("flake8", allow=_FLAKE8),
    Program("tsc", allow=_TSC),
    Program("pylint", allow=_PYLINT),
    Program("eslint", allow=_ESLINT),
    Program("prettier", allow=_PRETTIER),
)

#: python -m MODULE whose command line is the program's own
PYTHON_MODULE_PROGRAMS = frozenset({"ruff", "mypy", "black", "isort", "flake8", "pylint", "coverage", "tox", "nox"})

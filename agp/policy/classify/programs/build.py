"""Build and test tools: options that make them run a program or code named on the command line
(make --eval, go -toolexec, npm --script-shell, pytest --pdb), and make's variables whose
override changes the commands recipes run."""

from __future__ import annotations

from agp.policy.classify.programs._model import Allow, Program, options

__all__ = ("MAKE_DANGEROUS_VARIABLES", "PROGRAMS", "PYTHON_ALLOW", "PYTHON_MODULE_ALLOW")

MAKE_DANGEROUS_VARIABLES = frozenset(
    {
        "SHELL",
        ".SHELLFLAGS",
        "MAKESHELL",
        "MAKEFLAGS",
        "MFLAGS",
        "GNUMAKEFLAGS",
        "MAKEFILES",
        ".DEFAULT_GOAL",
        "MAKEFILE_LIST",
    }
)

_PYTEST = ("-o", "--override-ini", "--pdb", "--trace", "--pdbcls")

# Option-allowlists for the test role the shipped policies give these programs (pytest, python -m
# pytest/unittest, `npm test`, `cargo test`, `go test`, `make test`). Not listed on purpose: pytest -p
# (loads a plugin: any module), -o/--override-ini, -c/--config-file, --rootdir, --confcutdir, --basetemp
# (removes the directory), --pdb/--trace/--pdbcls, --pyargs (imports a module found anywhere on sys.path),
# `@FILE` argument files (pytest 8.2+); report files (--junitxml, --junit-xml, --report-log,
# --cov-report) are write statements, judged by where they land; npm configuration options
# (--script-shell, --node-options, --userconfig, --prefix, ... any `--key=value` is configuration);
# cargo --config/-Z/--target-dir/--manifest-path; go -exec/-toolexec/-o/-c/-modfile/-overlay;
# make -f/--file/--makefile/-I/--eval/-E/-e/-C. Abbreviations (make --ev, npm --scri, argparse
# prefixes) are never resolved: an abbreviated option is unknown.
_PYTEST_ALLOW = Allow(
    short="xvqslh",
    short_values="kmrnWc",
    long=options(
        "--exitfirst --verbose --quiet --showlocals --last-failed --failed-first --new-first --stepwise "
        "--stepwise-skip --sw --sw-skip --lf --ff --nf --co --collect-only --setup-show --setup-only "
        "--setup-plan --fixtures --markers --runxfail --strict-markers --strict-config --strict "
        "--disable-warnings --disable-pytest-warnings --no-header --no-summary --cache-clear "
        "--cache-show --doctest-modules --no-cov --help --version --full-trace --lsof "
        "--continue-on-collection-errors --exact"
    ),
    long_values=options(
        "--tb --maxfail --durations --durations-min --color --code-highlight --capture "
        "--deselect --ignore --ignore-glob --log-level --log-cli-level --import-mode --timeout "
        "--count --dist --cov --cov-report --junitxml --junit-xml --report-log "
        "--numprocesses --maxprocesses --log-format --log-date-format --verbosity "
        "--doctest-glob --junit-prefix --reruns --config-file"
    ),
    file_values=options("--ignore --deselect -c --config-file"),
    write_values=options("--junitxml --junit-xml --report-log"),
    at_files=True,
    source="pytest 9 --help; pytest-cov, pytest-xdist, pytest-timeout --help",
)
# python -m unittest [discover]
_UNITTEST_ALLOW = Allow(
    short="vqfcb",
    short_values="kspt",
    long=options("--verbose --quiet --failfast --catch --buffer --locals --help"),
    long_values=options("--start-directory --pattern --top-level-directory --durations"),
    source="python3.11 -m unittest --help",
)
# npm/yarn/pnpm test|t|run test|run-script test: options npm itself reads; every other `--key` is
# configuration (npm's nopt takes any `--key=value` and resolves abbreviations)
_NPM_ALLOW = Allow(
    short="sqd",
    long=options(
        "--silent --quiet --verbose --if-present --workspaces "
        "--include-workspace-root --ignore-scripts --foreground-scripts "
        "--help"
    ),
    long_values=options("--loglevel --workspace"),
    short_values="w",
    source="npm 9 run-script --help (npm help run-script)",
)
_CARGO_ALLOW = Allow(
    short="qvrF",
    short_values="pj",
    long=options(
        "--quiet --verbose --release --lib --bins --tests --benches --examples --doc --all-targets "
        "--all-features --no-default-features --workspace --all --no-run --no-fail-fast --locked "
        "--frozen --offline --future-incompat-report --ignore-rust-version --keep-going --help"
    ),
    long_values=options(
        "--package --exclude --features --jobs --bin --test --bench --example --color "
        "--message-format --target --profile --timings"
    ),
    source="cargo 1.63 test --help (Debian 12)",
)
_GO_ALLOW = Allow(
    style="single_dash",
    long=options(
        "--v --race --short --cover --json --failfast --benchmem --msan --asan --a --n --x --trimpath --fullpath"
    ),
    long_values=options(
        "--run --count --timeout --bench --benchtime --cpu --p --parallel --tags --covermode "
        "--coverpkg --skip --shuffle --vet --mod --list --coverprofile --cpuprofile --memprofile "
        "--blockprofile --mutexprofile --trace --outputdir"
    ),
    write_values=options("--coverprofile --cpuprofile --memprofile --blockprofile --mutexprofile --trace --outputdir"),
    source="go 1.19 help test / help testflag (Debian 12)",
)
_MAKE_ALLOW = Allow(
    short="ikqrRsSwnBtk",
    short_optional="j",
    long=options(
        "--ignore-errors --keep-going --question --no-builtin-rules --no-builtin-variables --silent "
        "--quiet --no-print-directory --print-directory --dry-run --just-print --recon --always-make "
        "--touch --stop --no-keep-going --warn-undefined-variables --trace --help --version"
    ),
    long_optional=options("--jobs"),
    source="GNU make 4.3 --help (Debian 12)",
)

PROGRAMS = (
    Program("make", code_options=("--eval", "-E"), abbreviates=True, allow=_MAKE_ALLOW),
    Program("gmake", code_options=("--eval", "-E"), abbreviates=True, allow=_MAKE_ALLOW),
    # --config KEY=VALUE: a rule in the walker
    Program(
        "cargo",
        allow=Allow(
            short="qv",
            long=options("--quiet --verbose --locked --frozen --offline"),
            long_values=options("--color"),
            source=_CARGO_ALLOW.source,
        ),
        subcommand_allow=(("test", _CARGO_ALLOW), ("t", _CARGO_ALLOW)),
    ),
    Program(
        "go",
        code_options=("-exec", "-toolexec", "--exec", "--toolexec"),
        allow=Allow(source=_GO_ALLOW.source),
        subcommand_allow=(("test", _GO_ALLOW),),
    ),
    *(
        Program(
            n,
            code_options=c,
            allow=_NPM_ALLOW,
            subcommand_allow=tuple((sub, _NPM_ALLOW) for sub in ("test", "t", "tst", "run", "run-script")),
        )
        for n, c in (
            ("npm", ("--script-shell", "--node-options", "--shell")),
            ("yarn", ("--script-shell", "--node-options")),
            ("pnpm", ("--script-shell", "--node-options", "--shell-emulator")),
        )
    ),
    # --pdb/--trace open an interactive debugger: code typed on stdin runs (a harness can write to a
    # running process's stdin without a gated call)
    Program("pytest", code_options=_PYTEST, allow=_PYTEST_ALLOW),
    Program("py.test", code_options=_PYTEST, allow=_PYTEST_ALLOW),
)

#: python -m MODULE: the allowlist of the module's own command line
PYTHON_MODULE_ALLOW = {"pytest": _PYTEST_ALLOW, "unittest": _UNITTEST_ALLOW}
#: the interpreter's options before -m (python3.11 --help): no -c, -i, -X, -W (warnings filters can
#: import a module: `-W ignore::mod.Cls`), -E is fine
PYTHON_ALLOW = Allow(short="BbdEhIOqsSuvV", short_values="m", source="python3.11 --help (Debian 12)")

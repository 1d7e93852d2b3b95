"""Build and test tools: options that make them run a program or code named on the command line
(make --eval, go -toolexec, npm --script-shell, pytest --pdb), and make's variables whose
override changes the commands recipes run."""

from __future__ import annotations

from agp.policy.classify.programs._model import Allow, Program, options

__all__ = ("CC_DRIVERS", "MAKE_DANGEROUS_VARIABLES", "PROGRAMS", "PYTHON_ALLOW", "PYTHON_MODULE_ALLOW")

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
_NPM_INSTALL_LONG = (
    "--silent --quiet --verbose --help --workspaces --include-workspace-root --ignore-scripts --foreground-scripts "
    "--save --no-save --save-prod --save-dev --save-optional --save-peer --save-bundle --save-exact "
    "--legacy-bundling --global-style --strict-peer-deps --legacy-peer-deps --prefer-dedupe --no-package-lock "
    "--package-lock-only --no-audit --no-fund --no-bin-links --dry-run --install-links --prefer-offline "
    "--prefer-online --offline --force --no-optional --production --strict-allow-scripts"
)
_NPM_INSTALL_VALUES = (
    "--loglevel --workspace --install-strategy --omit --include --before --min-release-age "
    "--min-release-age-exclude --cpu --os --libc --allow-scripts"
)
# npm install/i/add/ci: -g/--global (installs outside the project), --prefix, --registry, --userconfig,
# --script-shell, --node-options and every other `--key=value` (npm configuration) are left out
_NPM_INSTALL = Allow(
    short="sqdSPDOBEf",
    short_values="w",
    long=options(_NPM_INSTALL_LONG),
    long_values=options(_NPM_INSTALL_VALUES),
    source="npm 11.19.1 install --help, ci --help",
)
_NPM_QUERY = Allow(  # ls/list, view/info/show, outdated, help
    short="sqdal",
    short_values="w",
    long=options("--silent --quiet --verbose --help --all --long --json --parseable --workspaces --link --global"),
    long_values=options("--loglevel --workspace --depth --omit --include"),
    source="npm 11.19.1 ls --help, view --help",
)
_NPM_SUBCOMMANDS = (
    *((sub, _NPM_ALLOW) for sub in ("test", "t", "tst", "run", "run-script", "rum", "urn", "start", "stop", "restart")),
    *(
        (sub, _NPM_INSTALL)
        for sub in (
            "install",
            "i",
            "add",
            "in",
            "ci",
            "clean-install",
            "ic",
            "uninstall",
            "remove",
            "rm",
            "un",
            "unlink",
            "r",
            "rebuild",
            "rb",
            "prune",
            "dedupe",
            "ddp",
        )
    ),
    *((sub, _NPM_QUERY) for sub in ("ls", "list", "la", "ll", "view", "info", "show", "v", "outdated", "help")),
)
# yarn and pnpm run a package script named as the subcommand (`yarn lint`): their other subcommands
# stay open; install/add use these (yarn 1 and 4, pnpm 9 --help)
_YARN_INSTALL = Allow(
    short="sDPOETWh",
    long=options(
        "--silent --verbose --help --frozen-lockfile --check-cache --pure-lockfile "
        "--prefer-offline --offline --ignore-scripts --no-lockfile --production --prod --dev --peer --optional "
        "--exact --tilde --force --ignore-engines --ignore-optional --non-interactive --no-progress "
        "--mode=skip-build --cached --interactive"
    ),
    long_values=options("--network-timeout --mode"),
    source="yarn 1.22 install/add --help; yarn 4 install/add --help",
)
_PNPM_INSTALL = Allow(
    short="sDPOEh",
    short_values="w",
    long=options(
        "--silent --help --frozen-lockfile --no-frozen-lockfile --prefer-offline --offline --ignore-scripts "
        "--prod --production --dev --save-dev --save-prod --save-optional --save-peer --save-exact "
        "--workspace-root --recursive --lockfile-only --fix-lockfile --force --no-optional"
    ),
    long_values=options("--filter --reporter --loglevel --workspace"),
    source="pnpm 9 install --help, add --help",
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
_CARGO_COMMON_LONG = "--quiet --verbose --locked --frozen --offline --help"
_CARGO_BUILD = Allow(  # build/b, check/c, run/r, doc/d, bench, clippy (its lint flags after --)
    short="qvrFh",
    short_values="pjF",
    long=options(
        _CARGO_COMMON_LONG + " --release --lib --bins --tests --benches --examples --all-targets --all-features "
        "--no-default-features --workspace --all --future-incompat-report --ignore-rust-version --keep-going "
        "--unit-graph --no-deps --document-private-items --fix --allow-dirty --allow-staged --no-run "
        "--no-fail-fast"
    ),
    long_values=options(
        "--package --exclude --features --jobs --bin --test --bench --example --color --message-format "
        "--target --profile --target-dir --artifact-dir"
    ),
    long_optional=options("--timings"),
    write_values=options("--target-dir --artifact-dir"),
    source="cargo 1.95.0 build --help, check --help, run --help, clippy --help (cargo 1.63 in Debian 12)",
)
_CARGO_FMT = Allow(
    short="qvph",
    short_values="p",
    long=options("--quiet --verbose --check --all --help --version"),
    long_values=options("--package --message-format"),
    source="cargo 1.95.0 fmt --help",
)
_CARGO_DEPS = Allow(  # fetch, generate-lockfile, update, tree, metadata, add, remove/rm, clean, pkgid, locate-project
    short="qvpwDeidrFnh",
    short_values="peF",
    long=options(
        _CARGO_COMMON_LONG + " --workspace --all-features --no-default-features --default-features --dev --build "
        "--optional --no-optional --dry-run --aggressive --recursive --breaking --invert --no-dedupe --duplicates "
        "--no-deps --release --doc --all-targets"
    ),
    long_values=options(
        "--package --features --target --color --precise --edges --depth --prefix --charset --format "
        "--format-version --filter-platform --rename --git --branch --tag --rev --path --profile --message-format"
    ),
    source="cargo 1.95.0 fetch/update/tree/metadata/add/remove/clean --help",
)
_CARGO_NEW = Allow(
    short="qvh",
    long=options(_CARGO_COMMON_LONG + " --bin --lib"),
    long_values=options("--name --edition --vcs"),
    source="cargo 1.95.0 new --help, init --help",
)
_CARGO_SUBCOMMANDS = (
    *((sub, _CARGO_ALLOW) for sub in ("test", "t")),
    *((sub, _CARGO_BUILD) for sub in ("build", "b", "check", "c", "run", "r", "doc", "d", "bench", "clippy")),
    ("fmt", _CARGO_FMT),
    *(
        (sub, _CARGO_DEPS)
        for sub in (
            "fetch",
            "generate-lockfile",
            "update",
            "tree",
            "metadata",
            "add",
            "remove",
            "rm",
            "clean",
            "pkgid",
            "locate-project",
            "version",
            "help",
        )
    ),
    *((sub, _CARGO_NEW) for sub in ("new", "init")),
)
_GO_BUILD_LONG = "--a --n --x --v --race --msan --asan --cover --trimpath --work --linkshared --modcacherw --json"
_GO_BUILD_VALUES = "--p --tags --mod --covermode --coverpkg --buildmode --buildvcs --compiler --pgo --installsuffix"
# go build/install/run/vet/list/...: -toolexec/-exec (a program to run), -gcflags/-ldflags/-asmflags/
# -gccgoflags (flags to the toolchain: -ldflags=-extld=PROGRAM), -modfile, -overlay, -C (chdir),
# -vettool (a program) are left out; -o is a write
_GO_BUILD = Allow(
    style="single_dash",
    long=options(_GO_BUILD_LONG),
    long_values=options(_GO_BUILD_VALUES + " --o"),
    write_values=options("--o"),
    source="go 1.19 help build (Debian 12)",
)
_GO_LIST = Allow(
    style="single_dash",
    long=options(_GO_BUILD_LONG + " --m --deps --e --test --u --find --export --compiled --retracted --versions"),
    long_values=options(_GO_BUILD_VALUES + " --f"),
    source="go 1.19 help list",
)
_GO_MOD = Allow(  # go mod download/tidy/verify/why/graph/init/vendor: the word after mod is an operand
    style="single_dash",
    long=options("--v --x --e --json --m --vendor --reuse"),
    long_values=options("--go --compat --modcacherw"),
    source="go 1.19 help mod download/tidy/why/graph/init",
)
_GO_FMT = Allow(style="single_dash", long=options("--n --x"), long_values=options("--mod"), source="go 1.19 help fmt")
_GO_CLEAN = Allow(
    style="single_dash",
    long=options("--i --n --r --x --cache --testcache --modcache --fuzzcache"),
    source="go 1.19 help clean",
)
_GO_GENERATE = Allow(
    style="single_dash",
    long=options("--n --v --x"),
    long_values=options("--run --skip --tags"),
    source="go 1.19 help generate",
)
_GO_GET = Allow(
    style="single_dash", long=options("--t --u --v --x --d --insecure-not-listed"), source="go 1.19 help get"
)
_GO_ENV = Allow(
    style="single_dash", long=options("--json"), source="go 1.19 help env (not -w, -u: they write go's settings)"
)
_GO_VERSION = Allow(style="single_dash", long=options("--m --v --json"), source="go 1.19 help version")
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

# gradle / ./gradlew: tasks are operands. Left out: -I/--init-script (a script run before the build),
# -c/--settings-file, -b/--build-file, -p/--project-dir, --include-build (builds elsewhere),
# -g/--gradle-user-home, --project-cache-dir, -D/--system-prop (JVM settings: -Dorg.gradle.jvmargs
# can add an agent), --scan (uploads a build scan)
_GRADLE = Allow(
    short="qiwdsSmtvh",
    short_values="xP",
    long=options(
        "--quiet --info --warn --debug --stacktrace --full-stacktrace --dry-run --continuous --version --help "
        "--offline --no-daemon --daemon --parallel --no-parallel --continue --build-cache --no-build-cache "
        "--refresh-dependencies --rerun-tasks --rerun --configure-on-demand --configuration-cache "
        "--no-configuration-cache --profile --status --stop --write-locks --no-scan --no-watch-fs --watch-fs"
    ),
    long_values=options("--exclude-task --project-prop --console --warning-mode --max-workers --priority"),
    source="gradle 8 --help (docs.gradle.org: command-line interface)",
)
# mvn / ./mvnw: goals are operands; its options are words of their own (-pl, -am: single_dash).
# Left out: -D (user properties plugins read: -Dmaven.compiler.executable names a program), -s/-gs
# (settings, with repositories and credentials), -f/--file (a POM elsewhere), -t/--toolchains,
# -emp/-ep (password encryption), -l/--log-file (a file anywhere)
_MVN = Allow(
    style="single_dash",
    long=options(
        "--q --quiet --B --batch-mode --o --offline --U --update-snapshots --e --errors --X --debug --V "
        "--show-version --v --version --h --help --N --non-recursive --am --also-make --amd "
        "--also-make-dependents --fae --fail-at-end --ff --fail-fast --fn --fail-never --ntp "
        "--no-transfer-progress --C --strict-checksums --c --lax-checksums --nsu --no-snapshot-updates"
    ),
    long_values=options("--T --threads --pl --projects --P --activate-profiles --rf --resume-from"),
    source="Apache Maven 3.8.7 --help",
)

PROGRAMS = (
    *(Program(n, allow=_GRADLE) for n in ("gradle", "gradlew")),
    *(Program(n, allow=_MVN) for n in ("mvn", "mvnw")),
    Program("make", code_options=("--eval", "-E"), abbreviates=True, allow=_MAKE_ALLOW),
    Program("gmake", code_options=("--eval", "-E"), abbreviates=True, allow=_MAKE_ALLOW),
    # --config KEY=VALUE: a rule in the walker
    Program(
        "cargo",
        allow=Allow(
            short="qvVh",
            long=options("--quiet --verbose --locked --frozen --offline --version --help --list"),
            long_values=options("--color"),
            source=_CARGO_ALLOW.source,
        ),
        subcommand_allow=_CARGO_SUBCOMMANDS,
        subcommands_closed=True,
    ),
    Program(
        "go",
        code_options=("-exec", "-toolexec", "--exec", "--toolexec"),
        allow=Allow(source=_GO_ALLOW.source),
        subcommand_allow=(
            ("test", _GO_ALLOW),
            *((sub, _GO_BUILD) for sub in ("build", "install", "run", "vet")),
            ("list", _GO_LIST),
            ("mod", _GO_MOD),
            ("fmt", _GO_FMT),
            ("clean", _GO_CLEAN),
            ("generate", _GO_GENERATE),
            ("get", _GO_GET),
            ("env", _GO_ENV),
            ("version", _GO_VERSION),
            ("help", _GO_VERSION),
        ),
        subcommands_closed=True,
    ),
    Program(
        "npm",
        code_options=("--script-shell", "--node-options", "--shell"),
        allow=Allow(short="vh", long=options("--version --help"), source="npm 11.19.1 --help"),
        subcommand_allow=_NPM_SUBCOMMANDS,
        subcommands_closed=True,
    ),
    *(
        Program(
            n,
            code_options=c,
            allow=_NPM_ALLOW,
            subcommand_allow=(
                *((sub, _NPM_ALLOW) for sub in ("test", "t", "tst", "run", "run-script")),
                *((sub, inst) for sub in ("install", "add", "i")),
            ),
        )
        for n, c, inst in (
            ("yarn", ("--script-shell", "--node-options"), _YARN_INSTALL),
            ("pnpm", ("--script-shell", "--node-options", "--shell-emulator"), _PNPM_INSTALL),
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

# coverage: `coverage run` runs a Python program (`coverage run -m pytest -q` is judged as
# `python -m pytest -q` too); --rcfile names the configuration (which can name plugins: modules it
# imports)
_COVERAGE_COMMON = "--help --debug"
_COVERAGE_RUN = Allow(
    short="amLph",
    long=options(_COVERAGE_COMMON + " --append --branch --module --pylib --parallel-mode --timid"),
    long_values=options("--concurrency --context --data-file --include --omit --source --save-signal --rcfile"),
    config_values=options("--rcfile"),
    write_values=options("--data-file"),
    posix_order=True,
    source="coverage 7.18.0 run --help",
)
_COVERAGE_REPORT = Allow(  # report, html, xml, json, lcov, annotate, combine, erase, debug
    short="imqha",
    short_values="od",
    long=options(
        _COVERAGE_COMMON + " --ignore-errors --keep-combined --show-missing --skip-covered --no-skip-covered "
        "--skip-empty --show-contexts --pretty-print --quiet --append --keep"
    ),
    long_values=options(
        "--contexts --data-file --fail-under --format --include --omit --precision --sort --rcfile --directory --title"
    ),
    config_values=options("--rcfile"),
    write_values=options("-o -d --directory"),
    source="coverage 7.18.0 report/html/xml/json/combine --help",
)
# tox 4: `exec` runs the command after it in an environment (judged as a command of its own), and
# -c/--conf names the tox.ini (its commands run): the configuration only by plain relative path
_TOX = Allow(
    short="qvrmh",
    short_values="ecp",
    long=options(
        "--quiet --verbose --recreate --parallel-live --skip-missing-interpreters --notest --help "
        "--version --no-recreate-pkg --skip-pkg-install --list-dependencies --no-provision"
    ),
    long_values=options("--conf --workdir --root --parallel --colored --result-json --override --exit-and-dump-after"),
    config_values=options("-c --conf"),
    write_values=options("--workdir --result-json"),
    source="tox 4 run --help (tox.wiki: CLI interface)",
)
_NOX = Allow(
    short="slRrxh",
    short_values="sekftp",
    long=options(
        "--list --list-sessions --reuse-existing-virtualenvs --no-reuse-existing-virtualenvs --no-venv "
        "--stop-on-first-error --no-stop-on-first-error --error-on-missing-interpreters --forcecolor "
        "--nocolor --no-install --install-only --help --version --json"
    ),
    long_values=options(
        "--session --sessions --keywords --noxfile --python --tags --envdir --default-venv-backend --force-venv-backend"
    ),
    config_values=options("-f --noxfile"),
    write_values=options("--envdir"),
    source="nox 2025 --help (nox.thea.codes: usage)",
)
# ninja: -f names the build file (its rules run commands), -C another directory, -t tools
# (browse starts a web server): -C and -t left out
_NINJA = Allow(
    short="nvwh",
    short_values="fjkld",
    long=options("--verbose --quiet --version --help"),
    config_values=options("-f"),
    source="ninja 1.11 -h (Debian 12)",
)
# jest / vitest: a configuration is JavaScript run when loaded, reporters and environments are
# modules: the configuration only by plain relative path, those left out
_JEST = Allow(
    short="iuoth",
    short_values="ct",
    long=options(
        "--ci --coverage --watch --watchAll --runInBand --verbose --silent --bail --passWithNoTests "
        "--updateSnapshot --json --detectOpenHandles --forceExit --listTests --onlyChanged --clearCache "
        "--no-cache --colors --no-watchman --help --version --changedSince"
    ),
    long_values=options(
        "--config --testNamePattern --maxWorkers --testPathPattern --selectProjects --outputFile --testTimeout --shard"
    ),
    config_values=options("-c --config"),
    write_values=options("--outputFile"),
    source="jest 29 --help (jestjs.io/docs/cli)",
)
_VITEST = Allow(
    short="uth",
    short_values="ct",
    long=options(
        "--run --watch --coverage --update --silent --passWithNoTests --help --version --ui=false "
        "--no-color --allowOnly --changed --globals"
    ),
    long_values=options(
        "--config --testNamePattern --bail --maxWorkers --minWorkers --shard --outputFile --project --dir --testTimeout"
    ),
    config_values=options("-c --config"),
    write_values=options("--outputFile"),
    source="vitest 3 --help (vitest.dev/guide/cli)",
)
_VITEST_SUBCOMMANDS = tuple((sub, _VITEST) for sub in ("run", "watch", "dev", "related", "list"))

PROGRAMS = (
    *PROGRAMS,
    Program(
        "coverage",
        allow=Allow(short="h", long=options("--help --version"), source=_COVERAGE_RUN.source),
        subcommand_allow=(
            ("run", _COVERAGE_RUN),
            *(
                (sub, _COVERAGE_REPORT)
                for sub in ("report", "html", "xml", "json", "lcov", "annotate", "combine", "erase", "debug", "help")
            ),
        ),
        subcommands_closed=True,
        run_subcommand=("run",),
    ),
    Program("tox", allow=_TOX, run_subcommand=("exec", "e")),
    Program("nox", allow=_NOX),
    Program("ninja", allow=_NINJA),
    Program("jest", allow=_JEST),
    Program("vitest", allow=_VITEST, subcommand_allow=_VITEST_SUBCOMMANDS),
)

# C and C++ compiler drivers: not an allowlist (hundreds of -f, -W, -m flags), but the options that
# make the driver run or load a program of the command line's choosing are unknown: -wrapper
# (runs PROGRAM,ARGS around each subprocess: `-wrapper rm,-rf,.git`), -fplugin (a shared object),
# -B (where it finds cc1, as, ld), -specs (rewrites the subprocess command lines), -fuse-ld and
# --ld-path (the linker); -Wl,-plugin is a linker plugin (gcc 12 --help, clang 14 --help)
_CC_CODE = ("-wrapper", "-fplugin", "-B", "-specs", "--specs", "-fuse-ld", "--ld-path")
CC_DRIVERS = ("gcc", "cc", "clang", "g++", "c++", "clang++")
PROGRAMS = (
    *PROGRAMS,
    *(Program(n, code_options=_CC_CODE) for n in CC_DRIVERS),
)
